package hookd

import (
	"encoding/json"
	"strings"
)

// OperationalPrefix starts the name of every operational event type: the
// events hookd publishes about itself. Names under it are reserved: the API
// neither creates, changes nor deletes such types, nor publishes such events.
const OperationalPrefix = "hookd."

// Operational event types. They are built into every tenant's catalog
// (OperationalEventTypes) and published with origin OriginHookd.
const (
	TypeEndpointCreated    = "hookd.endpoint.created"
	TypeEndpointUpdated    = "hookd.endpoint.updated"
	TypeEndpointDeleted    = "hookd.endpoint.deleted"
	TypeEndpointDisabled   = "hookd.endpoint.disabled"
	TypeDeliveryFailing    = "hookd.delivery.failing"
	TypeDeliveryExhausted  = "hookd.delivery.exhausted"
	TypeDeliveryRecovered  = "hookd.delivery.recovered"
	TypeAlertErrorSpike    = "hookd.alert.error_spike"
	TypeAlertHealthLow     = "hookd.alert.health_low"
	TypeAlertResourceHigh  = "hookd.alert.resource_high"
	TypeAlertHeartbeatLost = "hookd.alert.heartbeat_lost"
	TypeTest               = "hookd.test"
)

// IsOperational reports whether typ is under OperationalPrefix, the names
// reserved for hookd's own events (built in or not).
func IsOperational(typ string) bool { return strings.HasPrefix(typ, OperationalPrefix) }

// ValidateOperationalPattern returns EINVALID when an endpoint's event
// pattern is an exact name under OperationalPrefix that is not a built-in
// type: those names are reserved, and no such event is ever published.
// Wildcard patterns ("*", "prefix.*") and other names are not checked.
func ValidateOperationalPattern(pattern string) error {
	if !IsOperational(pattern) || strings.HasSuffix(pattern, ".*") {
		return nil
	}
	for _, t := range operationalTypes {
		if t.name == pattern {
			return nil
		}
	}
	return Errorf(EINVALID, "Event type %q is not one of hookd's operational event types (names starting with %q are reserved for them).", pattern, OperationalPrefix)
}

