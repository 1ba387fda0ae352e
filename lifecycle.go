package hookd

import (
	"context"
	"time"
)

// DeliveryMode is how hard an endpoint's deliveries are tried.
type DeliveryMode string

// Delivery modes.
const (
	// ModeAtLeastOnce retries failed attempts per the retry schedule.
	ModeAtLeastOnce DeliveryMode = "at_least_once"
	// ModeFireAndForget makes one attempt, records it and never retries.
	ModeFireAndForget DeliveryMode = "fire_and_forget"
)

// TestResult is the outcome of one test request (POST .../test or probe):
// a signed synthetic event sent at once, outside the delivery queue.
type TestResult struct {
	At         time.Time `json:"at"`
	URL        string    `json:"url"`
	EventID    string    `json:"event_id"`
	Success    bool      `json:"success"` // a 2xx within the timeout
	StatusCode int       `json:"status_code,omitempty"`
	LatencyMS  float64   `json:"latency_ms"`
	Body       string    `json:"body,omitempty"` // the start of the response body
	Error      string    `json:"error,omitempty"`
	ErrorClass string    `json:"error_class,omitempty"`
}

// TestBodyLimit is how much of a test's response body is kept.
const TestBodyLimit = 1024

// StatsBucket is the granularity of endpoint statistics: attempts are
// counted per endpoint in buckets of this length, so a window of 24 h
// covers the current bucket and the ones before it back to 24 h ago.
const StatsBucket = 5 * time.Minute

// StatsWindow is the window of the stats shown on an endpoint.
const StatsWindow = 24 * time.Hour

// EndpointStats counts an endpoint's attempts over a window.
type EndpointStats struct {
	TenantID   string   `json:"-"`
	EndpointID string   `json:"-"`
	Window     Duration `json:"window"`
	Succeeded  int      `json:"succeeded"`
	Failed     int      `json:"failed"`
	// SuccessRate is Succeeded / (Succeeded + Failed); nil without attempts.
	SuccessRate *float64 `json:"success_rate"`
}

// Total is the number of attempts counted.
func (s *EndpointStats) Total() int { return s.Succeeded + s.Failed }

// SetRate fills SuccessRate from the counts.
func (s *EndpointStats) SetRate() {
	s.SuccessRate = nil
	if n := s.Total(); n > 0 {
		r := float64(s.Succeeded) / float64(n)
		s.SuccessRate = &r
	}
}

// StatsFilter selects the endpoints whose stats are counted.
type StatsFilter struct {
	TenantID    string   // "" for every tenant
	EndpointIDs []string // nil for every endpoint (of the tenant)
	Since       time.Time
}

// Window bounds a recover or replay: [Since, Until).
type Window struct {
	Since time.Time
	Until time.Time
}

// Contains reports whether t is in the window.
func (w Window) Contains(t time.Time) bool { return !t.Before(w.Since) && t.Before(w.Until) }

// Usage is how much the store holds, for the resource alert.
type Usage struct {
	Backlog       int   // deliveries not finished (pending, failed, delivering)
	DatabaseBytes int64 // size of the database (file or PostgreSQL database)
}

// Alert is one incident of an alert kind on a subject (an endpoint, a
// source, the store). An incident is open from Opened until Resolved.
type Alert struct {
	Key      string // kind + subject; at most one open incident per key
	TenantID string // "" for store-wide alerts
	Kind     string // the event type, e.g. TypeAlertErrorSpike
	Subject  string
	Opened   time.Time
	Resolved *time.Time
}

// OpsStore is what endpoint operations and hookd's self-monitoring need
// from the store.
type OpsStore interface {
	// EndpointStats counts attempts of the selected endpoints since
	// f.Since (rounded down to a StatsBucket), one entry per endpoint that
	// had any. Deleted endpoints are not counted.
	EndpointStats(ctx context.Context, f StatsFilter) (map[string]*EndpointStats, error)
	// RecoverDeliveries makes every failed or dead delivery of the endpoint
	// created in w pending, due at now, its next attempt marked manual (as
	// RetryDelivery does), and returns
	// how many. ENOTFOUND if the endpoint does not exist.
	RecoverDeliveries(ctx context.Context, tenantID, endpointID string, w Window, now time.Time) (int, error)
	// ReplayEvents sends again every event of the tenant created in w that
	// the endpoint wants (match, with the endpoint as it is now): a finished
	// delivery (succeeded, failed or dead) is made pending, due at now with a manual
	// next attempt and keeps its id; an event without a delivery to the
	// endpoint gets a new one. Deliveries pending or in flight are left as
	// they are. It returns how many deliveries were queued. ENOTFOUND if
	// the endpoint does not exist.
	ReplayEvents(ctx context.Context, tenantID, endpointID string, w Window, match EndpointMatcher, now time.Time) (int, error)
	// DisableFailingEndpoints disables every enabled or paused endpoint
	// whose failures began at or before failingSince and that has at least
	// minFailures consecutive failed attempts, with reason, and returns
	// them as they are now.
	DisableFailingEndpoints(ctx context.Context, failingSince time.Time, minFailures int, reason string, now time.Time) ([]*Endpoint, error)
	// Usage reports the backlog and the database size.
	Usage(ctx context.Context) (Usage, error)
	// OpenAlert records a new incident unless one with a.Key is open; it
	// reports whether it did (the alert should fire).
	OpenAlert(ctx context.Context, a *Alert) (bool, error)
	// ResolveAlert closes the open incident with key, if any, and reports
	// whether there was one.
	ResolveAlert(ctx context.Context, key string, at time.Time) (bool, error)
	// OpenAlerts returns every open incident.
	OpenAlerts(ctx context.Context) ([]*Alert, error)
	// PruneStats deletes stats buckets older than before.
	PruneStats(ctx context.Context, before time.Time) (int, error)
}
