package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// apiKey stores a key of role in tenant ("" for superadmin) and returns it.
func apiKey(t *testing.T, s hookd.Store, tenantID string, role hookd.Role, secret string) *hookd.APIKey {
	t.Helper()
	k := &hookd.APIKey{TenantID: tenantID, Role: role, Name: string(role), Hash: hookd.HashAPIKey(secret)}
	must(t, s.CreateAPIKey(ctx, k))
	return k
}

// token mints a token of key k expiring at expires.
func token(t *testing.T, s hookd.Store, k *hookd.APIKey, secret string, expires time.Time) *hookd.Token {
	t.Helper()
	tok := &hookd.Token{KeyID: k.ID, Hash: hookd.HashAPIKey(secret), ExpiresAt: expires}
	must(t, s.CreateToken(ctx, tok))
	return tok
}

func testAPIKeyByID(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	k := apiKey(t, s, "acme", hookd.RoleViewer, "k1")
	got, err := s.FindAPIKeyByID(ctx, k.ID)
	must(t, err)
	if got.ID != k.ID || got.TenantID != "acme" || got.Role != hookd.RoleViewer || got.Hash != k.Hash {
		t.Fatalf("key by id = %+v", got)
	}
	_, err = s.FindAPIKeyByID(ctx, "key_nope")
	wantCode(t, err, hookd.ENOTFOUND)

	// Revoking twice keeps the first time.
	first := time.Now().UTC().Truncate(time.Microsecond)
	must(t, s.RevokeAPIKey(ctx, k.ID, first))
	must(t, s.RevokeAPIKey(ctx, k.ID, first.Add(time.Hour)))
	got, err = s.FindAPIKeyByID(ctx, k.ID)
	must(t, err)
	if got.RevokedAt == nil || !got.RevokedAt.Equal(first) {
		t.Fatalf("revoked_at = %v, want the first revocation %v", got.RevokedAt, first)
	}

	// Keys of a tenant and superadmin keys list apart.
	apiKey(t, s, "", hookd.RoleSuperadmin, "k2")
	list, _, err := s.FindAPIKeys(ctx, hookd.APIKeyFilter{TenantID: "acme"})
	must(t, err)
	if len(list) != 1 || list[0].ID != k.ID {
		t.Fatalf("acme keys = %+v", list)
	}
}

func testTokens(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	now := time.Now().UTC().Truncate(time.Microsecond)
	k := apiKey(t, s, "acme", hookd.RoleAdmin, "key")
	tok := token(t, s, k, "tok", now.Add(time.Hour))
	if tok.ID == "" || tok.CreatedAt.IsZero() {
		t.Fatalf("create did not set id/time: %+v", tok)
	}
	wantCode(t, s.CreateToken(ctx, &hookd.Token{KeyID: k.ID, Hash: hookd.HashAPIKey("tok"), ExpiresAt: now}), hookd.ECONFLICT)
	wantCode(t, s.CreateToken(ctx, &hookd.Token{KeyID: "key_nope", Hash: hookd.HashAPIKey("x"), ExpiresAt: now}), hookd.ENOTFOUND)

	got, err := s.FindTokenByHash(ctx, hookd.HashAPIKey("tok"))
	must(t, err)
	if got.ID != tok.ID || got.KeyID != k.ID || !got.ExpiresAt.Equal(now.Add(time.Hour)) || got.Key == nil ||
		got.Key.ID != k.ID || got.Key.TenantID != "acme" || got.Key.Role != hookd.RoleAdmin {
		t.Fatalf("token = %+v (key %+v)", got, got.Key)
	}
	if !got.Usable(now) || got.Usable(now.Add(time.Hour)) {
		t.Fatal("a token must be usable until, and not at, its expiry")
	}
	_, err = s.FindTokenByHash(ctx, hookd.HashAPIKey("nope"))
	wantCode(t, err, hookd.ENOTFOUND)
	// A key's hash is not a token, nor the other way round.
	_, err = s.FindTokenByHash(ctx, hookd.HashAPIKey("key"))
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = s.FindAPIKeyByHash(ctx, hookd.HashAPIKey("tok"))
	wantCode(t, err, hookd.ENOTFOUND)

	// Revoking the key ends the token.
	must(t, s.RevokeAPIKey(ctx, k.ID, now))
	got, err = s.FindTokenByHash(ctx, hookd.HashAPIKey("tok"))
	must(t, err)
	if got.Key.RevokedAt == nil || got.Usable(now) {
		t.Fatalf("token of a revoked key is usable: %+v", got.Key)
	}

	// Expired tokens are purged; others stay.
	k2 := apiKey(t, s, "acme", hookd.RoleViewer, "key2")
	token(t, s, k2, "old", now.Add(-time.Minute))
	token(t, s, k2, "new", now.Add(time.Minute))
	n, err := s.DeleteExpiredTokens(ctx, now)
	must(t, err)
	if n != 1 {
		t.Fatalf("purged %d tokens, want 1", n)
	}
	_, err = s.FindTokenByHash(ctx, hookd.HashAPIKey("old"))
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = s.FindTokenByHash(ctx, hookd.HashAPIKey("new"))
	must(t, err)

	// A superadmin key's token belongs to no tenant.
	sk := apiKey(t, s, "", hookd.RoleSuperadmin, "root")
	token(t, s, sk, "roottok", now.Add(time.Minute))
	got, err = s.FindTokenByHash(ctx, hookd.HashAPIKey("roottok"))
	must(t, err)
	if got.Key.TenantID != "" || got.Key.Role != hookd.RoleSuperadmin {
		t.Fatalf("superadmin token key = %+v", got.Key)
	}
}

