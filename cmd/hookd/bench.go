package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/client"
	"github.com/hookd/hookd/signature"
)

// benchConfig is the configuration of `hookd bench`.
type benchConfig struct {
	servers     []string
	key         string
	tenant      string
	endpoints   int
	events      int
	batch       int
	rate        float64
	publishers  int
	payloadSize int
	receiver    string
	wait        time.Duration
	json        bool
	db          string

	// --inbound mode (bench_inbound.go).
	inbound     bool
	requests    int
	concurrency int
	subscribe   bool
}

// BenchResult is what `hookd bench --json` prints.
type BenchResult struct {
	Events              int          `json:"events"`
	Endpoints           int          `json:"endpoints"`
	Deliveries          int          `json:"deliveries"`
	PublishPerSecond    float64      `json:"publish_per_second"`
	DeliveriesPerSecond float64      `json:"deliveries_per_second"`
	LatencyMS           BenchLatency `json:"latency_ms"`
	Lost                int          `json:"lost"`
	Duplicates          int          `json:"duplicates"`
	BadSignatures       int          `json:"bad_signatures"`
	RSSMB               float64      `json:"rss_mb"`
}

// BenchLatency holds latency percentiles in milliseconds.
type BenchLatency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// latencyOf returns the percentiles of ms (sorted in place).
func latencyOf(ms []float64) BenchLatency {
	slices.Sort(ms)
	return BenchLatency{P50: pct(ms, 50), P90: pct(ms, 90), P99: pct(ms, 99), Max: pct(ms, 100)}
}

func (l BenchLatency) String() string {
	return fmt.Sprintf("p50 %.1f  p90 %.1f  p99 %.1f  max %.1f", l.P50, l.P90, l.P99, l.Max)
}

type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

func parseBenchFlags(args []string, env Env) (benchConfig, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var c benchConfig
	var servers stringList
	fs.Var(&servers, "server", "API base URL of a running hookd in --dev mode; repeat or comma-separate for a cluster (default: start one on a temporary database)")
	fs.StringVar(&c.key, "key", envOr(env, "HOOKD_KEY", env.Getenv("HOOKD_ADMIN_KEY")), "API key for --server (HOOKD_KEY)")
	fs.StringVar(&c.tenant, "tenant", "default", "tenant to create the endpoints in")
	fs.IntVar(&c.endpoints, "endpoints", 10, "number of endpoints")
	fs.IntVar(&c.events, "events", 50000, "number of events to publish")
	fs.IntVar(&c.batch, "batch", 100, "events per publish request (1..1000)")
	fs.Float64Var(&c.rate, "rate", 0, "events (--inbound: requests) per second to send; 0 sends as fast as possible")
	fs.IntVar(&c.publishers, "publishers", 4, "concurrent publish requests")
	fs.IntVar(&c.payloadSize, "payload-size", 256, "approximate bytes of each event's data")
	fs.StringVar(&c.receiver, "receiver", "127.0.0.1:0", "address of the built-in verifying receiver")
	fs.DurationVar(&c.wait, "wait", 10*time.Minute, "give up waiting for deliveries after this long")
	fs.BoolVar(&c.json, "json", false, "print the result as JSON")
	fs.StringVar(&c.db, "db", "", "database of the self-started server: a SQLite file or a postgres:// URL (default: a temporary SQLite file)")
	fs.BoolVar(&c.inbound, "inbound", false, "measure receiving instead: GitHub-signed push requests to a source with one publish rule (--requests, --concurrency, --rate, --subscribe); a --server needs --client-rate-limit 0, as every request comes from this address")
	fs.IntVar(&c.requests, "requests", 50000, "--inbound: number of webhook requests to send")
	fs.IntVar(&c.concurrency, "concurrency", 64, "--inbound: concurrent connections sending them")
	fs.BoolVar(&c.subscribe, "subscribe", false, "--inbound: also subscribe an endpoint (the built-in receiver) to the rule's events and wait for every delivery")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.servers = servers
	switch {
	case fs.NArg() > 0:
		return c, usageError{"bench takes no arguments"}
	case len(c.servers) > 0 && c.key == "":
		return c, usageError{"--server needs --key (or HOOKD_KEY)"}
	case c.rate < 0:
		return c, usageError{"--rate must not be negative"}
	case c.inbound && (c.requests < 1 || c.concurrency < 1):
		return c, usageError{"--requests and --concurrency must be at least 1"}
	case c.inbound:
		return c, nil
	case c.endpoints < 1 || c.events < 1:
		return c, usageError{"--endpoints and --events must be at least 1"}
	case c.batch < 1 || c.batch > hookd.MaxBatchEvents:
		return c, usageError{fmt.Sprintf("--batch must be between 1 and %d", hookd.MaxBatchEvents)}
	case c.publishers < 1:
		return c, usageError{"--publishers must be at least 1"}
	}
	return c, nil
}

