package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

func testTenants(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	wantCode(t, s.CreateTenant(ctx, &hookd.Tenant{ID: "acme"}), hookd.ECONFLICT)
	got, err := s.FindTenant(ctx, "acme")
	must(t, err)
	if got.Name != "acme" || got.CreatedAt.IsZero() {
		t.Fatalf("tenant = %+v", got)
	}
	_, err = s.FindTenant(ctx, "nope")
	wantCode(t, err, hookd.ENOTFOUND)
	name := "Acme Inc"
	upd, err := s.UpdateTenant(ctx, "acme", hookd.TenantUpdate{Name: &name})
	must(t, err)
	if upd.Name != name {
		t.Fatalf("name = %q", upd.Name)
	}
	_, err = s.UpdateTenant(ctx, "nope", hookd.TenantUpdate{Name: &name})
	wantCode(t, err, hookd.ENOTFOUND)
	tenant(t, s, "beta")
	list, next, err := s.FindTenants(ctx, hookd.Page{Limit: 1})
	must(t, err)
	if len(list) != 1 || next == "" {
		t.Fatalf("page 1: %d items, cursor %q", len(list), next)
	}
	list2, next2, err := s.FindTenants(ctx, hookd.Page{Limit: 1, Cursor: next})
	must(t, err)
	if len(list2) != 1 || list2[0].ID == list[0].ID {
		t.Fatalf("page 2 = %+v", list2)
	}
	if _, _, err := s.FindTenants(ctx, hookd.Page{Limit: 1, Cursor: next2}); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.FindTenants(ctx, hookd.Page{Cursor: "!!not a cursor!!"})
	wantCode(t, err, hookd.EINVALID)
}

func testAPIKeys(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	now := time.Now().UTC()
	admin := &hookd.APIKey{TenantID: "acme", Role: hookd.RoleAdmin, Name: "ci", Hash: hookd.HashAPIKey("k1")}
	must(t, s.CreateAPIKey(ctx, admin))
	super := &hookd.APIKey{Role: hookd.RoleSuperadmin, Name: "root", Hash: hookd.HashAPIKey("k2")}
	must(t, s.CreateAPIKey(ctx, super))
	wantCode(t, s.CreateAPIKey(ctx, &hookd.APIKey{Role: hookd.RoleViewer, TenantID: "acme", Hash: hookd.HashAPIKey("k1")}), hookd.ECONFLICT)

	got, err := s.FindAPIKeyByHash(ctx, hookd.HashAPIKey("k1"))
	must(t, err)
	if got.ID != admin.ID || got.TenantID != "acme" || got.Role != hookd.RoleAdmin || !got.Usable(now) {
		t.Fatalf("key = %+v", got)
	}
	_, err = s.FindAPIKeyByHash(ctx, hookd.HashAPIKey("nope"))
	wantCode(t, err, hookd.ENOTFOUND)

	supers, _, err := s.FindAPIKeys(ctx, hookd.APIKeyFilter{Role: hookd.RoleSuperadmin})
	must(t, err)
	if len(supers) != 1 || supers[0].ID != super.ID || supers[0].TenantID != "" {
		t.Fatalf("superadmin keys = %+v", supers)
	}
	must(t, s.TouchAPIKey(ctx, admin.ID, now))
	must(t, s.RevokeAPIKey(ctx, admin.ID, now))
	got, err = s.FindAPIKeyByHash(ctx, hookd.HashAPIKey("k1"))
	must(t, err)
	if got.LastUsedAt == nil || got.RevokedAt == nil || got.Usable(now) {
		t.Fatalf("after touch and revoke: %+v", got)
	}
	wantCode(t, s.RevokeAPIKey(ctx, "key_nope", now), hookd.ENOTFOUND)

	exp := now.Add(-time.Minute)
	old := &hookd.APIKey{TenantID: "acme", Role: hookd.RoleViewer, Hash: hookd.HashAPIKey("k3"), ExpiresAt: &exp}
	must(t, s.CreateAPIKey(ctx, old))
	got, err = s.FindAPIKeyByHash(ctx, hookd.HashAPIKey("k3"))
	must(t, err)
	if got.Usable(now) {
		t.Fatal("an expired key is usable")
	}
}

func testEventTypes(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	tenant(t, s, "beta")
	et := &hookd.EventType{TenantID: "acme", Name: "invoice.paid", Description: "paid", Schema: json.RawMessage(`{"type":"object"}`),
		Example: json.RawMessage(`{"id": 1}`)}
	must(t, s.CreateEventType(ctx, et))
	wantCode(t, s.CreateEventType(ctx, &hookd.EventType{TenantID: "acme", Name: "invoice.paid"}), hookd.ECONFLICT)
	wantCode(t, s.CreateEventType(ctx, &hookd.EventType{TenantID: "ghost", Name: "x"}), hookd.ENOTFOUND)
	got, err := s.FindEventType(ctx, "acme", "invoice.paid")
	must(t, err)
	if string(got.Example) != `{"id": 1}` || string(got.Schema) != `{"type":"object"}` || got.Description != "paid" {
		t.Fatalf("event type = %+v", got)
	}
	_, err = s.FindEventType(ctx, "beta", "invoice.paid")
	wantCode(t, err, hookd.ENOTFOUND)
	dep := true
	up, err := s.UpdateEventType(ctx, "acme", "invoice.paid", hookd.EventTypeUpdate{Deprecated: &dep})
	must(t, err)
	if !up.Deprecated || up.Description != "paid" {
		t.Fatalf("updated = %+v", up)
	}
	_, err = s.UpdateEventType(ctx, "acme", "nope", hookd.EventTypeUpdate{Deprecated: &dep})
	wantCode(t, err, hookd.ENOTFOUND)
	must(t, s.CreateEventType(ctx, &hookd.EventType{TenantID: "acme", Name: "invoice.sent"}))
	list, _, err := s.FindEventTypes(ctx, "acme", hookd.Page{})
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("list = %d", len(list))
	}
	must(t, s.DeleteEventType(ctx, "acme", "invoice.paid"))
	wantCode(t, s.DeleteEventType(ctx, "acme", "invoice.paid"), hookd.ENOTFOUND)
}

