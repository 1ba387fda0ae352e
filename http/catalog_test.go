package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/schema"
	"github.com/hookd/hookd/sqlite"
)

// catStore is the real store with FindEventTypes calls counted.
type catStore struct {
	hookd.Store
	typeLists atomic.Int64
}

func (s *catStore) FindEventTypes(ctx context.Context, tenant string, p hookd.Page) ([]*hookd.EventType, string, error) {
	s.typeLists.Add(1)
	return s.Store.FindEventTypes(ctx, tenant, p)
}

// catClock is a settable time source.
type catClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *catClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *catClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// catEnv is a real SQLite store with tenants acme and beta and an admin
// key of acme; nodes are API servers sharing it, each with its own clock.
type catEnv struct {
	store *catStore
	key   string
}

// catNode is one API server (one hookd node).
type catNode struct {
	srv   *Server
	url   string
	clock *catClock
}

func newCatEnv(t *testing.T) *catEnv {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "catalog.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	for _, id := range []string{"acme", "beta"} {
		if err := s.CreateTenant(ctx, &hookd.Tenant{ID: id, Name: id}); err != nil {
			t.Fatal(err)
		}
	}
	key := hookd.NewAPIKeySecret()
	if err := s.CreateAPIKey(ctx, &hookd.APIKey{TenantID: "acme", Role: hookd.RoleAdmin, Name: "admin", Hash: hookd.HashAPIKey(key)}); err != nil {
		t.Fatal(err)
	}
	return &catEnv{store: &catStore{Store: s}, key: key}
}

// node starts another API server on the env's store.
func (e *catEnv) node(t *testing.T) *catNode {
	t.Helper()
	c := &catClock{t: time.Now()}
	srv := NewServer(Config{Store: e.store, Now: c.Now})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &catNode{srv: srv, url: ts.URL, clock: c}
}

// catAnswer is one API answer.
type catAnswer struct {
	status int
	raw    string
	body   map[string]any
}

