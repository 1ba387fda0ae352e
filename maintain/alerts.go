package maintain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd"
)

// Defaults of the alert checks (AlertsTask): hookd-wide settings.
const (
	// DefaultAlertsEvery is how often the alert conditions are checked.
	DefaultAlertsEvery = time.Minute

	// DefaultErrorSpikeWindow, DefaultErrorSpikeThreshold and
	// DefaultErrorSpikeMinAttempts: an error spike is more than half of an
	// endpoint's attempts failing in 15 minutes, out of at least 20.
	DefaultErrorSpikeWindow      = 15 * time.Minute
	DefaultErrorSpikeThreshold   = 0.5
	DefaultErrorSpikeMinAttempts = 20

	// DefaultHealthLowWindow, DefaultHealthLowThreshold and
	// DefaultHealthLowMinAttempts: low health is fewer than 90% of an
	// endpoint's attempts succeeding in 24 hours, out of at least 100.
	DefaultHealthLowWindow      = hookd.StatsWindow
	DefaultHealthLowThreshold   = 0.9
	DefaultHealthLowMinAttempts = 100

	// DefaultMaxBacklog is the number of unfinished deliveries over which
	// the resource alert fires.
	DefaultMaxBacklog = 100_000
)

// Alert keys: the kind of check, ":" and its subject. At most one
// incident per key is open.
const (
	keyErrorSpike = "error_spike:"    // + endpoint id
	keyHealthLow  = "health_low:"     // + endpoint id
	keyResource   = "resource_high:"  // + "backlog" or "database"
	keyHeartbeat  = "heartbeat_lost:" // + source id
)

// RateAlert is a check of each endpoint's attempts over a sliding window,
// counted from the endpoint statistics (hookd.OpsStore.EndpointStats) since
// now - Window rounded down to a hookd.StatsBucket, so the window counted
// is up to 5 minutes longer. The check is off when Window or Threshold is
// 0 or less.
type RateAlert struct {
	Window time.Duration
	// Threshold is the rate compared: for an error spike the share of
	// failed attempts (fires above it), for low health the share of
	// successful ones (fires below it). From 0 to 1.
	Threshold float64
	// MinAttempts is how many attempts the window must hold for the rate
	// to count; below 1 counts as 1.
	MinAttempts int
}

func (r RateAlert) on() bool { return r.Window > 0 && r.Threshold > 0 }

// Alerts configures AlertsTask. Each check is off when its threshold is 0
// or less.
type Alerts struct {
	// ErrorSpike fires hookd.alert.error_spike into an endpoint's tenant
	// when the share of its failed attempts in the window is above the
	// threshold.
	ErrorSpike RateAlert
	// HealthLow fires hookd.alert.health_low into an endpoint's tenant when
	// the share of its successful attempts in the window is below the
	// threshold.
	HealthLow RateAlert
	// MaxBacklog: hookd.alert.resource_high fires when more deliveries
	// than this are unfinished (pending, failed with a retry scheduled,
	// or being delivered), in every tenant together.
	MaxBacklog int
	// MaxDatabaseBytes: hookd.alert.resource_high fires when the database
	// is larger than this (the SQLite file, or the PostgreSQL database).
	MaxDatabaseBytes int64
	// Tenant receives the resource alerts, which concern the whole
	// installation, not one tenant; default hookd.DefaultTenant.
	Tenant string
	// Heartbeats checks receiving sources that expect traffic (see
	// AlertsTask); it needs a store that keeps sources.
	Heartbeats bool
	// Every is the pause between runs; default DefaultAlertsEvery.
	Every  time.Duration
	Logger *slog.Logger // default: discard
}

