package http_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// ManagedBy can be made to fail, like the spy's other methods.
func (s *spyStore) ManagedBy(ctx context.Context, kind, tenant, key string) (string, error) {
	if err := s.fault("ManagedBy"); err != nil {
		return "", err
	}
	return s.Store.ManagedBy(ctx, kind, tenant, key)
}

const managedOwner = "/etc/hookd.yaml"

// managedSet is one resource of each kind, made through the API.
type managedSet struct {
	tenant, eventType, source, rule  string
	endpoint, key, superKey          string // ids
	endpointName, keyName, superName string
	keySecret                        string // the tenant key's credential
}

// newManagedSet makes the resources of a set; names tell sets apart.
func newManagedSet(t *testing.T, e *env, tenant, endpoint, eventType, source, rule, key, superKey string) managedSet {
	t.Helper()
	const acme = "/v1/tenants/acme"
	ms := managedSet{tenant: tenant, eventType: eventType, source: source, rule: rule, endpointName: endpoint, keyName: key, superName: superKey}
	e.want(t, 201, e.super, "POST", "/v1/tenants", map[string]any{"id": tenant, "name": tenant})
	ms.endpoint = e.createEndpoint(t, "acme", map[string]any{"url": "https://example.com/" + endpoint, "events": []string{"*"}, "name": endpoint})["id"].(string)
	e.want(t, 201, e.admin, "POST", acme+"/event-types", map[string]any{"name": eventType})
	e.source(t, map[string]any{"name": source, "verifier": map[string]any{"type": "none"}})
	e.want(t, 201, e.admin, "POST", acme+"/rules", map[string]any{"name": rule, "source": source, "action": publish(eventType)})
	k := e.want(t, 201, e.admin, "POST", acme+"/keys", map[string]any{"name": key, "role": "viewer"})
	ms.key, ms.keySecret = k["id"].(string), k["key"].(string)
	ms.superKey = e.want(t, 201, e.super, "POST", "/v1/keys", map[string]any{"name": superKey})["id"].(string)
	return ms
}

// resources lists the set as a config file would own it.
func (ms managedSet) resources() []hookd.ManagedResource {
	return []hookd.ManagedResource{
		{Kind: hookd.KindTenant, Key: ms.tenant},
		{Kind: hookd.KindEndpoint, TenantID: "acme", Key: ms.endpoint, Name: ms.endpointName},
		{Kind: hookd.KindEventType, TenantID: "acme", Key: ms.eventType},
		{Kind: hookd.KindSource, TenantID: "acme", Key: ms.source},
		{Kind: hookd.KindRule, TenantID: "acme", Key: ms.rule},
		{Kind: hookd.KindKey, TenantID: "acme", Key: ms.key, Name: ms.keyName},
		{Kind: hookd.KindKey, Key: ms.superKey, Name: ms.superName},
	}
}

// managedRoute is a route that changes a resource's configuration.
type managedRoute struct {
	name   string
	super  bool // called with the superadmin key, else acme's admin
	method string
	path   func(ms managedSet) string
	body   any
	status int // the answer for a resource no file manages
	// label is how the refusal names the managed set's resource.
	label string
}

