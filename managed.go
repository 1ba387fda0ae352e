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
// reconcile knows what it may delete. A resource that goes away through
// any store method (deleted, an endpoint soft-deleted, a key revoked, its
// tenant deleted) stops being managed with it, so one made later under the
// same key is not.
type ManagedStore interface {
	// SetManaged replaces the set of resources owner owns with list, in
	// one transaction. EINVALID if list fails ValidateManaged; ECONFLICT
	// (ManagedConflict, naming the other owner) if another owner owns one
	// of them, and nothing changes.
	SetManaged(ctx context.Context, owner string, list []ManagedResource) error
	// FindManaged returns the resources owner owns ("" for every owner).
	FindManaged(ctx context.Context, owner string) ([]ManagedResource, error)
	// ManagedBy returns the owner of a resource, "" if none.
	ManagedBy(ctx context.Context, kind, tenantID, key string) (string, error)
}

// kindLabels names each kind at the start of a sentence shown to people.
var kindLabels = map[string]string{
	KindTenant:    "Tenant",
	KindEventType: "Event type",
	KindEndpoint:  "Endpoint",
	KindSource:    "Source",
	KindRule:      "Rule",
	KindKey:       "API key",
}

// KindLabel names kind for messages ("Event type"); an unknown kind is
// returned as it is.
func KindLabel(kind string) string {
	if l, ok := kindLabels[kind]; ok {
		return l
	}
	return kind
}

// ValidateManaged returns EINVALID unless owner is set and every resource
// of list has a known kind and a key, a tenant if its kind lives in one
// (none for tenants; keys may have either), and is listed once. The
// resources' Owner fields are not read.
func ValidateManaged(owner string, list []ManagedResource) error {
	if owner == "" {
		return Errorf(EINVALID, "A managed resource needs an owner (the config file).")
	}
	seen := make(map[[3]string]bool, len(list))
	for _, r := range list {
		switch {
		case kindLabels[r.Kind] == "":
			return Errorf(EINVALID, "Unknown kind of managed resource %q.", r.Kind)
		case r.Key == "":
			return Errorf(EINVALID, "A managed %s needs a key.", r.Kind)
		case r.Kind == KindTenant && r.TenantID != "":
			return Errorf(EINVALID, "Tenant %q is in no tenant; its tenant must be empty.", r.Key)
		case r.Kind != KindTenant && r.Kind != KindKey && r.TenantID == "":
			return Errorf(EINVALID, "%s %q needs its tenant.", KindLabel(r.Kind), r.Key)
		}
		k := [3]string{r.Kind, r.TenantID, r.Key}
		if seen[k] {
			return Errorf(EINVALID, "%s %q is listed twice.", KindLabel(r.Kind), r.Key)
		}
		seen[k] = true
	}
	return nil
}

// ManagedConflict is the ECONFLICT of SetManaged when other, another
// owner, owns r already.
func ManagedConflict(r ManagedResource, other string) error {
	if r.TenantID != "" {
		return Errorf(ECONFLICT, "%s %q of tenant %q is managed by the config file %s already.", KindLabel(r.Kind), r.Key, r.TenantID, other)
	}
	return Errorf(ECONFLICT, "%s %q is managed by the config file %s already.", KindLabel(r.Kind), r.Key, other)
}