// DefaultAlerts returns the default alert settings: every check on except
// the database size, which depends on the installation.
func DefaultAlerts() Alerts {
	return Alerts{
		ErrorSpike: RateAlert{Window: DefaultErrorSpikeWindow, Threshold: DefaultErrorSpikeThreshold, MinAttempts: DefaultErrorSpikeMinAttempts},
		HealthLow:  RateAlert{Window: DefaultHealthLowWindow, Threshold: DefaultHealthLowThreshold, MinAttempts: DefaultHealthLowMinAttempts},
		MaxBacklog: DefaultMaxBacklog,
		Heartbeats: true,
		Tenant:     hookd.DefaultTenant,
		Every:      DefaultAlertsEvery,
	}
}

// On reports whether any check is on.
func (c Alerts) On() bool {
	return c.ErrorSpike.on() || c.HealthLow.on() || c.MaxBacklog > 0 || c.MaxDatabaseBytes > 0 || c.Heartbeats
}

// lookback is how far back the endpoint checks look for endpoints that
// may have an open incident: twice the longest window, so an endpoint
// whose attempts stopped is still found once its window is empty.
func (c Alerts) lookback() time.Duration {
	var w time.Duration
	for _, r := range []RateAlert{c.ErrorSpike, c.HealthLow} {
		if r.on() {
			w = max(w, r.Window)
		}
	}
	return 2 * w
}

// endpointAlert is the payload of hookd.alert.error_spike and
// hookd.alert.health_low. Rate is the failure rate for an error spike and
// the success rate for low health, as Threshold.
type endpointAlert struct {
	Alert      string         `json:"alert"`
	EndpointID string         `json:"endpoint_id"`
	Window     hookd.Duration `json:"window"`
	Rate       float64        `json:"rate"`
	Threshold  float64        `json:"threshold"`
	Attempts   int            `json:"attempts"`
	Succeeded  int            `json:"succeeded"`
	Failed     int            `json:"failed"`
	OpenedAt   time.Time      `json:"opened_at"`
}

// resourceAlert is the payload of hookd.alert.resource_high: which
// resource is over its threshold (Resource, Value, Threshold) and the
// whole usage at the time.
type resourceAlert struct {
	Alert            string    `json:"alert"`
	Resource         string    `json:"resource"` // "backlog" or "database"
	Value            int64     `json:"value"`
	Threshold        int64     `json:"threshold"`
	Backlog          int       `json:"backlog"`
	MaxBacklog       int       `json:"max_backlog"`
	DatabaseBytes    int64     `json:"database_bytes"`
	MaxDatabaseBytes int64     `json:"max_database_bytes"`
	OpenedAt         time.Time `json:"opened_at"`
}

