package http_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd"
	hookdhttp "github.com/hookd/hookd/http"
)

// caller is a kind of credential the authorization table tries.
type caller string

const (
	noKey        caller = "no key"
	superadmin   caller = "superadmin"
	ownAdmin     caller = "admin of own tenant"
	ownViewer    caller = "viewer of own tenant"
	otherAdmin   caller = "admin of another tenant"
	otherViewer  caller = "viewer of another tenant"
	expiredKey   caller = "expired key"
	revokedKey   caller = "revoked key"
	adminToken   caller = "token of an admin"
	expiredToken caller = "expired token"
)

var callers = []caller{noKey, superadmin, ownAdmin, ownViewer, otherAdmin, otherViewer, expiredKey, revokedKey, adminToken, expiredToken}

// fixture is an API whose tenant acme holds one of every resource, with a
// credential of every kind. Own tenant is acme, the other tenant beta.
type fixture struct {
	*env
	creds                                     map[caller]string
	endpointID, eventID, deliveryID           string
	sourceID, ruleID, triggerID, runID        string // the receiving side
	spareKeyID, spareSuperID, otherSpareKeyID string
	secrets                                   map[string]string // name -> a secret no answer may show
	calls                                     atomic.Int64      // makes create bodies unique
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	e := newEnv(t)
	ctx := context.Background()
	f := &fixture{env: e, secrets: map[string]string{}}
	past := e.clock.Now().Add(-time.Minute)
	otherViewerKey, _ := e.newKey(t, "beta", hookd.RoleViewer, nil)
	expired, _ := e.newKey(t, "acme", hookd.RoleAdmin, &past)
	revoked, rk := e.newKey(t, "acme", hookd.RoleAdmin, nil)
	if err := e.store.RevokeAPIKey(ctx, rk.ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	spare, sk := e.newKey(t, "acme", hookd.RoleViewer, nil)
	spareSuper, ssk := e.newKey(t, "", hookd.RoleSuperadmin, nil)
	otherSpare, osk := e.newKey(t, "beta", hookd.RoleViewer, nil)
	f.spareKeyID, f.spareSuperID, f.otherSpareKeyID = sk.ID, ssk.ID, osk.ID
	tok, old := hookd.NewTokenSecret(), hookd.NewTokenSecret()
	for secret, exp := range map[string]time.Time{tok: e.clock.Now().Add(time.Hour), old: past} {
		if err := e.store.CreateToken(ctx, &hookd.Token{KeyID: e.adminID, Hash: hookd.HashAPIKey(secret), ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	f.creds = map[caller]string{
		noKey: "", superadmin: e.super, ownAdmin: e.admin, ownViewer: e.viewer, otherAdmin: e.other, otherViewer: otherViewerKey,
		expiredKey: expired, revokedKey: revoked, adminToken: tok, expiredToken: old,
	}
	e.want(t, 201, e.admin, "POST", "/v1/tenants/acme/event-types", map[string]any{"name": "a.b"})
	ep := e.createEndpoint(t, "acme", map[string]any{"url": "https://example.com/hook", "events": []string{"*"},
		"headers": map[string]string{"Authorization": "Bearer receiver-credential-" + hookd.NewAPIKeySecret()}})
	f.endpointID = ep["id"].(string)
	ev := e.want(t, 202, e.admin, "POST", "/v1/tenants/acme/events", map[string]any{"type": "a.b", "data": map[string]any{"n": 1}})
	f.eventID = ev["id"].(string)
	ds := items(t, e.want(t, 200, e.admin, "GET", "/v1/tenants/acme/deliveries", nil))
	if len(ds) != 1 {
		t.Fatalf("deliveries = %d", len(ds))
	}
	f.deliveryID = ds[0]["id"].(string)
	f.inboundFixture(t)

	secret := ep["secret"].(string)
	f.secrets["endpoint secret"] = secret
	f.secrets["endpoint secret (base64)"] = strings.TrimPrefix(secret, "whsec_")
	for c, k := range f.creds {
		if k != "" {
			f.secrets[string(c)] = k
			f.secrets[string(c)+" hash"] = hookd.HashAPIKey(k)
		}
	}
	for name, k := range map[string]string{"spare key": spare, "spare superadmin key": spareSuper, "beta's spare key": otherSpare} {
		f.secrets[name] = k
		f.secrets[name+" hash"] = hookd.HashAPIKey(k)
	}
	return f
}

// rule says who may call a route.
type rule int

const (
	public    rule = iota // no credential needed; every caller gets the answer
	readRule              // anyone who may read the tenant
	writeRule             // its admins and superadmins; viewers 403
	adminRule             // as writeRule, for reading admin-only data
	superRule             // superadmins; the tenant's admins and viewers 403
	global                // superadmins only, no tenant in the path; everyone else 403
	keyOnly               // any valid API key; a token 403
)

// authzRow is how the table calls one route.
type authzRow struct {
	rule rule
	ok   int // the status of a successful call
	// id names the resource in paths with {id}; body returns the request
	// body of call n (unique where a create must not conflict).
	id   func(f *fixture, tenant string) string
	body func(n int64) any
	// destructive: a successful call removes what the next one needs,
	// so each successful call gets a fixture of its own.
	destructive bool
	// tenantQuery: the route names its tenant in ?tenant= (the generic
	// trigger routes, whose path has none).
	tenantQuery bool
}

func endpointOf(f *fixture, _ string) string { return f.endpointID }

func fixed(v any) func(int64) any { return func(int64) any { return v } }

// authzTable has a row for every route; TestAuthorizationTable fails for a
// route without one, and for a row without a route.
var authzTable = map[string]authzRow{
	"GET /healthz": {rule: public, ok: 200},
	"GET /readyz":  {rule: public, ok: 200},

	"GET /v1/openapi.json": {rule: public, ok: 200},

	"POST /v1/tenants":            {rule: global, ok: 201, body: func(n int64) any { return map[string]any{"id": fmt.Sprintf("new-%d", n), "name": "New"} }},
	"GET /v1/tenants":             {rule: global, ok: 200},
	"GET /v1/tenants/{tenant}":    {rule: readRule, ok: 200},
	"PATCH /v1/tenants/{tenant}":  {rule: superRule, ok: 200, body: fixed(map[string]any{"name": "Renamed"})},
	"DELETE /v1/tenants/{tenant}": {rule: superRule, ok: 204, destructive: true},

	"POST /v1/tenants/{tenant}/keys": {rule: writeRule, ok: 201, body: fixed(map[string]any{"name": "ci", "role": "viewer", "ttl": "1h"})},
	"GET /v1/tenants/{tenant}/keys":  {rule: readRule, ok: 200},
	"DELETE /v1/tenants/{tenant}/keys/{id}": {rule: writeRule, ok: 204, destructive: true,
		id: func(f *fixture, tenant string) string {
			if tenant == "beta" {
				return f.otherSpareKeyID
			}
			return f.spareKeyID
		}},
	"POST /v1/keys":        {rule: global, ok: 201, body: fixed(map[string]any{"name": "root2"})},
	"GET /v1/keys":         {rule: global, ok: 200},
	"DELETE /v1/keys/{id}": {rule: global, ok: 204, destructive: true, id: func(f *fixture, _ string) string { return f.spareSuperID }},
	"POST /v1/tokens":      {rule: keyOnly, ok: 201, body: fixed(map[string]any{"ttl": "1h"})},

	"GET /v1/tenants/{tenant}/audit": {rule: adminRule, ok: 200},
	"GET /v1/audit":                  {rule: global, ok: 200},

	"POST /v1/tenants/{tenant}/event-types":          {rule: writeRule, ok: 201, body: func(n int64) any { return map[string]any{"name": fmt.Sprintf("new.t%d", n)} }},
	"GET /v1/tenants/{tenant}/event-types":           {rule: readRule, ok: 200},
	"GET /v1/tenants/{tenant}/event-types/{name}":    {rule: readRule, ok: 200},
	"PATCH /v1/tenants/{tenant}/event-types/{name}":  {rule: writeRule, ok: 200, body: fixed(map[string]any{"description": "d"})},
	"DELETE /v1/tenants/{tenant}/event-types/{name}": {rule: writeRule, ok: 204, destructive: true},

	"POST /v1/tenants/{tenant}/endpoints":     {rule: writeRule, ok: 201, body: fixed(map[string]any{"url": "https://example.com/x", "events": []string{"*"}})},
	"GET /v1/tenants/{tenant}/endpoints":      {rule: readRule, ok: 200},
	"GET /v1/tenants/{tenant}/endpoints/{id}": {rule: readRule, ok: 200, id: func(f *fixture, _ string) string { return f.endpointID }},
	"PATCH /v1/tenants/{tenant}/endpoints/{id}": {rule: writeRule, ok: 200, body: fixed(map[string]any{"name": "n"}),
		id: func(f *fixture, _ string) string { return f.endpointID }},
	"DELETE /v1/tenants/{tenant}/endpoints/{id}": {rule: writeRule, ok: 204, destructive: true,
		id: func(f *fixture, _ string) string { return f.endpointID }},
	"POST /v1/tenants/{tenant}/endpoints/{id}/enable":  {rule: writeRule, ok: 200, id: endpointOf},
	"POST /v1/tenants/{tenant}/endpoints/{id}/disable": {rule: writeRule, ok: 200, id: endpointOf, destructive: true},
	"POST /v1/tenants/{tenant}/endpoints/{id}/pause":   {rule: writeRule, ok: 200, id: endpointOf, destructive: true},
	"POST /v1/tenants/{tenant}/endpoints/{id}/resume":  {rule: writeRule, ok: 200, id: endpointOf},
	"POST /v1/tenants/{tenant}/endpoints/{id}/rotate-secret": {rule: writeRule, ok: 200, id: endpointOf,
		body: fixed(map[string]any{"overlap": "1h"})},
	"POST /v1/tenants/{tenant}/endpoints/{id}/test": {rule: writeRule, ok: 200, id: endpointOf},
	"POST /v1/tenants/{tenant}/endpoints/{id}/recover": {rule: writeRule, ok: 200, id: endpointOf,
		body: fixed(map[string]any{"since": time.Now().Add(-time.Hour)})},
	"POST /v1/tenants/{tenant}/endpoints/{id}/replay": {rule: writeRule, ok: 200, id: endpointOf,
		body: fixed(map[string]any{"since": time.Now().Add(-time.Hour)})},
	"POST /v1/config/apply":           {rule: global, ok: 200, body: fixed(map[string]any{"name": "authz.yaml", "yaml": "tenants: []\n", "dry_run": true})},
	"GET /v1/tenants/{tenant}/config": {rule: writeRule, ok: 200},
	"POST /v1/tenants/{tenant}/probe": {rule: writeRule, ok: 200, body: fixed(map[string]any{"url": "https://example.com/probe"})},

	"POST /v1/tenants/{tenant}/events": {rule: writeRule, ok: 202, body: fixed(map[string]any{"type": "a.b", "data": map[string]any{}})},
	"POST /v1/tenants/{tenant}/events/batch": {rule: writeRule, ok: 202,
		body: fixed(map[string]any{"events": []any{map[string]any{"type": "a.b", "data": 1}}})},
	"GET /v1/tenants/{tenant}/events/{id}": {rule: readRule, ok: 200, id: func(f *fixture, _ string) string { return f.eventID }},

	"GET /v1/tenants/{tenant}/deliveries":      {rule: readRule, ok: 200},
	"GET /v1/tenants/{tenant}/deliveries/{id}": {rule: readRule, ok: 200, id: func(f *fixture, _ string) string { return f.deliveryID }},
	"POST /v1/tenants/{tenant}/deliveries/{id}/retry": {rule: writeRule, ok: 202,
		id: func(f *fixture, _ string) string { return f.deliveryID }},

	"POST /v1/tenants/{tenant}/sources": {rule: writeRule, ok: 201, body: func(n int64) any {
		return map[string]any{"name": fmt.Sprintf("new/s%d", n), "verifier": map[string]any{"type": "github", "secrets": []string{"a-new-source-secret"}}}
	}},
	"GET /v1/tenants/{tenant}/sources":               {rule: readRule, ok: 200},
	"GET /v1/tenants/{tenant}/sources/{id}":          {rule: readRule, ok: 200, id: sourceOf},
	"PATCH /v1/tenants/{tenant}/sources/{id}":        {rule: writeRule, ok: 200, id: sourceOf, body: fixed(map[string]any{"description": "d"})},
	"DELETE /v1/tenants/{tenant}/sources/{id}":       {rule: writeRule, ok: 204, id: sourceOf, destructive: true},
	"POST /v1/tenants/{tenant}/rules":                {rule: writeRule, ok: 201, body: func(n int64) any { return fixtureRule(fmt.Sprintf("r%d", n)) }},
	"GET /v1/tenants/{tenant}/rules":                 {rule: readRule, ok: 200},
	"GET /v1/tenants/{tenant}/rules/{id}":            {rule: readRule, ok: 200, id: ruleOf},
	"PATCH /v1/tenants/{tenant}/rules/{id}":          {rule: writeRule, ok: 200, id: ruleOf, body: fixed(map[string]any{"description": "d"})},
	"DELETE /v1/tenants/{tenant}/rules/{id}":         {rule: writeRule, ok: 204, id: ruleOf, destructive: true},
	"GET /v1/tenants/{tenant}/triggers":              {rule: readRule, ok: 200},
	"GET /v1/tenants/{tenant}/triggers/{id}":         {rule: readRule, ok: 200, id: triggerOf},
	"POST /v1/tenants/{tenant}/triggers/{id}/replay": {rule: writeRule, ok: 202, id: triggerOf},
	"GET /v1/tenants/{tenant}/runs":                  {rule: readRule, ok: 200},
	"GET /v1/tenants/{tenant}/runs/{id}":             {rule: readRule, ok: 200, id: func(f *fixture, _ string) string { return f.runID }},
	// rules/test changes nothing: a viewer may ask.
	"POST /v1/tenants/{tenant}/rules/test": {rule: readRule, ok: 200, body: fixed(map[string]any{
		"criteria": map[string]any{"trigger.body.n": map[string]any{"type": "eq", "pattern": 1}}, "trigger": map[string]any{"body": map[string]any{"n": 1}}})},
	"POST /v1/triggers":           {rule: writeRule, ok: 202, tenantQuery: true, body: fixed(map[string]any{"trigger": "ci.done", "payload": map[string]any{"n": 1}})},
	"POST /v1/webhooks/st2":       {rule: writeRule, ok: 202, tenantQuery: true, body: fixed(map[string]any{"trigger": "ci.done", "payload": map[string]any{"n": 1}})},
	"POST /v1/webhooks/{name...}": {rule: public, ok: 202, body: fixed(map[string]any{"n": 1})},
}

func sourceOf(f *fixture, _ string) string  { return f.sourceID }
func ruleOf(f *fixture, _ string) string    { return f.ruleID }
func triggerOf(f *fixture, _ string) string { return f.triggerID }

// fixtureRule is a rule on the fixture's open source.
func fixtureRule(name string) map[string]any {
	return map[string]any{"name": name, "source": "fixture/open", "action": map[string]any{"type": "publish", "event_type": "a.b"}}
}

// inboundFixture gives acme a signed source (whose secret no answer may
// show), an open one, a rule on it, a trigger posted with the admin key in
// its headers (stored redacted) and a run of the rule for it.
func (f *fixture) inboundFixture(t *testing.T) {
	t.Helper()
	secret := "source-secret-" + hookd.NewAPIKeySecret()
	f.secrets["source secret"] = secret
	src := f.want(t, 201, f.admin, "POST", "/v1/tenants/acme/sources", map[string]any{"name": "fixture/signed",
		"verifier": map[string]any{"type": "github", "secrets": []string{secret}}})
	f.sourceID = src["id"].(string)
	f.want(t, 201, f.admin, "POST", "/v1/tenants/acme/sources", map[string]any{"name": "fixture/open", "verifier": map[string]any{"type": "none"}})
	rl := f.want(t, 201, f.admin, "POST", "/v1/tenants/acme/rules", fixtureRule("fixture-rule"))
	f.ruleID = rl["id"].(string)
	trg := f.want(t, 202, f.admin, "POST", "/v1/webhooks/fixture/open", map[string]any{"n": 1})
	f.triggerID = trg["id"].(string)
	ctx := context.Background()
	claimed, err := f.store.ClaimTriggers(ctx, "fixture", f.clock.Now(), time.Minute, 10)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim the fixture's trigger: %v, %d", err, len(claimed))
	}
	run := &hookd.Run{RuleID: f.ruleID, RuleName: "fixture-rule", Action: hookd.Action{Type: hookd.ActionPublish, EventType: "a.b"}}
	if err := f.store.ProcessTrigger(ctx, f.triggerID, "fixture", []*hookd.Run{run}, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	f.runID = run.ID
}

// expect returns the status a caller gets from a route of rule r whose
// successful answer is ok; for another tenant's callers 404 means "the same
// answer as for a tenant that does not exist".
func expect(r rule, ok int, c caller) int {
	if r == public {
		return ok
	}
	switch c {
	case noKey, expiredKey, revokedKey, expiredToken:
		return 401
	}
	switch r {
	case global:
		if c == superadmin {
			return ok
		}
		return 403
	case keyOnly:
		if c == adminToken {
			return 403
		}
		return ok
	}
	if c == otherAdmin || c == otherViewer {
		return 404
	}
	switch {
	case c == superadmin,
		r == readRule,
		(r == writeRule || r == adminRule) && c != ownViewer:
		return ok
	}
	return 403
}

// path makes the concrete path of a route pattern for tenant.
func (f *fixture) path(pattern string, row authzRow, tenant string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	id := "x_nope"
	if row.id != nil {
		id = row.id(f, tenant)
	}
	path = strings.NewReplacer("{tenant}", tenant, "{name}", "a.b", "{id}", id, "{name...}", "fixture/open").Replace(path)
	if method == "DELETE" && pattern == "DELETE /v1/tenants/{tenant}" {
		path += "?confirm=" + tenant
	}
	if row.tenantQuery {
		path += "?tenant=" + tenant
	}
	return method, path
}

func (f *fixture) body(row authzRow) any {
	if row.body == nil {
		return nil
	}
	return row.body(f.calls.Add(1))
}

// leaks fails if an answer shows a secret made when the fixture was set up.
func (f *fixture) leaks(t *testing.T, who caller, method, path string, r response) {
	t.Helper()
	for name, secret := range f.secrets {
		if strings.Contains(string(r.raw), secret) {
			t.Errorf("%s: %s %s shows the %s: %s", who, method, path, name, r.raw)
		}
	}
}

// TestAuthorizationTable calls every route with every kind of caller and
// checks the status class; another tenant's callers must get exactly the
// answer for a tenant that does not exist, and no answer shows a secret
// made before the call.
func TestAuthorizationTable(t *testing.T) {
	t.Parallel()
	routes := hookdhttp.Routes()
	seen := map[string]bool{}
	for _, p := range routes {
		seen[p] = true
		if _, ok := authzTable[p]; !ok {
			t.Errorf("route %q has no row in authzTable: add one", p)
		}
	}
	for p := range authzTable {
		if !seen[p] {
			t.Errorf("authzTable row %q names no route", p)
		}
	}
	sort.Strings(routes)
	for _, pattern := range routes {
		row, ok := authzTable[pattern]
		if !ok {
			continue
		}
		t.Run(pattern, func(t *testing.T) {
			t.Parallel()
			shared := newFixture(t)
			for _, c := range callers {
				want := expect(row.rule, row.ok, c)
				f := shared
				if row.destructive && want == row.ok {
					f = newFixture(t)
				}
				method, path := f.path(pattern, row, "acme")
				var ghost response
				if want == 404 {
					// Before the real call, in case that one changed something.
					gm, gp := f.path(pattern, row, "ghost")
					ghost = f.call(t, f.creds[c], gm, gp, f.body(row))
				}
				got := f.call(t, f.creds[c], method, path, f.body(row))
				if got.status != want {
					t.Errorf("%s: %s %s = %d %s, want %d", c, method, path, got.status, got.raw, want)
					continue
				}
				if got.status >= 400 {
					errorCode(t, got.body)
				}
				if want == 404 && (ghost.status != got.status || string(ghost.raw) != string(got.raw)) {
					t.Errorf("%s: %s %s = %d %s, but for a tenant that does not exist %d %s",
						c, method, path, got.status, got.raw, ghost.status, ghost.raw)
				}
				f.leaks(t, c, method, path, got)
			}
			// Another tenant's resource ids, used in the caller's own
			// tenant, are answered as ids that do not exist.
			if row.rule != public && row.rule != global && row.rule != keyOnly && row.id != nil {
				f := shared
				method, path := f.path(pattern, row, "acme")
				path = strings.Replace(path, "/tenants/acme/", "/tenants/beta/", 1)
				nope := strings.Replace(path, row.id(f, "acme"), "x_nope", 1)
				none := f.call(t, f.creds[otherAdmin], method, nope, f.body(row))
				got := f.call(t, f.creds[otherAdmin], method, path, f.body(row))
				if got.status != 404 || got.status != none.status || string(got.raw) != string(none.raw) {
					t.Errorf("acme's id through beta: %s %s = %d %s; an unknown id: %d %s", method, path, got.status, got.raw, none.status, none.raw)
				}
			}
		})
	}
}

// A viewer reads every secret-free route of its tenant and never sees a
// secret; an admin's create answers are the only ones with new secrets.
func TestViewerSeesNoSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, pattern := range hookdhttp.Routes() {
		row := authzTable[pattern]
		method, _, _ := strings.Cut(pattern, " ")
		if method != http.MethodGet || row.rule == public {
			continue
		}
		_, path := f.path(pattern, row, "acme")
		r := f.call(t, f.viewer, method, path, nil)
		if r.status != 200 && r.status != 403 {
			t.Errorf("viewer %s %s = %d %s", method, path, r.status, r.raw)
		}
		f.leaks(t, ownViewer, method, path, r)
	}
	// A new key, token and endpoint secret are shown once, to their creator.
	k := f.want(t, 201, f.admin, "POST", "/v1/tenants/acme/keys", map[string]any{"name": "x", "role": "viewer"})
	tok := f.want(t, 201, f.admin, "POST", "/v1/tokens", nil)
	ep := f.createEndpoint(t, "acme", nil)
	for name, v := range map[string]any{"key": k["key"], "token": tok["token"], "endpoint secret": ep["secret"]} {
		s, _ := v.(string)
		if s == "" {
			t.Fatalf("create answer without its %s", name)
		}
		f.secrets["new "+name] = s
	}
	for _, path := range []string{"/v1/tenants/acme/keys", "/v1/tenants/acme/endpoints", "/v1/tenants/acme/endpoints/" + ep["id"].(string)} {
		f.leaks(t, ownViewer, "GET", path, f.call(t, f.viewer, "GET", path, nil))
	}
	for _, path := range []string{"/v1/tenants/acme/audit", "/v1/audit", "/v1/keys"} {
		r := f.call(t, f.super, "GET", path, nil)
		f.leaks(t, superadmin, "GET", path, r)
		// Endpoint header values often carry the receiver's credentials;
		// the audit log keeps them redacted.
		if strings.Contains(string(r.raw), "receiver-credential") {
			t.Errorf("GET %s shows an endpoint header value: %s", path, r.raw)
		}
	}
}
