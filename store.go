package hookd

import (
	"context"
	"time"
)

// Store is hookd's durable state. The sqlite and postgres packages implement
// it; storetest holds the conformance suite both pass. Every method returns
// *Error values for expected failures (ENOTFOUND, ECONFLICT, EINVALID) and
// EUNAVAILABLE when the database cannot be reached; a failed call changes
// nothing. Lists return items newest first and the cursor of the next page
// ("" on the last page).
//
// Changes made with a context from WithPrincipal are audited: the method
// writes an AuditEntry (action, resource, before/after snapshots) in the
// same transaction as the change, so a change and its record commit or
// fail together. A call that fails or changes nothing records nothing.
type Store interface {
	TenantStore
	APIKeyStore
	TokenStore
	AuditStore
	SecretStore
	EventTypeStore
	EndpointStore
	EventStore
	DeliveryStore
	OpsStore
	InboundStore
	ManagedStore

	// Close releases the database; pending group commits finish first.
	Close() error
}

// TenantStore holds tenants.
type TenantStore interface {
	// CreateTenant stores t, setting its times; ECONFLICT if the id exists.
	CreateTenant(ctx context.Context, t *Tenant) error
	FindTenant(ctx context.Context, id string) (*Tenant, error)
	FindTenants(ctx context.Context, p Page) ([]*Tenant, string, error)
	UpdateTenant(ctx context.Context, id string, upd TenantUpdate) (*Tenant, error)
	// DeleteTenant removes the tenant and everything it owns: API keys and
	// their tokens, event types, endpoints, events, deliveries, attempts,
	// its audit entries and the records of which of them config files
	// manage (ManagedStore). Deliveries leased at the time are gone too, so
	// their results are Stale and write nothing. The tenant.delete audit
	// entry itself is kept outside any tenant.
	DeleteTenant(ctx context.Context, id string) error
}

// APIKeyFilter selects keys; empty fields match all.
type APIKeyFilter struct {
	TenantID string
	Role     Role
	Page
}

// APIKeyStore holds API keys (hashed).
type APIKeyStore interface {
	// CreateAPIKey stores k (ID and CreatedAt are set if empty); ECONFLICT
	// when the hash exists.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// FindAPIKeyByHash returns the key with the given hash, revoked and
	// expired ones included; ENOTFOUND if none.
	FindAPIKeyByHash(ctx context.Context, hash string) (*APIKey, error)
	// FindAPIKeyByID returns the key with the given id; ENOTFOUND if none.
	FindAPIKeyByID(ctx context.Context, id string) (*APIKey, error)
	FindAPIKeys(ctx context.Context, f APIKeyFilter) ([]*APIKey, string, error)
	// RevokeAPIKey marks a key revoked at at; revoking a revoked key keeps
	// the first time and changes nothing. ENOTFOUND if there is no such key.
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
	// TouchAPIKey records the last time a key was used.
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
}

// TokenStore holds tokens (hashed) minted from API keys.
type TokenStore interface {
	// CreateToken stores t (ID and CreatedAt are set if empty); ENOTFOUND
	// if its key does not exist, ECONFLICT if the hash exists.
	CreateToken(ctx context.Context, t *Token) error
	// FindTokenByHash returns the token with the given hash, expired ones
	// included, with its Key set; ENOTFOUND if none.
	FindTokenByHash(ctx context.Context, hash string) (*Token, error)
	// DeleteExpiredTokens removes tokens that expired at or before before,
	// and returns how many.
	DeleteExpiredTokens(ctx context.Context, before time.Time) (int, error)
}

// AuditStore reads the audit log; entries are written by the changes
// themselves (see Store).
type AuditStore interface {
	// FindAuditEntries lists entries matching f, newest first.
	FindAuditEntries(ctx context.Context, f AuditFilter) ([]*AuditEntry, string, error)
}

// SecretStore is master key rotation.
type SecretStore interface {
	// ResealSecrets re-encrypts every sealed secret (the signing secrets of
	// all endpoints, deleted ones included, and the verifier secrets of
	// every source) from the old cipher to the new
	// one, in one transaction: all or nothing. Values already sealed with
	// to are left alone, so a repeated call is harmless; plain-text values
	// (a database from before encryption, or old == nil) are sealed with
	// to. It returns how many values were resealed. EINVALID if a value
	// opens with neither cipher or to is nil. The store's own Cipher is not
	// changed: reopen the store with the new one. Run it while no node
	// writes secrets (hookd rotate-master-key runs offline).
	ResealSecrets(ctx context.Context, old, to Cipher) (int, error)
}

