package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/notify"
	"github.com/hookd/hookd/sqlite"
)

// Operational events are stored like any other, reach only the endpoints
// that name them, wake the dispatcher only when they made deliveries, and
// a failing store is logged, not returned.
func TestPublisher(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "n.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateTenant(ctx, &hookd.Tenant{ID: "acme", Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	secret := hookd.NewEndpointSecret()
	catchAll := &hookd.Endpoint{TenantID: "acme", URL: "https://example.com/a", Events: []string{"*"},
		Secrets: []hookd.Secret{{Value: secret, CreatedAt: time.Now()}}, Headers: map[string]string{"Authorization": "Bearer x"}}
	catchAll.SetDefaults()
	if err := s.CreateEndpoint(ctx, catchAll); err != nil {
		t.Fatal(err)
	}
	wakes := 0
	var logs bytes.Buffer
	p := &notify.Publisher{Store: s, Wake: func() { wakes++ }, Log: slog.New(slog.NewTextHandler(&logs, nil))}

	ev := notify.EndpointEvent(hookd.TypeEndpointCreated, catchAll, "k1")
	p.Notify(ctx, "acme", ev)
	if ev.ID == "" || ev.Origin != hookd.OriginHookd || ev.Deliveries != 0 || wakes != 0 {
		t.Fatalf("a catch-all endpoint got an operational event: %+v, wakes %d", ev, wakes)
	}
	if strings.Contains(string(ev.Payload), secret) || strings.Contains(string(ev.Payload), "Bearer") {
		t.Fatalf("payload shows a secret: %s", ev.Payload)
	}
	var body struct {
		Endpoint notify.EndpointSummary `json:"endpoint"`
	}
	if err := json.Unmarshal(ev.Payload, &body); err != nil || body.Endpoint.ID != catchAll.ID || body.Endpoint.URL != catchAll.URL {
		t.Fatalf("payload %s: %v", ev.Payload, err)
	}

	ops := &hookd.Endpoint{TenantID: "acme", URL: "https://example.com/ops", Events: []string{"hookd.endpoint.*"},
		Secrets: []hookd.Secret{{Value: secret, CreatedAt: time.Now()}}}
	ops.SetDefaults()
	if err := s.CreateEndpoint(ctx, ops); err != nil {
		t.Fatal(err)
	}
	again := notify.EndpointEvent(hookd.TypeEndpointDisabled, catchAll, "k2")
	p.Notify(ctx, "acme", again)
	if again.Deliveries != 1 || wakes != 1 {
		t.Fatalf("the ops endpoint got %d deliveries, wakes %d", again.Deliveries, wakes)
	}
	dup := notify.EndpointEvent(hookd.TypeEndpointDisabled, catchAll, "k2")
	p.Notify(ctx, "acme", dup)
	if !dup.Duplicate || wakes != 1 {
		t.Fatalf("a repeated notice (same key) was stored again: %+v", dup)
	}

	p.Notify(ctx, "nope", notify.EndpointEvent(hookd.TypeEndpointDeleted, catchAll, ""))
	if !strings.Contains(logs.String(), "operational event not published") {
		t.Fatalf("a failed notice was not logged: %q", logs.String())
	}
	p.Notify(ctx, "acme") // nothing to do
}
