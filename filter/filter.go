// Package filter applies endpoint filters: criteria in the rule language
// over an event {"id","type","data"}, checked before a delivery is made.
package filter

import (
	"bytes"
	"encoding/json"
	"sync"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/rule"
)

// Compile checks an endpoint filter; the error is EINVALID naming the path.
func Compile(raw json.RawMessage) (*rule.Criteria, error) {
	c, err := rule.Compile(raw)
	if err != nil {
		return nil, hookd.Errorf(hookd.EINVALID, "filter: %v", err)
	}
	return c, nil
}

// MaxSize bounds an endpoint filter in bytes.
const MaxSize = 16 << 10

// Validate checks an endpoint filter before it is stored (none is fine):
// at most MaxSize bytes, and it compiles. Errors are EINVALID.
func Validate(f json.RawMessage) error {
	if len(f) == 0 {
		return nil
	}
	if len(f) > MaxSize {
		return hookd.Errorf(hookd.EINVALID, "A filter has at most %d KiB.", MaxSize>>10)
	}
	_, err := Compile(f)
	return err
}

// compiled is one endpoint's filter as of one version of the endpoint.
type compiled struct {
	raw      json.RawMessage
	criteria *rule.Criteria // nil: the stored filter does not compile
}

// Cache holds compiled filters by endpoint id; safe for concurrent use.
type Cache struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*compiled
}

// NewCache returns an empty cache; now is the clock of the time operators
// (nil: time.Now).
func NewCache(now func() time.Time) *Cache {
	if now == nil {
		now = time.Now
	}
	return &Cache{now: now, m: map[string]*compiled{}}
}

func (c *Cache) criteria(ep *hookd.Endpoint) *rule.Criteria {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[ep.ID]; e != nil && bytes.Equal(e.raw, ep.Filter) {
		return e.criteria
	}
	crit, err := rule.Compile(ep.Filter)
	if err != nil {
		crit = nil // validated when set; a filter that no longer compiles matches nothing
	}
	c.m[ep.ID] = &compiled{raw: append(json.RawMessage(nil), ep.Filter...), criteria: crit}
	return crit
}

// Matcher returns a hookd.EndpointMatcher for one publish call: the
// endpoint subscribes to the event's type and, when it has a filter, the
// filter matches the event. Each event's payload is decoded at most once.
func (c *Cache) Matcher() hookd.EndpointMatcher {
	docs := map[*hookd.Event]any{}
	return func(ep *hookd.Endpoint, ev *hookd.Event) bool {
		if !hookd.MatchSubscribed(ep, ev) {
			return false
		}
		if len(ep.Filter) == 0 {
			return true
		}
		crit := c.criteria(ep)
		if crit == nil {
			return false
		}
		doc, ok := docs[ev]
		if !ok {
			var data any
			_ = json.Unmarshal(ev.Payload, &data)
			doc = map[string]any{"id": ev.ID, "type": ev.Type, "data": data}
			docs[ev] = doc
		}
		return crit.Match(doc, c.now())
	}
}
