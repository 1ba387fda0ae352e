// Package client is a Go client of hookd's REST API. The CLI and
// `hookd bench` use it; errors from the server come back as *hookd.Error
// with the server's code and message, so hookd.ErrorCode works on them.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hookd/hookd"
)

// Client talks to one hookd server.
type Client struct {
	base string
	key  string
	http *http.Client
}

// New returns a client of the server at baseURL (e.g. http://127.0.0.1:8080)
// authenticating with key.
func New(baseURL, key string) *Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 256
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return &Client{
		base: strings.TrimRight(baseURL, "/"),
		key:  key,
		http: &http.Client{Transport: t, Timeout: 2 * time.Minute},
	}
}

// do sends a request with a JSON body (nil for none) and decodes a JSON
// answer into out (nil to discard). Non-2xx answers become *hookd.Error.
func (c *Client) do(ctx context.Context, method, path string, header http.Header, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, c.base+path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
			return &hookd.Error{Code: e.Error.Code, Message: e.Error.Message}
		}
		return fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func tenantPath(tenant string, parts ...string) string {
	p := "/v1/tenants/" + url.PathEscape(tenant)
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// List is one page of a list answer.
type List[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor"`
}

// Ready reports whether the server answers /readyz with 200.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/readyz", nil, nil, nil)
}

// CreateEventType adds an event type to a tenant's catalog.
func (c *Client) CreateEventType(ctx context.Context, tenant string, t *hookd.EventType) (*hookd.EventType, error) {
	var out hookd.EventType
	in := map[string]any{"name": t.Name, "description": t.Description}
	if len(t.Schema) > 0 {
		in["schema"] = t.Schema
	}
	if len(t.Example) > 0 {
		in["example"] = t.Example
	}
	return &out, c.do(ctx, http.MethodPost, tenantPath(tenant, "event-types"), nil, in, &out)
}

// ListEventTypes returns one page of a tenant's catalog.
func (c *Client) ListEventTypes(ctx context.Context, tenant string, p hookd.Page) (*List[*hookd.EventType], error) {
	var out List[*hookd.EventType]
	return &out, c.do(ctx, http.MethodGet, tenantPath(tenant, "event-types")+pageQuery(p, nil), nil, nil, &out)
}

// CreateEndpoint creates an endpoint and returns it with its secret, which
// the server shows only this once. Set e.Secrets[0].Value to supply a secret.
func (c *Client) CreateEndpoint(ctx context.Context, tenant string, e *hookd.Endpoint) (*hookd.Endpoint, string, error) {
	in := map[string]any{"url": e.URL, "events": e.Events}
	if e.Name != "" {
		in["name"] = e.Name
	}
	if e.Description != "" {
		in["description"] = e.Description
	}
	if len(e.Headers) > 0 {
		in["headers"] = e.Headers
	}
	if len(e.Signatures) > 0 {
		in["signatures"] = e.Signatures
	}
	if e.Timeout > 0 {
		in["timeout"] = e.Timeout
	}
	if len(e.RetrySchedule) > 0 {
		in["retry_schedule"] = e.RetrySchedule
	}
	if e.MaxInFlight > 0 {
		in["max_in_flight"] = e.MaxInFlight
	}
	if e.RateLimit > 0 {
		in["rate_limit"] = e.RateLimit
	}
	if e.Mode != "" {
		in["mode"] = e.Mode
	}
	if len(e.Filter) > 0 {
		in["filter"] = e.Filter
	}
	if len(e.Secrets) > 0 && e.Secrets[0].Value != "" {
		in["secret"] = e.Secrets[0].Value
	}
	var out struct {
		hookd.Endpoint
		Secret string `json:"secret"`
	}
	if err := c.do(ctx, http.MethodPost, tenantPath(tenant, "endpoints"), nil, in, &out); err != nil {
		return nil, "", err
	}
	return &out.Endpoint, out.Secret, nil
}

// ListEndpoints returns one page of a tenant's endpoints.
func (c *Client) ListEndpoints(ctx context.Context, tenant string, p hookd.Page) (*List[*hookd.Endpoint], error) {
	var out List[*hookd.Endpoint]
	return &out, c.do(ctx, http.MethodGet, tenantPath(tenant, "endpoints")+pageQuery(p, nil), nil, nil, &out)
}

