package maintain_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/maintain"
)

// fakeClock is a Clock the test moves by hand.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), ch: ch})
	return ch
}

// advance moves the clock once n goroutines wait on it (the tasks between
// runs), firing the waits that are due.
func (c *fakeClock) advance(t *testing.T, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		if len(c.waiters) >= n {
			break
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("%d waiting on the clock, want %d", len(c.waiters), n)
		}
		time.Sleep(time.Millisecond)
	}
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
		} else {
			w.ch <- c.now
		}
	}
	c.waiters = kept
}

// forget drops waits nobody listens to any more (after leadership ended).
func (c *fakeClock) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waiters = nil
}

// fakeCampaign leads between elect and depose, as the test says.
type fakeCampaign struct {
	elect, depose chan struct{}
	ended         chan struct{} // a term's lead returned
}

func newFakeCampaign() *fakeCampaign {
	return &fakeCampaign{elect: make(chan struct{}), depose: make(chan struct{}), ended: make(chan struct{}, 10)}
}

func (f *fakeCampaign) run(ctx context.Context, lead func(ctx context.Context)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.elect:
		}
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			lead(lctx)
		}()
		select {
		case <-f.depose:
		case <-ctx.Done():
		}
		cancel()
		<-done
		f.ended <- struct{}{}
	}
}

type run struct {
	task string
	now  time.Time
}

// recorder returns a task that reports each run on runs.
func recorder(name string, every time.Duration, runs chan<- run) maintain.Task {
	return maintain.Task{Name: name, Every: every, Run: func(ctx context.Context, now time.Time) error {
		runs <- run{name, now}
		return nil
	}}
}

// next returns the next n runs, in any order, keyed by task.
func next(t *testing.T, runs <-chan run, n int) map[string]time.Time {
	t.Helper()
	got := map[string]time.Time{}
	for range n {
		select {
		case r := <-runs:
			if _, dup := got[r.task]; dup {
				t.Fatalf("task %s ran twice", r.task)
			}
			got[r.task] = r.now
		case <-time.After(5 * time.Second):
			t.Fatalf("runs so far %v, want %d", got, n)
		}
	}
	return got
}

func noRuns(t *testing.T, runs <-chan run) {
	t.Helper()
	select {
	case r := <-runs:
		t.Fatalf("task %s ran at %v, want no run", r.task, r.now)
	default:
	}
}

func start(t *testing.T, r *maintain.Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestRunnerRunsTasksOnlyWhileLeading(t *testing.T) {
	clock, campaign := newFakeClock(), newFakeCampaign()
	runs := make(chan run, 100)
	r, err := maintain.NewRunner(campaign.run, []maintain.Task{
		recorder("a", time.Minute, runs),
		recorder("b", 5*time.Minute, runs),
	}, maintain.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, r)

	// Not leading: time passes, nothing runs.
	clock.advance(t, 0, time.Hour)
	noRuns(t, runs)

	// Elected: every task runs at once, then on its schedule.
	campaign.elect <- struct{}{}
	t0 := clock.Now()
	got := next(t, runs, 2)
	if !got["a"].Equal(t0) || !got["b"].Equal(t0) {
		t.Fatalf("first runs %v, want both at %v", got, t0)
	}
	clock.advance(t, 2, time.Minute)
	if got := next(t, runs, 1); !got["a"].Equal(t0.Add(time.Minute)) {
		t.Fatalf("after a minute: %v, want a", got)
	}
	clock.advance(t, 2, 4*time.Minute)
	if got := next(t, runs, 2); !got["a"].Equal(t0.Add(5*time.Minute)) || !got["b"].Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("after five minutes: %v, want a and b", got)
	}

	// Deposed: lead returns only once the tasks have stopped, and nothing
	// runs however much time passes.
	clock.advance(t, 2, 0) // both tasks wait for their next time
	campaign.depose <- struct{}{}
	<-campaign.ended
	clock.forget()
	clock.advance(t, 0, 24*time.Hour)
	noRuns(t, runs)

	// Elected again: the tasks run at once again.
	campaign.elect <- struct{}{}
	next(t, runs, 2)
	stop()
	<-campaign.ended
	noRuns(t, runs)
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestFailingAndPanickingTasksDoNotStopOthers(t *testing.T) {
	clock := newFakeClock()
	var logs syncBuffer
	runs := make(chan run, 100)
	r, err := maintain.NewRunner(maintain.Local, []maintain.Task{
		{Name: "panics", Every: time.Minute, Run: func(ctx context.Context, now time.Time) error {
			runs <- run{"panics", now}
			panic("boom")
		}},
		{Name: "fails", Every: time.Minute, Run: func(ctx context.Context, now time.Time) error {
			runs <- run{"fails", now}
			return errors.New("database on fire")
		}},
		recorder("works", time.Minute, runs),
	}, maintain.Options{Clock: clock, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, r)
	for range 3 { // each task, the failing ones included, keeps its schedule
		next(t, runs, 3)
		clock.advance(t, 3, time.Minute)
	}
	next(t, runs, 3)
	stop()
	out := logs.String()
	for _, want := range []string{
		`msg="maintenance task panicked" task=panics panic=boom`,
		`msg="maintenance task failed" task=fails err="database on fire"`,
		"runtime/debug.Stack", // the panic's stack is logged
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "task=works") {
		t.Errorf("the healthy task logged a problem:\n%s", out)
	}
}

func TestNewRunnerChecksTasks(t *testing.T) {
	ok := func(context.Context, time.Time) error { return nil }
	for _, tasks := range [][]maintain.Task{
		{{Name: "", Every: time.Minute, Run: ok}},
		{{Name: "x", Every: 0, Run: ok}},
		{{Name: "x", Every: time.Minute}},
		{{Name: "x", Every: time.Minute, Run: ok}, {Name: "x", Every: time.Hour, Run: ok}},
	} {
		if _, err := maintain.NewRunner(maintain.Local, tasks, maintain.Options{}); err == nil {
			t.Errorf("NewRunner(%+v) accepted", tasks)
		}
	}
	if _, err := maintain.NewRunner(nil, nil, maintain.Options{}); err == nil {
		t.Error("NewRunner without a campaign accepted")
	}
}

// A runner without tasks just waits for the end.
func TestRunnerWithoutTasks(t *testing.T) {
	r, err := maintain.NewRunner(maintain.Local, nil, maintain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)()
}

// A task's context ends with leadership, so a long run stops at once.
func TestLeadershipLossCancelsRunningTask(t *testing.T) {
	campaign := newFakeCampaign()
	started := make(chan struct{})
	r, err := maintain.NewRunner(campaign.run, []maintain.Task{{Name: "slow", Every: time.Hour,
		Run: func(ctx context.Context, now time.Time) error {
			close(started)
			<-ctx.Done()
			return ctx.Err()
		}}}, maintain.Options{Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	campaign.elect <- struct{}{}
	<-started
	campaign.depose <- struct{}{}
	select {
	case <-campaign.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("lead did not return after leadership ended")
	}
}
