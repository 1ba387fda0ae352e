package hookd

import "context"

// Kinds of resources a config file can own.
const (
	KindTenant    = "tenant"
	KindEventType = "event_type"
	KindEndpoint  = "endpoint"
	KindSource    = "source"
	KindRule      = "rule"
	KindKey       = "key"
)

// ManagedResource is one resource a config file owns. Key is what
// identifies it within its kind and tenant: the id of tenants, endpoints
// and keys, the name of event types, sources and rules. TenantID is ""
// for tenants and superadmin keys.
type ManagedResource struct {
	Kind     string `json:"kind"`
	TenantID string `json:"tenant,omitempty"`
	Key      string `json:"key"`
	Name     string `json:"name,omitempty"` // the name the file gives it (endpoints, keys)
	Owner    string `json:"owner"`          // the config file
}

// ManagedStore records which resources config files own, so that the API
// refuses to change them (the file is their source of truth) and a
// reconcile knows what it may delete.
type ManagedStore interface {
	// SetManaged replaces the set of resources owner owns with list, in
	// one transaction.
	SetManaged(ctx context.Context, owner string, list []ManagedResource) error
	// FindManaged returns the resources owner owns ("" for every owner).
	FindManaged(ctx context.Context, owner string) ([]ManagedResource, error)
	// ManagedBy returns the owner of a resource, "" if none.
	ManagedBy(ctx context.Context, kind, tenantID, key string) (string, error)
}
