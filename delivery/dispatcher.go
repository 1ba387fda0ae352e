package delivery

import (
	"context"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/tokenbucket"
	"github.com/hookd/hookd/signature"
)

// Store is what the dispatcher needs of hookd.Store, plus lease renewal.
type Store interface {
	ClaimDeliveries(ctx context.Context, c hookd.Claim) ([]*hookd.ClaimedDelivery, error)
	CompleteDeliveries(ctx context.Context, results []*hookd.DeliveryResult) error
	ReleaseDeliveries(ctx context.Context, owner string, ids []string, now time.Time) error
	ExtendLeases(ctx context.Context, owner string, ids []string, until time.Time) error
	FindEndpointByID(ctx context.Context, tenantID, id string) (*hookd.Endpoint, error)
}

// Config configures a Dispatcher. Zero values take the defaults noted.
type Config struct {
	Store  Store
	Logger *slog.Logger
	Now    func() time.Time // default time.Now

	// NodeID owns the leases this dispatcher takes. Give each running
	// process its own; a restarted single node may reuse its id, which
	// releases its old leases at start.
	NodeID string

	Guard     *Guard        // destination address policy; nil allows everything
	Client    *http.Client  // overrides the HTTP client built from Guard (tests)
	UserAgent string        // default "hookd"
	Workers   int           // attempts in flight across all endpoints; default 512
	Batch     int           // deliveries per claim; default 256
	Lease     time.Duration // default 30s; renewed every Lease/3 while held
	Poll      time.Duration // how often to look for due retries without a wake-up; default 500ms
	// Wakeups, when set, announces work published elsewhere (another node)
	// so it is claimed before the next poll. A hint only: polling goes on.
	Wakeups <-chan struct{}
	// ResultBatch is the most attempts recorded in one transaction; default 512.
	ResultBatch int
	// Notifier, when set, is told about deliveries that need a person's
	// attention (hookd.delivery.failing, .exhausted, .recovered) and
	// endpoints disabled by a 410 (hookd.endpoint.disabled), once the
	// results are stored: one Notify call per tenant per recorded batch.
	// See notices for exactly when.
	Notifier hookd.Notifier
}

// Response bodies are kept up to this many bytes per attempt.
const maxStoredBody = 16 << 10

// Bounds within which a Retry-After answer is honoured.
const (
	minRetryAfter = time.Second
	maxRetryAfter = 24 * time.Hour
)

// Dispatcher sends deliveries. Create with New, run with Run.
type Dispatcher struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	client *http.Client

	wake    chan struct{}
	pace    *time.Timer // fires when a rate-limited endpoint may start again
	done    chan *task  // attempts that finished, back to the scheduler
	results chan *outcome

	// Owned by the scheduler goroutine.
	endpoints map[string]*endpointState
	held      map[string]held // delivery ids claimed and not yet recorded
	inflight  int
	queued    int
	claiming  int // the limit of the claim in progress, 0 when none
	claims    chan claimResult
	// unrecorded counts finished attempts whose results are not yet stored;
	// they still count against maxHeld, so a slow database slows claiming.
	unrecorded int
	recorded   chan []string // ids the recorder has stored
	stopping   chan struct{}

	// Handoff from publishers (other goroutines). free is the room the
	// scheduler last computed; reserved is what publishers have taken of it
	// and not yet handed over; accepting holds endpoints whose queues are
	// full (they take no handoffs).
	free     atomic.Int64
	reserved atomic.Int64
	full     atomic.Pointer[map[string]bool]
	handoffs chan handoffMsg
	running  atomic.Bool
}

// handoffMsg carries deliveries a publisher leased to this node.
type handoffMsg struct {
	leased   []*hookd.ClaimedDelivery
	reserved int
}

// claimResult is the outcome of a claim run off the scheduler goroutine.
type claimResult struct {
	limit   int
	now     time.Time
	claimed []*hookd.ClaimedDelivery
	err     error
}