// AlertsTask returns the task "alerts": each run checks the conditions of
// c's checks that are on and fires each alert once per incident:
//
//   - When a condition starts to hold, OpenAlert records an incident under
//     the alert's key and the alert's event is published through n (nil:
//     only logged), with idempotency key "<key>:<opened, unix ns>".
//   - While it holds, nothing more is published: OpenAlert finds the
//     incident open (also when another node opened it).
//   - When it no longer holds (the rate is back, the window holds fewer
//     attempts than the minimum, the endpoint was deleted), ResolveAlert
//     closes the incident. Nothing is published; the next breach is a new
//     incident and fires again.
//
// Keys: "error_spike:<endpoint id>", "health_low:<endpoint id>",
// "resource_high:backlog", "resource_high:database". Endpoint alerts go to
// the endpoint's tenant, resource alerts to c.Tenant.
//
// A check that fails (a store error) is reported in the run's error and
// does not keep the other checks from running; it is tried again next run.
// An incident is recorded before its event is published, so a node that
// dies in between loses that one notice, never sends it twice.
//
// Within one leadership term the task remembers which incidents it left
// open or resolved, so that a quiet run writes nothing; the first run of a
// term asks the store about every endpoint with statistics in the last
// 2 x the longest window, in case another node changed them.
//
// hookd.alert.heartbeat_lost is checked when the store also keeps
// receiving sources (it has SilentSources): a source with a heartbeat
// (Source.HeartbeatEvery) that got no request for that long fires into
// its tenant, key "heartbeat_lost:<source id>", and resolves with its next
// request. Sources without a heartbeat are never checked.
func AlertsTask(s hookd.OpsStore, n hookd.Notifier, c Alerts) Task {
	if c.Every <= 0 {
		c.Every = DefaultAlertsEvery
	}
	if c.Tenant == "" {
		c.Tenant = hookd.DefaultTenant
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	a := &alerter{store: s, notifier: n, log: c.Logger}
	lookback := c.lookback()
	if c.ErrorSpike.on() {
		a.checks = append(a.checks, rateCheck(s, hookd.TypeAlertErrorSpike, keyErrorSpike, c.ErrorSpike, lookback, true))
	}
	if c.HealthLow.on() {
		a.checks = append(a.checks, rateCheck(s, hookd.TypeAlertHealthLow, keyHealthLow, c.HealthLow, lookback, false))
	}
	if c.MaxBacklog > 0 || c.MaxDatabaseBytes > 0 {
		a.checks = append(a.checks, resourceCheck(s, c))
	}
	if hs, ok := s.(silentSources); ok && c.Heartbeats {
		a.checks = append(a.checks, heartbeatCheck(hs))
	}
	return Task{Name: "alerts", Every: c.Every, Run: a.run}
}

// alerter runs the alert checks; runs of one task never overlap, so it
// needs no lock.
type alerter struct {
	store    hookd.OpsStore
	notifier hookd.Notifier
	log      *slog.Logger
	checks   []*check
	term     *term // the leadership term the remembered state is from
	started  bool
}

// check is one kind of alert.
type check struct {
	name string // the key prefix without ":"; names the check in errors
	// conditions returns the current condition of each subject. With full
	// set it must include every subject that may have an open incident
	// (the first run of a term); otherwise the subjects with data, and
	// the ones remembered as open are resolved if missing.
	conditions func(ctx context.Context, now time.Time, full bool) ([]condition, error)
	// known holds the keys this node opened (true) or resolved (false) in
	// this term; other keys are unknown.
	known map[string]bool
	// synced is set once a run of this term succeeded: every open
	// incident of the check is in known.
	synced bool
}

// condition is the state of one alert subject at a run.
type condition struct {
	alert   hookd.Alert // Key, TenantID, Kind and Subject
	to      string      // the tenant the event is published into
	breach  bool
	payload func(opened time.Time) any // the event's payload, if an incident opens
	attrs   []slog.Attr                // logged when it opens
}

func (a *alerter) run(ctx context.Context, now time.Time) error {
	if t := termOf(ctx); !a.started || t != a.term {
		// A new term: what is open comes from the store (incidents opened
		// by earlier leaders are resolved here once their condition ends).
		open, err := a.store.OpenAlerts(ctx)
		if err != nil {
			return fmt.Errorf("alerts: open incidents: %w", err)
		}
		a.started, a.term = true, t
		for _, c := range a.checks {
			c.known, c.synced = map[string]bool{}, false
			for _, al := range open {
				if strings.HasPrefix(al.Key, c.name+":") {
					c.known[al.Key] = true
				}
			}
		}
	}
	var errs []error
	for _, c := range a.checks {
		if err := a.check(ctx, now, c); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("alerts: %w", err)
	}
	return nil
}

// check runs c once: opens the incidents of breaches, resolves the others.
func (a *alerter) check(ctx context.Context, now time.Time, c *check) error {
	conds, err := c.conditions(ctx, now, !c.synced)
	if err != nil {
		return err
	}
	var failed []error
	seen := make(map[string]bool, len(conds))
	for i := range conds {
		if err := ctx.Err(); err != nil {
			return err
		}
		seen[conds[i].alert.Key] = true
		if err := a.apply(ctx, now, c, &conds[i]); err != nil {
			failed = append(failed, err)
		}
	}
	// Open incidents whose subject has no data any more (no attempts in
	// the window, or the endpoint was deleted): the condition is gone.
	for key, open := range c.known {
		if seen[key] {
			continue
		}
		if open {
			if err := a.resolve(ctx, now, c, key); err != nil {
				failed = append(failed, err)
				continue
			}
		}
		delete(c.known, key)
	}
	switch len(failed) {
	case 0:
		c.synced = true
		return nil
	case 1:
		return failed[0]
	default:
		return fmt.Errorf("%d of %d alert updates failed, the first: %w", len(failed), len(conds), failed[0])
	}
}

// apply brings the incident of cond's key in line with its condition.
func (a *alerter) apply(ctx context.Context, now time.Time, c *check, cond *condition) error {
	key := cond.alert.Key
	open, known := c.known[key]
	if known && open == cond.breach {
		return nil
	}
	if !cond.breach {
		return a.resolve(ctx, now, c, key)
	}
	al := cond.alert
	al.Opened = now
	fired, err := a.store.OpenAlert(ctx, &al)
	if err != nil {
		return fmt.Errorf("open %s: %w", key, err)
	}
	c.known[key] = true
	if !fired { // the incident was open already (an earlier term, or another node)
		return nil
	}
	a.log.LogAttrs(ctx, slog.LevelWarn, "alert opened", append([]slog.Attr{slog.String("alert", al.Kind),
		slog.String("key", key), slog.String("tenant", cond.to)}, cond.attrs...)...)
	ev := operational(cond.to, al.Kind, key+":"+strconv.FormatInt(now.UnixNano(), 10), cond.payload(now))
	return publish(ctx, a.notifier, cond.to, ev)
}

// resolve closes the open incident of key, if there is one.
func (a *alerter) resolve(ctx context.Context, now time.Time, c *check, key string) error {
	resolved, err := a.store.ResolveAlert(ctx, key, now)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", key, err)
	}
	c.known[key] = false
	if resolved {
		a.log.Info("alert resolved", slog.String("key", key))
	}
	return nil
}

