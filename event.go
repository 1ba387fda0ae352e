package hookd

import (
	"encoding/json"
	"time"
)

// Event origins.
const (
	OriginAPI    = "api"
	OriginRule   = "rule"
	OriginTest   = "test"
	OriginConfig = "config"
	OriginHookd  = "hookd" // operational events hookd publishes about itself
)

// MaxPayloadSize is the default limit of one event's payload in bytes.
const MaxPayloadSize = 1 << 20

// MaxBatchEvents is the most events one batch publish may carry.
const MaxBatchEvents = 1000

// Event is a message published once and delivered to every subscribed
// endpoint of its tenant. Payload is kept byte for byte.
type Event struct {
	ID             string          `json:"id"`
	TenantID       string          `json:"tenant"`
	Type           string          `json:"type"`
	Payload        json.RawMessage `json:"data"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	Origin         string          `json:"origin"`
	CreatedAt      time.Time       `json:"created_at"`

	// Deliveries is how many deliveries publishing created; set by the store.
	Deliveries int `json:"deliveries"`
	// Duplicate is set by the store when the event repeats an earlier one
	// (same id or idempotency key); the fields then describe the first.
	Duplicate bool `json:"-"`
}

// Validate returns EINVALID if the event cannot be published.
func (e *Event) Validate() error {
	if err := ValidateEventTypeName(e.Type); err != nil {
		return err
	}
	if len(e.Payload) == 0 {
		return Errorf(EINVALID, "An event needs data (any JSON value).")
	}
	if !json.Valid(e.Payload) {
		return Errorf(EINVALID, "Event data must be valid JSON.")
	}
	if len(e.Payload) > MaxPayloadSize {
		return Errorf(ETOOLARGE, "Event data is over %d bytes.", MaxPayloadSize)
	}
	if e.ID != "" && (len(e.ID) > 255 || !eventIDOK(e.ID)) {
		return Errorf(EINVALID, "Event id must be at most 255 characters of letters, digits, '_', '-' and '.'.")
	}
	if len(e.IdempotencyKey) > 255 {
		return Errorf(EINVALID, "Idempotency key must be at most 255 characters.")
	}
	return nil
}

func eventIDOK(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// EndpointMatcher decides whether an endpoint gets a delivery of an event.
// Stores call it inside the publishing transaction for every endpoint of the
// event's tenant that is not disabled.
type EndpointMatcher func(ep *Endpoint, ev *Event) bool

// MatchSubscribed is the default EndpointMatcher: the endpoint's event
// patterns match the event's type.
func MatchSubscribed(ep *Endpoint, ev *Event) bool { return ep.Subscribes(ev.Type) }

// Handoff asks PublishEvents to lease new deliveries straight to a local
// dispatcher, which then sends them without claiming them from the store.
// They are stored leased (state delivering, owner, expiry), so if the node
// dies the lease expires and any node claims them: nothing is lost.
type Handoff struct {
	Owner string    // the dispatcher's lease owner id
	Until time.Time // lease expiry
	Max   int       // lease at most this many; the rest are stored pending
	// Accept reports whether the dispatcher takes deliveries for an
	// endpoint now; nil accepts every endpoint.
	Accept func(endpointID string) bool
}
