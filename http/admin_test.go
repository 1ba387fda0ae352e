package http_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

func message(body map[string]any) string {
	er, _ := body["error"].(map[string]any)
	m, _ := er["message"].(string)
	return m
}

func TestTenantsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	created := e.want(t, 201, e.super, "POST", "/v1/tenants", map[string]any{"id": "newco", "name": "New Co"})
	if created["id"] != "newco" || created["name"] != "New Co" || created["created_at"] == nil {
		t.Fatalf("created = %v", created)
	}
	for name, body := range map[string]any{
		"duplicate":     map[string]any{"id": "newco"},
		"bad id":        map[string]any{"id": "New Co"},
		"empty id":      map[string]any{"id": ""},
		"unknown field": map[string]any{"id": "x", "slug": "x"},
		"long name":     map[string]any{"id": "x", "name": strings.Repeat("n", 201)},
		"malformed":     `{"id":`,
	} {
		want := 400
		if name == "duplicate" {
			want = 409
		}
		t.Run(name, func(t *testing.T) { e.want(t, want, e.super, "POST", "/v1/tenants", body) })
	}
	page := e.want(t, 200, e.super, "GET", "/v1/tenants?limit=2", nil)
	if l := items(t, page); len(l) != 2 || l[0]["id"] != "newco" || page["next_cursor"] == "" {
		t.Fatalf("first page = %v", page)
	}
	rest := items(t, e.want(t, 200, e.super, "GET", "/v1/tenants?limit=2&cursor="+page["next_cursor"].(string), nil))
	if len(rest) != 2 || rest[1]["id"] != "acme" {
		t.Fatalf("second page = %v", rest)
	}

	// Admins and viewers read their own tenant; only a superadmin changes it.
	if got := e.want(t, 200, e.viewer, "GET", "/v1/tenants/acme", nil); got["id"] != "acme" {
		t.Fatalf("viewer's tenant = %v", got)
	}
	e.want(t, 403, e.admin, "PATCH", "/v1/tenants/acme", map[string]any{"name": "x"})
	if got := e.want(t, 200, e.super, "PATCH", "/v1/tenants/acme", map[string]any{"name": "Acme Inc"}); got["name"] != "Acme Inc" {
		t.Fatalf("renamed = %v", got)
	}
	e.want(t, 400, e.super, "PATCH", "/v1/tenants/acme", map[string]any{"id": "other"})
	e.want(t, 404, e.super, "PATCH", "/v1/tenants/ghost", map[string]any{"name": "x"})

	// Deleting needs the confirmation and changes nothing without it.
	e.createEndpoint(t, "acme", nil)
	e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/endpoints", nil) // the admin key is cached now
	for _, q := range []string{"", "?confirm=", "?confirm=beta", "?confirm=ACME"} {
		got := e.want(t, 400, e.super, "DELETE", "/v1/tenants/acme"+q, nil)
		if !strings.Contains(message(got), "?confirm=acme") {
			t.Fatalf("message %q does not say how to confirm", message(got))
		}
	}
	if l := items(t, e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/endpoints", nil)); len(l) != 1 {
		t.Fatal("an unconfirmed delete changed something")
	}
	e.want(t, 403, e.admin, "DELETE", "/v1/tenants/acme?confirm=acme", nil)
	e.want(t, 204, e.super, "DELETE", "/v1/tenants/acme?confirm=acme", nil)
	// Its keys stop at once, its data is gone, other tenants are untouched.
	e.want(t, 401, e.admin, "GET", "/v1/tenants/acme/endpoints", nil)
	e.want(t, 401, e.viewer, "GET", "/v1/tenants/acme", nil)
	e.want(t, 404, e.super, "GET", "/v1/tenants/acme/endpoints", nil)
	e.want(t, 404, e.super, "DELETE", "/v1/tenants/acme?confirm=acme", nil)
	e.want(t, 200, e.other, "GET", "/v1/tenants/beta", nil)
	e.want(t, 201, e.super, "POST", "/v1/tenants", map[string]any{"id": "acme"})
	if l := items(t, e.want(t, 200, e.super, "GET", "/v1/tenants/acme/endpoints", nil)); len(l) != 0 {
		t.Fatalf("a new tenant with a deleted one's id has %d endpoints", len(l))
	}
}

func TestKeysAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := "/v1/tenants/acme/keys"
	created := e.want(t, 201, e.admin, "POST", base, map[string]any{"name": "ci", "role": "viewer", "ttl": "720h"})
	key, _ := created["key"].(string)
	if !strings.HasPrefix(key, hookd.KeyPrefix) || created["id"] == nil || created["role"] != "viewer" || created["tenant"] != "acme" {
		t.Fatalf("created = %v", created)
	}
	if exp, _ := time.Parse(time.RFC3339, created["expires_at"].(string)); !exp.Equal(e.clock.Now().Add(720 * time.Hour).Truncate(time.Microsecond)) {
		t.Fatalf("expires_at = %v", created["expires_at"])
	}
	e.want(t, 200, key, "GET", "/v1/tenants/acme/endpoints", nil)
	e.want(t, 403, key, "POST", base, map[string]any{"name": "x", "role": "viewer"})

	at := e.clock.Now().Add(48 * time.Hour).Format(time.RFC3339)
	cases := []struct {
		name   string
		status int
		body   any
	}{
		{"superadmin through a tenant", 400, map[string]any{"role": "superadmin"}},
		{"no role", 400, map[string]any{"name": "x"}},
		{"unknown role", 400, map[string]any{"role": "owner"}},
		{"ttl and expires_at", 400, map[string]any{"role": "viewer", "ttl": "1h", "expires_at": at}},
		{"expires_at in the past", 400, map[string]any{"role": "viewer", "expires_at": "2001-01-01T00:00:00Z"}},
		{"bad expires_at", 400, map[string]any{"role": "viewer", "expires_at": "tomorrow"}},
		{"bad ttl", 400, map[string]any{"role": "viewer", "ttl": "forever"}},
		{"negative ttl", 400, map[string]any{"role": "viewer", "ttl": "-1h"}},
		{"long name", 400, map[string]any{"role": "viewer", "name": strings.Repeat("n", 201)}},
		{"unknown field", 400, map[string]any{"role": "viewer", "tenant": "beta"}},
		{"expires_at", 201, map[string]any{"role": "admin", "expires_at": at}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { e.want(t, c.status, e.admin, "POST", base, c.body) })
	}

	// A listing shows neither key nor hash; viewers may list.
	resp := e.call(t, e.viewer, "GET", base, nil)
	list := resp.body
	for _, k := range items(t, list) {
		if _, ok := k["key"]; ok {
			t.Fatalf("listing shows a key: %v", k)
		}
	}
	for _, secret := range []string{key, hookd.HashAPIKey(key), e.admin, e.viewer} {
		if strings.Contains(string(resp.raw), secret) {
			t.Fatal("a key listing shows a key or a hash")
		}
	}
	if n := len(items(t, list)); n != 4 { // admin, viewer, ci, expires_at
		t.Fatalf("acme has %d keys, want 4", n)
	}

	// Last use is recorded.
	waitFor(t, "last use of the new key", func() bool {
		k, err := e.store.FindAPIKeyByHash(context.Background(), hookd.HashAPIKey(key))
		return err == nil && k.LastUsedAt != nil
	})

	// Revocation through this server takes effect at once, for the key
	// and the tokens minted from it, even though both are cached.
	adminKey := e.want(t, 201, e.admin, "POST", base, map[string]any{"name": "deploy", "role": "admin"})
	ak := adminKey["key"].(string)
	tok := e.want(t, 201, ak, "POST", "/v1/tokens", nil)["token"].(string)
	e.want(t, 200, ak, "GET", base, nil)
	e.want(t, 200, tok, "GET", base, nil)
	e.want(t, 403, e.viewer, "DELETE", base+"/"+adminKey["id"].(string), nil)
	e.want(t, 404, e.other, "DELETE", base+"/"+adminKey["id"].(string), nil)
	e.want(t, 404, e.other, "DELETE", "/v1/tenants/beta/keys/"+adminKey["id"].(string), nil)
	e.want(t, 204, e.admin, "DELETE", base+"/"+adminKey["id"].(string), nil)
	e.want(t, 401, ak, "GET", base, nil)
	e.want(t, 401, tok, "GET", base, nil)
	e.want(t, 204, e.admin, "DELETE", base+"/"+adminKey["id"].(string), nil) // again: nothing changes
	e.want(t, 404, e.admin, "DELETE", base+"/key_nope", nil)
	revoked := false
	for _, k := range items(t, e.want(t, 200, e.admin, "GET", base, nil)) {
		revoked = revoked || (k["id"] == adminKey["id"] && k["revoked_at"] != nil)
	}
	if !revoked {
		t.Fatal("the listing does not show revoked_at")
	}

	// Keys expire exactly.
	short := e.want(t, 201, e.admin, "POST", base, map[string]any{"role": "viewer", "ttl": "1m"})["key"].(string)
	e.want(t, 200, short, "GET", base, nil)
	e.clock.Add(time.Minute)
	e.want(t, 401, short, "GET", base, nil)
}

func TestSuperadminKeysAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	created := e.want(t, 201, e.super, "POST", "/v1/keys", map[string]any{"name": "ops"})
	if created["role"] != "superadmin" || created["tenant"] != nil || !strings.HasPrefix(created["key"].(string), hookd.KeyPrefix) {
		t.Fatalf("created = %v", created)
	}
	ops := created["key"].(string)
	e.want(t, 200, ops, "GET", "/v1/tenants/beta/endpoints", nil)
	e.want(t, 400, e.super, "POST", "/v1/keys", map[string]any{"role": "admin"})
	e.want(t, 403, e.admin, "POST", "/v1/keys", map[string]any{"name": "x"})
	list := items(t, e.want(t, 200, e.super, "GET", "/v1/keys", nil))
	if len(list) != 2 {
		t.Fatalf("superadmin keys = %v", list)
	}
	for _, k := range list {
		if k["role"] != "superadmin" {
			t.Fatalf("GET /v1/keys lists %v", k)
		}
	}
	// A tenant's key is not revoked here.
	e.want(t, 404, e.super, "DELETE", "/v1/keys/"+e.adminID, nil)
	e.want(t, 204, e.super, "DELETE", "/v1/keys/"+created["id"].(string), nil)
	e.want(t, 401, ops, "GET", "/v1/keys", nil)
	// The last usable superadmin key stays.
	var self string
	for _, k := range items(t, e.want(t, 200, e.super, "GET", "/v1/keys", nil)) {
		if k["revoked_at"] == nil {
			self = k["id"].(string)
		}
	}
	got := e.want(t, 409, e.super, "DELETE", "/v1/keys/"+self, nil)
	if !strings.Contains(message(got), "last usable superadmin key") {
		t.Fatalf("message = %q", message(got))
	}
	e.want(t, 200, e.super, "GET", "/v1/keys", nil)
}

func TestTokensAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.want(t, 201, e.admin, "POST", "/v1/tokens", nil)
	secret, _ := tok["token"].(string)
	if !strings.HasPrefix(secret, hookd.TokenPrefix) || tok["key_id"] != e.adminID || tok["id"] == nil {
		t.Fatalf("token = %v", tok)
	}
	if exp, _ := time.Parse(time.RFC3339, tok["expires_at"].(string)); !exp.Equal(e.clock.Now().Add(24 * time.Hour).Truncate(time.Microsecond)) {
		t.Fatalf("default expiry = %v, want 24h from now", tok["expires_at"])
	}
	// A token acts as its key: tenant and role.
	e.want(t, 201, secret, "POST", "/v1/tenants/acme/event-types", map[string]any{"name": "by.token"})
	e.want(t, 404, secret, "GET", "/v1/tenants/beta/endpoints", nil)
	e.want(t, 403, secret, "PATCH", "/v1/tenants/acme", map[string]any{"name": "x"})
	// A token does not mint tokens.
	e.want(t, 403, secret, "POST", "/v1/tokens", nil)
	// A viewer's token reads, never writes.
	vt := e.want(t, 201, e.viewer, "POST", "/v1/tokens", map[string]any{"ttl": "1h"})["token"].(string)
	e.want(t, 200, vt, "GET", "/v1/tenants/acme/event-types", nil)
	e.want(t, 403, vt, "POST", "/v1/tenants/acme/event-types", map[string]any{"name": "x.y"})

	for name, body := range map[string]any{
		"too short":     map[string]any{"ttl": "59s"},
		"too long":      map[string]any{"ttl": "721h"},
		"not a ttl":     map[string]any{"ttl": "soon"},
		"zero":          map[string]any{"ttl": 0},
		"unknown field": map[string]any{"ttl": "1h", "role": "superadmin"},
		"not an object": `"1h"`,
	} {
		t.Run(name, func(t *testing.T) { e.want(t, 400, e.admin, "POST", "/v1/tokens", body) })
	}
	e.want(t, 201, e.admin, "POST", "/v1/tokens", map[string]any{"ttl": 60})
	e.want(t, 201, e.admin, "POST", "/v1/tokens", map[string]any{"ttl": "720h"})

	// A token expires exactly, and never outlives its key.
	e.clock.Add(time.Hour)
	e.want(t, 401, vt, "GET", "/v1/tenants/acme/event-types", nil)
	e.want(t, 200, secret, "GET", "/v1/tenants/acme/event-types", nil)
	soon := e.clock.Now().Add(10 * time.Minute)
	short, _ := e.newKey(t, "acme", hookd.RoleAdmin, &soon)
	clamped := e.want(t, 201, short, "POST", "/v1/tokens", map[string]any{"ttl": "1h"})
	if exp, _ := time.Parse(time.RFC3339, clamped["expires_at"].(string)); !exp.Equal(soon.Truncate(time.Microsecond)) {
		t.Fatalf("token of a key expiring at %v expires at %v", soon, clamped["expires_at"])
	}
	e.clock.Add(10 * time.Minute)
	e.want(t, 401, clamped["token"].(string), "GET", "/v1/tenants/acme/event-types", nil)

	// Using a token records its key's last use.
	e.clock.Add(2 * time.Minute) // past the touch interval of the admin key
	e.want(t, 200, secret, "GET", "/v1/tenants/acme/event-types", nil)
	now := e.clock.Now()
	waitFor(t, "token use recorded on its key", func() bool {
		k, err := e.store.FindAPIKeyByID(context.Background(), e.adminID)
		return err == nil && k.LastUsedAt != nil && k.LastUsedAt.Equal(now)
	})
}

func TestAuditAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ep := e.createEndpoint(t, "acme", map[string]any{"url": "https://example.com/h", "events": []string{"*"}})
	id := ep["id"].(string)
	e.want(t, 200, e.admin, "PATCH", "/v1/tenants/acme/endpoints/"+id, map[string]any{"name": "billing"})
	e.want(t, 400, e.admin, "PATCH", "/v1/tenants/acme/endpoints/"+id, map[string]any{"url": "ftp://x"}) // refused: no entry
	e.want(t, 202, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "a.b", "data": 1})
	d := items(t, e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/deliveries", nil))[0]
	e.want(t, 202, e.admin, "POST", "/v1/tenants/acme/deliveries/"+d["id"].(string)+"/retry", nil)
	tok := e.want(t, 201, e.admin, "POST", "/v1/tokens", nil)
	e.want(t, 204, tok["token"].(string), "DELETE", "/v1/tenants/acme/endpoints/"+id, nil)

	log := items(t, e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/audit", nil))
	var got []string
	for _, a := range log {
		got = append(got, a["action"].(string))
	}
	if want := "endpoint.delete token.create delivery.retry endpoint.update endpoint.create"; strings.Join(got, " ") != want {
		t.Fatalf("audit log = %s, want %s", strings.Join(got, " "), want)
	}
	del := log[0]
	if del["key_id"] != e.adminID || del["token_id"] != tok["id"] || del["role"] != "admin" || del["resource_type"] != "endpoint" ||
		del["resource_id"] != id || del["before"] == nil || del["after"] != nil || del["tenant"] != "acme" {
		t.Fatalf("endpoint.delete entry = %v", del)
	}
	raw := string(e.call(t, e.admin, "GET", "/v1/tenants/acme/audit", nil).raw)
	for _, secret := range []string{ep["secret"].(string), tok["token"].(string), hookd.HashAPIKey(tok["token"].(string))} {
		if strings.Contains(raw, secret) {
			t.Fatal("the audit log shows a secret")
		}
	}

	// Filters and paging.
	if l := items(t, e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/audit?action=endpoint.update", nil)); len(l) != 1 {
		t.Fatalf("action filter: %v", l)
	}
	if l := items(t, e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/audit?action=endpoint.*", nil)); len(l) != 3 {
		t.Fatalf("prefix filter: %v", l)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if l := items(t, e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/audit?since="+future, nil)); len(l) != 0 {
		t.Fatalf("since the future: %v", l)
	}
	first := e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/audit?limit=3", nil)
	second := items(t, e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/audit?limit=3&cursor="+first["next_cursor"].(string), nil))
	if len(items(t, first)) != 3 || len(second) != 2 {
		t.Fatalf("pages of 3: %d and %d", len(items(t, first)), len(second))
	}
	e.want(t, 400, e.admin, "GET", "/v1/tenants/acme/audit?since=yesterday", nil)
	e.want(t, 400, e.admin, "GET", "/v1/tenants/acme/audit?action=DROP%20TABLE", nil)
	e.want(t, 403, e.viewer, "GET", "/v1/tenants/acme/audit", nil)
	e.want(t, 404, e.other, "GET", "/v1/tenants/acme/audit", nil)
	if l := items(t, e.want(t, 200, e.other, "GET", "/v1/tenants/beta/audit", nil)); len(l) != 0 {
		t.Fatalf("beta's audit log shows %v", l)
	}

	// The whole log: superadmin only, with changes outside tenants.
	sk := e.want(t, 201, e.super, "POST", "/v1/keys", map[string]any{"name": "ops"})
	e.want(t, 403, e.admin, "GET", "/v1/audit", nil)
	all := items(t, e.want(t, 200, e.super, "GET", "/v1/audit", nil))
	if len(all) != 6 || all[0]["action"] != "key.create" || all[0]["resource_id"] != sk["id"] || all[0]["tenant"] != nil {
		t.Fatalf("whole audit log = %v", all)
	}
	if l := items(t, e.want(t, 200, e.super, "GET", "/v1/audit?tenant=acme", nil)); len(l) != 5 {
		t.Fatalf("?tenant=acme: %d entries", len(l))
	}
}
