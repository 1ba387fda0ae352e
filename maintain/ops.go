package maintain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hookd/hookd/notify"
	"log/slog"
	"strconv"
	"time"

	"github.com/hookd/hookd"
)

// Defaults of the self-monitoring tasks (OpsTasks). They are hookd-wide
// settings: every tenant's endpoints follow the same ones.
const (
	// DefaultAutoDisableEvery is how often failing endpoints are looked for.
	DefaultAutoDisableEvery = 5 * time.Minute
	// DefaultAutoDisablePeriod is how long every attempt to an endpoint
	// must have failed before it is disabled.
	DefaultAutoDisablePeriod = 120 * time.Hour
	// DefaultAutoDisableMinFailures is the least run of failed attempts
	// that disables an endpoint (with DefaultAutoDisablePeriod).
	DefaultAutoDisableMinFailures = 10
	// DefaultStatsKeep is how long endpoint statistics are kept: the
	// longest window counted (24 h) and a margin.
	DefaultStatsKeep = 48 * time.Hour
	// DefaultStatsPruneEvery is how often old statistics are deleted.
	DefaultStatsPruneEvery = time.Hour
)

// AutoDisable configures AutoDisableTask.
type AutoDisable struct {
	// Period is how long every attempt to an endpoint must have failed,
	// counted from the first failure after its last success
	// (Endpoint.FailingSince), before it is disabled. With 0 or less
	// nothing is disabled (OpsTasks leaves the task out).
	Period time.Duration
	// MinFailures is how many failed attempts in a row it also takes (a
	// slow retry schedule may make few attempts in Period). Below 1 counts
	// as 1.
	MinFailures int
	// Every is the pause between runs; default DefaultAutoDisableEvery.
	Every  time.Duration
	Logger *slog.Logger // default: discard
}

// DefaultAutoDisable returns the default auto-disable settings: 120 h and
// at least 10 failures, looked for every 5 minutes.
func DefaultAutoDisable() AutoDisable {
	return AutoDisable{Period: DefaultAutoDisablePeriod, MinFailures: DefaultAutoDisableMinFailures, Every: DefaultAutoDisableEvery}
}

// Reason is the state reason given to the endpoints c disables.
func (c AutoDisable) Reason() string {
	return fmt.Sprintf("Every attempt failed for %v (at least %d in a row); disabled automatically.", c.Period, max(c.MinFailures, 1))
}

