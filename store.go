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
type Store interface {
	TenantStore
	APIKeyStore
	EventTypeStore
	EndpointStore
	EventStore
	DeliveryStore

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
	// DeleteTenant removes the tenant and everything it owns.
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
	FindAPIKeys(ctx context.Context, f APIKeyFilter) ([]*APIKey, string, error)
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
	// TouchAPIKey records the last time a key was used.
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
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