func runBench(ctx context.Context, args []string, env Env) error {
	cfg, err := parseBenchFlags(args, env)
	if err != nil {
		return err
	}
	var srv *benchServer
	if len(cfg.servers) == 0 {
		srv, err = startBenchServer(ctx, cfg, env)
		if err != nil {
			return err
		}
		defer srv.stop()
		cfg.servers, cfg.key = []string{srv.url}, srv.key
	}
	if cfg.inbound {
		res, err := benchInbound(ctx, cfg, env.Stderr)
		if err != nil {
			return err
		}
		res.RSSMB = srv.peakRSSMB()
		return report(env, cfg, res, srv != nil)
	}
	res, err := bench(ctx, cfg, env.Stderr)
	if err != nil {
		return err
	}
	res.RSSMB = srv.peakRSSMB()
	return report(env, cfg, res, srv != nil)
}

// benchReport is the result of a bench mode.
type benchReport interface {
	// writeText prints the result for people.
	writeText(w io.Writer)
	// check returns an error when the run lost work.
	check() error
}

// report prints res as JSON (--json) or text, then says whether work was
// lost. ownServer tells whether the RSS was measured.
func report(env Env, cfg benchConfig, res benchReport, ownServer bool) error {
	if cfg.json {
		if err := json.NewEncoder(env.Stdout).Encode(res); err != nil {
			return err
		}
	} else {
		res.writeText(env.Stdout)
		if !ownServer {
			fmt.Fprintln(env.Stdout, "server rss   not measured (--server)")
		}
	}
	return res.check()
}

func (res *BenchResult) writeText(w io.Writer) {
	fmt.Fprintf(w, "events       %d to %d endpoints (%d deliveries)\n", res.Events, res.Endpoints, res.Deliveries)
	fmt.Fprintf(w, "publish      %.0f events/s\n", res.PublishPerSecond)
	fmt.Fprintf(w, "deliveries   %.0f /s, publish to verified receipt\n", res.DeliveriesPerSecond)
	fmt.Fprintf(w, "latency ms   %s\n", res.LatencyMS)
	fmt.Fprintf(w, "lost %d  duplicates %d  bad signatures %d\n", res.Lost, res.Duplicates, res.BadSignatures)
	if res.RSSMB > 0 {
		fmt.Fprintf(w, "server rss   %.1f MB peak\n", res.RSSMB)
	}
}

func (res *BenchResult) check() error {
	if res.Lost > 0 {
		return fmt.Errorf("%d deliveries were lost", res.Lost)
	}
	return nil
}

// benchServer is a hookd serve child process on a temporary database.
type benchServer struct {
	cmd *exec.Cmd
	url string
	key string
	dir string
}

func startBenchServer(ctx context.Context, cfg benchConfig, env Env) (*benchServer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "hookd-bench-")
	if err != nil {
		return nil, err
	}
	db := cfg.db
	if db == "" {
		db = filepath.Join(dir, "bench.db")
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	key := hookd.NewAPIKeySecret()
	args := []string{"serve", "--dev", "--addr", addr, "--db", db, "--log-level", "warn", "--master-key-file", filepath.Join(dir, "hookd.key")}
	if cfg.inbound {
		// Every request comes from this one address; senders like GitHub
		// use many, each under the per-address limit.
		args = append(args, "--client-rate-limit", "0")
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "HOOKD_ADMIN_KEY="+key)
	cmd.Stdout, cmd.Stderr = env.Stderr, env.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	s := &benchServer{cmd: cmd, url: "http://" + addr, key: key, dir: dir}
	if err := waitReady(ctx, s.url, 30*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *benchServer) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	_ = os.RemoveAll(s.dir)
}