type endpointState struct {
	ep       *hookd.Endpoint
	signer   *signature.Signer
	loadedAt time.Time
	signedAt time.Time // secrets valid at this time went into signer
	err      error     // the endpoint could not be loaded or its signer built
	queue    []*hookd.ClaimedDelivery
	manual   int // deliveries in queue with a manual next attempt
	inflight int
	// throttle slows the endpoint down after throttling answers: its
	// attempts are held for a while and its in-flight limit reduced.
	throttle throttle
	// A rate-limited endpoint's starts are paced: ep.RateLimit per second,
	// bursts of one second's worth. On PostgreSQL the database also caps
	// what all nodes lease together; this spreads each node's share.
	pace tokenbucket.Bucket
}

// take spends one start of a rate-limited endpoint at now if it may start
// one; otherwise it reports when it may.
func (es *endpointState) take(now time.Time) (ok bool, next time.Time) {
	rate := es.ep.RateLimit
	if rate <= 0 {
		return true, time.Time{}
	}
	ok, wait := es.pace.Take(now, rate, max(rate, 1))
	if ok {
		return true, time.Time{}
	}
	return false, now.Add(max(wait, time.Millisecond))
}

// firstManual returns the index in queue of the first delivery with a
// manual next attempt, or -1.
func (es *endpointState) firstManual() int {
	if es.manual == 0 {
		return -1
	}
	return slices.IndexFunc(es.queue, func(cd *hookd.ClaimedDelivery) bool { return cd.Manual })
}

// task is one attempt: what it was started with and, once done, its result.
type task struct {
	es     *endpointState
	ep     *hookd.Endpoint // es.ep when it started; es.ep may be reloaded meanwhile
	signer *signature.Signer
	seq    uint64 // the attempt's number among the endpoint's (throttle)
	cd     *hookd.ClaimedDelivery

	result *hookd.DeliveryResult // State not yet decided
	header http.Header
	ended  time.Time
}

// outcome is a decided result on its way to the recorder, with the
// operational events to publish once it is stored.
type outcome struct {
	res     *hookd.DeliveryResult
	notices []*hookd.Event
}