// as returns a context whose changes are audited as made by key k.
func as(k *hookd.APIKey) context.Context {
	return hookd.WithPrincipal(ctx, hookd.Principal{KeyID: k.ID, TenantID: k.TenantID, Role: k.Role})
}

// auditLog returns every entry matching f, newest first, across pages.
func auditLog(t *testing.T, s hookd.Store, f hookd.AuditFilter) []*hookd.AuditEntry {
	t.Helper()
	var out []*hookd.AuditEntry
	f.Limit = 2
	for {
		page, next, err := s.FindAuditEntries(ctx, f)
		must(t, err)
		out = append(out, page...)
		if next == "" {
			return out
		}
		f.Cursor = next
	}
}

func actions(entries []*hookd.AuditEntry) string {
	var a []string
	for _, e := range entries {
		a = append(a, e.Action)
	}
	return strings.Join(a, " ")
}

func testAudit(t *testing.T, s hookd.Store) {
	root := apiKey(t, s, "", hookd.RoleSuperadmin, "root")
	su := as(root)
	start := time.Now().Add(-time.Second)

	// Tenant, key and token changes.
	must(t, s.CreateTenant(su, &hookd.Tenant{ID: "acme", Name: "Acme"}))
	name := "Acme Inc"
	_, err := s.UpdateTenant(su, "acme", hookd.TenantUpdate{Name: &name})
	must(t, err)
	admin := &hookd.APIKey{TenantID: "acme", Role: hookd.RoleAdmin, Name: "ci", Hash: hookd.HashAPIKey("admin-key")}
	must(t, s.CreateAPIKey(su, admin))
	ac := as(admin)
	tok := &hookd.Token{KeyID: admin.ID, Hash: hookd.HashAPIKey("admin-token"), ExpiresAt: time.Now().Add(time.Hour)}
	must(t, s.CreateToken(ac, tok))
	viewer := &hookd.APIKey{TenantID: "acme", Role: hookd.RoleViewer, Hash: hookd.HashAPIKey("viewer-key")}
	must(t, s.CreateAPIKey(ac, viewer))
	must(t, s.RevokeAPIKey(ac, viewer.ID, time.Now()))
	must(t, s.RevokeAPIKey(ac, viewer.ID, time.Now())) // no change, no entry

	// Catalog and endpoint changes, made with a token.
	tc := hookd.WithPrincipal(ctx, hookd.Principal{KeyID: admin.ID, TokenID: tok.ID, TenantID: "acme", Role: hookd.RoleAdmin})
	must(t, s.CreateEventType(tc, &hookd.EventType{TenantID: "acme", Name: "a.b"}))
	desc := "d"
	_, err = s.UpdateEventType(tc, "acme", "a.b", hookd.EventTypeUpdate{Description: &desc})
	must(t, err)
	must(t, s.DeleteEventType(tc, "acme", "a.b"))
	secret := hookd.NewEndpointSecret()
	ep := &hookd.Endpoint{TenantID: "acme", URL: "https://example.com/h", Events: []string{"*"},
		Headers: map[string]string{"Authorization": "Bearer receiver-credential"}, Secrets: []hookd.Secret{{Value: secret, CreatedAt: time.Now()}}}
	ep.SetDefaults()
	must(t, s.CreateEndpoint(tc, ep))
	url := "https://example.com/new"
	_, err = s.UpdateEndpoint(tc, "acme", ep.ID, hookd.EndpointUpdate{URL: &url})
	must(t, err)
	// Publishing is not audited; a retry is.
	publish(t, s, "acme", "x")
	c := claim(t, s, "n1", future(), 1)
	must(t, s.CompleteDeliveries(ctx, []*hookd.DeliveryResult{result(c[0], "n1", hookd.DeliveryDead, 500, future())}))
	_, err = s.RetryDelivery(tc, "acme", c[0].ID, time.Now())
	must(t, err)
	must(t, s.DeleteEndpoint(tc, "acme", ep.ID))

	// Failed changes record nothing.
	wantCode(t, s.CreateTenant(su, &hookd.Tenant{ID: "acme"}), hookd.ECONFLICT)
	_, err = s.UpdateEndpoint(tc, "acme", ep.ID, hookd.EndpointUpdate{URL: &url})
	wantCode(t, err, hookd.ENOTFOUND)
	wantCode(t, s.DeleteEventType(tc, "acme", "a.b"), hookd.ENOTFOUND)
	wantCode(t, s.RevokeAPIKey(ac, "key_nope", time.Now()), hookd.ENOTFOUND)
	_, err = s.RetryDelivery(tc, "acme", "msg_nope", time.Now())
	wantCode(t, err, hookd.ENOTFOUND)
	// Changes without a principal are not audited.
	must(t, s.CreateEventType(ctx, &hookd.EventType{TenantID: "acme", Name: "quiet"}))

	got := auditLog(t, s, hookd.AuditFilter{TenantID: "acme"})
	want := "endpoint.delete delivery.retry endpoint.update endpoint.create event_type.delete event_type.update event_type.create " +
		"key.revoke key.create token.create key.create tenant.update tenant.create"
	if actions(got) != want {
		t.Fatalf("acme's audit log:\n got %s\nwant %s", actions(got), want)
	}
	for _, e := range got {
		if e.ID == "" || e.TenantID != "acme" || e.At.Before(start) || e.ResourceType == "" || e.ResourceID == "" {
			t.Fatalf("entry %+v", e)
		}
		raw := fmt.Sprintf("%s %s", e.Before, e.After)
		for _, leak := range []string{secret, strings.TrimPrefix(secret, "whsec_"), "receiver-credential",
			hookd.HashAPIKey("admin-key"), hookd.HashAPIKey("admin-token"), hookd.HashAPIKey("viewer-key")} {
			if strings.Contains(raw, leak) {
				t.Fatalf("%s entry holds a secret: %s", e.Action, raw)
			}
		}
		for _, b := range []json.RawMessage{e.Before, e.After} {
			if len(b) > 0 && !json.Valid(b) {
				t.Fatalf("%s entry snapshot is not JSON: %s", e.Action, b)
			}
		}
	}
	byAction := map[string]*hookd.AuditEntry{}
	for _, e := range got {
		byAction[e.Action] = e
	}
	check := func(action, key, token string, role hookd.Role, resource string, before, after bool) {
		t.Helper()
		e := byAction[action]
		if e.KeyID != key || e.TokenID != token || e.Role != role || e.ResourceID != resource ||
			(len(e.Before) > 0) != before || (len(e.After) > 0) != after {
			t.Fatalf("%s entry = %+v before=%s after=%s", action, e, e.Before, e.After)
		}
	}
	check("tenant.create", root.ID, "", hookd.RoleSuperadmin, "acme", false, true)
	check("tenant.update", root.ID, "", hookd.RoleSuperadmin, "acme", true, true)
	check("token.create", admin.ID, "", hookd.RoleAdmin, tok.ID, false, true)
	check("key.revoke", admin.ID, "", hookd.RoleAdmin, viewer.ID, true, true)
	check("event_type.update", admin.ID, tok.ID, hookd.RoleAdmin, "a.b", true, true)
	check("endpoint.update", admin.ID, tok.ID, hookd.RoleAdmin, ep.ID, true, true)
	check("endpoint.delete", admin.ID, tok.ID, hookd.RoleAdmin, ep.ID, true, false)
	check("delivery.retry", admin.ID, tok.ID, hookd.RoleAdmin, c[0].ID, true, true)
	var before, after map[string]any
	must(t, json.Unmarshal(byAction["endpoint.update"].Before, &before))
	must(t, json.Unmarshal(byAction["endpoint.update"].After, &after))
	if before["url"] != "https://example.com/h" || after["url"] != url {
		t.Fatalf("endpoint.update before %v after %v", before["url"], after["url"])
	}
	if h, _ := after["headers"].(map[string]any); h["Authorization"] != "[redacted]" {
		t.Fatalf("header values must be redacted: %v", after["headers"])
	}
	must(t, json.Unmarshal(byAction["delivery.retry"].Before, &before))
	must(t, json.Unmarshal(byAction["delivery.retry"].After, &after))
	if before["state"] != "dead" || after["state"] != "pending" {
		t.Fatalf("delivery.retry before %v after %v", before["state"], after["state"])
	}

	// Filters: exact action, resource prefix, time.
	if a := actions(auditLog(t, s, hookd.AuditFilter{TenantID: "acme", Action: "key.create"})); a != "key.create key.create" {
		t.Fatalf("action filter: %s", a)
	}
	if a := actions(auditLog(t, s, hookd.AuditFilter{TenantID: "acme", Action: "event_type.*"})); a != "event_type.delete event_type.update event_type.create" {
		t.Fatalf("prefix filter: %s", a)
	}
	later := time.Now().Add(time.Hour)
	if l := auditLog(t, s, hookd.AuditFilter{Since: &later}); len(l) != 0 {
		t.Fatalf("since the future: %d entries", len(l))
	}
	if l := auditLog(t, s, hookd.AuditFilter{TenantID: "acme", Since: &start}); len(l) != len(got) {
		t.Fatalf("since the start: %d entries, want %d", len(l), len(got))
	}
	_, _, err = s.FindAuditEntries(ctx, hookd.AuditFilter{Action: "bad action!"})
	wantCode(t, err, hookd.EINVALID)
	_, _, err = s.FindAuditEntries(ctx, hookd.AuditFilter{Page: hookd.Page{Cursor: "!!"}})
	wantCode(t, err, hookd.EINVALID)

	// Another tenant's log is apart; deleting a tenant removes its log
	// and records the deletion outside any tenant.
	must(t, s.CreateTenant(su, &hookd.Tenant{ID: "beta"}))
	if a := actions(auditLog(t, s, hookd.AuditFilter{TenantID: "beta"})); a != "tenant.create" {
		t.Fatalf("beta's log: %s", a)
	}
	must(t, s.DeleteTenant(su, "acme"))
	if l := auditLog(t, s, hookd.AuditFilter{TenantID: "acme"}); len(l) != 0 {
		t.Fatalf("a deleted tenant keeps %d audit entries", len(l))
	}
	all := auditLog(t, s, hookd.AuditFilter{})
	if actions(all) != "tenant.delete tenant.create" {
		t.Fatalf("global log after the deletion: %s", actions(all))
	}
	if d := all[0]; d.TenantID != "" || d.ResourceID != "acme" || d.KeyID != root.ID || len(d.Before) == 0 || len(d.After) != 0 {
		t.Fatalf("tenant.delete entry = %+v", d)
	}
}

