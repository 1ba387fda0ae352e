package hookd

import (
	"encoding/json"
	"time"
)

// DeliveryState is where a delivery is in its life.
type DeliveryState string

// Delivery states.
const (
	DeliveryPending    DeliveryState = "pending"    // waiting for its first (or a manual) attempt
	DeliveryDelivering DeliveryState = "delivering" // leased by a dispatcher
	DeliverySucceeded  DeliveryState = "succeeded"  // an attempt got a 2xx
	DeliveryFailed     DeliveryState = "failed"     // last attempt failed; a retry is scheduled
	DeliveryDead       DeliveryState = "dead"       // retries exhausted
	DeliveryCancelled  DeliveryState = "cancelled"  // its endpoint was deleted
)

// Valid reports whether s is a defined state.
func (s DeliveryState) Valid() bool {
	switch s {
	case DeliveryPending, DeliveryDelivering, DeliverySucceeded, DeliveryFailed, DeliveryDead, DeliveryCancelled:
		return true
	}
	return false
}

// Attempt triggers.
const (
	TriggerScheduled = "scheduled"
	TriggerManual    = "manual"
)

// Error classes of failed attempts.
const (
	ErrClassTimeout    = "timeout"
	ErrClassConnection = "connection" // refused, reset, unreachable
	ErrClassDNS        = "dns"
	ErrClassTLS        = "tls"
	ErrClassBlocked    = "blocked" // destination address not allowed
	ErrClassHTTP       = "http"    // a non-2xx response
	ErrClassRedirect   = "redirect"
	ErrClassOther      = "other"
)

// Delivery is one event sent to one endpoint. Its ID is the webhook-id the
// receiver sees; it stays the same across retries.
type Delivery struct {
	ID         string        `json:"id"`
	TenantID   string        `json:"tenant"`
	EventID    string        `json:"event_id"`
	EventType  string        `json:"event_type"`
	EndpointID string        `json:"endpoint_id"`
	State      DeliveryState `json:"state"`
	Attempts   int           `json:"attempts"`
	// Throttled counts attempts answered 429, 502, 503 or 504: they slow
	// the endpoint down but do not use up the retry schedule.
	Throttled     int        `json:"throttled,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	Manual        bool       `json:"-"` // the next attempt was asked for by a person
	LeaseOwner    string     `json:"-"`
	Seq           int64      `json:"-"` // creation order; per endpoint it gives the FIFO position
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`

	AttemptLog []*Attempt `json:"attempt_log,omitempty"`
}

// Attempt is one HTTP request of a delivery.
type Attempt struct {
	ID              string            `json:"id"`
	DeliveryID      string            `json:"delivery_id"`
	Number          int               `json:"number"`
	Trigger         string            `json:"trigger"`
	URL             string            `json:"url"`
	StartedAt       time.Time         `json:"started_at"`
	DurationMS      float64           `json:"duration_ms"`
	StatusCode      int               `json:"status_code,omitempty"`
	ResponseHeaders map[string]string `json:"response_headers,omitempty"`
	ResponseBody    string            `json:"response_body,omitempty"`
	Error           string            `json:"error,omitempty"`
	ErrorClass      string            `json:"error_class,omitempty"`
}

// DeliveryFilter selects deliveries of one tenant; empty fields match all.
type DeliveryFilter struct {
	TenantID   string
	EndpointID string
	EventID    string
	State      DeliveryState
	Page
}

// Claim asks the store for due deliveries.
type Claim struct {
	Owner   string        // who holds the lease (a node id)
	Now     time.Time     // deliveries due at or before Now are claimed
	Limit   int           // at most this many
	Lease   time.Duration // how long the claim holds before others may take it
	Exclude []string      // endpoint ids not to claim for (their queues are full)
}

// ClaimedDelivery is a leased delivery with what sending it needs.
type ClaimedDelivery struct {
	Delivery
	EventCreatedAt time.Time
	Payload        json.RawMessage
}

// DeliveryResult is the outcome of one attempt, recorded by CompleteDeliveries.
type DeliveryResult struct {
	DeliveryID string
	TenantID   string
	EndpointID string
	Owner      string // must still hold the lease, or the result is dropped
	Attempt    Attempt
	State      DeliveryState // succeeded, failed or dead
	NextAt     time.Time     // for failed: when to try again
	// DisableReason, when set, disables the endpoint (e.g. after a 410).
	DisableReason string
	// Throttled marks a throttling answer (see Delivery.Throttled): the
	// store counts it apart from the retry schedule.
	Throttled bool

	// Stale is set by the store when the lease had been lost and nothing was recorded.
	Stale bool
}

// Page asks for one page of a list. Cursor is the opaque next_cursor of the
// previous page; Limit is clamped to 1..MaxPageSize (default DefaultPageSize).
type Page struct {
	Cursor string
	Limit  int
}

// Page sizes.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Size returns the clamped page size.
func (p Page) Size() int {
	switch {
	case p.Limit <= 0:
		return DefaultPageSize
	case p.Limit > MaxPageSize:
		return MaxPageSize
	}
	return p.Limit
}