// GetEndpoint returns one endpoint (never its secret).
func (c *Client) GetEndpoint(ctx context.Context, tenant, id string) (*hookd.Endpoint, error) {
	var out hookd.Endpoint
	return &out, c.do(ctx, http.MethodGet, tenantPath(tenant, "endpoints", id), nil, nil, &out)
}

// UpdateEndpoint changes the set fields of upd.
func (c *Client) UpdateEndpoint(ctx context.Context, tenant, id string, upd hookd.EndpointUpdate) (*hookd.Endpoint, error) {
	var out hookd.Endpoint
	return &out, c.do(ctx, http.MethodPatch, tenantPath(tenant, "endpoints", id), nil, upd, &out)
}

// DeleteEndpoint deletes an endpoint; its unfinished deliveries are cancelled.
func (c *Client) DeleteEndpoint(ctx context.Context, tenant, id string) error {
	return c.do(ctx, http.MethodDelete, tenantPath(tenant, "endpoints", id), nil, nil, nil)
}

// SetEndpointState runs one of enable, disable, pause and resume on an
// endpoint; reason (optional) is shown on it.
func (c *Client) SetEndpointState(ctx context.Context, tenant, id, verb, reason string) (*hookd.Endpoint, error) {
	var in any
	if reason != "" {
		in = map[string]string{"reason": reason}
	}
	var out hookd.Endpoint
	return &out, c.do(ctx, http.MethodPost, tenantPath(tenant, "endpoints", id, verb), nil, in, &out)
}

// Rotated is the answer of RotateSecret: the new secret, shown only once.
type Rotated struct {
	hookd.Endpoint
	Secret  string         `json:"secret"`
	Secrets []hookd.Secret `json:"secrets"` // times only, never values
}

// RotateSecret makes a new signing secret (secret, or a generated one if
// empty); the current one keeps signing for overlap (nil: the server's
// default of 24 h).
func (c *Client) RotateSecret(ctx context.Context, tenant, id, secret string, overlap *time.Duration) (*Rotated, error) {
	in := map[string]any{}
	if secret != "" {
		in["secret"] = secret
	}
	if overlap != nil {
		in["overlap"] = hookd.Duration(*overlap)
	}
	var out Rotated
	return &out, c.do(ctx, http.MethodPost, tenantPath(tenant, "endpoints", id, "rotate-secret"), nil, in, &out)
}

// TestEndpoint sends a signed hookd.test event to the endpoint now.
func (c *Client) TestEndpoint(ctx context.Context, tenant, id string) (*hookd.TestResult, error) {
	var out hookd.TestResult
	return &out, c.do(ctx, http.MethodPost, tenantPath(tenant, "endpoints", id, "test"), nil, nil, &out)
}

// Probe is a test request to a URL that is not an endpoint.
type Probe struct {
	URL        string            `json:"url"`
	Signatures []hookd.Signature `json:"signatures,omitempty"`
	Secret     string            `json:"secret,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
}

// ProbeResult is a probe's outcome and, when the server made the secret
// it signed with, that secret.
type ProbeResult struct {
	hookd.TestResult
	Secret string `json:"secret,omitempty"`
}

// Probe sends a signed hookd.test event to p.URL and stores nothing.
func (c *Client) Probe(ctx context.Context, tenant string, p Probe) (*ProbeResult, error) {
	var out ProbeResult
	return &out, c.do(ctx, http.MethodPost, tenantPath(tenant, "probe"), nil, p, &out)
}

// Requeued is the answer of Recover and Replay.
type Requeued struct {
	Deliveries int       `json:"deliveries"`
	Since      time.Time `json:"since"`
	Until      time.Time `json:"until"`
}

// Requeue runs recover or replay (verb) on an endpoint for [since, until);
// a zero until means now.
func (c *Client) Requeue(ctx context.Context, tenant, id, verb string, since, until time.Time) (*Requeued, error) {
	in := map[string]any{"since": since}
	if !until.IsZero() {
		in["until"] = until
	}
	var out Requeued
	return &out, c.do(ctx, http.MethodPost, tenantPath(tenant, "endpoints", id, verb), nil, in, &out)
}

// GetEventType returns one event type of the tenant's catalog.
func (c *Client) GetEventType(ctx context.Context, tenant, name string) (*hookd.EventType, error) {
	var out hookd.EventType
	return &out, c.do(ctx, http.MethodGet, tenantPath(tenant, "event-types", name), nil, nil, &out)
}

// PublishResult is the server's answer for one published event.
type PublishResult struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	Deliveries int       `json:"deliveries"`
	CreatedAt  time.Time `json:"created_at"`
}

// Publish publishes one event. A non-empty idempotencyKey makes a repeat
// return the first result.
func (c *Client) Publish(ctx context.Context, tenant, typ string, data json.RawMessage, idempotencyKey string) (*PublishResult, error) {
	var h http.Header
	if idempotencyKey != "" {
		h = http.Header{"Idempotency-Key": {idempotencyKey}}
	}
	var out PublishResult
	return &out, c.do(ctx, http.MethodPost, tenantPath(tenant, "events"), h, map[string]any{"type": typ, "data": data}, &out)
}

// BatchEvent is one event of PublishBatch.
type BatchEvent struct {
	ID             string          `json:"id,omitempty"`
	Type           string          `json:"type"`
	Data           json.RawMessage `json:"data"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
}

