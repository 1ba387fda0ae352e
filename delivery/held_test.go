package delivery

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/sqlite"
)

// A claim that returns a delivery whose last result is still with the
// recorder is a new attempt, queued; one that returns a delivery in hand
// (its lease ran out and came back) is not queued twice; and the old
// result's confirmation does not drop the new attempt.
func TestReclaimWhileRecording(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "d.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.CreateTenant(ctx, &hookd.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	ep := &hookd.Endpoint{TenantID: "acme", URL: "https://example.com/hook", Events: []string{"*"},
		Secrets: []hookd.Secret{{Value: hookd.NewEndpointSecret()}}}
	ep.SetDefaults()
	if err := s.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	d := New(Config{Store: s, NodeID: "test"})
	cd := &hookd.ClaimedDelivery{Delivery: hookd.Delivery{ID: "msg_1", TenantID: "acme", EndpointID: ep.ID}}
	claim := func() { d.accept(ctx, claimResult{limit: 1, now: time.Now(), claimed: []*hookd.ClaimedDelivery{cd}}) }

	d.held[cd.ID] = recording
	d.unrecorded = 1
	claim()
	if d.held[cd.ID] != inHand || d.queued != 1 {
		t.Fatalf("re-claimed while recording: held %v, queued %d; want in hand and queued", d.held[cd.ID], d.queued)
	}
	claim()
	if d.queued != 1 {
		t.Fatalf("claimed again while in hand: queued %d, want 1", d.queued)
	}
	d.forget([]string{cd.ID}) // the first attempt's result is stored
	if d.held[cd.ID] != inHand {
		t.Fatalf("the stored result dropped the new attempt: held %v", d.held[cd.ID])
	}
}