func managedRoutes() []managedRoute {
	const acme = "/v1/tenants/acme"
	ep := func(verb string) func(managedSet) string {
		return func(ms managedSet) string { return acme + "/endpoints/" + ms.endpoint + verb }
	}
	tenant := func(ms managedSet) string { return "/v1/tenants/" + ms.tenant }
	eventType := func(ms managedSet) string { return acme + "/event-types/" + ms.eventType }
	source := func(ms managedSet) string { return acme + "/sources/" + url.PathEscape(ms.source) }
	rule := func(ms managedSet) string { return acme + "/rules/" + ms.rule }
	desc := map[string]any{"description": "Changed through the API"}
	// In an order that succeeds on resources no file manages: states move
	// from where the one before left them, and deletions come last.
	return []managedRoute{
		{"update tenant", true, "PATCH", tenant, map[string]any{"name": "Renamed"}, 200, `Tenant "gamma"`},
		{"update event type", false, "PATCH", eventType, desc, 200, `Event type "invoice.paid"`},
		{"update endpoint", false, "PATCH", ep(""), desc, 200, `Endpoint "billing"`},
		{"rotate secret", false, "POST", ep("/rotate-secret"), nil, 200, `Endpoint "billing"`},
		{"update source", false, "PATCH", source, desc, 200, `Source "github"`},
		{"update rule", false, "PATCH", rule, desc, 200, `Rule "deploy"`},
		{"delete rule", false, "DELETE", rule, nil, 204, `Rule "deploy"`},
		{"delete source", false, "DELETE", source, nil, 204, `Source "github"`},
		{"delete endpoint", false, "DELETE", ep(""), nil, 204, `Endpoint "billing"`},
		{"delete event type", false, "DELETE", eventType, nil, 204, `Event type "invoice.paid"`},
		{"revoke tenant key", false, "DELETE", func(ms managedSet) string { return acme + "/keys/" + ms.key }, nil, 204, `API key "ci"`},
		{"revoke superadmin key", true, "DELETE", func(ms managedSet) string { return "/v1/keys/" + ms.superKey }, nil, 204, `API key "ops"`},
		{"delete tenant", true, "DELETE", func(ms managedSet) string { return tenant(ms) + "?confirm=" + ms.tenant }, nil, 204, `Tenant "gamma"`},
	}
}

// Every change of a managed resource through the API is 409 naming the
// file, and changes nothing; the same routes change resources no file
// manages; reads, state changes, tests, recover, replay, retries and use still work on
// managed ones.
func TestManagedResourcesRefuseChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := newAnswers(t, e) // answers are checked against the OpenAPI document
	ctx := context.Background()
	const acme = "/v1/tenants/acme"
	managed := newManagedSet(t, e, "gamma", "billing", "invoice.paid", "github", "deploy", "ci", "ops")
	free := newManagedSet(t, e, "delta", "audit", "invoice.voided", "gitlab", "notify", "bot", "ops2")
	if err := e.store.SetManaged(ctx, managedOwner, managed.resources()); err != nil {
		t.Fatal(err)
	}

	// What a refusal must leave as it was: every resource as read through
	// the API, and the audit log (every change made through the API writes
	// an entry).
	reads := []struct{ key, path string }{
		{e.super, "/v1/tenants/gamma"},
		{e.viewer, acme + "/event-types/invoice.paid"},
		{e.viewer, acme + "/endpoints/" + managed.endpoint},
		{e.viewer, acme + "/sources/github"},
		{e.viewer, acme + "/rules/deploy"},
		{e.viewer, acme + "/keys"},
		{e.super, "/v1/keys"},
		{e.super, "/v1/audit?limit=1"},
	}
	snapshot := func() []string {
		var out []string
		for _, rd := range reads {
			out = append(out, string(a.want(t, 200, rd.key, "GET", rd.path, nil).raw))
		}
		return out
	}
	before := snapshot()

	for _, rt := range managedRoutes() {
		key := e.admin
		if rt.super {
			key = e.super
		}
		r := a.want(t, 409, key, rt.method, rt.path(managed), rt.body)
		want := rt.label + " is managed by the config file " + managedOwner + "; change it there (or remove it from the file)."
		if errorCode(t, r.body) != "conflict" || r.body["error"].(map[string]any)["message"] != want {
			t.Errorf("%s: %s, want the message %q", rt.name, r.raw, want)
		}
	}
	for i, got := range snapshot() {
		if got != before[i] {
			t.Errorf("GET %s changed by refused changes:\n%s\nwas\n%s", reads[i].path, got, before[i])
		}
	}

	// Deleting a tenant deletes what is in it: refused while a file
	// manages anything there, even with the confirmation.
	r := a.want(t, 409, e.super, "DELETE", acme+"?confirm=acme", nil)
	if msg := string(r.raw); !strings.Contains(msg, `Tenant \"acme\" holds resources managed by the config file `+managedOwner) {
		t.Errorf("deleting acme: %s", msg)
	}
	e.want(t, 200, e.viewer, "GET", acme, nil)

	// Use, reads, tests, recover, replay and retries change no
	// configuration: they work on managed resources.
	epPath := acme + "/endpoints/" + managed.endpoint
	e.want(t, 200, e.viewer, "GET", acme, nil)
	e.want(t, 200, managed.keySecret, "GET", acme, nil)
	e.want(t, 201, managed.keySecret, "POST", "/v1/tokens", nil)
	a.want(t, 200, e.admin, "POST", epPath+"/test", nil)
	e.want(t, 202, e.admin, "POST", acme+"/events", map[string]any{"type": "invoice.paid", "data": map[string]any{"n": 1}})
	ds := items(t, e.want(t, 200, e.viewer, "GET", acme+"/deliveries?endpoint_id="+managed.endpoint, nil))
	if len(ds) != 1 {
		t.Fatalf("deliveries of the managed endpoint = %v", ds)
	}
	e.want(t, 202, e.admin, "POST", acme+"/deliveries/"+ds[0]["id"].(string)+"/retry", nil)
	since := e.clock.Now().Add(-time.Hour)
	// State changes are operations, not configuration: hookd itself
	// disables failing endpoints, so people must be able to pause, resume,
	// disable and enable managed ones.
	for _, verb := range []string{"/pause", "/resume", "/disable", "/enable"} {
		e.want(t, 200, e.admin, "POST", epPath+verb, nil)
	}
	e.want(t, 200, e.admin, "POST", epPath+"/recover", map[string]any{"since": since})
	e.want(t, 200, e.admin, "POST", epPath+"/replay", map[string]any{"since": since})
	trg := e.want(t, 202, "", "POST", "/v1/webhooks/github", map[string]any{"ref": "main"})
	e.want(t, 202, e.admin, "POST", acme+"/triggers/"+trg["id"].(string)+"/replay", nil)
	e.want(t, 200, e.viewer, "POST", acme+"/rules/test", map[string]any{"rule": "deploy", "trigger": map[string]any{"source": "github"}})
	// Resources made through the API are left alone, in a managed tenant too.
	e.want(t, 201, e.super, "POST", "/v1/tenants/gamma/endpoints", map[string]any{"url": "https://example.com/g", "events": []string{"*"}})

	// The same routes change resources no file manages.
	for _, rt := range managedRoutes() {
		key := e.admin
		if rt.super {
			key = e.super
		}
		e.want(t, rt.status, key, rt.method, rt.path(free), rt.body)
	}
	e.want(t, 404, e.super, "GET", "/v1/tenants/delta", nil)
	e.want(t, 200, e.super, "GET", "/v1/tenants/gamma", nil)
}