func (a catAnswer) code() string {
	e, _ := a.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (a catAnswer) message() string {
	e, _ := a.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// call sends body (a string as is, anything else as JSON) with the admin key.
func (e *catEnv) call(t *testing.T, n *catNode, method, path string, body any) catAnswer {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, n.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := catAnswer{status: resp.StatusCode, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s %s: answer is not a JSON object: %s", method, path, raw)
		}
	}
	return a
}

// want calls and fails unless the status is status.
func (e *catEnv) want(t *testing.T, n *catNode, status int, method, path string, body any) catAnswer {
	t.Helper()
	a := e.call(t, n, method, path, body)
	if a.status != status {
		t.Fatalf("%s %s = %d %s, want %d", method, path, a.status, a.raw, status)
	}
	return a
}

const (
	typesPath  = "/v1/tenants/acme/event-types"
	eventsPath = "/v1/tenants/acme/events"
)

// invoiceSchema requires an integer amount and, in items, string skus.
var invoiceSchema = map[string]any{
	"type":     "object",
	"required": []string{"amount"},
	"properties": map[string]any{
		"amount": map[string]any{"type": "integer", "minimum": 0},
		"items": map[string]any{"type": "array", "items": map[string]any{
			"type": "object", "properties": map[string]any{"sku": map[string]any{"type": "string"}}}},
	},
}

func TestEventTypeSchemaIsChecked(t *testing.T) {
	t.Parallel()
	e := newCatEnv(t)
	n := e.node(t)
	var fetched atomic.Int64
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		w.Write([]byte(`{"type":"string"}`))
	}))
	t.Cleanup(remote.Close)
	cases := []struct {
		name string
		body map[string]any
		want []string // in the message
	}{
		{"unknown type name", map[string]any{"schema": map[string]any{"type": "objet"}}, []string{`"/type"`}},
		{"not a schema", map[string]any{"schema": "object"}, []string{"Invalid schema"}},
		{"minimum not a number", map[string]any{"schema": map[string]any{"properties": map[string]any{"a": map[string]any{"minimum": "x"}}}},
			[]string{`"/properties/a/minimum"`}},
		{"bad regex", map[string]any{"schema": map[string]any{"type": "string", "pattern": "(?<=a)"}}, []string{`"/pattern"`}},
		{"remote $ref", map[string]any{"schema": map[string]any{"$ref": remote.URL + "/s.json"}}, []string{remote.URL, "nothing is fetched"}},
		{"remote $schema", map[string]any{"schema": map[string]any{"$schema": remote.URL + "/meta"}}, []string{remote.URL}},
		{"file $ref", map[string]any{"schema": map[string]any{"$ref": "file:///etc/passwd"}}, []string{"file:///etc/passwd"}},
		{"relative $ref", map[string]any{"schema": map[string]any{"$ref": "other.json"}}, []string{`"other.json"`}},
		{"missing pointer", map[string]any{"schema": map[string]any{"$ref": "#/$defs/nope"}}, []string{"#/$defs/nope"}},
		{"reference cycle", map[string]any{"schema": map[string]any{"$ref": "#/$defs/a", "$defs": map[string]any{"a": map[string]any{"$ref": "#/$defs/a"}}}},
			[]string{"reference cycle"}},
		{"example fails", map[string]any{"schema": invoiceSchema, "example": map[string]any{"amount": "12"}},
			[]string{"example", `"/amount"`, "want integer"}},
		{"example fails deep", map[string]any{"schema": invoiceSchema, "example": map[string]any{"amount": 1, "items": []any{map[string]any{"sku": "a"}, map[string]any{"sku": 2}}}},
			[]string{`"/items/1/sku"`}},
		{"example fails false schema", map[string]any{"schema": false, "example": 1}, []string{"example"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.body["name"] = "invoice.paid"
			a := e.want(t, n, 400, "POST", typesPath, c.body)
			if a.code() != hookd.EINVALID {
				t.Fatalf("code = %q, want %q", a.code(), hookd.EINVALID)
			}
			for _, w := range c.want {
				if !strings.Contains(a.message(), w) {
					t.Errorf("message %q does not name %s", a.message(), w)
				}
			}
			if strings.Contains(a.message(), "hookd.invalid") {
				t.Errorf("message %q shows the internal schema URL", a.message())
			}
		})
	}
	if fetched.Load() != 0 {
		t.Fatalf("the remote schema server was asked %d times", fetched.Load())
	}
	e.want(t, n, 404, "GET", typesPath+"/invoice.paid", nil) // nothing was stored

	// Good schemas: 2020-12 by default, other drafts by $schema, the
	// meta-schemas are built in, references inside the schema work.
	good := []any{
		invoiceSchema, true,
		map[string]any{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"},
		map[string]any{"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": map[string]any{"n": map[string]any{"type": "integer"}},
			"properties": map[string]any{"n": map[string]any{"$ref": "#/$defs/n"}}},
		map[string]any{"$ref": "https://json-schema.org/draft/2020-12/schema"},
	}
	for i, sch := range good {
		e.want(t, n, 201, "POST", typesPath, map[string]any{"name": fmt.Sprintf("good.s%d", i), "schema": sch})
	}
	e.want(t, n, 201, "POST", typesPath, map[string]any{"name": "invoice.paid", "schema": invoiceSchema, "example": map[string]any{"amount": 12}})

	// PATCH: the same checks; a refused change changes nothing; null removes.
	path := typesPath + "/invoice.paid"
	if a := e.want(t, n, 400, "PATCH", path, map[string]any{"schema": map[string]any{"type": 5}}); !strings.Contains(a.message(), `"/type"`) {
		t.Errorf("bad schema on PATCH: %s", a.raw)
	}
	if a := e.want(t, n, 400, "PATCH", path, map[string]any{"example": map[string]any{"amount": -1}}); !strings.Contains(a.message(), `"/amount"`) {
		t.Errorf("bad example on PATCH: %s", a.raw)
	}
	// The stored example must satisfy a new schema.
	e.want(t, n, 400, "PATCH", path, map[string]any{"schema": map[string]any{"type": "object", "required": []string{"currency"}}})
	got := e.want(t, n, 200, "GET", path, nil)
	if fmt.Sprint(got.body["example"]) != "map[amount:12]" || got.body["schema"] == nil {
		t.Fatalf("refused changes changed the type: %s", got.raw)
	}
	up := e.want(t, n, 200, "PATCH", path, map[string]any{"schema": nil, "description": "no schema"})
	if _, ok := up.body["schema"]; ok || fmt.Sprint(up.body["example"]) != "map[amount:12]" {
		t.Fatalf(`"schema": null did not remove only the schema: %s`, up.raw)
	}
	e.want(t, n, 202, "POST", eventsPath, map[string]any{"type": "invoice.paid", "data": map[string]any{"amount": "any"}})
}