// peakRSSMB reads the child's peak resident set size (VmHWM) from /proc;
// 0 for a nil server (--server: not measured).
func (s *benchServer) peakRSSMB() float64 {
	if s == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return math.Round(kb/1024*10) / 10
		}
	}
	return 0
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitReady polls /readyz until it answers 200.
func waitReady(ctx context.Context, base string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server at %s not ready after %s", base, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// receiver counts verified deliveries per endpoint and event.
type receiver struct {
	secrets []string
	// index reads the bench's event number from a delivery's body.
	index    func(body []byte) (int, bool)
	started  []atomic.Int64 // publish start (unix ns) per event index
	counts   [][]atomic.Uint32
	received atomic.Int64
	expected int64
	all      chan struct{} // closed when every expected delivery arrived
	last     atomic.Int64  // unix ns of the latest first receipt
	bad      atomic.Int64
	mu       sync.Mutex
	lat      []float64 // ms, first receipt of each delivery
}

// newReceiver returns a receiver expecting every one of events at each of
// endpoints, telling events apart with index.
func newReceiver(endpoints, events int, index func(body []byte) (int, bool)) *receiver {
	rc := &receiver{
		secrets:  make([]string, endpoints),
		index:    index,
		started:  make([]atomic.Int64, events),
		counts:   make([][]atomic.Uint32, endpoints),
		lat:      make([]float64, 0, events*endpoints),
		all:      make(chan struct{}),
		expected: int64(events) * int64(endpoints),
	}
	for i := range rc.counts {
		rc.counts[i] = make([]atomic.Uint32, events)
	}
	return rc
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/e/"))
	if err != nil || i < 0 || i >= len(rc.secrets) || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if err := signature.VerifyStandard(rc.secrets[i], r.Header, body, now, 5*time.Minute); err != nil {
		rc.bad.Add(1)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	n, ok := rc.index(body)
	if !ok || n < 0 || n >= len(rc.started) {
		rc.bad.Add(1)
		http.Error(w, "unknown event", http.StatusBadRequest)
		return
	}
	if rc.counts[i][n].Add(1) == 1 {
		ms := float64(now.UnixNano()-rc.started[n].Load()) / 1e6
		rc.mu.Lock()
		rc.lat = append(rc.lat, ms)
		rc.mu.Unlock()
		rc.last.Store(now.UnixNano())
		if rc.received.Add(1) == rc.expected {
			close(rc.all)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// serve starts the receiver on addr and returns its address and a
// function that stops it.
func (rc *receiver) serve(addr string) (net.Addr, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("receiver: %w", err)
	}
	hs := &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return ln.Addr(), func() { hs.Close() }, nil
}

// subscribe creates one endpoint per receiver path, each with its own
// secret, subscribed to eventType. It returns a function deleting them.
func (rc *receiver) subscribe(ctx context.Context, c *client.Client, tenant string, addr net.Addr, eventType string) (func(), error) {
	var created []string
	cleanup := func() {
		for _, id := range created {
			_ = c.DeleteEndpoint(context.WithoutCancel(ctx), tenant, id)
		}
	}
	for i := range rc.secrets {
		ep, secret, err := c.CreateEndpoint(ctx, tenant, &hookd.Endpoint{
			Name:   fmt.Sprintf("bench-%d", i),
			URL:    fmt.Sprintf("http://%s/e/%d", addr, i),
			Events: []string{eventType},
		})
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("create endpoint: %w", err)
		}
		created = append(created, ep.ID)
		rc.secrets[i] = secret
	}
	return cleanup, nil
}

// deliveryStats is what the receiver counted.
type deliveryStats struct {
	distinct, duplicates, bad int
	latency                   BenchLatency
	perSecond                 float64 // distinct deliveries from begin to the last first receipt
}

func (rc *receiver) stats(begin time.Time) deliveryStats {
	var distinct, total int64
	for i := range rc.counts {
		for n := range rc.counts[i] {
			c := int64(rc.counts[i][n].Load())
			total += c
			if c > 0 {
				distinct++
			}
		}
	}
	rc.mu.Lock()
	lat := slices.Clone(rc.lat)
	rc.mu.Unlock()
	st := deliveryStats{distinct: int(distinct), duplicates: int(total - distinct), bad: int(rc.bad.Load()), latency: latencyOf(lat)}
	if elapsed := time.Duration(rc.last.Load() - begin.UnixNano()); elapsed > 0 {
		st.perSecond = round1(float64(distinct) / elapsed.Seconds())
	}
	return st
}

// pace sends the numbers 0, step, 2*step, ... below total, at rate numbers
// per second (0: as fast as they are taken), until ctx is done.
func pace(ctx context.Context, total, step int, rate float64) <-chan int {
	out := make(chan int)
	go func() {
		defer close(out)
		start := time.Now()
		for first := 0; first < total; first += step {
			if rate > 0 {
				due := start.Add(time.Duration(float64(first) / rate * float64(time.Second)))
				if d := time.Until(due); d > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(d):
					}
				}
			}
			select {
			case out <- first:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func bench(ctx context.Context, cfg benchConfig, progress io.Writer) (*BenchResult, error) {
	// Envelopes start with the event id: {"id":"<nonce>-<n>",...}.
	nonce := strings.TrimPrefix(hookd.NewID("b"), "b_")
	prefix := []byte(`{"id":"` + nonce + "-")
	rc := newReceiver(cfg.endpoints, cfg.events, func(body []byte) (int, bool) {
		rest, ok := bytes.CutPrefix(body, prefix)
		if !ok {
			return 0, false
		}
		end := bytes.IndexByte(rest, '"')
		if end < 0 {
			return 0, false
		}
		n, err := strconv.Atoi(string(rest[:end]))
		return n, err == nil
	})
	addr, stop, err := rc.serve(cfg.receiver)
	if err != nil {
		return nil, err
	}
	defer stop()

	clients := make([]*client.Client, len(cfg.servers))
	for i, s := range cfg.servers {
		clients[i] = client.New(s, cfg.key)
	}
	typ := "bench." + nonce
	cleanup, err := rc.subscribe(ctx, clients[0], cfg.tenant, addr, typ)
	if err != nil {
		return nil, err
	}
	defer cleanup()

	data := benchPayload(cfg.payloadSize)
	expected := rc.expected

	// Publish in batches, spread over the servers, paced by --rate.
	batches := pace(ctx, cfg.events, cfg.batch, cfg.rate)
	begin := time.Now()
	var published atomic.Int64
	var pubErr error
	var pubErrOnce sync.Once
	var wg sync.WaitGroup
	for p := 0; p < cfg.publishers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			c := clients[p%len(clients)]
			evs := make([]client.BatchEvent, 0, cfg.batch)
			for first := range batches {
				last := min(first+cfg.batch, cfg.events)
				evs = evs[:0]
				now := time.Now().UnixNano()
				for n := first; n < last; n++ {
					rc.started[n].Store(now)
					evs = append(evs, client.BatchEvent{ID: nonce + "-" + strconv.Itoa(n), Type: typ, Data: data})
				}
				if _, err := c.PublishBatch(ctx, cfg.tenant, evs); err != nil {
					pubErrOnce.Do(func() { pubErr = err })
					continue
				}
				published.Add(int64(last - first))
			}
		}(p)
	}

	publishDone := make(chan struct{})
	var publishElapsed time.Duration
	go func() {
		wg.Wait()
		publishElapsed = time.Since(begin)
		close(publishDone)
	}()

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deadline := time.After(cfg.wait)
	waitPublish, waitAll := publishDone, rc.all
	for waitPublish != nil || waitAll != nil {
		select {
		case <-waitPublish:
			waitPublish = nil
			if pubErr != nil {
				return nil, fmt.Errorf("publish: %w", pubErr)
			}
		case <-waitAll:
			waitAll = nil
		case <-tick.C:
			fmt.Fprintf(progress, "bench: %6.1fs published %d/%d events, received %d/%d deliveries\n",
				time.Since(begin).Seconds(), published.Load(), cfg.events, rc.received.Load(), expected)
		case <-deadline:
			fmt.Fprintf(progress, "bench: gave up waiting after %s\n", cfg.wait)
			waitPublish, waitAll = nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	<-publishDone
	time.Sleep(200 * time.Millisecond) // let in-flight duplicates land before counting

	res := &BenchResult{Events: cfg.events, Endpoints: cfg.endpoints, Deliveries: int(expected)}
	res.PublishPerSecond = round1(float64(published.Load()) / publishElapsed.Seconds())
	st := rc.stats(begin)
	res.Lost = int(expected) - st.distinct
	res.Duplicates, res.BadSignatures = st.duplicates, st.bad
	res.DeliveriesPerSecond, res.LatencyMS = st.perSecond, st.latency
	return res, nil
}

func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return round1(sorted[max(0, min(i, len(sorted)-1))])
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// benchPayload returns a JSON object of about size bytes.
func benchPayload(size int) json.RawMessage {
	pad := max(0, size-40)
	return json.RawMessage(fmt.Sprintf(`{"amount":4200,"currency":"eur","note":"%s"}`, strings.Repeat("x", pad)))
}
