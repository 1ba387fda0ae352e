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
// recorder is a new attempt, queued, when its attempts grew (the result is
// stored), and not when they did not (its lease ran out before the result
// was stored: sending it again would be a duplicate); one in hand is not
// queued twice; and the old result's confirmation does not drop the new
// attempt.
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
	cd := &hookd.ClaimedDelivery{Delivery: hookd.Delivery{ID: "msg_1", TenantID: "acme", EndpointID: ep.ID, Attempts: 2}}
	claim := func() { d.accept(ctx, claimResult{limit: 1, now: time.Now(), claimed: []*hookd.ClaimedDelivery{cd}}) }

	d.held[cd.ID] = held{recording: true, attempts: 2} // attempt 3 is being recorded
	d.unrecorded = 1
	claim() // lease ran out first: still 2 attempts stored
	if h := d.held[cd.ID]; !h.recording || d.queued != 0 {
		t.Fatalf("re-claimed before the result was stored: held %+v, queued %d; want neither queued nor changed", h, d.queued)
	}
	cd.Attempts = 3 // attempt 3 stored, and due again
	claim()
	if h := d.held[cd.ID]; h.recording || d.queued != 1 {
		t.Fatalf("re-claimed after the result was stored: held %+v, queued %d; want in hand and queued", h, d.queued)
	}
	claim()
	if d.queued != 1 {
		t.Fatalf("claimed again while in hand: queued %d, want 1", d.queued)
	}
	d.forget([]string{cd.ID}) // attempt 3's result confirmed
	if h, ok := d.held[cd.ID]; !ok || h.recording {
		t.Fatalf("the stored result dropped the new attempt: held %+v, %v", h, ok)
	}
}