func TestPublishChecksSchema(t *testing.T) {
	t.Parallel()
	e := newCatEnv(t)
	n := e.node(t)
	e.want(t, n, 201, "POST", typesPath, map[string]any{"name": "invoice.paid", "schema": invoiceSchema})
	e.want(t, n, 202, "POST", eventsPath, map[string]any{"type": "invoice.paid", "data": map[string]any{"amount": 5, "items": []any{map[string]any{"sku": "x"}}}})
	cases := []struct {
		name string
		data any
		want []string
	}{
		{"wrong type", map[string]any{"amount": "5"}, []string{`at "/amount"`, "want integer"}},
		{"missing property", map[string]any{"items": []any{}}, []string{`at ""`, "amount"}},
		{"deep", map[string]any{"amount": 1, "items": []any{map[string]any{"sku": "a"}, map[string]any{"sku": 7}}}, []string{`at "/items/1/sku"`}},
		{"under minimum", map[string]any{"amount": -3}, []string{`at "/amount"`}},
		{"not an object", []any{1}, []string{`at ""`, "want object"}},
		{"two problems", map[string]any{"amount": "5", "items": []any{map[string]any{"sku": 1}}}, []string{`at "/amount"`, "1 more problem"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := e.want(t, n, 422, "POST", eventsPath, map[string]any{"type": "invoice.paid", "data": c.data, "id": "bad-" + strings.ReplaceAll(c.name, " ", "-")})
			if a.code() != hookd.EUNPROCESSABLE || !strings.Contains(a.message(), `"invoice.paid"`) {
				t.Fatalf("answer = %s", a.raw)
			}
			for _, w := range c.want {
				if !strings.Contains(a.message(), w) {
					t.Errorf("message %q does not name %s", a.message(), w)
				}
			}
			e.want(t, n, 404, "GET", eventsPath+"/bad-"+strings.ReplaceAll(c.name, " ", "-"), nil)
		})
	}
	// The catalog is optional: types it does not hold are published as sent.
	e.want(t, n, 202, "POST", eventsPath, map[string]any{"type": "user.created", "data": "anything"})
	// hookd publishes its operational events itself.
	if a := e.want(t, n, 400, "POST", eventsPath, map[string]any{"type": hookd.TypeTest, "data": map[string]any{}}); !strings.Contains(a.message(), "reserved") {
		t.Fatalf("publish of hookd.test = %s", a.raw)
	}
}

func TestBatchWithBadEventStoresNothing(t *testing.T) {
	t.Parallel()
	e := newCatEnv(t)
	n := e.node(t)
	e.want(t, n, 201, "POST", typesPath, map[string]any{"name": "invoice.paid", "schema": invoiceSchema})
	batch := map[string]any{"events": []any{
		map[string]any{"id": "b0", "type": "invoice.paid", "data": map[string]any{"amount": 1}},
		map[string]any{"id": "b1", "type": "user.created", "data": map[string]any{}},
		map[string]any{"id": "b2", "type": "invoice.paid", "data": map[string]any{"amount": 1.5}},
		map[string]any{"id": "b3", "type": "invoice.paid", "data": map[string]any{"amount": 2}},
	}}
	a := e.want(t, n, 422, "POST", eventsPath+"/batch", batch)
	if a.code() != hookd.EUNPROCESSABLE || !strings.HasPrefix(a.message(), "events[2]: ") || !strings.Contains(a.message(), `"/amount"`) {
		t.Fatalf("answer = %s", a.raw)
	}
	for _, id := range []string{"b0", "b1", "b2", "b3"} {
		e.want(t, n, 404, "GET", eventsPath+"/"+id, nil)
	}
	batch["events"].([]any)[2].(map[string]any)["data"] = map[string]any{"amount": 15}
	out := e.want(t, n, 202, "POST", eventsPath+"/batch", batch)
	if l, _ := out.body["data"].([]any); len(l) != 4 {
		t.Fatalf("batch = %s", out.raw)
	}
	e.want(t, n, 200, "GET", eventsPath+"/b3", nil)
}

