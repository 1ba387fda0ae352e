package http

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hookd/hookd"
)

type principalKey struct{}

// PrincipalFrom returns the authenticated caller of a request; ok is false
// outside an authenticated /v1 route.
func PrincipalFrom(ctx context.Context) (p hookd.Principal, ok bool) {
	p, ok = ctx.Value(principalKey{}).(hookd.Principal)
	return p, ok
}

// maxTokenLen bounds a bearer credential; hookd's keys have 46 characters.
const maxTokenLen = 512

// BearerToken extracts the credential of an "Authorization: Bearer <token>"
// header. The scheme is case-insensitive and may be followed by spaces; the
// token must be 1..512 printable ASCII characters without spaces.
func BearerToken(header string) (token string, ok bool) {
	scheme, token, found := strings.Cut(strings.TrimSpace(header), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	if token == "" || len(token) > maxTokenLen {
		return "", false
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c > '~' {
			return "", false
		}
	}
	return token, true
}

var (
	errNoKey          = hookd.Errorf(hookd.EUNAUTHORIZED, "A valid API key is required: send Authorization: Bearer <key>.")
	errKeyNotUsable   = hookd.Errorf(hookd.EUNAUTHORIZED, "The API key is revoked or expired.")
	errTenantNotFound = hookd.Errorf(hookd.ENOTFOUND, "Tenant not found.")
	// errLookupAborted is what callers sharing a key read get if it panicked.
	errLookupAborted = errors.New("API key lookup aborted")
)

// authenticate resolves the request's API key to a principal: EUNAUTHORIZED
// for a missing, malformed, unknown, revoked or expired key, EUNAVAILABLE
// when the store cannot answer.
func (s *Server) authenticate(r *http.Request) (hookd.Principal, error) {
	token, ok := BearerToken(r.Header.Get("Authorization"))
	if !ok {
		return hookd.Principal{}, errNoKey
	}
	now := s.now()
	hash := hookd.HashAPIKey(token)
	key, err := s.lookupKey(r.Context(), hash, now)
	if err != nil {
		return hookd.Principal{}, err
	}
	if !key.Usable(now) {
		return hookd.Principal{}, errKeyNotUsable
	}
	s.recordUse(hash, key.ID, now)
	return hookd.Principal{KeyID: key.ID, TenantID: key.TenantID, Role: key.Role}, nil
}

// access is what a route does with its tenant.
type access int

const (
	readAccess  access = iota // list, get
	writeAccess               // create, change, delete, publish, retry
)

// tenant authorizes the caller of r for the tenant in the path and returns
// its id. It is the one place that decides who may do what:
//   - a caller who may not read the tenant gets ENOTFOUND "Tenant not found.",
//     exactly as for a tenant that does not exist, so nothing reveals
//     whether another tenant or its resources exist;
//   - a caller who may read but needs to write gets EFORBIDDEN;
//   - a tenant that does not exist is ENOTFOUND.
func (s *Server) tenant(r *http.Request, need access) (string, error) {
	id := r.PathValue("tenant")
	p, _ := PrincipalFrom(r.Context()) // the zero principal may do nothing
	if !p.CanRead(id) {
		return "", errTenantNotFound
	}
	if need == writeAccess && !p.CanWrite(id) {
		return "", hookd.Errorf(hookd.EFORBIDDEN, "This API key may only read tenant %q.", id)
	}
	if err := s.tenantExists(r.Context(), id); err != nil {
		return "", err
	}
	return id, nil
}

// Cache lifetimes. A positive key lookup is reused for keyCacheTTL, so a
// publisher sending 10,000 requests a second costs one key read every two
// seconds, not one per request; the price is that a revoked key keeps
// working for up to keyCacheTTL (expiry is exact: it is checked against the
// clock on every request). Tenant existence is cached as long, so a deleted
// tenant may answer empty lists for that time. Last use is recorded at most
// once per touchInterval per key.
const (
	keyCacheTTL    = 2 * time.Second
	tenantCacheTTL = 2 * time.Second
	touchInterval  = time.Minute
	// maxCacheEntries bounds each cache; only keys and tenants that exist
	// are cached, so guessing floods cannot grow them.
	maxCacheEntries = 10000
	// lookupTimeout bounds a shared key lookup that outlives its caller.
	lookupTimeout = 5 * time.Second
)

// keyCache remembers recent successful key lookups by hash. Concurrent
// misses of one hash share a single store read.
type keyCache struct {
	mu      sync.Mutex
	entries map[string]*keyEntry
	calls   map[string]*keyCall
}

type keyEntry struct {
	key     *hookd.APIKey // read-only once cached
	loaded  time.Time
	touched time.Time // when last use was last recorded
}

// keyCall is a store read in flight; done is closed when key/err are set.
type keyCall struct {
	done chan struct{}
	key  *hookd.APIKey
	err  error
}

func newKeyCache() *keyCache {
	return &keyCache{entries: map[string]*keyEntry{}, calls: map[string]*keyCall{}}
}

// lookupKey finds a key by hash through the cache, revoked and expired
// ones included. An unknown hash is errNoKey.
func (s *Server) lookupKey(ctx context.Context, hash string, now time.Time) (*hookd.APIKey, error) {
	c := s.keys
	c.mu.Lock()
	if e, ok := c.entries[hash]; ok && fresh(e.loaded, now, keyCacheTTL) {
		c.mu.Unlock()
		return e.key, nil
	}
	if call, ok := c.calls[hash]; ok {
		c.mu.Unlock()
		select {
		case <-call.done:
			return call.key, call.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	call := &keyCall{done: make(chan struct{}), err: errLookupAborted}
	c.calls[hash] = call
	c.mu.Unlock()
	defer func() { // also if the store panics, so no caller waits forever
		c.mu.Lock()
		delete(c.calls, hash)
		if call.err == nil {
			e := &keyEntry{key: call.key, loaded: now}
			if old, ok := c.entries[hash]; ok {
				e.touched = old.touched
			} else if len(c.entries) >= maxCacheEntries {
				evict(c.entries, func(e *keyEntry) bool { return !fresh(e.loaded, now, keyCacheTTL) })
			}
			c.entries[hash] = e
		}
		c.mu.Unlock()
		close(call.done)
	}()

	// The read is shared with other callers, so it does not end with this
	// request's context.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
	defer cancel()
	key, err := s.cfg.Store.FindAPIKeyByHash(lctx, hash)
	if hookd.ErrorCode(err) == hookd.ENOTFOUND {
		key, err = nil, errNoKey
	}
	call.key, call.err = key, err
	return key, err
}

// recordUse records that the key with hash and id authenticated a request,
// in the background and at most once per touchInterval.
func (s *Server) recordUse(hash, id string, now time.Time) {
	c := s.keys
	c.mu.Lock()
	e, ok := c.entries[hash]
	due := ok && (e.touched.IsZero() || now.Sub(e.touched) >= touchInterval)
	if due {
		e.touched = now
	}
	c.mu.Unlock()
	if !due {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
		defer cancel()
		if err := s.cfg.Store.TouchAPIKey(ctx, id, now); err != nil {
			s.log.Debug("record API key use", slog.String("key_id", id), slog.Any("err", err))
		}
	}()
}

// tenantCache remembers tenants recently found to exist.
type tenantCache struct {
	mu    sync.Mutex
	found map[string]time.Time
}

func newTenantCache() *tenantCache { return &tenantCache{found: map[string]time.Time{}} }

// tenantExists returns nil if tenant id exists, errTenantNotFound if not,
// and the store's error if it cannot tell.
func (s *Server) tenantExists(ctx context.Context, id string) error {
	now := s.now()
	c := s.tenants
	c.mu.Lock()
	at, ok := c.found[id]
	c.mu.Unlock()
	if ok && fresh(at, now, tenantCacheTTL) {
		return nil
	}
	if _, err := s.cfg.Store.FindTenant(ctx, id); hookd.ErrorCode(err) == hookd.ENOTFOUND {
		return errTenantNotFound
	} else if err != nil {
		return err
	}
	c.mu.Lock()
	if len(c.found) >= maxCacheEntries {
		evict(c.found, func(at time.Time) bool { return !fresh(at, now, tenantCacheTTL) })
	}
	c.found[id] = now
	c.mu.Unlock()
	return nil
}

// fresh reports whether something loaded at loaded is still valid at now.
// A clock that went backwards counts as stale.
func fresh(loaded, now time.Time, ttl time.Duration) bool {
	age := now.Sub(loaded)
	return age >= 0 && age < ttl
}

// evict removes the stale entries of a full cache, or all of them if none
// is stale.
func evict[V any](m map[string]V, stale func(V) bool) {
	n := len(m)
	for k, v := range m {
		if stale(v) {
			delete(m, k)
		}
	}
	if len(m) == n {
		clear(m)
	}
}