// PublishBatch publishes up to 1000 events at once, all or nothing, and
// returns their results in order.
func (c *Client) PublishBatch(ctx context.Context, tenant string, events []BatchEvent) ([]PublishResult, error) {
	var out struct {
		Data []PublishResult `json:"data"`
	}
	err := c.do(ctx, http.MethodPost, tenantPath(tenant, "events", "batch"), nil, map[string]any{"events": events}, &out)
	return out.Data, err
}

// GetEvent returns one event with its data.
func (c *Client) GetEvent(ctx context.Context, tenant, id string) (*hookd.Event, error) {
	var out hookd.Event
	return &out, c.do(ctx, http.MethodGet, tenantPath(tenant, "events", id), nil, nil, &out)
}

// ListDeliveries returns one page of deliveries matching f (TenantID is ignored).
func (c *Client) ListDeliveries(ctx context.Context, tenant string, f hookd.DeliveryFilter) (*List[*hookd.Delivery], error) {
	q := url.Values{}
	if f.EndpointID != "" {
		q.Set("endpoint_id", f.EndpointID)
	}
	if f.EventID != "" {
		q.Set("event_id", f.EventID)
	}
	if f.State != "" {
		q.Set("state", string(f.State))
	}
	var out List[*hookd.Delivery]
	return &out, c.do(ctx, http.MethodGet, tenantPath(tenant, "deliveries")+pageQuery(f.Page, q), nil, nil, &out)
}

// GetDelivery returns a delivery with its attempt log.
func (c *Client) GetDelivery(ctx context.Context, tenant, id string) (*hookd.Delivery, error) {
	var out hookd.Delivery
	return &out, c.do(ctx, http.MethodGet, tenantPath(tenant, "deliveries", id), nil, nil, &out)
}

// RetryDelivery makes a delivery due now; the attempt is logged as manual.
func (c *Client) RetryDelivery(ctx context.Context, tenant, id string) (*hookd.Delivery, error) {
	var out hookd.Delivery
	return &out, c.do(ctx, http.MethodPost, tenantPath(tenant, "deliveries", id, "retry"), nil, nil, &out)
}

// CreateTenant creates a tenant (superadmin keys only).
func (c *Client) CreateTenant(ctx context.Context, id, name string) (*hookd.Tenant, error) {
	var out hookd.Tenant
	return &out, c.do(ctx, http.MethodPost, "/v1/tenants", nil, map[string]any{"id": id, "name": name}, &out)
}

// ListTenants returns one page of tenants (superadmin keys only).
func (c *Client) ListTenants(ctx context.Context, p hookd.Page) (*List[*hookd.Tenant], error) {
	var out List[*hookd.Tenant]
	return &out, c.do(ctx, http.MethodGet, "/v1/tenants"+pageQuery(p, nil), nil, nil, &out)
}

// GetTenant returns one tenant.
func (c *Client) GetTenant(ctx context.Context, id string) (*hookd.Tenant, error) {
	var out hookd.Tenant
	return &out, c.do(ctx, http.MethodGet, tenantPath(id), nil, nil, &out)
}

// UpdateTenant changes the set fields of upd (superadmin keys only).
func (c *Client) UpdateTenant(ctx context.Context, id string, upd hookd.TenantUpdate) (*hookd.Tenant, error) {
	var out hookd.Tenant
	return &out, c.do(ctx, http.MethodPatch, tenantPath(id), nil, upd, &out)
}