// New returns a Dispatcher with cfg's defaults filled in.
func New(cfg Config) *Dispatcher {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NodeID == "" {
		cfg.NodeID = hookd.NewID("node")
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "hookd"
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 512
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 256
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.ResultBatch <= 0 {
		cfg.ResultBatch = 512
	}
	client := cfg.Client
	if client == nil {
		client = NewHTTPClient(cfg.Guard, nil)
	}
	return &Dispatcher{
		cfg:       cfg,
		log:       cfg.Logger,
		now:       cfg.Now,
		client:    client,
		wake:      make(chan struct{}, 1),
		done:      make(chan *task, cfg.Workers+2*cfg.Batch),
		results:   make(chan *outcome, cfg.Workers+2*cfg.Batch),
		endpoints: map[string]*endpointState{},
		held:      map[string]held{},
		claims:    make(chan claimResult, 1),
		recorded:  make(chan []string, 64),
		stopping:  make(chan struct{}),
		handoffs:  make(chan handoffMsg, 256),
	}
}

// NewHTTPClient returns the client deliveries are sent with: the guard is
// applied to every dialed address, redirects are not followed, and idle
// connections are kept per host for reuse. resolver may be nil.
func NewHTTPClient(g *Guard, resolver DNSResolver) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = g.DialContext(resolver)
	t.MaxIdleConns = 4096
	t.MaxIdleConnsPerHost = 1024
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 0 // the per-attempt context bounds everything
	t.Proxy = nil               // a proxy would dial on our behalf and bypass the guard
	return &http.Client{
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Wake tells the dispatcher new work may be due. It never blocks.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run claims and sends deliveries until ctx is cancelled. On return every
// attempt that was in flight has finished and been recorded, and deliveries
// that were claimed but not started are back in the queue.
func (d *Dispatcher) Run(ctx context.Context) error {
	// A restarted node reusing its id frees what its previous life held.
	if err := d.cfg.Store.ExtendLeases(ctx, d.cfg.NodeID, nil, d.now()); err != nil && ctx.Err() == nil {
		d.log.Warn("release previous leases", slog.Any("err", err))
	}

	var recorder sync.WaitGroup
	recorder.Add(1)
	go func() {
		defer recorder.Done()
		d.record()
	}()

	// Attempts run with a context that outlives ctx so in-flight requests
	// finish on shutdown (each is bounded by its endpoint's timeout).
	attemptCtx, cancelAttempts := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelAttempts()

	d.pace = time.NewTimer(time.Hour)
	d.pace.Stop()
	defer d.pace.Stop()
	poll := time.NewTicker(d.cfg.Poll)
	defer poll.Stop()
	renew := time.NewTicker(d.cfg.Lease / 3)
	defer renew.Stop()

	d.running.Store(true)
	more := true // the last claim may have left due work behind
	for ctx.Err() == nil {
		if more && d.claiming == 0 && d.room() >= d.claimMin() {
			d.claim(ctx)
		}
		d.publishRoom()
		select {
		case m := <-d.handoffs:
			d.takeHandoff(ctx, m)
			d.start(attemptCtx)
		case <-ctx.Done():
		case <-d.wake:
			more = true
		case <-d.cfg.Wakeups:
			more = true
		case <-d.pace.C:
			d.start(attemptCtx)
		case <-poll.C:
			more = true
		case <-renew.C:
			d.renew(ctx)
		case r := <-d.claims:
			more = d.accept(ctx, r)
			d.start(attemptCtx)
		case t := <-d.done:
			d.finish(t)
			d.drain(attemptCtx)
		case ids := <-d.recorded:
			d.forget(ids)
		}
	}
	d.running.Store(false)
	if d.claiming > 0 {
		d.accept(ctx, <-d.claims) // queue what it took; shutdown releases it
	}
	// Publishers that reserved before running went false still hand over.
	for d.reserved.Load() > 0 {
		d.takeHandoff(ctx, <-d.handoffs)
	}

	close(d.stopping) // the scheduler no longer reads d.recorded
	d.shutdown()
	close(d.results)
	recorder.Wait()
	return nil
}

// maxHeld is how many deliveries the node holds at once, in flight or queued.
func (d *Dispatcher) maxHeld() int { return d.cfg.Workers + 2*d.cfg.Batch }

// room is how many more deliveries the node may claim.
func (d *Dispatcher) room() int {
	return d.maxHeld() - d.inflight - d.queued - d.claiming - d.unrecorded - int(d.reserved.Load())
}

// Handoff reserves room for new deliveries a publisher may lease straight to
// this node; nil when there is none. Every Handoff must be followed by one
// Deliver, with the leased deliveries or nil if publishing failed.
func (d *Dispatcher) Handoff() *hookd.Handoff {
	if !d.running.Load() {
		return nil
	}
	for {
		res := d.reserved.Load()
		// At most two claim batches per publish, so concurrent publishers
		// and the claimer all get some of the room.
		k := min(d.free.Load()-res, int64(2*d.cfg.Batch))
		if k <= 0 {
			return nil
		}
		if d.reserved.CompareAndSwap(res, res+k) {
			full := d.full.Load()
			return &hookd.Handoff{
				Owner: d.cfg.NodeID, Until: d.now().Add(d.cfg.Lease), Max: int(k),
				Accept: func(id string) bool { return full == nil || !(*full)[id] },
			}
		}
	}
}

// Deliver hands the deliveries leased under h to the scheduler and returns
// the rest of the reservation.
func (d *Dispatcher) Deliver(h *hookd.Handoff, leased []*hookd.ClaimedDelivery) {
	if h == nil {
		return
	}
	d.handoffs <- handoffMsg{leased: leased, reserved: h.Max}
}

// takeHandoff queues handed-over deliveries like claimed ones.
func (d *Dispatcher) takeHandoff(ctx context.Context, m handoffMsg) {
	if len(m.leased) > 0 {
		d.accept(ctx, claimResult{limit: -1, now: d.now(), claimed: m.leased})
	}
	d.reserved.Add(-int64(m.reserved))
}

// publishRoom tells publishers how much room there is and which endpoints
// take no handoffs because their queues are full.
func (d *Dispatcher) publishRoom() {
	d.free.Store(int64(d.maxHeld() - d.inflight - d.queued - d.claiming - d.unrecorded))
	var full map[string]bool
	for id, es := range d.endpoints {
		if es.ep != nil && len(es.queue) >= queueCap(es) {
			if full == nil {
				full = map[string]bool{}
			}
			full[id] = true
		}
	}
	if old := d.full.Load(); old == nil || !maps.Equal(*old, full) {
		d.full.Store(&full)
	}
}

// held is what the dispatcher is doing with a delivery it leased.
type held struct {
	recording bool // its result is with the recorder; otherwise queued or being attempted
	attempts  int  // the delivery's attempts before the one being recorded
}

// forget drops deliveries whose results are stored, unless one was
// claimed again meanwhile (see accept).
func (d *Dispatcher) forget(ids []string) {
	for _, id := range ids {
		if d.held[id].recording {
			delete(d.held, id)
		}
	}
	d.unrecorded -= len(ids)
}

// claimMin is the least room worth a claim: claiming one delivery per freed
// slot would cost a transaction per delivery, so wait for a quarter batch,
// unless the node is idle.
func (d *Dispatcher) claimMin() int {
	if d.inflight+d.queued == 0 {
		return 1
	}
	return max(1, d.cfg.Batch/4)
}

// drain accounts for every attempt that has finished, without waiting.
func (d *Dispatcher) drain(ctx context.Context) {
	for {
		select {
		case t := <-d.done:
			d.finish(t)
		default:
			d.start(ctx)
			return
		}
	}
}

// claim starts taking a batch of due deliveries in the background, so the
// scheduler keeps finishing and starting attempts while the claim commits.
func (d *Dispatcher) claim(ctx context.Context) {
	limit := min(d.cfg.Batch, d.room())
	now := d.now()
	var exclude []string
	for id, es := range d.endpoints {
		if es.ep != nil && len(es.queue) >= queueCap(es) {
			exclude = append(exclude, id)
		}
	}
	d.claiming = limit
	go func() {
		claimed, err := d.cfg.Store.ClaimDeliveries(ctx, hookd.Claim{
			Owner: d.cfg.NodeID, Now: now, Limit: limit, Lease: d.cfg.Lease, Exclude: exclude,
		})
		d.claims <- claimResult{limit: limit, now: now, claimed: claimed, err: err}
	}()
}

// accept queues claimed deliveries on their endpoints and reports whether
// more may be due.
func (d *Dispatcher) accept(ctx context.Context, r claimResult) bool {
	d.claiming = 0
	d.log.Debug("claim", slog.Int("limit", r.limit), slog.Int("claimed", len(r.claimed)),
		slog.Duration("took", d.now().Sub(r.now)), slog.Int("inflight", d.inflight), slog.Int("queued", d.queued))
	if r.err != nil {
		if ctx.Err() == nil {
			d.log.Warn("claim deliveries", slog.Any("err", r.err))
		}
		return false
	}
	var release []string
	for _, cd := range r.claimed {
		// Our own lease expired and we re-claimed it: already in hand. A
		// delivery whose result is still with the recorder but whose
		// attempts grew was claimed again because that result is stored and
		// made it due (a retry, or a clock that moved on): it is a new
		// attempt, and dropping it would leave it leased to us and idle
		// until the lease ran out. With the same attempts its lease ran out
		// before the result was stored: not again.
		if h, ok := d.held[cd.ID]; ok && (!h.recording || cd.Attempts <= h.attempts) {
			continue
		}
		es := d.endpoint(ctx, cd, r.now)
		if es.err != nil {
			release = append(release, cd.ID)
			continue
		}
		d.held[cd.ID] = held{}
		es.queue = append(es.queue, cd)
		if cd.Manual {
			es.manual++
		}
		d.queued++
	}
	if len(release) > 0 {
		if err := d.cfg.Store.ReleaseDeliveries(context.WithoutCancel(ctx), d.cfg.NodeID, release, r.now); err != nil {
			d.log.Warn("release deliveries", slog.Any("err", err))
		}
	}
	return r.limit > 0 && len(r.claimed) == r.limit
}

// queueCap is how many claimed deliveries an endpoint may have waiting.
func queueCap(es *endpointState) int {
	n := 4 * es.ep.MaxInFlight
	if n < 16 {
		n = 16
	}
	return n
}

// endpoint returns the endpoint of cd, reloading it when the cached copy is
// more than a second old so edits, pauses and rotations take effect quickly.
func (d *Dispatcher) endpoint(ctx context.Context, cd *hookd.ClaimedDelivery, now time.Time) *endpointState {
	es := d.endpoints[cd.EndpointID]
	if es != nil && now.Sub(es.loadedAt) < time.Second {
		return es
	}
	ep, err := d.cfg.Store.FindEndpointByID(ctx, cd.TenantID, cd.EndpointID)
	if es == nil {
		es = &endpointState{}
		d.endpoints[cd.EndpointID] = es
	}
	es.loadedAt, es.err = now, err
	if err != nil {
		d.log.Warn("load endpoint", slog.String("endpoint_id", cd.EndpointID), slog.Any("err", err))
		return es
	}
	if es.ep == nil || !ep.UpdatedAt.Equal(es.ep.UpdatedAt) || secretsChanged(ep, es.signedAt, now) {
		es.signer, es.err = signature.NewSigner(ep.Signatures, ep.ValidSecrets(now))
		es.signedAt = now
		if es.err != nil {
			d.log.Error("endpoint signer", slog.String("endpoint_id", ep.ID), slog.Any("err", es.err))
		}
	}
	es.ep = ep
	return es
}

// secretsChanged reports whether a secret expired between then and now.
func secretsChanged(ep *hookd.Endpoint, then, now time.Time) bool {
	for _, s := range ep.Secrets {
		if s.ExpiresAt != nil && then.Before(*s.ExpiresAt) && !now.Before(*s.ExpiresAt) {
			return true
		}
	}
	return false
}

// start launches queued deliveries while slots are free: within each
// endpoint's in-flight limit (reduced after throttling) and rate limit, and
// while the endpoint is held after a throttling answer only manual retries
// (a person asked for them now).
func (d *Dispatcher) start(ctx context.Context) {
	now := d.now()
	var wake time.Time // the earliest a paced or held endpoint may start again
	later := func(next time.Time) {
		if wake.IsZero() || next.Before(wake) {
			wake = next
		}
	}
	for _, es := range d.endpoints {
		if len(es.queue) == 0 {
			continue
		}
		held := es.throttle.held(now)
		if held {
			later(es.throttle.holdUntil)
		}
		limit := es.throttle.limit(es.ep.MaxInFlight)
		for es.inflight < limit && d.inflight < d.cfg.Workers {
			i := 0
			if held {
				i = es.firstManual()
			}
			if i < 0 || i >= len(es.queue) {
				break
			}
			if ok, next := es.take(now); !ok {
				later(next)
				break
			}
			cd := es.queue[i]
			if i == 0 {
				es.queue[0] = nil
				es.queue = es.queue[1:]
			} else {
				es.queue = slices.Delete(es.queue, i, i+1)
			}
			if cd.Manual {
				es.manual--
			}
			es.inflight++
			d.inflight++
			d.queued--
			t := &task{es: es, ep: es.ep, signer: es.signer, seq: es.throttle.start(), cd: cd}
			go func() {
				t.result, t.header, t.ended = d.attempt(ctx, t.ep, t.signer, t.cd)
				d.done <- t
			}()
		}
	}
	if !wake.IsZero() {
		d.pace.Reset(wake.Sub(now))
	}
}

// finish accounts for a completed attempt, decides the delivery's next
// state, slows the endpoint down after a throttling answer, and hands the
// result to the recorder.
func (d *Dispatcher) finish(t *task) {
	es, res := t.es, t.result
	es.inflight--
	d.inflight--
	d.unrecorded++
	var pause time.Duration
	switch status := res.Attempt.StatusCode; {
	case res.Attempt.Error == "":
		es.throttle.succeeded(t.seq, t.ep.MaxInFlight)
	case isThrottle(status):
		ra, _ := retryAfter(t.header, status, t.ended)
		pause = es.throttle.throttled(t.seq, t.ep.MaxInFlight, ra, t.ended)
		d.log.Debug("endpoint throttles", slog.String("endpoint_id", t.ep.ID), slog.Int("status", status),
			slog.Duration("pause", pause), slog.Int("limit", es.throttle.limit(t.ep.MaxInFlight)))
	}
	counts := decide(res, t.ep, t.cd.Throttled, pause, t.ended)
	if res.State == hookd.DeliveryDead && t.ep.Mode == hookd.ModeFireAndForget {
		d.log.Debug("fire-and-forget delivery failed; not retried", slog.String("delivery_id", res.DeliveryID),
			slog.String("endpoint_id", t.ep.ID), slog.Int("status", res.Attempt.StatusCode), slog.String("error_class", res.Attempt.ErrorClass))
	}
	if res.DisableReason != "" {
		es.loadedAt = time.Time{} // reload: the store disables it
	}
	o := &outcome{res: res}
	if d.cfg.Notifier != nil {
		o.notices = notices(res, t.cd, t.ep, counts)
	}
	d.held[t.cd.ID] = held{recording: true, attempts: t.cd.Attempts}
	d.results <- o
}

// renew extends the leases of everything this node holds.
func (d *Dispatcher) renew(ctx context.Context) {
	if len(d.held) == 0 {
		return
	}
	ids := make([]string, 0, len(d.held))
	for id := range d.held {
		ids = append(ids, id)
	}
	if err := d.cfg.Store.ExtendLeases(ctx, d.cfg.NodeID, ids, d.now().Add(d.cfg.Lease)); err != nil && ctx.Err() == nil {
		d.log.Warn("renew leases", slog.Any("err", err))
	}
}

// shutdown releases queued deliveries and waits for in-flight attempts.
func (d *Dispatcher) shutdown() {
	var ids []string
	for _, es := range d.endpoints {
		for _, cd := range es.queue {
			ids = append(ids, cd.ID)
			delete(d.held, cd.ID)
		}
		d.queued -= len(es.queue)
		es.queue, es.manual = nil, 0
	}
	if len(ids) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := d.cfg.Store.ReleaseDeliveries(ctx, d.cfg.NodeID, ids, d.now()); err != nil {
			d.log.Warn("release deliveries on shutdown", slog.Any("err", err))
		}
		cancel()
	}
	for d.inflight > 0 {
		d.finish(<-d.done)
	}
}

// record writes results in batches: it takes whatever is waiting, up to
// ResultBatch, and stores it in one call. A failed write is retried with
// backoff; if the process dies first, the lease expires and the delivery is
// sent again (at-least-once).
//
// Once a batch is stored, the notices of its results that were not stale
// are published (Config.Notifier).
func (d *Dispatcher) record() {
	batch := make([]*outcome, 0, d.cfg.ResultBatch)
	results := make([]*hookd.DeliveryResult, 0, d.cfg.ResultBatch)
	for o := range d.results {
		batch = append(batch[:0], o)
	fill:
		for len(batch) < d.cfg.ResultBatch {
			select {
			case o, ok := <-d.results:
				if !ok {
					break fill
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		results = results[:0]
		for _, o := range batch {
			results = append(results, o.res)
		}
		if d.store(results) {
			d.notify(batch)
		}
		ids := make([]string, len(batch))
		for i, o := range batch {
			ids[i] = o.res.DeliveryID
		}
		select {
		case d.recorded <- ids:
		case <-d.stopping:
		}
	}
}

// store records a batch and reports whether it was stored.
func (d *Dispatcher) store(batch []*hookd.DeliveryResult) bool {
	backoff := 100 * time.Millisecond
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		began := time.Now()
		err := d.cfg.Store.CompleteDeliveries(ctx, batch)
		cancel()
		d.log.Debug("record", slog.Int("results", len(batch)), slog.Duration("took", time.Since(began)))
		if err == nil {
			for _, r := range batch {
				if r.Stale {
					d.log.Info("stale attempt result dropped", slog.String("delivery_id", r.DeliveryID))
				}
			}
			return true
		}
		if try == 20 {
			d.log.Error("record attempts: giving up; leases will expire and the deliveries be retried",
				slog.Int("count", len(batch)), slog.Any("err", err))
			return false
		}
		d.log.Warn("record attempts", slog.Int("count", len(batch)), slog.Any("err", err))
		time.Sleep(backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
}

// nextDelay returns the delay before the next attempt after attempts failed
// ones, with up to 20% jitter, and whether the schedule has one.
func nextDelay(schedule []hookd.Duration, attempts int) (time.Duration, bool) {
	if attempts >= len(schedule) {
		return 0, false
	}
	base := time.Duration(schedule[attempts])
	if base <= 0 {
		return 0, true
	}
	return base + time.Duration(rand.Int64N(int64(base)/5+1)), true
}
