package http_test

import (
	"bytes"
	"context"
	"encoding/json"
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
	hookdhttp "github.com/hookd/hookd/http"
	"github.com/hookd/hookd/sqlite"
)

// env is one API over a real SQLite store, served on a loopback port.
type env struct {
	store *sqlite.Store
	spy   *spyStore // what the API talks to: the store, counted and faultable
	url   string
	clock *clock
	wakes atomic.Int64
	// triggerWakes counts OnTrigger calls (the rule runner's wake-ups).
	triggerWakes atomic.Int64
	// tester answers test and probe requests; notes records operational
	// events published through the API.
	tester *fakeTester
	notes  *notes

	// Keys: a superadmin, an admin and a viewer of tenant acme, and an
	// admin of tenant beta.
	super, admin, viewer, other string
	adminID                     string
}

// newEnv starts an API with tenants default, acme and beta. opts adjust
// the configuration before the server is made.
func newEnv(t *testing.T, opts ...func(*hookdhttp.Config)) *env {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "api.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: s, spy: &spyStore{Store: s}, clock: &clock{t: time.Now()}, tester: &fakeTester{status: 204}, notes: &notes{}}
	cfg := hookdhttp.Config{Store: e.spy, Now: e.clock.Now, OnPublish: func() { e.wakes.Add(1) }, Tester: e.tester, Notifier: e.notes,
		Inbound: s, OnTrigger: func() { e.triggerWakes.Add(1) }}
	for _, o := range opts {
		o(&cfg)
	}
	srv := httptest.NewServer(hookdhttp.NewServer(cfg).Handler())
	e.url = srv.URL
	t.Cleanup(func() {
		srv.Close()
		s.Close()
	})
	ctx := context.Background()
	for _, id := range []string{hookd.DefaultTenant, "acme", "beta"} {
		if err := s.CreateTenant(ctx, &hookd.Tenant{ID: id, Name: id}); err != nil {
			t.Fatal(err)
		}
	}
	var admin *hookd.APIKey
	e.super, _ = e.newKey(t, "", hookd.RoleSuperadmin, nil)
	e.admin, admin = e.newKey(t, "acme", hookd.RoleAdmin, nil)
	e.viewer, _ = e.newKey(t, "acme", hookd.RoleViewer, nil)
	e.other, _ = e.newKey(t, "beta", hookd.RoleAdmin, nil)
	e.adminID = admin.ID
	return e
}

// newKey stores a new API key and returns the key and its record.
func (e *env) newKey(t *testing.T, tenant string, role hookd.Role, expires *time.Time) (string, *hookd.APIKey) {
	t.Helper()
	key := hookd.NewAPIKeySecret()
	k := &hookd.APIKey{TenantID: tenant, Role: role, Name: string(role), Hash: hookd.HashAPIKey(key), ExpiresAt: expires}
	if err := e.store.CreateAPIKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	return key, k
}

// response is one answer of the API.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// call sends a request with key (none if empty). body is sent as is when
// it is a string, otherwise as JSON; hdr holds header name/value pairs.
func (e *env) call(t *testing.T, key, method, path string, body any, hdr ...string) response {
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
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := response{status: resp.StatusCode, header: resp.Header}
	if out.raw, err = io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); len(out.raw) > 0 && ct == "application/yaml" && resp.StatusCode == http.StatusOK {
		return out // a config file export: checked by its own tests
	}
	if len(out.raw) > 0 {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %s: Content-Type %q, body %s", method, path, ct, out.raw)
		}
		if err := json.Unmarshal(out.raw, &out.body); err != nil {
			t.Fatalf("%s %s: answer is not a JSON object: %s", method, path, out.raw)
		}
	}
	return out
}

// want is call that fails the test unless the status is status; error
// answers must have the {"error":{"code","message"}} shape.
func (e *env) want(t *testing.T, status int, key, method, path string, body any, hdr ...string) map[string]any {
	t.Helper()
	r := e.call(t, key, method, path, body, hdr...)
	if r.status != status {
		t.Fatalf("%s %s = %d %s, want %d", method, path, r.status, r.raw, status)
	}
	if status >= 400 {
		errorCode(t, r.body)
	}
	return r.body
}

// errorCode returns the code of an error answer, failing on another shape.
func errorCode(t *testing.T, body map[string]any) string {
	t.Helper()
	er, _ := body["error"].(map[string]any)
	code, _ := er["code"].(string)
	msg, _ := er["message"].(string)
	if code == "" || msg == "" || len(body) != 1 || len(er) != 2 {
		t.Fatalf("error answer %v lacks the {\"error\":{\"code\",\"message\"}} shape", body)
	}
	return code
}

// items returns the data of a list answer, checking its shape.
func items(t *testing.T, body map[string]any) []map[string]any {
	t.Helper()
	data, ok := body["data"].([]any)
	if _, hasCursor := body["next_cursor"]; !ok || !hasCursor {
		t.Fatalf("list answer %v lacks data or next_cursor", body)
	}
	out := make([]map[string]any, len(data))
	for i, d := range data {
		out[i] = d.(map[string]any)
	}
	return out
}

func (e *env) createEndpoint(t *testing.T, tenant string, body map[string]any) map[string]any {
	t.Helper()
	if body == nil {
		body = map[string]any{"url": "https://example.com/hook", "events": []string{"*"}}
	}
	key := e.super
	if tenant == "acme" {
		key = e.admin
	}
	return e.want(t, http.StatusCreated, key, "POST", "/v1/tenants/"+tenant+"/endpoints", body)
}