// The refusal comes after authorization and lookup: a viewer is 403 and a
// missing resource 404 as before. A failing lookup of the owner refuses
// the change (503) rather than letting it through.
func TestManagedRefusalOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	const acme = "/v1/tenants/acme"
	ep := e.createEndpoint(t, "acme", map[string]any{"url": "https://example.com/hook", "events": []string{"*"}})["id"].(string)
	if err := e.store.SetManaged(ctx, managedOwner, []hookd.ManagedResource{{Kind: hookd.KindEndpoint, TenantID: "acme", Key: ep}}); err != nil {
		t.Fatal(err)
	}
	desc := map[string]any{"description": "x"}
	e.want(t, 403, e.viewer, "PATCH", acme+"/endpoints/"+ep, desc)
	e.want(t, 404, e.other, "PATCH", acme+"/endpoints/"+ep, desc)
	e.want(t, 404, e.admin, "PATCH", acme+"/endpoints/ep_nope", desc)
	// Without a name, the refusal names the endpoint by its id.
	r := e.call(t, e.admin, "PATCH", acme+"/endpoints/"+ep, desc)
	if r.status != 409 || !strings.Contains(string(r.raw), `Endpoint \"`+ep+`\" is managed by the config file`) {
		t.Errorf("PATCH of a managed endpoint without a name = %d %s", r.status, r.raw)
	}

	e.spy.fail("ManagedBy", hookd.Errorf(hookd.EUNAVAILABLE, "down"))
	free := e.createEndpoint(t, "acme", nil)["id"].(string)
	e.want(t, 503, e.admin, "PATCH", acme+"/endpoints/"+free, desc)
	e.want(t, 503, e.admin, "DELETE", acme+"/endpoints/"+free, nil)
	e.spy.fail("ManagedBy", nil)
	if got := e.want(t, 200, e.viewer, "GET", acme+"/endpoints/"+free, nil); got["description"] == "x" {
		t.Errorf("endpoint changed while the owner could not be read: %v", got)
	}
}
