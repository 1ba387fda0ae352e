package hookd

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// principalKey is the context key of the caller a change is made for.
type principalKey struct{}

// WithPrincipal returns ctx carrying p, the caller on whose behalf changes
// are made. Every change a Store makes with such a context records an
// AuditEntry in the same transaction; changes made without one (the
// dispatcher, maintenance, bootstrap) are not audited.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller ctx carries; ok is false if none.
func PrincipalFrom(ctx context.Context) (p Principal, ok bool) {
	p, ok = ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Audit actions: what a change did, "<resource type>.<verb>".
const (
	ActionTenantCreate    = "tenant.create"
	ActionTenantUpdate    = "tenant.update"
	ActionTenantDelete    = "tenant.delete"
	ActionKeyCreate       = "key.create"
	ActionKeyRevoke       = "key.revoke"
	ActionTokenCreate     = "token.create"
	ActionEventTypeCreate = "event_type.create"
	ActionEventTypeUpdate = "event_type.update"
	ActionEventTypeDelete = "event_type.delete"
	ActionEndpointCreate  = "endpoint.create"
	ActionEndpointUpdate  = "endpoint.update"
	ActionEndpointDelete  = "endpoint.delete"
	ActionEndpointRecover = "endpoint.recover"
	ActionEndpointReplay  = "endpoint.replay"
	ActionDeliveryRetry   = "delivery.retry"
	ActionSourceCreate    = "source.create"
	ActionSourceUpdate    = "source.update"
	ActionSourceDelete    = "source.delete"
	ActionRuleCreate      = "rule.create"
	ActionRuleUpdate      = "rule.update"
	ActionRuleDelete      = "rule.delete"
	ActionTriggerReplay   = "trigger.replay"
)

// Resource types named by audit entries.
const (
	ResourceTenant    = "tenant"
	ResourceKey       = "key"
	ResourceToken     = "token"
	ResourceEventType = "event_type"
	ResourceEndpoint  = "endpoint"
	ResourceDelivery  = "delivery"
	ResourceSource    = "source"
	ResourceRule      = "rule"
	ResourceTrigger   = "trigger"
)

// AuditEntry records one change made through the API: who (key, token and
// role), when, what (action and resource) and the resource before and
// after as JSON. Snapshots never hold secrets: endpoint signing secrets,
// key and token hashes are not part of their JSON, and custom header
// values are redacted (see Snapshot). Publishing events is not audited.
type AuditEntry struct {
	ID           string          `json:"id"`
	TenantID     string          `json:"tenant,omitempty"` // "" for changes outside any tenant
	At           time.Time       `json:"at"`
	KeyID        string          `json:"key_id"`
	TokenID      string          `json:"token_id,omitempty"`
	Role         Role            `json:"role"`
	Action       string          `json:"action"`
	ResourceType string          `json:"resource_type"`
	ResourceID   string          `json:"resource_id"`
	Before       json.RawMessage `json:"before,omitempty"`
	After        json.RawMessage `json:"after,omitempty"`
}

// NewAuditEntry returns the entry for a change made with ctx, or nil when
// ctx carries no principal (the change is not audited). before and after
// are snapshots made with Snapshot; nil leaves them out. Stores set At.
func NewAuditEntry(ctx context.Context, tenantID, action, resourceType, resourceID string, before, after json.RawMessage) *AuditEntry {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return nil
	}
	return &AuditEntry{
		ID: NewID(PrefixAudit), TenantID: tenantID, KeyID: p.KeyID, TokenID: p.TokenID, Role: p.Role,
		Action: action, ResourceType: resourceType, ResourceID: resourceID, Before: before, After: after,
	}
}

// redacted replaces values that must not be kept in the audit log.
const redacted = "[redacted]"

// Snapshot returns v as the JSON an audit entry keeps, or nil when ctx is
// not audited or v is nil. A snapshot is taken at once, so it shows v as it
// is now. The JSON of hookd's types leaves secrets out; an endpoint's
// custom header values are replaced by "[redacted]" as they often carry
// the receiver's credentials.
func Snapshot(ctx context.Context, v any) json.RawMessage {
	if _, ok := PrincipalFrom(ctx); !ok || v == nil {
		return nil
	}
	switch x := v.(type) {
	case *Endpoint:
		if x != nil {
			c := *x
			c.Secrets = nil
			c.Headers = redactValues(x.Headers)
			if c.Headers == nil {
				c.Headers = map[string]string{}
			}
			v = &c
		}
	case *Delivery:
		if x != nil {
			c := *x
			c.AttemptLog = nil
			v = &c
		}
	case *Rule:
		if x != nil {
			c := *x
			c.Action.Headers, c.Action.Env = redactValues(x.Action.Headers), redactValues(x.Action.Env)
			v = &c
		}
	case *Source:
		if x != nil {
			c := *x
			c.Verifier.Secrets = nil
			v = &c
		}
	}
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return nil
	}
	return b
}

// redactValues keeps a map's keys and replaces its values.
func redactValues(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k := range m {
		out[k] = redacted
	}
	return out
}

// AuditFilter selects audit entries, newest first. TenantID "" selects
// every entry (the superadmin's view), including those outside tenants.
type AuditFilter struct {
	TenantID string
	// Action is an exact action ("endpoint.update") or a resource type
	// followed by ".*" ("endpoint.*"); "" matches all.
	Action string
	// Since, when set, keeps entries at or after it.
	Since *time.Time
	Page
}

// ValidateAuditAction returns EINVALID unless a is "", an action name or a
// resource type followed by ".*".
func ValidateAuditAction(a string) error {
	if a == "" {
		return nil
	}
	name, _ := strings.CutSuffix(a, ".*")
	if len(a) > 100 || name == "" {
		return Errorf(EINVALID, "Invalid action filter %q: use an action like endpoint.update or endpoint.*.", a)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c == '_' || c == '.') {
			return Errorf(EINVALID, "Invalid action filter %q: use an action like endpoint.update or endpoint.*.", a)
		}
	}
	return nil
}

// Audited reports whether changes made with ctx are audited.
func Audited(ctx context.Context) bool {
	_, ok := PrincipalFrom(ctx)
	return ok
}
