package delivery_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/delivery"
)

// newClockHarness runs a dispatcher on a clock the test moves by hand. The
// clock starts an hour ahead, so everything published during the test is
// due at once.
func newClockHarness(t *testing.T, configure func(*delivery.Config)) (*harness, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: time.Now().Add(time.Hour)}
	h := newHarnessWith(t, func(c *delivery.Config) {
		c.Now = clock.Now
		c.Lease = 24 * time.Hour // the clock jumps; leases must outlast the jumps
		if configure != nil {
			configure(c)
		}
	})
	return h, clock
}

// scripted answers its n-th request (from 1) with statuses[n-1], repeating
// the last one; a status of 503 carries retryAfter when it is set.
type scripted struct {
	mu         sync.Mutex
	statuses   []int
	retryAfter string
	got        int
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.got++
	st := s.statuses[min(s.got, len(s.statuses))-1]
	s.mu.Unlock()
	if st == http.StatusServiceUnavailable && s.retryAfter != "" {
		w.Header().Set("Retry-After", s.retryAfter)
	}
	w.WriteHeader(st)
}

func (s *scripted) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got
}

func (h *harness) delivery(ep string) *hookd.Delivery {
	h.t.Helper()
	list := h.deliveries(ep)
	if len(list) != 1 {
		h.t.Fatalf("%d deliveries to %s, want 1", len(list), ep)
	}
	d, err := h.store.FindDeliveryByID(context.Background(), "acme", list[0].ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

// Throttling answers (429, 502, 503, 504) do not use up the retry
// schedule; other failures do, and the position in the schedule is the
// attempts made minus the throttling answers. Each throttling answer
// without Retry-After backs the endpoint off one step further: the retry is
// due 1 s, 2 s, 4 s, ... (+ up to 20 %) after it.
func TestThrottlingDoesNotUseUpSchedule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		statuses      []int
		state         hookd.DeliveryState
		attempts      int
		throttled     int
		backoffChecks int // how many leading throttles to check the backoff of
	}{
		// A schedule of 2 attempts survives 5 throttles.
		{"5 throttles then success", []int{429, 429, 503, 502, 504, 200}, hookd.DeliverySucceeded, 6, 5, 5},
		// 429, 429, 500 (counted 1), 429, 500 (counted 2 = the schedule's length): dead.
		{"throttles between failures", []int{429, 429, 500, 429, 500}, hookd.DeliveryDead, 5, 3, 2},
		// Without throttles the same schedule ends at the second failure.
		{"plain failures", []int{500}, hookd.DeliveryDead, 2, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, clock := newClockHarness(t, nil)
			recv := &scripted{statuses: tt.statuses}
			srv := httptest.NewServer(recv)
			defer srv.Close()
			ep, _ := h.endpoint(srv.URL, func(e *hookd.Endpoint) {
				e.RetrySchedule = []hookd.Duration{0, hookd.Duration(time.Second)}
			})
			h.publish(1)
			var d *hookd.Delivery
			for k := 1; ; k++ {
				eventually(t, "attempt "+strconv.Itoa(k)+" recorded", func() bool {
					d = h.delivery(ep.ID)
					return d.Attempts >= k && d.State != hookd.DeliveryDelivering
				})
				if d.Attempts != k {
					t.Fatalf("after advancing the clock %d times: %d attempts", k-1, d.Attempts)
				}
				if d.State != hookd.DeliveryFailed {
					break
				}
				if k <= tt.backoffChecks {
					base := time.Second << (k - 1)
					delay := d.NextAttemptAt.Sub(clock.Now())
					if delay < base || delay > base+base/5 {
						t.Fatalf("throttle %d: retry in %v, want %v + up to 20%%", k, delay, base)
					}
				}
				clock.Add(10 * time.Minute) // past any backoff and the schedule's delay
			}
			if d.State != tt.state || d.Attempts != tt.attempts || d.Throttled != tt.throttled {
				t.Fatalf("delivery %s after %d attempts (%d throttled); want %s after %d (%d)",
					d.State, d.Attempts, d.Throttled, tt.state, tt.attempts, tt.throttled)
			}
			if n := recv.requests(); n != tt.attempts {
				t.Fatalf("receiver got %d requests, want %d", n, tt.attempts)
			}
			for i, a := range d.AttemptLog {
				if want := tt.statuses[min(i, len(tt.statuses)-1)]; a.StatusCode != want {
					t.Fatalf("attempt %d answered %d, want %d", i+1, a.StatusCode, want)
				}
			}
		})
	}
}

