package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/hookd/hookd"
)

// Source is a source as the API shows it: with its inbound URL and the
// number of verifier secrets (never their values).
type Source struct {
	hookd.Source
	URL     string `json:"url"`
	Secrets int    `json:"secrets"`
}

// SourceInput creates or changes a source; Verifier secrets go in
// Secrets (the API's verifier.secrets).
type SourceInput struct {
	Name           string                `json:"name,omitempty"`
	Description    *string               `json:"description,omitempty"`
	Verifier       *SourceVerifierInput  `json:"verifier,omitempty"`
	ContentTypes   []string              `json:"content_types,omitempty"`
	MaxBodyBytes   int64                 `json:"max_body_bytes,omitempty"`
	Response       *hookd.SourceResponse `json:"response,omitempty"`
	RateLimit      *float64              `json:"rate_limit,omitempty"`
	DedupWindow    *hookd.Duration       `json:"dedup_window,omitempty"`
	HeartbeatEvery *hookd.Duration       `json:"heartbeat_every,omitempty"`
}

// SourceVerifierInput is a verifier with its secrets.
type SourceVerifierInput struct {
	hookd.SourceVerifier
	Secrets []string `json:"secrets,omitempty"`
}

// CreateSource creates a source.
func (c *Client) CreateSource(ctx context.Context, tenant string, in SourceInput) (*Source, error) {
	var out Source
	return &out, c.do(ctx, http.MethodPost, tenantPath(tenant, "sources"), nil, in, &out)
}

// ListSources returns one page of a tenant's sources.
func (c *Client) ListSources(ctx context.Context, tenant string, p hookd.Page) (*List[*Source], error) {
	var out List[*Source]
	return &out, c.do(ctx, http.MethodGet, tenantPath(tenant, "sources")+pageQuery(p, nil), nil, nil, &out)
}

// GetSource returns one source by id.
func (c *Client) GetSource(ctx context.Context, tenant, id string) (*Source, error) {
	var out Source
	return &out, c.do(ctx, http.MethodGet, tenantPath(tenant, "sources", id), nil, nil, &out)
}

// UpdateSource changes the fields set in in (not the name).
func (c *Client) UpdateSource(ctx context.Context, tenant, id string, in SourceInput) (*Source, error) {
	var out Source
	return &out, c.do(ctx, http.MethodPatch, tenantPath(tenant, "sources", id), nil, in, &out)
}

// DeleteSource deletes a source; its triggers and runs stay.
func (c *Client) DeleteSource(ctx context.Context, tenant, id string) error {
	return c.do(ctx, http.MethodDelete, tenantPath(tenant, "sources", id), nil, nil, nil)
}

// CreateRule creates a rule from its JSON form (as the API takes it).
func (c *Client) CreateRule(ctx context.Context, tenant string, rule json.RawMessage) (*hookd.Rule, error) {
	var out hookd.Rule
	return &out, c.do(ctx, http.MethodPost, tenantPath(tenant, "rules"), nil, rule, &out)
}

// ListRules returns one page of a tenant's rules.
func (c *Client) ListRules(ctx context.Context, tenant string, p hookd.Page) (*List[*hookd.Rule], error) {
	var out List[*hookd.Rule]
	return &out, c.do(ctx, http.MethodGet, tenantPath(tenant, "rules")+pageQuery(p, nil), nil, nil, &out)
}

// GetRule returns a rule by name or id.
func (c *Client) GetRule(ctx context.Context, tenant, name string) (*hookd.Rule, error) {
	var out hookd.Rule
	return &out, c.do(ctx, http.MethodGet, tenantPath(tenant, "rules", name), nil, nil, &out)
}

// UpdateRule changes a rule (fields as the API's PATCH takes them).
func (c *Client) UpdateRule(ctx context.Context, tenant, name string, change any) (*hookd.Rule, error) {
	var out hookd.Rule
	return &out, c.do(ctx, http.MethodPatch, tenantPath(tenant, "rules", name), nil, change, &out)
}

// DeleteRule deletes a rule.
func (c *Client) DeleteRule(ctx context.Context, tenant, name string) error {
	return c.do(ctx, http.MethodDelete, tenantPath(tenant, "rules", name), nil, nil, nil)
}

// TestRule asks whether a trigger would match: req is {"rule":name} or
// {"criteria":{...}} with {"trigger":{...}}. The answer says, criterion by
// criterion, what held and what value was seen.
func (c *Client) TestRule(ctx context.Context, tenant string, req any) (json.RawMessage, error) {
	var out json.RawMessage
	return out, c.do(ctx, http.MethodPost, tenantPath(tenant, "rules", "test"), nil, req, &out)
}

// ListTriggers returns one page of a tenant's triggers, optionally of one
// source or generic name.
func (c *Client) ListTriggers(ctx context.Context, tenant, source, name string, p hookd.Page) (*List[*hookd.Trigger], error) {
	q := url.Values{}
	if source != "" {
		q.Set("source", source)
	}
	if name != "" {
		q.Set("name", name)
	}
	var out List[*hookd.Trigger]
	return &out, c.do(ctx, http.MethodGet, tenantPath(tenant, "triggers")+pageQuery(p, q), nil, nil, &out)
}

// GetTrigger returns one trigger.
func (c *Client) GetTrigger(ctx context.Context, tenant, id string) (*hookd.Trigger, error) {
	var out hookd.Trigger
	return &out, c.do(ctx, http.MethodGet, tenantPath(tenant, "triggers", id), nil, nil, &out)
}

// ReplayTrigger matches a stored trigger against the rules again.
func (c *Client) ReplayTrigger(ctx context.Context, tenant, id string) (*hookd.Trigger, error) {
	var out hookd.Trigger
	return &out, c.do(ctx, http.MethodPost, tenantPath(tenant, "triggers", id, "replay"), nil, nil, &out)
}

// ListRuns returns one page of a tenant's runs, optionally filtered.
func (c *Client) ListRuns(ctx context.Context, tenant, rule, trigger, status string, p hookd.Page) (*List[*hookd.Run], error) {
	q := url.Values{}
	for k, v := range map[string]string{"rule": rule, "trigger": trigger, "status": status} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var out List[*hookd.Run]
	return &out, c.do(ctx, http.MethodGet, tenantPath(tenant, "runs")+pageQuery(p, q), nil, nil, &out)
}

// GetRun returns one run with its result.
func (c *Client) GetRun(ctx context.Context, tenant, id string) (*hookd.Run, error) {
	var out hookd.Run
	return &out, c.do(ctx, http.MethodGet, tenantPath(tenant, "runs", id), nil, nil, &out)
}
