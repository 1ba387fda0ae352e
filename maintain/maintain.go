// Package maintain runs hookd's periodic maintenance on one node of a
// deployment, the leader: retention and expired token cleanup
// (StoreTasks), and self-monitoring (OpsTasks): disabling endpoints that
// keep failing, alerts, and pruning endpoint statistics.
//
// A Runner holds a list of Tasks and a Campaign. It campaigns for
// leadership; while it leads, every task runs at once and then every
// Task.Every, each on its own goroutine so that a slow task does not hold
// up the others. A task's failure or panic is logged and the task runs
// again at its next time. When leadership ends, the tasks' context is
// cancelled and the runner waits for them to return before it campaigns
// again.
//
// Leader work may run twice at the edges of a leadership change (see
// postgres.Elector): tasks must be safe to repeat, as all built-in ones
// are (an endpoint is disabled once; an alert incident opens once, in one
// database statement).
package maintain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// DefaultElectionInterval is how often a node campaigns for, and a leader
// checks, maintenance leadership with PostgreSQL.
const DefaultElectionInterval = 5 * time.Second

// ElectionName is the name nodes campaign under (postgres.Store.Elector).
const ElectionName = "maintenance"

// Task is one kind of maintenance work.
type Task struct {
	Name  string
	Every time.Duration // pause between the end of one run and the start of the next
	// Run does the work once. now is the runner's clock at the start of the
	// run; ctx is cancelled when leadership is lost or the runner stops.
	Run func(ctx context.Context, now time.Time) error
}

// Campaign runs lead whenever this node leads, with a context cancelled
// when leadership ends, until ctx is done. It must wait for lead to return
// before it campaigns again, and return once ctx is done and lead has
// returned.
type Campaign func(ctx context.Context, lead func(ctx context.Context))

// Local is the campaign of a single-node deployment (SQLite: one process
// owns the database): the node leads from start to end.
func Local(ctx context.Context, lead func(ctx context.Context)) { lead(ctx) }

// Elector elects one leader among the nodes of a deployment.
// *postgres.Elector implements it.
type Elector interface {
	// Run campaigns every interval until ctx is done and runs lead while
	// this node leads (see postgres.Elector.Run).
	Run(ctx context.Context, interval time.Duration, lead func(ctx context.Context))
}

// Elected returns the campaign of a multi-node deployment: e elects the
// leader, campaigning and checking its lead every interval
// (DefaultElectionInterval if <= 0).
func Elected(e Elector, interval time.Duration) Campaign {
	if interval <= 0 {
		interval = DefaultElectionInterval
	}
	return func(ctx context.Context, lead func(ctx context.Context)) { e.Run(ctx, interval, lead) }
}

// Clock is the time source of a Runner.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Options configures a Runner.
type Options struct {
	Logger *slog.Logger // default: discard
	Clock  Clock        // default: the system clock
}

// Runner runs maintenance tasks while its node leads.
type Runner struct {
	campaign Campaign
	tasks    []Task
	log      *slog.Logger
	clock    Clock
}

// NewRunner returns a runner of tasks under campaign (Local or Elected).
// It fails for a task without a name, a Run function or a positive Every,
// and for a name used twice.
func NewRunner(campaign Campaign, tasks []Task, opts Options) (*Runner, error) {
	if campaign == nil {
		return nil, errors.New("maintain: a campaign is required")
	}
	seen := map[string]bool{}
	for _, t := range tasks {
		switch {
		case t.Name == "":
			return nil, errors.New("maintain: a task has no name")
		case t.Run == nil:
			return nil, fmt.Errorf("maintain: task %q has no Run function", t.Name)
		case t.Every <= 0:
			return nil, fmt.Errorf("maintain: task %q: Every must be positive", t.Name)
		case seen[t.Name]:
			return nil, fmt.Errorf("maintain: task %q is listed twice", t.Name)
		}
		seen[t.Name] = true
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	return &Runner{campaign: campaign, tasks: append([]Task(nil), tasks...), log: opts.Logger, clock: opts.Clock}, nil
}

// Run campaigns and runs the tasks while leading, until ctx is done. It
// returns nil once ctx is done and every task run has returned.
func (r *Runner) Run(ctx context.Context) error {
	if len(r.tasks) == 0 {
		<-ctx.Done()
		return nil
	}
	r.campaign(ctx, r.lead)
	return nil
}

// lead runs every task on its schedule until ctx ends, then waits for them.
func (r *Runner) lead(ctx context.Context) {
	r.log.Info("maintenance: leading", slog.Int("tasks", len(r.tasks)))
	ctx = context.WithValue(ctx, termKey{}, &term{began: r.clock.Now()})
	var wg sync.WaitGroup
	for _, t := range r.tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.schedule(ctx, t)
		}()
	}
	wg.Wait()
	r.log.Info("maintenance: no longer leading")
}

// schedule runs t now and then Every after each run ends, until ctx ends.
func (r *Runner) schedule(ctx context.Context, t Task) {
	for ctx.Err() == nil {
		r.runOnce(ctx, t)
		select {
		case <-ctx.Done():
			return
		case <-r.clock.After(t.Every):
		}
	}
}

// runOnce runs t, logging its failure or panic.
func (r *Runner) runOnce(ctx context.Context, t Task) {
	began := time.Now()
	err := call(ctx, t, r.clock.Now())
	took := slog.Duration("took", time.Since(began))
	var p *panicError
	switch {
	case errors.As(err, &p):
		r.log.Error("maintenance task panicked", slog.String("task", t.Name), slog.Any("panic", p.value),
			slog.String("stack", string(p.stack)), took)
	case err != nil && ctx.Err() != nil:
		r.log.Info("maintenance task interrupted", slog.String("task", t.Name), slog.Any("err", err), took)
	case err != nil:
		r.log.Error("maintenance task failed", slog.String("task", t.Name), slog.Any("err", err), took)
	default:
		r.log.Debug("maintenance task done", slog.String("task", t.Name), took)
	}
}

// call runs t once, turning a panic into a *panicError.
func call(ctx context.Context, t Task, now time.Time) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	return t.Run(ctx, now)
}

type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.value) }

// term marks one period of leadership in the context of the task runs
// (see termOf).
type term struct{ began time.Time }

type termKey struct{}

// termOf returns the leadership term a task run belongs to: the same
// pointer for every run of one term, a new one after leadership was lost
// and won again (another node may have led in between). It is nil outside
// a Runner (a test calling Task.Run). Tasks that remember database state
// between runs forget it when the term changes.
func termOf(ctx context.Context) *term {
	t, _ := ctx.Value(termKey{}).(*term)
	return t
}