// DeleteTenant deletes a tenant and all its data (superadmin keys only).
// confirm must repeat id; the server refuses the request otherwise.
func (c *Client) DeleteTenant(ctx context.Context, id, confirm string) error {
	return c.do(ctx, http.MethodDelete, tenantPath(id)+"?"+url.Values{"confirm": {confirm}}.Encode(), nil, nil, nil)
}

// KeyRequest describes a new API key. At most one of TTL and ExpiresAt
// ends it; with neither it does not expire.
type KeyRequest struct {
	Name      string
	Role      hookd.Role
	TTL       time.Duration
	ExpiresAt *time.Time
}

// keysPath is the key collection of tenant, or the superadmin keys for "".
func keysPath(tenant string, id ...string) string {
	p := "/v1/keys"
	if tenant != "" {
		p = tenantPath(tenant, "keys")
	}
	for _, s := range id {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// CreateKey creates an API key of tenant (admin or viewer), or a
// superadmin key when tenant is "", and returns it with the key itself,
// which the server shows only this once.
func (c *Client) CreateKey(ctx context.Context, tenant string, req KeyRequest) (*hookd.APIKey, string, error) {
	in := map[string]any{"name": req.Name, "role": req.Role}
	if req.TTL > 0 {
		in["ttl"] = req.TTL.String()
	}
	if req.ExpiresAt != nil {
		in["expires_at"] = req.ExpiresAt.UTC().Format(time.RFC3339)
	}
	var out struct {
		hookd.APIKey
		Key string `json:"key"`
	}
	if err := c.do(ctx, http.MethodPost, keysPath(tenant), nil, in, &out); err != nil {
		return nil, "", err
	}
	return &out.APIKey, out.Key, nil
}

// ListKeys returns one page of tenant's keys, or of the superadmin keys
// when tenant is "". Keys are listed without the key or its hash.
func (c *Client) ListKeys(ctx context.Context, tenant string, p hookd.Page) (*List[*hookd.APIKey], error) {
	var out List[*hookd.APIKey]
	return &out, c.do(ctx, http.MethodGet, keysPath(tenant)+pageQuery(p, nil), nil, nil, &out)
}

// RevokeKey revokes a key of tenant, or a superadmin key when tenant is "".
func (c *Client) RevokeKey(ctx context.Context, tenant, id string) error {
	return c.do(ctx, http.MethodDelete, keysPath(tenant, id), nil, nil, nil)
}

// Token is a minted token; Token is shown only this once.
type Token struct {
	ID        string    `json:"id"`
	Token     string    `json:"token"`
	KeyID     string    `json:"key_id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// CreateToken mints a token from the client's API key, living ttl (0: the
// server's default of 24h).
func (c *Client) CreateToken(ctx context.Context, ttl time.Duration) (*Token, error) {
	in := map[string]any{}
	if ttl > 0 {
		in["ttl"] = ttl.String()
	}
	var out Token
	return &out, c.do(ctx, http.MethodPost, "/v1/tokens", nil, in, &out)
}

// ListAudit returns one page of tenant's audit log, newest first, or of
// the whole log when tenant is "" (superadmin keys; f.TenantID then
// narrows it to one tenant). f.Action and f.Since filter.
func (c *Client) ListAudit(ctx context.Context, tenant string, f hookd.AuditFilter) (*List[*hookd.AuditEntry], error) {
	q := url.Values{}
	if f.Action != "" {
		q.Set("action", f.Action)
	}
	if f.Since != nil {
		q.Set("since", f.Since.UTC().Format(time.RFC3339))
	}
	path := "/v1/audit"
	if tenant != "" {
		path = tenantPath(tenant, "audit")
	} else if f.TenantID != "" {
		q.Set("tenant", f.TenantID)
	}
	var out List[*hookd.AuditEntry]
	return &out, c.do(ctx, http.MethodGet, path+pageQuery(f.Page, q), nil, nil, &out)
}

// Raw performs a request and returns the answer's JSON as is (for --json output).
func (c *Client) Raw(ctx context.Context, method, path string, body any) (json.RawMessage, error) {
	var out json.RawMessage
	return out, c.do(ctx, method, path, nil, body, &out)
}

func pageQuery(p hookd.Page, q url.Values) string {
	if q == nil {
		q = url.Values{}
	}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	if p.Limit > 0 {
		q.Set("limit", fmt.Sprint(p.Limit))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}
