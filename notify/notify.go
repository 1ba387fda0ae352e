// Package notify publishes hookd's operational events (types under
// "hookd.") into a tenant through the store, like any other event, and
// wakes the dispatcher for the deliveries that creates.
package notify

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/hookd/hookd"
)

// Publisher implements hookd.Notifier.
type Publisher struct {
	Store hookd.EventStore
	// Match picks the endpoints of each event; default hookd.MatchSubscribed
	// (give a filter.Cache's Matcher so endpoint filters apply).
	Match func() hookd.EndpointMatcher
	Wake  func()       // called when deliveries were created; may be nil
	Log   *slog.Logger // default: discard
}

// Notify publishes events into the tenant. Events without an origin are
// marked as hookd's own. It never fails the caller: errors are logged.
func (p *Publisher) Notify(ctx context.Context, tenantID string, events ...*hookd.Event) {
	if len(events) == 0 {
		return
	}
	for _, ev := range events {
		if ev.Origin == "" {
			ev.Origin = hookd.OriginHookd
		}
	}
	// The change being reported has committed: a caller's cancelled
	// request must not lose the notice.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	match := hookd.MatchSubscribed
	if p.Match != nil {
		match = p.Match()
	}
	if _, err := p.Store.PublishEvents(ctx, tenantID, events, match, nil); err != nil {
		p.log().Warn("operational event not published", "tenant", tenantID, "type", events[0].Type, "events", len(events), "err", err)
		return
	}
	for _, ev := range events {
		if ev.Deliveries > 0 && !ev.Duplicate && p.Wake != nil {
			p.Wake()
			return
		}
	}
}

func (p *Publisher) log() *slog.Logger {
	if p.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Log
}

// EndpointSummary is how operational events describe an endpoint: no
// secrets, no header values.
type EndpointSummary struct {
	ID                  string              `json:"id"`
	Name                string              `json:"name"`
	URL                 string              `json:"url"`
	Events              []string            `json:"events"`
	State               hookd.EndpointState `json:"state"`
	StateReason         string              `json:"state_reason,omitempty"`
	StateChanged        *time.Time          `json:"state_changed_at,omitempty"`
	FailingSince        *time.Time          `json:"failing_since,omitempty"`
	ConsecutiveFailures int                 `json:"consecutive_failures"`
}

// EndpointEvent returns an operational event of type typ about ep, with
// payload {"endpoint": EndpointSummary}. key, when set, is its
// idempotency key.
func EndpointEvent(typ string, ep *hookd.Endpoint, key string) *hookd.Event {
	sum := EndpointSummary{ID: ep.ID, Name: ep.Name, URL: ep.URL, Events: ep.Events, State: ep.State, StateReason: ep.StateReason,
		StateChanged: ep.StateChanged, FailingSince: ep.FailingSince, ConsecutiveFailures: ep.ConsecutiveFailures}
	payload, _ := json.Marshal(map[string]any{"endpoint": sum})
	return &hookd.Event{Type: typ, Payload: payload, IdempotencyKey: key, Origin: hookd.OriginHookd}
}