func testEndpoints(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	tenant(t, s, "beta")
	exp := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Microsecond)
	e := &hookd.Endpoint{TenantID: "acme", Name: "billing", Description: "d", URL: "https://example.com/h",
		Events: []string{"invoice.*", "user.created"}, Headers: map[string]string{"X-Env": "prod"},
		Signatures:    []hookd.Signature{{Scheme: hookd.SchemeStandard}, {Scheme: hookd.SchemeHMAC, Header: "X-Hub-Signature-256"}},
		Secrets:       []hookd.Secret{{Value: "whsec_current", CreatedAt: time.Now().UTC()}, {Value: "whsec_old", CreatedAt: time.Now().UTC(), ExpiresAt: &exp}},
		Timeout:       hookd.Duration(7 * time.Second),
		RetrySchedule: []hookd.Duration{0, hookd.Duration(time.Second)},
		RateLimit:     2.5,
	}
	e.SetDefaults()
	must(t, s.CreateEndpoint(ctx, e))
	if e.ID == "" || e.CreatedAt.IsZero() {
		t.Fatalf("create did not set id/time: %+v", e)
	}
	wantCode(t, s.CreateEndpoint(ctx, &hookd.Endpoint{TenantID: "ghost", URL: "https://x", Events: []string{"*"}}), hookd.ENOTFOUND)

	got, err := s.FindEndpointByID(ctx, "acme", e.ID)
	must(t, err)
	if got.Name != "billing" || got.URL != e.URL || len(got.Events) != 2 || got.Headers["X-Env"] != "prod" ||
		len(got.Signatures) != 2 || got.Signatures[1].Header != "X-Hub-Signature-256" || got.Timeout != e.Timeout ||
		len(got.RetrySchedule) != 2 || got.MaxInFlight != hookd.DefaultMaxInFlight || got.State != hookd.EndpointEnabled ||
		got.RateLimit != 2.5 {
		t.Fatalf("round trip: %+v", got)
	}
	if len(got.Secrets) != 2 || got.Secrets[0].Value != "whsec_current" || got.Secrets[1].ExpiresAt == nil || !got.Secrets[1].ExpiresAt.Equal(exp) {
		t.Fatalf("secrets round trip: %+v", got.Secrets)
	}
	_, err = s.FindEndpointByID(ctx, "beta", e.ID)
	wantCode(t, err, hookd.ENOTFOUND)

	url := "https://example.org/new"
	paused := hookd.EndpointPaused
	rate := 0.0
	up, err := s.UpdateEndpoint(ctx, "acme", e.ID, hookd.EndpointUpdate{URL: &url, State: &paused, RateLimit: &rate})
	must(t, err)
	if up.URL != url || up.State != paused || up.StateChanged == nil || up.Name != "billing" || up.RateLimit != 0 {
		t.Fatalf("update = %+v", up)
	}
	_, err = s.UpdateEndpoint(ctx, "beta", e.ID, hookd.EndpointUpdate{URL: &url})
	wantCode(t, err, hookd.ENOTFOUND)
	st := hookd.EndpointPaused
	list, _, err := s.FindEndpoints(ctx, hookd.EndpointFilter{TenantID: "acme", State: &st})
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("filter by state: %d", len(list))
	}
	must(t, s.DeleteEndpoint(ctx, "acme", e.ID))
	_, err = s.FindEndpointByID(ctx, "acme", e.ID)
	wantCode(t, err, hookd.ENOTFOUND)
	wantCode(t, s.DeleteEndpoint(ctx, "acme", e.ID), hookd.ENOTFOUND)
}

func testEndpointPagination(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	ids := map[string]bool{}
	for range 7 {
		ids[endpoint(t, s, "acme", "*").ID] = true
	}
	seen := map[string]bool{}
	p := hookd.Page{Limit: 3}
	pages := 0
	for {
		list, next, err := s.FindEndpoints(ctx, hookd.EndpointFilter{TenantID: "acme", Page: p})
		must(t, err)
		pages++
		for _, e := range list {
			if seen[e.ID] {
				t.Fatalf("%s seen twice", e.ID)
			}
			seen[e.ID] = true
		}
		if next == "" {
			break
		}
		p.Cursor = next
	}
	if pages != 3 || len(seen) != 7 {
		t.Fatalf("pages=%d seen=%d, want 3 and 7", pages, len(seen))
	}
	for id := range ids {
		if !seen[id] {
			t.Fatalf("%s missing from the pages", id)
		}
	}
}

func testDeleteTenant(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	tenant(t, s, "beta")
	endpoint(t, s, "acme", "*")
	endpoint(t, s, "beta", "*")
	publish(t, s, "acme", "a")
	publish(t, s, "beta", "b")
	must(t, s.DeleteTenant(ctx, "acme"))
	wantCode(t, s.DeleteTenant(ctx, "acme"), hookd.ENOTFOUND)
	_, err := s.FindTenant(ctx, "acme")
	wantCode(t, err, hookd.ENOTFOUND)
	got := claim(t, s, "n1", future(), 10)
	if len(got) != 1 || got[0].TenantID != "beta" {
		t.Fatalf("after deleting acme, claimable = %d (want beta's one)", len(got))
	}
}

var _ = fmt.Sprint
