package http

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/tokenbucket"
)

// clientLimiter limits requests per client address with a token bucket
// each: rate per second, up to burst at once. IPv6 clients are keyed by
// their /64, which one host usually owns whole. It counts every request,
// authenticated or not, so key guessing is slowed as well.
type clientLimiter struct {
	rate, burst float64

	mu      sync.Mutex
	buckets map[netip.Addr]*tokenbucket.Bucket
}

// maxClients bounds the buckets kept; past it, buckets that have refilled
// (their client is idle) are dropped, and if that is not enough all are.
const maxClients = 100_000

func newClientLimiter(rate float64, burst int) *clientLimiter {
	if rate <= 0 {
		return nil
	}
	return &clientLimiter{rate: rate, burst: max(float64(burst), 1), buckets: map[netip.Addr]*tokenbucket.Bucket{}}
}

// allow spends a token of the client at now, or reports how long until it
// has one.
func (l *clientLimiter) allow(client netip.Addr, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[client]
	if b == nil {
		if len(l.buckets) >= maxClients {
			l.sweep(now)
		}
		b = &tokenbucket.Bucket{}
		l.buckets[client] = b
	}
	return b.Take(now, l.rate, l.burst)
}

func (l *clientLimiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.Full(now, l.rate, l.burst) {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxClients {
		clear(l.buckets)
	}
}

// clientKey is the limiter's key for a request: its peer address (proxy
// headers are not trusted), IPv6 masked to /64.
func clientKey(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// limit answers 429 with Retry-After and reports false when r's client is
// over its rate.
func (s *Server) limit(w http.ResponseWriter, r *http.Request) bool {
	if s.clients == nil {
		return true
	}
	ok, wait := s.clients.allow(clientKey(r), s.now())
	if ok {
		return true
	}
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	s.writeError(w, r, hookd.Errorf(hookd.ERATELIMITED, "Too many requests from this address; retry after %d s.", max(secs, 1)))
	return false
}
