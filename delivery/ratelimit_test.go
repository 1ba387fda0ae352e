package delivery_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/delivery"
	"github.com/hookd/hookd/sqlite"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// A rate-limited endpoint gets one second's burst at once and then exactly
// rate × elapsed more: with the clock stopped nothing further is sent, and
// each step of the clock releases its share.
func TestRateLimitPacesStarts(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "d.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateTenant(ctx, &hookd.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	defer recv.Close()
	ep := &hookd.Endpoint{TenantID: "acme", URL: recv.URL, Events: []string{"*"}, RateLimit: 20,
		Secrets: []hookd.Secret{{Value: hookd.NewEndpointSecret()}}}
	ep.SetDefaults()
	if err := s.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	evs := make([]*hookd.Event, 100)
	for i := range evs {
		evs[i] = &hookd.Event{Type: "order.created", Payload: []byte(`{}`)}
	}
	if _, err := s.PublishEvents(ctx, "acme", evs, hookd.MatchSubscribed, nil); err != nil {
		t.Fatal(err)
	}

	clock := &fakeClock{now: time.Now().Add(time.Second)}
	d := delivery.New(delivery.Config{Store: s, NodeID: "test", Now: clock.Now, Poll: 10 * time.Millisecond, Lease: time.Hour})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.Run(runCtx); close(done) }()
	defer func() { cancel(); <-done }()

	settle := func(want int64) {
		t.Helper()
		eventually(t, "deliveries to arrive", func() bool { return got.Load() >= want })
		time.Sleep(200 * time.Millisecond) // room for any extra start to show
		if n := got.Load(); n != want {
			t.Fatalf("%d requests sent, the rate limit allows %d", n, want)
		}
	}
	settle(20) // the burst: one second's worth
	clock.Add(500 * time.Millisecond)
	settle(30)
	clock.Add(time.Second)
	settle(50)
}
