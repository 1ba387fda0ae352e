package delivery

import (
	"math/rand/v2"
	"net/http"
	"time"
)

// maxForgivenThrottles is how many throttling answers of one delivery are
// forgiven: they do not use up its retry schedule. From the next one on,
// each throttling answer counts as a failed attempt again, so a receiver
// that throttles forever still ends the delivery (dead) in bounded time.
const maxForgivenThrottles = 100

// Bounds of the endpoint backoff after a throttling answer without
// Retry-After: minThrottleBackoff doubling with each step, at most
// maxThrottleBackoff.
const (
	minThrottleBackoff = time.Second
	maxThrottleBackoff = 5 * time.Minute
)

// isThrottle reports whether an HTTP status asks the sender to slow down:
// 429 Too Many Requests, 502 Bad Gateway, 503 Service Unavailable and 504
// Gateway Timeout.
func isThrottle(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// throttleBackoff is the pause after the step-th slowdown of an endpoint
// (step >= 1) when the answer gave no Retry-After: 1 s, 2 s, 4 s, ... up to
// 5 min, each with up to 20 % jitter (never over 5 min).
func throttleBackoff(step int) time.Duration {
	d := maxThrottleBackoff
	if step <= 9 { // 1s << 9 = 512 s is over the cap already
		d = min(minThrottleBackoff<<max(step-1, 0), maxThrottleBackoff)
	}
	d += time.Duration(rand.Int64N(int64(d)/5 + 1))
	return min(d, maxThrottleBackoff)
}

// throttle is how an endpoint is slowed down on this node after throttling
// answers. It is owned by the scheduler goroutine.
//
// Answers to requests that were already on their way when the endpoint was
// last slowed down say nothing about the slower pace, so they neither slow
// it further nor speed it up: one burst of 429s is one step, not many.
// Attempts are numbered as they start (started) to tell them apart.
type throttle struct {
	holdUntil time.Time // no attempt to the endpoint starts before this
	step      int       // slowdowns since the last success; sets the backoff
	window    int       // the reduced in-flight limit (AIMD); 0: not reduced
	started   uint64    // attempts started to the endpoint
	cutAt     uint64    // started when the endpoint was last slowed down
}

// limit is the endpoint's in-flight limit now: maxInFlight unless reduced.
func (t *throttle) limit(maxInFlight int) int {
	if t.window > 0 && t.window < maxInFlight {
		return t.window
	}
	return maxInFlight
}

// start numbers an attempt that starts now.
func (t *throttle) start() uint64 {
	t.started++
	return t.started
}

// throttled slows the endpoint after a throttling answer to attempt seq at
// now and returns the pause asked for: retryAfter when the answer had one,
// otherwise the endpoint's backoff. The endpoint's attempts are held until
// the pause has passed; the first answer of a burst also halves the
// in-flight limit (at least 1) and takes the backoff one step further.
func (t *throttle) throttled(seq uint64, maxInFlight int, retryAfter time.Duration, now time.Time) time.Duration {
	if seq > t.cutAt {
		t.step++
		t.window = max(1, t.limit(maxInFlight)/2)
		t.cutAt = t.started
	}
	pause := retryAfter
	if pause <= 0 {
		pause = throttleBackoff(t.step)
	}
	if until := now.Add(pause); until.After(t.holdUntil) {
		t.holdUntil = until
	}
	return pause
}

// succeeded records a success of attempt seq: the endpoint is no longer
// held, the backoff starts again from its first step and the in-flight
// limit grows by one, back to maxInFlight.
func (t *throttle) succeeded(seq uint64, maxInFlight int) {
	if seq <= t.cutAt {
		return
	}
	t.holdUntil = time.Time{}
	t.step = 0
	if t.window > 0 {
		t.window++
		if t.window >= maxInFlight {
			t.window = 0
		}
	}
}

// held reports whether the endpoint may start no attempt at now.
func (t *throttle) held(now time.Time) bool { return now.Before(t.holdUntil) }