// rateCheck returns the check of r on every endpoint: an error spike
// (failure rate above the threshold) if spike, else low health (success
// rate below it).
func rateCheck(s hookd.OpsStore, kind, prefix string, r RateAlert, lookback time.Duration, spike bool) *check {
	least := max(r.MinAttempts, 1)
	conditions := func(ctx context.Context, now time.Time, full bool) ([]condition, error) {
		stats, err := s.EndpointStats(ctx, hookd.StatsFilter{Since: now.Add(-r.Window)})
		if err != nil {
			return nil, fmt.Errorf("endpoint stats: %w", err)
		}
		if full { // endpoints whose attempts stopped may have open incidents
			all, err := s.EndpointStats(ctx, hookd.StatsFilter{Since: now.Add(-lookback)})
			if err != nil {
				return nil, fmt.Errorf("endpoint stats: %w", err)
			}
			for id, st := range all {
				if stats[id] == nil {
					stats[id] = &hookd.EndpointStats{TenantID: st.TenantID, EndpointID: id}
				}
			}
		}
		ids := make([]string, 0, len(stats))
		for id := range stats {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		conds := make([]condition, 0, len(ids))
		for _, id := range ids {
			st := stats[id]
			n := st.Total()
			var rate float64
			if n > 0 {
				if spike {
					rate = float64(st.Failed) / float64(n)
				} else {
					rate = float64(st.Succeeded) / float64(n)
				}
			}
			breach := n >= least && (spike && rate > r.Threshold || !spike && rate < r.Threshold)
			conds = append(conds, condition{
				alert:  hookd.Alert{Key: prefix + id, TenantID: st.TenantID, Kind: kind, Subject: id},
				to:     st.TenantID,
				breach: breach,
				payload: func(opened time.Time) any {
					return endpointAlert{Alert: kind, EndpointID: id, Window: hookd.Duration(r.Window), Rate: rate,
						Threshold: r.Threshold, Attempts: n, Succeeded: st.Succeeded, Failed: st.Failed, OpenedAt: opened.UTC()}
				},
				attrs: []slog.Attr{slog.String("endpoint", id), slog.Float64("rate", rate), slog.Int("attempts", n)},
			})
		}
		return conds, nil
	}
	return &check{name: prefix[:len(prefix)-1], conditions: conditions}
}

// resourceCheck returns the check of the backlog and the database size.
func resourceCheck(s hookd.OpsStore, c Alerts) *check {
	conditions := func(ctx context.Context, now time.Time, full bool) ([]condition, error) {
		u, err := s.Usage(ctx)
		if err != nil {
			return nil, fmt.Errorf("usage: %w", err)
		}
		var conds []condition
		add := func(resource string, value, threshold int64) {
			conds = append(conds, condition{
				alert:  hookd.Alert{Key: keyResource + resource, Kind: hookd.TypeAlertResourceHigh, Subject: resource},
				to:     c.Tenant,
				breach: value > threshold,
				payload: func(opened time.Time) any {
					return resourceAlert{Alert: hookd.TypeAlertResourceHigh, Resource: resource, Value: value, Threshold: threshold,
						Backlog: u.Backlog, MaxBacklog: max(c.MaxBacklog, 0), DatabaseBytes: u.DatabaseBytes,
						MaxDatabaseBytes: max(c.MaxDatabaseBytes, 0), OpenedAt: opened.UTC()}
				},
				attrs: []slog.Attr{slog.String("resource", resource), slog.Int64("value", value), slog.Int64("threshold", threshold)},
			})
		}
		if c.MaxBacklog > 0 {
			add("backlog", int64(u.Backlog), int64(c.MaxBacklog))
		}
		if c.MaxDatabaseBytes > 0 {
			add("database", u.DatabaseBytes, c.MaxDatabaseBytes)
		}
		return conds, nil
	}
	return &check{name: keyResource[:len(keyResource)-1], conditions: conditions}
}

// silentSources is the part of the inbound store the heartbeat check needs.
type silentSources interface {
	SilentSources(ctx context.Context, now time.Time) ([]*hookd.Source, error)
}

// heartbeatAlert is the payload of hookd.alert.heartbeat_lost.
type heartbeatAlert struct {
	Alert      string         `json:"alert"`
	Source     string         `json:"source"`
	SourceID   string         `json:"source_id"`
	Window     hookd.Duration `json:"window"`
	LastSeenAt *time.Time     `json:"last_seen_at"`
	OpenedAt   time.Time      `json:"opened_at"`
}

// heartbeatCheck fires for each silent source; a source that is heard
// from again is not returned, and its incident is resolved.
func heartbeatCheck(s silentSources) *check {
	conditions := func(ctx context.Context, now time.Time, full bool) ([]condition, error) {
		silent, err := s.SilentSources(ctx, now)
		if err != nil {
			return nil, fmt.Errorf("silent sources: %w", err)
		}
		conds := make([]condition, 0, len(silent))
		for _, src := range silent {
			conds = append(conds, condition{
				alert:  hookd.Alert{Key: keyHeartbeat + src.ID, TenantID: src.TenantID, Kind: hookd.TypeAlertHeartbeatLost, Subject: src.Name},
				to:     src.TenantID,
				breach: true,
				payload: func(opened time.Time) any {
					return heartbeatAlert{Alert: hookd.TypeAlertHeartbeatLost, Source: src.Name, SourceID: src.ID, Window: src.HeartbeatEvery,
						LastSeenAt: utc(src.LastRequestAt), OpenedAt: opened.UTC()}
				},
				attrs: []slog.Attr{slog.String("source", src.Name), slog.Duration("window", time.Duration(src.HeartbeatEvery))},
			})
		}
		return conds, nil
	}
	return &check{name: keyHeartbeat[:len(keyHeartbeat)-1], conditions: conditions}
}

// utc returns t in UTC, nil for nil.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