// AutoDisableTask returns the task "auto-disable": each run disables every
// enabled or paused endpoint whose attempts have all failed since now -
// c.Period or earlier, at least c.MinFailures of them in a row (one
// DisableFailingEndpoints call), logs each, and publishes a
// hookd.endpoint.disabled event into its tenant through n (nil: no
// events). The event's idempotency key is
// "hookd.endpoint.disabled:<id>:<state_changed_at, unix seconds>", so a
// repeated notice of the same disabling publishes nothing new.
//
// An endpoint is disabled once: disabled endpoints are not looked at, and
// enabling one again starts its count afresh. Notices go out after the
// change committed; a node that dies in between loses them (the endpoint's
// state and reason still show it).
func AutoDisableTask(s hookd.OpsStore, n hookd.Notifier, c AutoDisable) Task {
	if c.Every <= 0 {
		c.Every = DefaultAutoDisableEvery
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	reason := c.Reason()
	return Task{Name: "auto-disable", Every: c.Every, Run: func(ctx context.Context, now time.Time) error {
		if c.Period <= 0 {
			return nil
		}
		eps, err := s.DisableFailingEndpoints(ctx, now.Add(-c.Period), max(c.MinFailures, 1), reason, now)
		if err != nil {
			return fmt.Errorf("auto-disable: %w", err)
		}
		var tenants []string
		per := map[string][]*hookd.Event{}
		for _, ep := range eps {
			attrs := []slog.Attr{slog.String("tenant", ep.TenantID), slog.String("endpoint", ep.ID),
				slog.String("url", ep.URL), slog.Int("consecutive_failures", ep.ConsecutiveFailures)}
			if ep.FailingSince != nil {
				attrs = append(attrs, slog.Time("failing_since", *ep.FailingSince))
			}
			c.Logger.LogAttrs(ctx, slog.LevelWarn, "endpoint disabled automatically", attrs...)
			changed := now
			if ep.StateChanged != nil {
				changed = *ep.StateChanged
			}
			key := hookd.TypeEndpointDisabled + ":" + ep.ID + ":" + strconv.FormatInt(changed.Unix(), 10)
			ev := notify.EndpointEvent(hookd.TypeEndpointDisabled, ep, key)
			ev.TenantID = ep.TenantID
			if per[ep.TenantID] == nil {
				tenants = append(tenants, ep.TenantID)
			}
			per[ep.TenantID] = append(per[ep.TenantID], ev)
		}
		var errs []error
		for _, t := range tenants {
			if err := publish(ctx, n, t, per[t]...); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("auto-disable: %w", err)
		}
		return nil
	}}
}

// StatsPruneTask returns the task "stats": each run deletes the endpoint
// statistics older than now - keep (DefaultStatsKeep if keep <= 0).
func StatsPruneTask(s hookd.OpsStore, keep time.Duration, log *slog.Logger) Task {
	if keep <= 0 {
		keep = DefaultStatsKeep
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return Task{Name: "stats", Every: DefaultStatsPruneEvery, Run: func(ctx context.Context, now time.Time) error {
		n, err := s.PruneStats(ctx, now.Add(-keep))
		if err != nil {
			return fmt.Errorf("stats: %w", err)
		}
		log.Debug("old endpoint statistics deleted", slog.Int("slots", n))
		return nil
	}}
}

// Ops configures OpsTasks, hookd's self-monitoring.
type Ops struct {
	AutoDisable AutoDisable
	Alerts      Alerts
}

// DefaultOps returns the default settings (DefaultAutoDisable,
// DefaultAlerts). Start from them and change what the operator set: a zero
// Ops turns auto-disable and every alert off.
func DefaultOps() Ops {
	return Ops{AutoDisable: DefaultAutoDisable(), Alerts: DefaultAlerts()}
}

// OpsTasks returns the self-monitoring tasks for s, publishing their
// operational events through n (nil: changes and incidents are recorded
// and logged, nothing is published): "auto-disable" unless
// c.AutoDisable.Period is 0 or less, "alerts" unless every alert check is
// off, and always "stats", which keeps statistics for DefaultStatsKeep or,
// if longer, what the alert checks look back on. A nil Logger in c is
// replaced by log. Run them next to StoreTasks on the same Runner.
func OpsTasks(s hookd.OpsStore, n hookd.Notifier, c Ops, log *slog.Logger) []Task {
	if c.AutoDisable.Logger == nil {
		c.AutoDisable.Logger = log
	}
	if c.Alerts.Logger == nil {
		c.Alerts.Logger = log
	}
	var tasks []Task
	if c.AutoDisable.Period > 0 {
		tasks = append(tasks, AutoDisableTask(s, n, c.AutoDisable))
	}
	if c.Alerts.On() {
		tasks = append(tasks, AlertsTask(s, n, c.Alerts))
	}
	return append(tasks, StatsPruneTask(s, max(DefaultStatsKeep, c.Alerts.lookback()), log))
}

// operational returns an operational event of the tenant.
func operational(tenantID, typ, key string, payload any) *hookd.Event {
	b, err := json.Marshal(payload)
	if err != nil {
		panic("maintain: notice payload: " + err.Error()) // plain structs: cannot happen
	}
	return &hookd.Event{TenantID: tenantID, Type: typ, Payload: b, IdempotencyKey: key, Origin: hookd.OriginHookd}
}

// publish publishes events into tenant through n, if any. The Notifier
// logs its own failures; a panic in it is returned as an error, so one bad
// notice does not stop the rest of a run.
func publish(ctx context.Context, n hookd.Notifier, tenantID string, events ...*hookd.Event) (err error) {
	if n == nil || len(events) == 0 {
		return nil
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("notify tenant %s of %s: panic: %v", tenantID, events[0].Type, v)
		}
	}()
	n.Notify(ctx, tenantID, events...)
	return nil
}