// 503 with Retry-After: the retry is due exactly then, and the endpoint's
// other deliveries are held on this node until then; a second before, no
// request is sent.
func TestThrottleRetryAfterHoldsEndpoint(t *testing.T) {
	t.Parallel()
	h, clock := newClockHarness(t, nil)
	recv := &scripted{statuses: []int{503, 200}, retryAfter: "120"}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	ep, _ := h.endpoint(srv.URL, nil)
	h.publish(1)
	var first *hookd.Delivery
	eventually(t, "the 503", func() bool {
		list := h.deliveries(ep.ID)
		first = list[0]
		return first.State == hookd.DeliveryFailed
	})
	if want := clock.Now().Add(120 * time.Second); first.NextAttemptAt == nil || !first.NextAttemptAt.Equal(want) {
		t.Fatalf("next attempt at %v, want %v (Retry-After: 120)", first.NextAttemptAt, want)
	}
	if first.Throttled != 1 {
		t.Fatalf("throttled = %d, want 1", first.Throttled)
	}

	h.publish(3) // new deliveries to the held endpoint wait too
	clock.Add(119 * time.Second)
	time.Sleep(300 * time.Millisecond) // room for a wrong start to show
	if n := recv.requests(); n != 1 {
		t.Fatalf("%d requests sent while the endpoint was held, want 1", n)
	}
	clock.Add(time.Second)
	eventually(t, "all four deliveries", func() bool { return countState(h.deliveries(ep.ID), hookd.DeliverySucceeded) == 4 })
	if n := recv.requests(); n != 5 {
		t.Fatalf("%d requests, want 5", n)
	}
}

// gated is a receiver that holds every request until the test lets it go,
// then answers with status; it tracks how many requests are in flight.
type gated struct {
	status   atomic.Int64
	gate     chan struct{} // one value lets one request go
	open     chan struct{} // closed: every request goes
	inflight atomic.Int64
	arrived  atomic.Int64
}

func newGated(status int) *gated {
	g := &gated{gate: make(chan struct{}), open: make(chan struct{})}
	g.status.Store(int64(status))
	return g
}

func (g *gated) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.arrived.Add(1)
	g.inflight.Add(1)
	select {
	case <-g.gate:
	case <-g.open:
	case <-r.Context().Done():
	}
	g.inflight.Add(-1)
	w.WriteHeader(int(g.status.Load()))
}

// Throttling cuts the endpoint's concurrency (halved once per burst of
// answers, then +1 per success) and holds it, while another endpoint's
// deliveries go on undelayed.
func TestThrottleCutsConcurrencyNotOthers(t *testing.T) {
	t.Parallel()
	h, clock := newClockHarness(t, nil)
	busy := newGated(http.StatusTooManyRequests)
	busySrv := httptest.NewServer(busy)
	defer busySrv.Close()
	release := sync.OnceFunc(func() { close(busy.open) })
	defer release() // runs before busySrv.Close, which waits for handlers
	var healthyGot atomic.Int64
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { healthyGot.Add(1) }))
	defer healthy.Close()
	busyEp, _ := h.endpoint(busySrv.URL, func(e *hookd.Endpoint) { e.MaxInFlight = 8; e.Events = []string{"order.*"} })
	healthyEp, _ := h.endpoint(healthy.URL, func(e *hookd.Endpoint) { e.Events = []string{"audit.*"} })
	const n = 40
	h.publishType("order.created", n)

	settle := func(what string, arrived, inflight int64) {
		t.Helper()
		eventually(t, what, func() bool { return busy.arrived.Load() >= arrived && busy.inflight.Load() == inflight })
		time.Sleep(300 * time.Millisecond) // room for an extra start to show
		if a, i := busy.arrived.Load(), busy.inflight.Load(); a != arrived || i != inflight {
			t.Fatalf("%s: %d requests arrived, %d in flight; want %d, %d", what, a, i, arrived, inflight)
		}
	}
	settle("max_in_flight requests", 8, 8)
	for range 8 {
		busy.gate <- struct{}{} // all answered 429
	}
	eventually(t, "the 429s recorded", func() bool { return countState(h.deliveries(busyEp.ID), hookd.DeliveryFailed) == 8 })

	// Another endpoint's new deliveries all go while the busy one is held
	// (the clock stands still, so the hold does not end).
	h.publishType("audit.logged", n)
	eventually(t, "the healthy endpoint's deliveries", func() bool {
		return countState(h.deliveries(healthyEp.ID), hookd.DeliverySucceeded) == n
	})
	if healthyGot.Load() != n {
		t.Fatalf("healthy endpoint got %d requests, want %d", healthyGot.Load(), n)
	}
	settle("nothing while held", 8, 0)

	busy.status.Store(http.StatusOK)
	clock.Add(10 * time.Second) // past the backoff (1 s + jitter)
	settle("half as many at once", 12, 4)
	busy.gate <- struct{}{} // one success: the limit grows to 5
	settle("one more after a success", 14, 5)

	release()
	eventually(t, "every delivery to the busy endpoint", func() bool {
		return countState(h.deliveries(busyEp.ID), hookd.DeliverySucceeded) == n
	})
}