func TestDeprecatedAndArchivedTypes(t *testing.T) {
	t.Parallel()
	e := newCatEnv(t)
	n := e.node(t)
	e.want(t, n, 201, "POST", typesPath, map[string]any{"name": "invoice.old", "deprecated": true})
	e.want(t, n, 201, "POST", typesPath, map[string]any{"name": "invoice.paid"})
	e.want(t, n, 201, "POST", typesPath, map[string]any{"name": "invoice.gone", "archived": true})
	if got := e.want(t, n, 200, "GET", typesPath+"/invoice.old", nil); got.body["deprecated"] != true {
		t.Fatalf("type = %s", got.raw)
	}
	if a := e.want(t, n, 202, "POST", eventsPath, map[string]any{"type": "invoice.old", "data": 1}); a.body["deprecated"] != true {
		t.Fatalf("publish of a deprecated type = %s", a.raw)
	}
	if a := e.want(t, n, 202, "POST", eventsPath, map[string]any{"type": "invoice.paid", "data": 1}); strings.Contains(a.raw, "deprecated") {
		t.Fatalf("publish of a current type = %s", a.raw)
	}
	// Archived types are still published.
	if a := e.want(t, n, 202, "POST", eventsPath, map[string]any{"type": "invoice.gone", "data": 1}); strings.Contains(a.raw, "deprecated") {
		t.Fatalf("publish of an archived type = %s", a.raw)
	}
	out := e.want(t, n, 202, "POST", eventsPath+"/batch", map[string]any{"events": []any{
		map[string]any{"type": "invoice.paid", "data": 1}, map[string]any{"type": "invoice.old", "data": 2},
	}})
	l, _ := out.body["data"].([]any)
	if len(l) != 2 || l[0].(map[string]any)["deprecated"] != nil || l[1].(map[string]any)["deprecated"] != true {
		t.Fatalf("batch = %s", out.raw)
	}
	// Deprecating takes effect on this node at once.
	e.want(t, n, 200, "PATCH", typesPath+"/invoice.paid", map[string]any{"deprecated": true})
	if a := e.want(t, n, 202, "POST", eventsPath, map[string]any{"type": "invoice.paid", "data": 1}); a.body["deprecated"] != true {
		t.Fatalf("publish after deprecation = %s", a.raw)
	}
}

func TestCheckSubscriptions(t *testing.T) {
	t.Parallel()
	e := newCatEnv(t)
	n := e.node(t)
	ctx := context.Background()
	check := func(t *testing.T, tenant string, patterns []string, ok bool) {
		t.Helper()
		err := n.srv.checkSubscriptions(ctx, tenant, patterns)
		switch {
		case ok && err != nil:
			t.Errorf("%s %v: %v, want nil", tenant, patterns, err)
		case !ok && hookd.ErrorCode(err) != hookd.EINVALID:
			t.Errorf("%s %v: %v, want EINVALID", tenant, patterns, err)
		case !ok && !strings.Contains(hookd.ErrorMessage(err), "event type") && !strings.Contains(hookd.ErrorMessage(err), "Event type"):
			t.Errorf("%s %v: message %q", tenant, patterns, hookd.ErrorMessage(err))
		}
	}
	// An empty catalog allows any exact type; built-ins do not make it
	// non-empty, nor does a stored type under hookd. (from before names
	// were reserved; the store does not check names).
	if err := e.store.CreateEventType(ctx, &hookd.EventType{TenantID: "acme", Name: "hookd.legacy"}); err != nil {
		t.Fatal(err)
	}
	n.srv.forgetCatalog("acme")
	check(t, "acme", []string{"user.created", "*", "invoice.*", hookd.TypeTest, hookd.TypeEndpointDisabled}, true)
	check(t, "acme", []string{"*", "hookd.nope"}, false)
	check(t, "acme", []string{"hookd.legacy"}, false)
	check(t, "acme", nil, true)

	// A non-empty catalog: exact types must be in it; wildcards always pass.
	e.want(t, n, 201, "POST", typesPath, map[string]any{"name": "invoice.paid"})
	e.want(t, n, 201, "POST", typesPath, map[string]any{"name": "invoice.sent", "deprecated": true})
	e.want(t, n, 201, "POST", typesPath, map[string]any{"name": "invoice.void", "archived": true})
	check(t, "acme", []string{"invoice.paid", "invoice.sent", "*", "nothing.*", "invoice.*", hookd.TypeAlertHealthLow}, true)
	check(t, "acme", []string{"invoice.paid", "user.created"}, false)
	check(t, "acme", []string{"invoice.void"}, false)              // archived
	check(t, "acme", []string{"invoice.*", "invoice.void"}, false) // archived, even next to a wildcard
	check(t, "beta", []string{"user.created"}, true)               // another tenant's catalog is empty

	// Archiving and unarchiving apply on this node at once.
	e.want(t, n, 200, "PATCH", typesPath+"/invoice.paid", map[string]any{"archived": true})
	check(t, "acme", []string{"invoice.paid"}, false)
	e.want(t, n, 200, "PATCH", typesPath+"/invoice.void", map[string]any{"archived": false})
	check(t, "acme", []string{"invoice.void"}, true)
	// Deleting the last own types empties the catalog again.
	for _, name := range []string{"invoice.paid", "invoice.sent", "invoice.void"} {
		e.want(t, n, 204, "DELETE", typesPath+"/"+name, nil)
	}
	check(t, "acme", []string{"user.created"}, true)

	// The store failing is not EINVALID.
	if err := n.srv.checkSubscriptions(ctx, "acme", []string{"x.y"}); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	n.srv.forgetCatalog("acme")
	if err := n.srv.checkSubscriptions(cctx, "acme", []string{"x.y"}); err == nil || hookd.ErrorCode(err) == hookd.EINVALID {
		t.Fatalf("with a cancelled context: %v", err)
	}
}