// EventTypeStore holds each tenant's event catalog.
type EventTypeStore interface {
	CreateEventType(ctx context.Context, t *EventType) error
	FindEventType(ctx context.Context, tenantID, name string) (*EventType, error)
	FindEventTypes(ctx context.Context, tenantID string, p Page) ([]*EventType, string, error)
	UpdateEventType(ctx context.Context, tenantID, name string, upd EventTypeUpdate) (*EventType, error)
	DeleteEventType(ctx context.Context, tenantID, name string) error
}

// EndpointStore holds endpoints. Deleted endpoints are gone from every
// method here, but their deliveries and attempts stay readable.
type EndpointStore interface {
	// CreateEndpoint stores e (ID, times set if empty); ENOTFOUND if the tenant does not exist.
	CreateEndpoint(ctx context.Context, e *Endpoint) error
	FindEndpointByID(ctx context.Context, tenantID, id string) (*Endpoint, error)
	FindEndpoints(ctx context.Context, f EndpointFilter) ([]*Endpoint, string, error)
	// UpdateEndpoint applies upd and returns the endpoint as stored.
	UpdateEndpoint(ctx context.Context, tenantID, id string, upd EndpointUpdate) (*Endpoint, error)
	// DeleteEndpoint removes the endpoint and cancels its unfinished deliveries.
	DeleteEndpoint(ctx context.Context, tenantID, id string) error
}

// EventStore holds published events.
type EventStore interface {
	// PublishEvents stores events of one tenant and, in the same transaction,
	// a pending delivery for every endpoint that is not disabled and for which
	// match returns true. All or nothing. ID, CreatedAt and Deliveries are set
	// on each event. An event whose ID or IdempotencyKey repeats an earlier
	// event of the tenant creates nothing: it is filled from the first and
	// marked Duplicate. ENOTFOUND if the tenant does not exist. With a
	// handoff, up to handoff.Max new deliveries of enabled endpoints that
	// handoff.Accept takes are stored leased to handoff.Owner and returned.
	PublishEvents(ctx context.Context, tenantID string, events []*Event, match EndpointMatcher, handoff *Handoff) ([]*ClaimedDelivery, error)
	FindEventByID(ctx context.Context, tenantID, id string) (*Event, error)
}

// DeliveryStore holds deliveries and their attempts, and is the work queue.
type DeliveryStore interface {
	// ClaimDeliveries leases up to c.Limit deliveries that are due (pending or
	// failed with next attempt at or before c.Now, or delivering with an
	// expired lease) and whose endpoint is enabled, oldest due first. Claimed
	// deliveries are in state delivering until c.Now+c.Lease.
	ClaimDeliveries(ctx context.Context, c Claim) ([]*ClaimedDelivery, error)
	// CompleteDeliveries records attempts in one transaction: inserts each
	// attempt, moves the delivery to its new state, updates the endpoint's
	// last delivery, status and failure count, and disables the endpoint when
	// DisableReason is set. A result whose Owner no longer holds the lease is
	// skipped and marked Stale.
	CompleteDeliveries(ctx context.Context, results []*DeliveryResult) error
	// ReleaseDeliveries returns leased deliveries of owner to the queue, due at now.
	ReleaseDeliveries(ctx context.Context, owner string, ids []string, now time.Time) error
	// ExtendLeases sets the lease expiry of the given deliveries that owner
	// still holds to until (a renewal while work is in flight). With nil ids
	// it applies to everything owner holds; with until <= now that frees them
	// at once (a restarted node that reuses its id).
	ExtendLeases(ctx context.Context, owner string, ids []string, until time.Time) error
	// RetryDelivery makes a delivery due at now with its next attempt marked
	// manual; ECONFLICT if it is being delivered or was cancelled.
	RetryDelivery(ctx context.Context, tenantID, id string, now time.Time) (*Delivery, error)
	// FindDeliveryByID returns the delivery with its attempt log.
	FindDeliveryByID(ctx context.Context, tenantID, id string) (*Delivery, error)
	FindDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, string, error)
}

type backgroundKey struct{}

// Background marks ctx as background work, done for no caller that waits
// (the rule runner). A store may let waiting requests of callers that do
// wait go first, within a bound, so that a burst of inbound requests is
// answered at the pace the store can take them and the work they queue
// follows. See docs/PERFORMANCE.md ("Receiving").
func Background(ctx context.Context) context.Context {
	return context.WithValue(ctx, backgroundKey{}, true)
}

// IsBackground reports whether ctx was marked with Background.
func IsBackground(ctx context.Context) bool {
	b, _ := ctx.Value(backgroundKey{}).(bool)
	return b
}
