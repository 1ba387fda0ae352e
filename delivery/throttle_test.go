package delivery

import (
	"testing"
	"time"
)

func TestThrottleBackoff(t *testing.T) {
	t.Parallel()
	for step := 1; step <= 40; step++ {
		base := min(time.Second<<min(step-1, 20), maxThrottleBackoff)
		for range 50 {
			d := throttleBackoff(step)
			if d < base || d > min(base+base/5, maxThrottleBackoff) {
				t.Fatalf("throttleBackoff(%d) = %v, want in [%v, %v]", step, d, base, min(base+base/5, maxThrottleBackoff))
			}
		}
	}
}

// The limit halves once per burst of throttling answers (answers to
// attempts started before the cut do not cut again), grows by one per
// success of an attempt started after it, and the endpoint is held for the
// pause asked for.
func TestThrottleAIMD(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var th throttle
	const max = 8
	var burst []uint64
	for range 8 {
		burst = append(burst, th.start())
	}
	if got := th.throttled(burst[0], max, 30*time.Second, now); got != 30*time.Second {
		t.Fatalf("pause %v, want the Retry-After", got)
	}
	for _, seq := range burst[1:] {
		th.throttled(seq, max, 0, now)
	}
	if got := th.limit(max); got != 4 {
		t.Fatalf("after one burst the limit is %d, want 4", got)
	}
	if th.step != 1 {
		t.Fatalf("after one burst the backoff step is %d, want 1", th.step)
	}
	if !th.held(now.Add(29*time.Second)) || th.held(now.Add(30*time.Second)) {
		t.Fatalf("held until %v, want now+30s", th.holdUntil)
	}
	// The next burst, sent under the new limit, cuts again.
	a, b := th.start(), th.start()
	if got := th.throttled(a, max, 0, now); got < 2*time.Second || got > 2400*time.Millisecond {
		t.Fatalf("second step pause %v, want 2 s + jitter", got)
	}
	th.throttled(b, max, 0, now)
	if th.limit(max) != 2 || th.step != 2 {
		t.Fatalf("after two bursts: limit %d, step %d; want 2, 2", th.limit(max), th.step)
	}
	// Down to 1, never 0.
	for range 5 {
		th.throttled(th.start(), max, 0, now)
	}
	if th.limit(max) != 1 {
		t.Fatalf("limit %d, want 1", th.limit(max))
	}
	// A success of an attempt from before the cut changes nothing.
	th.succeeded(b, max)
	if th.limit(max) != 1 || th.step == 0 {
		t.Fatalf("an old success changed the throttle: limit %d, step %d", th.limit(max), th.step)
	}
	for i := 2; i <= max; i++ {
		th.succeeded(th.start(), max)
		if th.limit(max) != i || th.step != 0 {
			t.Fatalf("after %d successes: limit %d, step %d", i-1, th.limit(max), th.step)
		}
	}
	if th.window != 0 {
		t.Fatalf("window %d, want 0 (back to max_in_flight)", th.window)
	}
	// A lowered max_in_flight caps the window.
	th.throttled(th.start(), max, 0, now)
	if th.limit(2) != 2 {
		t.Fatalf("limit %d with max_in_flight 2", th.limit(2))
	}
}
