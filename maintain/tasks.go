package maintain

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hookd/hookd"
)

// Defaults of the built-in tasks.
const (
	// DefaultRetention is how long events and their delivery history are
	// kept (HOOKD_RETENTION).
	DefaultRetention = 30 * 24 * time.Hour
	// DefaultRetentionEvery is how often retention runs.
	DefaultRetentionEvery = time.Hour
	// DefaultRetentionPause is the least pause between two purge batches.
	DefaultRetentionPause = 10 * time.Millisecond
	// DefaultTokenCleanupEvery is how often expired tokens are removed.
	DefaultTokenCleanupEvery = time.Hour
)

// Retention configures RetentionTask.
type Retention struct {
	// Period is how long history is kept: events created longer ago are
	// deleted once all their deliveries are finished. With 0 or less the
	// task deletes nothing (history is kept forever).
	Period time.Duration
	// Batch is the most events one Purge transaction examines; default
	// hookd.DefaultPurgeLimit.
	Batch int
	// Every is the pause between runs; default DefaultRetentionEvery.
	Every time.Duration
	// Pause is the least pause between batches; each pause lasts at least
	// as long as the batch before it took, so a purge uses at most about
	// half of the database's write time. Default DefaultRetentionPause.
	Pause  time.Duration
	Logger *slog.Logger // default: discard
}

// withDefaults fills the settings c leaves at zero.
func (c Retention) withDefaults() Retention {
	if c.Batch <= 0 {
		c.Batch = hookd.DefaultPurgeLimit
	}
	if c.Every <= 0 {
		c.Every = DefaultRetentionEvery
	}
	if c.Pause <= 0 {
		c.Pause = DefaultRetentionPause
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// RetentionTask returns the task "retention": each run deletes the events
// created before now - c.Period whose deliveries are all finished, with
// their deliveries and attempts, one Purge batch after another with a
// pause between them, until the pass is complete (the last batch returns
// no cursor). A failed batch ends the run with its error; the next run
// starts a new pass.
func RetentionTask(p hookd.Purger, c Retention) Task {
	c = c.withDefaults()
	return Task{Name: "retention", Every: c.Every, Run: func(ctx context.Context, now time.Time) error {
		if c.Period <= 0 {
			return nil
		}
		return retain(ctx, p, c, now.Add(-c.Period))
	}}
}

// retain runs one pass of purges of events created before before.
func retain(ctx context.Context, p hookd.Purger, c Retention, before time.Time) error {
	var total hookd.PurgeResult
	batches := 0
	logDone := func(msg string, level slog.Level, err error) {
		attrs := []slog.Attr{slog.Time("before", before), slog.Int("events", total.Events),
			slog.Int("deliveries", total.Deliveries), slog.Int("attempts", total.Attempts),
			slog.Int("kept", total.Kept), slog.Int("batches", batches)}
		if err != nil {
			attrs = append(attrs, slog.Any("err", err))
		}
		c.Logger.LogAttrs(ctx, level, msg, attrs...)
	}
	cursor := ""
	for {
		began := time.Now()
		res, err := p.Purge(ctx, hookd.PurgeRequest{Before: before, Limit: c.Batch, Cursor: cursor})
		if err != nil {
			if total.Events > 0 {
				logDone("retention: purge stopped", slog.LevelWarn, err)
			}
			return fmt.Errorf("retention: purge: %w", err)
		}
		batches++
		total.Add(res)
		if cursor = res.Cursor; cursor == "" {
			break
		}
		// Yield: at least as long as the batch took.
		if err := pause(ctx, max(c.Pause, time.Since(began))); err != nil {
			logDone("retention: interrupted", slog.LevelInfo, err)
			return err
		}
	}
	level := slog.LevelDebug
	if total.Events > 0 {
		level = slog.LevelInfo
	}
	logDone("retention: purged", level, nil)
	return nil
}

// TriggerRetentionTask returns the task "trigger-retention": each run
// deletes the triggers received before now - max(c.Period,
// hookd.MaxDedupWindow) that are done with, with their runs, one
// PurgeTriggers batch after another with a pause between them (as
// RetentionTask), until a batch deletes fewer than it may. Triggers are
// kept at least as long as the longest de-duplication window, since they
// are the memory of the delivery ids seen.
func TriggerRetentionTask(s hookd.InboundStore, c Retention) Task {
	c = c.withDefaults()
	return Task{Name: "trigger-retention", Every: c.Every, Run: func(ctx context.Context, now time.Time) error {
		if c.Period <= 0 {
			return nil
		}
		before := now.Add(-max(c.Period, hookd.MaxDedupWindow))
		var triggers, runs int
		for {
			began := time.Now()
			t, r, err := s.PurgeTriggers(ctx, before, c.Batch)
			if err != nil {
				return fmt.Errorf("trigger retention: %w", err)
			}
			triggers, runs = triggers+t, runs+r
			if t < c.Batch {
				break
			}
			if err := pause(ctx, max(c.Pause, time.Since(began))); err != nil {
				return err
			}
		}
		if triggers > 0 {
			c.Logger.Info("trigger retention: purged", slog.Time("before", before), slog.Int("triggers", triggers), slog.Int("runs", runs))
		}
		return nil
	}}
}

// pause waits d or until ctx is done.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// TokenCleanupTask returns the task "tokens": each run deletes the tokens
// that expired at or before its time (expired tokens authenticate nothing;
// this only keeps the table small).
func TokenCleanupTask(s hookd.TokenStore, log *slog.Logger) Task {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return Task{Name: "tokens", Every: DefaultTokenCleanupEvery, Run: func(ctx context.Context, now time.Time) error {
		n, err := s.DeleteExpiredTokens(ctx, now)
		if err != nil {
			return fmt.Errorf("tokens: %w", err)
		}
		if n > 0 {
			log.Info("expired tokens deleted", slog.Int("tokens", n))
		}
		return nil
	}}
}

// StoreTasks returns the maintenance tasks for store s: token cleanup, and
// when retention is positive (0 keeps history forever) retention of
// delivery history older than retention (if s implements hookd.Purger)
// and of triggers and runs (see TriggerRetentionTask).
func StoreTasks(s hookd.Store, retention time.Duration, log *slog.Logger) []Task {
	tasks := []Task{TokenCleanupTask(s, log)}
	if p, ok := s.(hookd.Purger); ok && retention > 0 {
		tasks = append(tasks, RetentionTask(p, Retention{Period: retention, Logger: log}))
	}
	if retention > 0 {
		tasks = append(tasks, TriggerRetentionTask(s, Retention{Period: retention, Logger: log}))
	}
	return tasks
}