func TestBuiltinEventTypes(t *testing.T) {
	t.Parallel()
	e := newCatEnv(t)
	n := e.node(t)
	builtins := hookd.OperationalEventTypes()
	for _, name := range []string{"user.created", "invoice.paid", "a"} {
		e.want(t, n, 201, "POST", typesPath, map[string]any{"name": name})
	}
	// The whole list: built-ins first (marked, with examples), then stored ones.
	all := e.want(t, n, 200, "GET", typesPath+"?limit=500", nil)
	list, _ := all.body["data"].([]any)
	if len(list) != len(builtins)+3 || all.body["next_cursor"] != "" {
		t.Fatalf("list has %d types: %s", len(list), all.raw)
	}
	for i, it := range list {
		m := it.(map[string]any)
		if i < len(builtins) {
			if m["name"] != builtins[i].Name || m["builtin"] != true || m["example"] == nil || m["description"] == "" || m["created_at"] != nil {
				t.Errorf("list[%d] = %v, want built-in %s", i, m, builtins[i].Name)
			}
		} else if _, ok := m["builtin"]; ok || m["created_at"] == nil {
			t.Errorf("list[%d] = %v, want a stored type", i, m)
		}
	}
	if list[len(builtins)].(map[string]any)["name"] != "user.created" || list[len(builtins)+2].(map[string]any)["name"] != "a" {
		t.Errorf("stored types are not by name, descending: %s", all.raw)
	}
	// Pages of every size see each type once, in the same order.
	for _, limit := range []int{1, 5, 11, 12, 13, 14, 15, 16} {
		var names []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatalf("limit %d: too many pages", limit)
			}
			a := e.want(t, n, 200, "GET", fmt.Sprintf("%s?limit=%d&cursor=%s", typesPath, limit, cursor), nil)
			page, _ := a.body["data"].([]any)
			if len(page) == 0 || len(page) > limit {
				t.Fatalf("limit %d: page of %d: %s", limit, len(page), a.raw)
			}
			for _, it := range page {
				names = append(names, it.(map[string]any)["name"].(string))
			}
			cursor, _ = a.body["next_cursor"].(string)
			if cursor == "" {
				break
			}
		}
		var want []string
		for _, it := range list {
			want = append(want, it.(map[string]any)["name"].(string))
		}
		if fmt.Sprint(names) != fmt.Sprint(want) {
			t.Errorf("limit %d: pages hold %v, want %v", limit, names, want)
		}
	}
	// Without stored types, one full page of built-ins is the last.
	for _, name := range []string{"user.created", "invoice.paid", "a"} {
		e.want(t, n, 204, "DELETE", typesPath+"/"+name, nil)
	}
	only := e.want(t, n, 200, "GET", fmt.Sprintf("%s?limit=%d", typesPath, len(builtins)), nil)
	if l, _ := only.body["data"].([]any); len(l) != len(builtins) || only.body["next_cursor"] != "" {
		t.Fatalf("built-ins only = %s", only.raw)
	}
	for _, c := range []string{"builtin.0", "builtin.99", "builtin.x", "builtin.01", "builtin."} {
		e.want(t, n, 400, "GET", typesPath+"?cursor="+c, nil)
	}

	// Built-ins are read like stored types and cannot be changed.
	got := e.want(t, n, 200, "GET", typesPath+"/"+hookd.TypeEndpointDisabled, nil)
	if got.body["builtin"] != true || got.body["example"] == nil {
		t.Fatalf("built-in = %s", got.raw)
	}
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", typesPath, map[string]any{"name": hookd.TypeTest}},
		{"POST", typesPath, map[string]any{"name": "hookd.mine"}},
		{"PATCH", typesPath + "/" + hookd.TypeTest, map[string]any{"description": "mine"}},
		{"PATCH", typesPath + "/hookd.mine", map[string]any{"description": "mine"}},
		{"DELETE", typesPath + "/" + hookd.TypeTest, nil},
	} {
		a := e.want(t, n, 400, c.method, c.path, c.body)
		if a.code() != hookd.EINVALID || !strings.Contains(a.message(), "hookd") {
			t.Errorf("%s %s = %s", c.method, c.path, a.raw)
		}
	}
	if got := e.want(t, n, 200, "GET", typesPath+"/"+hookd.TypeTest, nil); got.body["description"] == "mine" {
		t.Fatal("a built-in type was changed")
	}
	e.want(t, n, 404, "GET", typesPath+"/hookd.mine", nil)
}