// operationalTypes lists the built-in types: name, description, example.
// The examples follow the payloads hookd publishes (notify.EndpointSummary,
// the delivery notices of the dispatcher, the alerts of maintain).
var operationalTypes = [...]struct{ name, description, example string }{
	{TypeEndpointCreated, "An endpoint was created.",
		`{"endpoint":{"id":"ep_2f8Kq1Zx9VbN3mTcYh7LwP","name":"billing","url":"https://billing.example.com/webhooks","events":["invoice.*"],"state":"enabled","consecutive_failures":0}}`},
	{TypeEndpointUpdated, "An endpoint was changed: its settings, or its state (paused, resumed, enabled again).",
		`{"endpoint":{"id":"ep_2f8Kq1Zx9VbN3mTcYh7LwP","name":"billing","url":"https://billing.example.com/webhooks/v2","events":["invoice.*","customer.updated"],"state":"paused","state_reason":"Paused for maintenance.","state_changed_at":"2026-03-02T09:00:00Z","consecutive_failures":0}}`},
	{TypeEndpointDeleted, "An endpoint was deleted; its unfinished deliveries were cancelled.",
		`{"endpoint":{"id":"ep_2f8Kq1Zx9VbN3mTcYh7LwP","name":"billing","url":"https://billing.example.com/webhooks","events":["invoice.*"],"state":"enabled","consecutive_failures":0}}`},
	{TypeEndpointDisabled, "hookd disabled an endpoint: every attempt failed for too long, or it answered 410 Gone. No deliveries are created for it until it is enabled again.",
		`{"endpoint":{"id":"ep_2f8Kq1Zx9VbN3mTcYh7LwP","name":"billing","url":"https://billing.example.com/webhooks","events":["invoice.*"],"state":"disabled","state_reason":"Every attempt failed for 120h0m0s (at least 10 in a row); disabled automatically.","state_changed_at":"2026-03-05T08:15:00Z","failing_since":"2026-03-02T08:14:05Z","consecutive_failures":48}}`},
	{TypeDeliveryFailing, "A delivery keeps failing: its 4th attempt failed and another one is scheduled. Sent once per delivery.",
		`{"delivery_id":"msg_0000000000001a2b_9QxV","event_id":"evt_2f8KsT4bWq0RzY6nHc1MdE","event_type":"invoice.paid","endpoint_id":"ep_2f8Kq1Zx9VbN3mTcYh7LwP","endpoint_url":"https://billing.example.com/webhooks","attempts":4,"status_code":503,"error":"HTTP 503","error_class":"http","next_attempt_at":"2026-03-02T09:31:17Z"}`},
	{TypeDeliveryExhausted, "A delivery failed its last attempt: its retries are exhausted and it is dead. It can still be retried by hand.",
		`{"delivery_id":"msg_0000000000001a2b_9QxV","event_id":"evt_2f8KsT4bWq0RzY6nHc1MdE","event_type":"invoice.paid","endpoint_id":"ep_2f8Kq1Zx9VbN3mTcYh7LwP","endpoint_url":"https://billing.example.com/webhooks","attempts":10,"status_code":0,"error":"no answer within 15s","error_class":"timeout","next_attempt_at":null}`},
	{TypeDeliveryRecovered, "A delivery that was reported failing succeeded after all.",
		`{"delivery_id":"msg_0000000000001a2b_9QxV","event_id":"evt_2f8KsT4bWq0RzY6nHc1MdE","event_type":"invoice.paid","endpoint_id":"ep_2f8Kq1Zx9VbN3mTcYh7LwP","endpoint_url":"https://billing.example.com/webhooks","attempts":5,"status_code":200,"error":"","error_class":"","next_attempt_at":null}`},
	{TypeAlertErrorSpike, "The share of an endpoint's failed attempts in the window rose above the threshold. Sent once per incident.",
		`{"alert":"error_spike","endpoint_id":"ep_2f8Kq1Zx9VbN3mTcYh7LwP","window":"5m0s","rate":0.42,"threshold":0.25,"attempts":250,"succeeded":145,"failed":105,"opened_at":"2026-03-02T08:20:00Z"}`},
	{TypeAlertHealthLow, "An endpoint's share of successful attempts in the window fell below the threshold. Sent once per incident.",
		`{"alert":"health_low","endpoint_id":"ep_2f8Kq1Zx9VbN3mTcYh7LwP","window":"1h0m0s","rate":0.71,"threshold":0.9,"attempts":1380,"succeeded":980,"failed":400,"opened_at":"2026-03-02T09:00:00Z"}`},
	{TypeAlertResourceHigh, "A resource of the installation is over its threshold: the backlog of unfinished deliveries, or the size of the database. Sent once per incident.",
		`{"alert":"resource_high","resource":"backlog","value":125000,"threshold":100000,"backlog":125000,"max_backlog":100000,"database_bytes":2147483648,"max_database_bytes":10737418240,"opened_at":"2026-03-02T09:05:00Z"}`},
	{TypeAlertHeartbeatLost, "A source that is expected to receive webhooks regularly has been silent for longer than its window. Sent once per incident.",
		`{"alert":"heartbeat_lost","source":"billing/heartbeat","window":"10m0s","last_seen_at":"2026-03-02T08:52:41Z","opened_at":"2026-03-02T09:02:41Z"}`},
	{TypeTest, "A test event, sent on request to check that an endpoint receives and verifies deliveries. It is not part of the delivery history.",
		`{"test":true,"tenant":"acme","endpoint_id":"ep_2f8Kq1Zx9VbN3mTcYh7LwP","sent_at":"2026-03-02T09:10:00Z","message":"A test event from hookd. It was sent on request and is not part of the delivery history."}`},
}

// OperationalEventTypes returns the built-in event types, in a fixed order
// (endpoint, delivery, alert, test), each with a description and an example
// payload and Builtin set. The slice and its types are new on every call.
// They have no schema and no times.
func OperationalEventTypes() []*EventType {
	out := make([]*EventType, len(operationalTypes))
	for i, t := range operationalTypes {
		out[i] = &EventType{Name: t.name, Description: t.description, Example: json.RawMessage(t.example), Builtin: true}
	}
	return out
}