// testDeleteTenantRemovesAll checks that nothing of a deleted tenant stays
// reachable, even through a new tenant with the same id, and that a
// delivery leased when the tenant went away completes as stale.
func testDeleteTenantRemovesAll(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	tenant(t, s, "beta")
	k := apiKey(t, s, "acme", hookd.RoleAdmin, "acme-key")
	token(t, s, k, "acme-token", time.Now().Add(time.Hour))
	must(t, s.CreateEventType(as(k), &hookd.EventType{TenantID: "acme", Name: "a.b"}))
	ep := endpoint(t, s, "acme", "*")
	endpoint(t, s, "beta", "*")
	evs := publish(t, s, "acme", "a", "b")
	publish(t, s, "beta", "c")
	at := future()
	c := claim(t, s, "n1", at, 10)
	var leased, done *hookd.ClaimedDelivery
	for _, cd := range c {
		if cd.TenantID == "acme" && done == nil {
			done = cd
		} else if cd.TenantID == "acme" {
			leased = cd
		}
	}
	must(t, s.CompleteDeliveries(ctx, []*hookd.DeliveryResult{result(done, "n1", hookd.DeliverySucceeded, 200, at)}))

	must(t, s.DeleteTenant(ctx, "acme"))

	// The leased delivery's result is stale and writes nothing.
	late := result(leased, "n1", hookd.DeliverySucceeded, 200, at)
	must(t, s.CompleteDeliveries(ctx, []*hookd.DeliveryResult{late}))
	if !late.Stale {
		t.Fatal("a result for a deleted tenant's delivery was recorded")
	}

	tenant(t, s, "acme") // a new tenant with the same id starts empty
	_, err := s.FindAPIKeyByHash(ctx, hookd.HashAPIKey("acme-key"))
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = s.FindTokenByHash(ctx, hookd.HashAPIKey("acme-token"))
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = s.FindEventType(ctx, "acme", "a.b")
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = s.FindEndpointByID(ctx, "acme", ep.ID)
	wantCode(t, err, hookd.ENOTFOUND)
	for _, ev := range evs {
		_, err = s.FindEventByID(ctx, "acme", ev.ID)
		wantCode(t, err, hookd.ENOTFOUND)
	}
	for _, cd := range []*hookd.ClaimedDelivery{done, leased} {
		_, err = s.FindDeliveryByID(ctx, "acme", cd.ID)
		wantCode(t, err, hookd.ENOTFOUND)
	}
	if l, _, err := s.FindDeliveries(ctx, hookd.DeliveryFilter{TenantID: "acme"}); err != nil || len(l) != 0 {
		t.Fatalf("deliveries of the new acme: %d, %v", len(l), err)
	}
	if l, _, err := s.FindEndpoints(ctx, hookd.EndpointFilter{TenantID: "acme"}); err != nil || len(l) != 0 {
		t.Fatalf("endpoints of the new acme: %d, %v", len(l), err)
	}
	if l, _, err := s.FindAPIKeys(ctx, hookd.APIKeyFilter{TenantID: "acme"}); err != nil || len(l) != 0 {
		t.Fatalf("keys of the new acme: %d, %v", len(l), err)
	}
	if l := auditLog(t, s, hookd.AuditFilter{TenantID: "acme"}); len(l) != 0 {
		t.Fatalf("audit entries of the new acme: %d", len(l))
	}
	// Beta is untouched.
	if l, _, err := s.FindDeliveries(ctx, hookd.DeliveryFilter{TenantID: "beta"}); err != nil || len(l) != 1 {
		t.Fatalf("beta's deliveries: %d, %v", len(l), err)
	}
}