// A change through a node applies to that node's next publish; another
// node uses its cached catalog until it is catalogTTL old.
func TestCatalogCache(t *testing.T) {
	t.Parallel()
	e := newCatEnv(t)
	a, b := e.node(t), e.node(t)
	e.want(t, a, 201, "POST", typesPath, map[string]any{"name": "invoice.paid", "schema": map[string]any{"type": "object"}})
	data := map[string]any{"type": "invoice.paid", "data": map[string]any{"amount": "5"}}
	e.want(t, a, 202, "POST", eventsPath, data)
	e.want(t, b, 202, "POST", eventsPath, data)

	strict := map[string]any{"type": "object", "properties": map[string]any{"amount": map[string]any{"type": "integer"}}}
	e.want(t, a, 200, "PATCH", typesPath+"/invoice.paid", map[string]any{"schema": strict})
	e.want(t, a, 422, "POST", eventsPath, data)
	e.want(t, b, 202, "POST", eventsPath, data) // within the TTL
	b.clock.Add(catalogTTL)
	e.want(t, b, 422, "POST", eventsPath, data)

	// Deletion and creation apply at once too.
	e.want(t, a, 204, "DELETE", typesPath+"/invoice.paid", nil)
	e.want(t, a, 202, "POST", eventsPath, data)
	e.want(t, a, 201, "POST", typesPath, map[string]any{"name": "invoice.paid", "schema": strict})
	e.want(t, a, 422, "POST", eventsPath, data)

	// Publishing reads the catalog once per TTL, not per event, also when
	// many publish at once.
	a.clock.Add(catalogTTL)
	before := e.store.typeLists.Load()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if r := e.call(t, a, "POST", eventsPath, map[string]any{"type": "invoice.paid", "data": map[string]any{"amount": 1}}); r.status != 202 {
				t.Errorf("publish = %d %s", r.status, r.raw)
			}
		})
	}
	wg.Wait()
	for range 20 {
		e.want(t, a, 202, "POST", eventsPath+"/batch", map[string]any{"events": []any{map[string]any{"type": "x", "data": 1}}})
	}
	if got := e.store.typeLists.Load() - before; got != 1 {
		t.Fatalf("40 publishes read the catalog %d times, want 1", got)
	}
	a.clock.Add(catalogTTL)
	e.want(t, a, 202, "POST", eventsPath, map[string]any{"type": "x", "data": 1})
	if got := e.store.typeLists.Load() - before; got != 2 {
		t.Fatalf("after the TTL the catalog was read %d times in all, want 2", got)
	}
}

// The per-event cost of the catalog at publish time: a cache hit, and the
// check of a small payload with and without a schema.
func BenchmarkCatalog(b *testing.B) {
	raw, err := json.Marshal(invoiceSchema)
	if err != nil {
		b.Fatal(err)
	}
	sch, err := schema.Compile(raw)
	if err != nil {
		b.Fatal(err)
	}
	cat := &catalog{types: map[string]*catalogType{"invoice.paid": {schema: sch}, "plain": {}}}
	payload := json.RawMessage(`{"amount":1299,"currency":"EUR","items":[{"sku":"a-1","qty":2},{"sku":"b-2","qty":1}]}`)
	for _, typ := range []string{"invoice.paid", "plain", "unknown"} {
		b.Run("check/"+typ, func(b *testing.B) {
			ev := &hookd.Event{Type: typ, Payload: payload}
			for b.Loop() {
				if _, err := cat.check(ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("cache-hit", func(b *testing.B) {
		s, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if err := s.CreateTenant(context.Background(), &hookd.Tenant{ID: "acme"}); err != nil {
			b.Fatal(err)
		}
		srv := NewServer(Config{Store: s})
		ctx := context.Background()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := srv.catalog(ctx, "acme"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
