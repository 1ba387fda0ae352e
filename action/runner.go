package action

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/delivery"
)

// Store is what the runner needs: the receiving side, and the event store
// that publish actions write to.
type Store interface {
	hookd.InboundStore
	hookd.EventStore
}

// Config configures a Runner. Zero values take the defaults noted.
type Config struct {
	Store  Store
	Logger *slog.Logger     // default: discard
	Now    func() time.Time // default time.Now; decides leases, retries and criteria times

	// NodeID owns the leases this runner takes (as the dispatcher's).
	NodeID string
	Lease  time.Duration // default 30s; a run's lease is renewed every Lease/3 while it is held
	Poll   time.Duration // how often to look for work without a wake-up; default 500ms
	// Wakeups, when set, announces work stored by another node. A hint
	// only: polling goes on.
	Wakeups <-chan struct{}
	// Batch is the most triggers or runs taken in one claim; default 64.
	Batch int
	// Workers is the most runs executed at once on this node; default 16.
	// Publish runs of one tenant that start together are executed as one
	// (one PublishEvents call, up to Batch runs) and count as one.
	Workers int

	// Match picks the endpoints of each event a publish action makes; it
	// is called once per publish (a filter.Cache's Matcher). Default
	// hookd.MatchSubscribed.
	Match func() hookd.EndpointMatcher
	// OnPublish, when set, is called after a publish action created
	// deliveries (to wake the dispatcher). It must not block; it is
	// called from several goroutines.
	OnPublish func()

	// Client sends forward actions. Default: delivery.NewHTTPClient with a
	// zero delivery.Guard (private addresses refused, redirects not
	// followed); give the server's guarded client.
	Client    *http.Client
	UserAgent string // default "hookd"

	// AllowCommands lets command actions run. Without it their runs fail.
	AllowCommands bool

	// ShutdownGrace is how long Run waits, once its context is done, for
	// runs in progress to finish; those still running then are stopped
	// (commands killed) and left to run again elsewhere once their leases
	// expire. Default 10s.
	ShutdownGrace time.Duration
}

// Runner matches triggers to rules and executes the runs. Create with New,
// run with Run.
type Runner struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	client *http.Client

	wake  chan struct{} // executor
	mwake chan struct{} // matcher

	rulesMu sync.Mutex
	tenants map[string]*tenantRules

	// doomed holds the errors of runs that failed when their rule matched
	// (criteria or templates), in case the store queued them anyway.
	doomedMu sync.Mutex
	doomed   map[string]doomedRun

	// Owned by the executor's scheduler (the goroutine of Run).
	held     map[string]*job // runs claimed and not yet recorded, by id
	queue    []*job          // claimed, not started
	running  map[string]int  // command runs in progress by rule id
	inflight int             // workers busy: runs, or publish batches, executing
	claiming int
	claims   chan claimResult
	done     chan []*job // the jobs of one worker, executed
	results  chan *job
	recorded chan []*job
	stopping chan struct{}
	// stopped is set once in-flight runs were cancelled at shutdown:
	// what they report is not a real outcome and is not recorded.
	stopped bool
}

type doomedRun struct {
	msg string
	at  time.Time
}

// job is one claimed run on its way through the executor.
type job struct {
	run *hookd.Run
	upd *hookd.RunUpdate
	// recording is set once the outcome is on its way to the store: from
	// then on a claim may return the run again (a retry due at once).
	recording bool
}

// claimResult is the outcome of a claim run off the scheduler goroutine.
type claimResult struct {
	limit   int
	claimed []*hookd.Run
	err     error
}

// New returns a Runner with cfg's defaults filled in.
func New(cfg Config) *Runner {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NodeID == "" {
		cfg.NodeID = hookd.NewID("node")
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "hookd"
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 10 * time.Second
	}
	client := cfg.Client
	if client == nil {
		client = delivery.NewHTTPClient(&delivery.Guard{}, nil)
	}
	r := &Runner{
		cfg:      cfg,
		log:      cfg.Logger,
		now:      cfg.Now,
		client:   client,
		wake:     make(chan struct{}, 1),
		mwake:    make(chan struct{}, 1),
		tenants:  map[string]*tenantRules{},
		doomed:   map[string]doomedRun{},
		held:     map[string]*job{},
		running:  map[string]int{},
		claims:   make(chan claimResult, 1),
		recorded: make(chan []*job, 64),
		stopping: make(chan struct{}),
	}
	n := r.maxHeld()
	r.done = make(chan []*job, n)
	r.results = make(chan *job, n)
	return r
}

