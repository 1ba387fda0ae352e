// Package tokenbucket is the in-memory rate limiter used wherever hookd
// paces something itself (per-endpoint delivery starts, per-client API
// requests). PostgreSQL keeps the cluster-wide endpoint budget with the same
// rule in SQL (hookd_rate_budget).
package tokenbucket

import "time"

// Bucket holds up to burst tokens and refills at rate per second. The zero
// value is a full bucket. Rate and burst are passed to each call, so a
// changed setting applies at once.
type Bucket struct {
	tokens float64
	at     time.Time // when tokens was computed; zero: never used
}

func (b *Bucket) refill(now time.Time, rate, burst float64) {
	switch {
	case b.at.IsZero():
		b.tokens = burst
	case now.After(b.at):
		b.tokens = min(burst, b.tokens+now.Sub(b.at).Seconds()*rate)
	}
	if now.After(b.at) {
		b.at = now
	}
}

// Take spends one token at now if there is one; otherwise it reports how
// long until there will be. rate must be positive and burst at least 1.
func (b *Bucket) Take(now time.Time, rate, burst float64) (ok bool, wait time.Duration) {
	b.refill(now, rate, burst)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / rate * float64(time.Second))
}

// Full reports whether the bucket has refilled completely by now: its user
// has been idle, and forgetting it changes nothing.
func (b *Bucket) Full(now time.Time, rate, burst float64) bool {
	return b.at.IsZero() || b.tokens+now.Sub(b.at).Seconds()*rate >= burst
}
