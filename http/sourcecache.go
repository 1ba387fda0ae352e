package http

import (
	"context"
	"sync"
	"time"

	"github.com/hookd/hookd"
)

// sourceCacheTTL is how long an inbound request may use a source read for
// an earlier one. A change made through this server's API is seen by the
// next request; one made elsewhere (another node, a watched config file)
// within the TTL, as with API keys and tenants (auth.go).
const sourceCacheTTL = 2 * time.Second

// sourceCache remembers the sources inbound requests found, by name, so a
// burst of webhooks to one source reads it once per TTL rather than once
// per request. Entries are read-only once cached.
type sourceCache struct {
	mu      sync.RWMutex
	entries map[string]cachedSource
	// gen counts invalidations; a lookup that began before one does not
	// cache what it read.
	gen uint64
}

type cachedSource struct {
	src    *hookd.Source
	loaded time.Time
}

func newSourceCache() *sourceCache { return &sourceCache{entries: map[string]cachedSource{}} }

// inboundSource returns the source an inbound request to name is for:
// ENOTFOUND if there is none. Only sources that exist are cached.
func (s *Server) inboundSource(ctx context.Context, name string) (*hookd.Source, error) {
	now := s.now()
	c := s.sources
	c.mu.RLock()
	e, ok := c.entries[name]
	gen := c.gen
	c.mu.RUnlock()
	if ok && fresh(e.loaded, now, sourceCacheTTL) {
		return e.src, nil
	}
	src, err := s.cfg.Inbound.FindSourceByName(ctx, name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen {
		if len(c.entries) >= maxCacheEntries {
			evict(c.entries, func(e cachedSource) bool { return !fresh(e.loaded, now, sourceCacheTTL) })
		}
		c.entries[name] = cachedSource{src: src, loaded: now}
	}
	c.mu.Unlock()
	return src, nil
}

// forgetSources empties the cache; called after any change to sources
// made through this server.
func (s *Server) forgetSources() {
	c := s.sources
	c.mu.Lock()
	clear(c.entries)
	c.gen++
	c.mu.Unlock()
}