// Wake tells the runner that triggers or runs may be waiting (after a
// trigger was stored, or a trigger replayed). It never blocks.
func (r *Runner) Wake() {
	poke(r.mwake)
	poke(r.wake)
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Run matches triggers and executes runs until ctx is done. It then stops
// claiming, puts runs it claimed but had not started back in the queue,
// lets runs in progress finish for up to ShutdownGrace (stopping the rest,
// which run again once their leases expire), records every outcome and
// returns nil.
func (r *Runner) Run(ctx context.Context) error {
	if r.cfg.Store == nil {
		return errors.New("action: runner without a store")
	}
	// The runner's writes wait behind the requests of callers who wait for
	// an answer (accepting webhooks, the API), within the store's bound.
	ctx = hookd.Background(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { r.matchLoop(ctx) })
	wg.Go(r.record)

	// Runs execute with a context that outlives ctx, so shutdown can give
	// them a grace period.
	execCtx, cancelExec := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelExec()

	poll := time.NewTicker(r.cfg.Poll)
	defer poll.Stop()
	renew := time.NewTicker(r.cfg.Lease / 3)
	defer renew.Stop()

	more := true
	for ctx.Err() == nil {
		if more && r.claiming == 0 && r.room() > 0 {
			r.claim(ctx)
		}
		select {
		case <-ctx.Done():
		case <-r.wake:
			more = true
		case <-r.cfg.Wakeups:
			more = true
			poke(r.mwake)
		case <-poll.C:
			more = true
		case <-renew.C:
			r.renew(ctx)
		case c := <-r.claims:
			more = r.accept(ctx, c)
			r.start(execCtx)
		case jobs := <-r.done:
			r.finish(jobs)
			r.start(execCtx)
		case jobs := <-r.recorded:
			r.forget(jobs)
		}
	}
	if r.claiming > 0 {
		r.accept(ctx, <-r.claims)
	}
	r.shutdown(cancelExec)
	close(r.stopping)
	close(r.results)
	wg.Wait()
	return nil
}

// maxHeld is how many runs the node holds at once: running, waiting for a
// worker or a rule's concurrency slot, or waiting to be recorded.
func (r *Runner) maxHeld() int { return r.cfg.Workers + r.cfg.Batch }

func (r *Runner) room() int { return r.maxHeld() - len(r.held) - r.claiming }

// claim starts taking a batch of due runs in the background.
func (r *Runner) claim(ctx context.Context) {
	limit := min(r.cfg.Batch, r.room())
	now := r.now()
	r.claiming = limit
	go func() {
		runs, err := r.cfg.Store.ClaimRuns(ctx, r.cfg.NodeID, now, r.cfg.Lease, limit)
		r.claims <- claimResult{limit: limit, claimed: runs, err: err}
	}()
}

// accept queues claimed runs and reports whether more may be due.
func (r *Runner) accept(ctx context.Context, c claimResult) bool {
	r.claiming = 0
	if c.err != nil {
		if ctx.Err() == nil {
			r.log.Warn("claim runs", slog.Any("err", c.err))
		}
		return false
	}
	for _, run := range c.claimed {
		if j := r.held[run.ID]; j != nil && !j.recording {
			continue // our own lease expired and we claimed it again: already in hand
		}
		// New, or its outcome was stored and it is due again (a retry).
		j := &job{run: run}
		r.held[run.ID] = j
		r.queue = append(r.queue, j)
	}
	return len(c.claimed) == c.limit
}

// concurrency is how many runs of a command's rule may run at once here.
func concurrency(a hookd.Action) int {
	if a.Type != hookd.ActionCommand {
		return 0 // no limit
	}
	return max(a.Concurrency, 1)
}

// start launches queued runs while workers are free, in claim order, each
// command within its rule's concurrency on this node; a run over its
// rule's limit stays queued (leased, renewed) until a slot frees. Publish
// runs of one tenant go to one worker together (up to Batch of them), so
// a publish run joins its tenant's batch even when no worker is free for
// a run queued before it.
func (r *Runner) start(ctx context.Context) {
	kept := r.queue[:0]
	var batches [][]*job
	open := map[string]int{} // tenant -> its batch in batches, while it takes more
	for _, j := range r.queue {
		if publishable(j.run.Action) {
			tenant := j.run.TenantID
			if b, ok := open[tenant]; ok {
				if batches[b] = append(batches[b], j); len(batches[b]) >= r.cfg.Batch {
					delete(open, tenant)
				}
				continue
			}
			if r.inflight >= r.cfg.Workers {
				kept = append(kept, j)
				continue
			}
			r.inflight++
			open[tenant] = len(batches)
			batches = append(batches, []*job{j})
			continue
		}
		if r.inflight >= r.cfg.Workers {
			kept = append(kept, j)
			continue
		}
		if limit := concurrency(j.run.Action); limit > 0 {
			if r.running[j.run.RuleID] >= limit {
				kept = append(kept, j)
				continue
			}
			r.running[j.run.RuleID]++
		}
		r.inflight++
		r.launch(ctx, []*job{j})
	}
	for _, b := range batches {
		r.launch(ctx, b)
	}
	clear(r.queue[len(kept):])
	r.queue = kept
}

// launch executes jobs on a worker: one run, or a batch of publish runs
// of one tenant.
func (r *Runner) launch(ctx context.Context, jobs []*job) {
	go func() {
		if len(jobs) == 1 {
			jobs[0].upd = r.execute(ctx, jobs[0].run)
		} else {
			r.publishAll(ctx, jobs)
		}
		r.done <- jobs
	}()
}

// finish accounts for the executed runs of a worker and hands their
// outcomes to the recorder.
func (r *Runner) finish(jobs []*job) {
	r.inflight--
	for _, j := range jobs {
		if concurrency(j.run.Action) > 0 {
			if r.running[j.run.RuleID]--; r.running[j.run.RuleID] <= 0 {
				delete(r.running, j.run.RuleID)
			}
		}
		if r.stopped {
			r.forget([]*job{j}) // not recorded: its lease expires and it runs again
			continue
		}
		j.recording = true
		r.results <- j
	}
}

// forget drops jobs whose outcomes are stored, unless their run was
// claimed again meanwhile.
func (r *Runner) forget(jobs []*job) {
	for _, j := range jobs {
		if r.held[j.run.ID] == j {
			delete(r.held, j.run.ID)
		}
	}
}

// renew extends the leases of every run this node holds.
func (r *Runner) renew(ctx context.Context) {
	if len(r.held) == 0 {
		return
	}
	ids := make([]string, 0, len(r.held))
	for id := range r.held {
		ids = append(ids, id)
	}
	if err := r.cfg.Store.ExtendRuns(ctx, r.cfg.NodeID, ids, r.now().Add(r.cfg.Lease)); err != nil && ctx.Err() == nil {
		r.log.Warn("renew run leases", slog.Any("err", err))
	}
}

// shutdown puts queued runs back, then waits for runs in progress, up to
// the grace period, renewing their leases meanwhile.
func (r *Runner) shutdown(cancelExec context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if len(r.queue) > 0 {
		now := r.now()
		updates := make([]*hookd.RunUpdate, len(r.queue))
		for i, j := range r.queue {
			// Back to the queue, due now, keeping the previous attempt's
			// result. The claim counted an attempt that never started.
			updates[i] = &hookd.RunUpdate{ID: j.run.ID, Owner: r.cfg.NodeID, Status: hookd.RunQueued, NextAt: now, Result: j.run.Result, At: now}
		}
		r.forget(r.queue)
		if err := r.cfg.Store.CompleteRuns(ctx, updates); err != nil {
			r.log.Warn("release runs on shutdown; they run once their leases expire", slog.Int("count", len(updates)), slog.Any("err", err))
		}
		r.queue = nil
	}
	cancel()
	grace := time.NewTimer(r.cfg.ShutdownGrace)
	defer grace.Stop()
	renew := time.NewTicker(r.cfg.Lease / 3)
	defer renew.Stop()
	for r.inflight > 0 {
		select {
		case jobs := <-r.done:
			r.finish(jobs)
		case <-renew.C:
			r.renew(context.Background())
		case <-grace.C:
			r.log.Warn("stopping runs still in progress; they run again once their leases expire", slog.Int("count", r.inflight))
			r.stopped = true
			cancelExec()
		}
	}
}

// record writes outcomes in batches: whatever is waiting, up to Batch, in
// one CompleteRuns call. A failed write is retried with backoff; if the
// process dies first, the leases expire and the runs execute again.
func (r *Runner) record() {
	for j := range r.results {
		batch := []*job{j}
	fill:
		for len(batch) < r.cfg.Batch {
			select {
			case j, ok := <-r.results:
				if !ok {
					break fill
				}
				batch = append(batch, j)
			default:
				break fill
			}
		}
		updates := make([]*hookd.RunUpdate, len(batch))
		for i, j := range batch {
			updates[i] = j.upd
		}
		r.store(updates)
		select {
		case r.recorded <- batch:
		case <-r.stopping:
		}
	}
}

// store records a batch of outcomes, retrying while the store fails.
func (r *Runner) store(batch []*hookd.RunUpdate) {
	backoff := 100 * time.Millisecond
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := r.cfg.Store.CompleteRuns(ctx, batch)
		cancel()
		if err == nil {
			for _, u := range batch {
				if u.Stale {
					r.log.Info("stale run outcome dropped: the lease was lost", slog.String("run_id", u.ID))
				}
			}
			return
		}
		if try == 20 {
			r.log.Error("record runs: giving up; their leases will expire and they run again", slog.Int("count", len(batch)), slog.Any("err", err))
			return
		}
		r.log.Warn("record runs", slog.Int("count", len(batch)), slog.Any("err", err))
		time.Sleep(backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
}