// clock is a settable time source for the API.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// spyStore is the real store with counted key and tenant reads and
// optional faults per method.
type spyStore struct {
	hookd.Store
	keyReads, touches, tenantReads atomic.Int64

	publishes atomic.Int64 // PublishEvents calls

	mu     sync.Mutex
	faults map[string]error // method name -> error to return instead of calling the store
}

func (s *spyStore) fail(method string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults == nil {
		s.faults = map[string]error{}
	}
	if err == nil {
		delete(s.faults, method)
	} else {
		s.faults[method] = err
	}
}

// fault returns the error method should fail with, nil to call the store.
func (s *spyStore) fault(method string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults[method]
}

func (s *spyStore) FindAPIKeyByHash(ctx context.Context, hash string) (*hookd.APIKey, error) {
	s.keyReads.Add(1)
	if err := s.fault("FindAPIKeyByHash"); err != nil {
		return nil, err
	}
	return s.Store.FindAPIKeyByHash(ctx, hash)
}

func (s *spyStore) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	err := s.Store.TouchAPIKey(ctx, id, at)
	s.touches.Add(1)
	return err
}

func (s *spyStore) FindTenant(ctx context.Context, id string) (*hookd.Tenant, error) {
	s.tenantReads.Add(1)
	if err := s.fault("FindTenant"); err != nil {
		return nil, err
	}
	return s.Store.FindTenant(ctx, id)
}

func (s *spyStore) PublishEvents(ctx context.Context, tenant string, evs []*hookd.Event, m hookd.EndpointMatcher, h *hookd.Handoff) ([]*hookd.ClaimedDelivery, error) {
	s.publishes.Add(1)
	if err := s.fault("PublishEvents"); err != nil {
		return nil, err
	}
	return s.Store.PublishEvents(ctx, tenant, evs, m, h)
}

func (s *spyStore) CreateEndpoint(ctx context.Context, ep *hookd.Endpoint) error {
	if err := s.fault("CreateEndpoint"); err != nil {
		return err
	}
	return s.Store.CreateEndpoint(ctx, ep)
}

func (s *spyStore) UpdateEndpoint(ctx context.Context, tenant, id string, upd hookd.EndpointUpdate) (*hookd.Endpoint, error) {
	if err := s.fault("UpdateEndpoint"); err != nil {
		return nil, err
	}
	return s.Store.UpdateEndpoint(ctx, tenant, id, upd)
}

func (s *spyStore) FindEndpoints(ctx context.Context, f hookd.EndpointFilter) ([]*hookd.Endpoint, string, error) {
	if err := s.fault("FindEndpoints"); err != nil {
		return nil, "", err
	}
	return s.Store.FindEndpoints(ctx, f)
}

func (s *spyStore) RetryDelivery(ctx context.Context, tenant, id string, now time.Time) (*hookd.Delivery, error) {
	if err := s.fault("RetryDelivery"); err != nil {
		return nil, err
	}
	return s.Store.RetryDelivery(ctx, tenant, id, now)
}

var _ hookd.Store = (*spyStore)(nil)

func TestRouting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := []struct {
		name   string
		key    string
		method string
		path   string
		status int
		code   string
		allow  string
	}{
		{"unknown v1 route", e.admin, "GET", "/v1/nothing", 404, "not_found", ""},
		{"unknown v1 route needs a key first", "", "GET", "/v1/nothing", 401, "unauthorized", ""},
		{"unknown route outside v1", "", "GET", "/nothing", 404, "not_found", ""},
		{"root", "", "GET", "/", 404, "not_found", ""},
		{"wrong method on a collection", e.admin, "PUT", "/v1/tenants/acme/endpoints", 405, "method_not_allowed", "GET, HEAD, POST"},
		{"wrong method on an item", e.admin, "POST", "/v1/tenants/acme/endpoints/ep_1", 405, "method_not_allowed", "DELETE, GET, HEAD, PATCH"},
		{"wrong method on retry", e.admin, "GET", "/v1/tenants/acme/deliveries/msg_1/retry", 405, "method_not_allowed", "POST"},
		{"wrong method without a key", "", "PUT", "/v1/tenants/acme/endpoints", 401, "unauthorized", ""},
		{"wrong method on healthz", "", "POST", "/healthz", 405, "method_not_allowed", "GET, HEAD"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.call(t, c.key, c.method, c.path, nil)
			if r.status != c.status || errorCode(t, r.body) != c.code {
				t.Fatalf("%s %s = %d %s, want %d %s", c.method, c.path, r.status, r.raw, c.status, c.code)
			}
			if got := r.header.Get("Allow"); got != c.allow {
				t.Errorf("Allow = %q, want %q", got, c.allow)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if got := e.want(t, 200, "", "GET", "/healthz", nil); got["status"] != "ok" {
		t.Errorf("healthz = %v", got)
	}
	if got := e.want(t, 200, "", "GET", "/readyz", nil); got["status"] != "ok" {
		t.Errorf("readyz = %v", got)
	}
	e.spy.fail("FindTenant", hookd.Errorf(hookd.EUNAVAILABLE, "down"))
	if r := e.call(t, "", "GET", "/readyz", nil); r.status != 503 || r.body["status"] != "unavailable" {
		t.Errorf("readyz with a failing store = %d %s", r.status, r.raw)
	}
	e.want(t, 200, "", "GET", "/healthz", nil)
	e.spy.fail("FindTenant", nil)
	e.want(t, 200, "", "GET", "/readyz", nil)
	e.store.Close()
	if r := e.call(t, "", "GET", "/readyz", nil); r.status != 503 || r.body["status"] != "unavailable" {
		t.Errorf("readyz with a failing store = %d %s", r.status, r.raw)
	}
	e.want(t, 200, "", "GET", "/healthz", nil)
}
