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

// PrincipalFrom returns the authenticated caller of a request; ok is false
// outside an authenticated /v1 route. The API puts it in the request
// context with hookd.WithPrincipal, which is also what makes the store
// audit every change a request makes.
func PrincipalFrom(ctx context.Context) (p hookd.Principal, ok bool) {
	return hookd.PrincipalFrom(ctx)
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
	errTokenNotUsable = hookd.Errorf(hookd.EUNAUTHORIZED, "The token is expired, or its API key is revoked or expired.")
	errTenantNotFound = hookd.Errorf(hookd.ENOTFOUND, "Tenant not found.")
	errSuperadminOnly = hookd.Errorf(hookd.EFORBIDDEN, "Only a superadmin key may do this.")
	// errLookupAborted is what callers sharing a key read get if it panicked.
	errLookupAborted = errors.New("API key lookup aborted")
)

// credential is what a bearer secret stands for: an API key, or a token
// with the key it was minted from.
type credential struct {
	key   *hookd.APIKey
	token *hookd.Token // nil for a key
}

// usable reports whether the credential may authenticate at now.
func (c *credential) usable(now time.Time) bool {
	if c.token != nil {
		return c.token.Usable(now)
	}
	return c.key.Usable(now)
}

func (c *credential) principal() hookd.Principal {
	p := hookd.Principal{KeyID: c.key.ID, TenantID: c.key.TenantID, Role: c.key.Role}
	if c.token != nil {
		p.TokenID = c.token.ID
	}
	return p
}

// authenticate resolves the request's API key or token to a principal:
// EUNAUTHORIZED for a missing, malformed, unknown, revoked or expired
// credential (a token also when its key is revoked or expired),
// EUNAVAILABLE when the store cannot answer. A token carries its key's
// tenant and role.
func (s *Server) authenticate(r *http.Request) (hookd.Principal, error) {
	secret, ok := BearerToken(r.Header.Get("Authorization"))
	if !ok {
		return hookd.Principal{}, errNoKey
	}
	now := s.now()
	hash := hookd.HashAPIKey(secret)
	cred, err := s.lookupCredential(r.Context(), hash, strings.HasPrefix(secret, hookd.TokenPrefix), now)
	if err != nil {
		return hookd.Principal{}, err
	}
	if !cred.usable(now) {
		if cred.token != nil {
			return hookd.Principal{}, errTokenNotUsable
		}
		return hookd.Principal{}, errKeyNotUsable
	}
	s.recordUse(hash, cred.key.ID, now)
	return cred.principal(), nil
}

// access is what a route does with its tenant.
type access int

const (
	readAccess  access = iota // list, get
	writeAccess               // create, change, delete, publish, retry
	adminAccess               // read what only admins read: the audit log
	superAccess               // change or delete the tenant itself
)

// tenant authorizes the caller of r for the tenant in the path and returns
// its id. It is the one place that decides who may do what with a tenant:
//   - a caller who may not read the tenant gets ENOTFOUND "Tenant not found.",
//     exactly as for a tenant that does not exist, so nothing reveals
//     whether another tenant or its resources exist;
//   - a caller who may read but needs more (write or admin access: an
//     admin of the tenant or a superadmin; super access: a superadmin)
//     gets EFORBIDDEN;
//   - a tenant that does not exist is ENOTFOUND.
func (s *Server) tenant(r *http.Request, need access) (string, error) {
	id := r.PathValue("tenant")
	p, _ := PrincipalFrom(r.Context()) // the zero principal may do nothing
	if !p.CanRead(id) {
		return "", errTenantNotFound
	}
	switch {
	case need == writeAccess && !p.CanWrite(id):
		return "", hookd.Errorf(hookd.EFORBIDDEN, "This API key may only read tenant %q.", id)
	case need == adminAccess && !p.CanWrite(id):
		return "", hookd.Errorf(hookd.EFORBIDDEN, "Only an admin key of tenant %q may read this.", id)
	case need == superAccess && p.Role != hookd.RoleSuperadmin:
		return "", hookd.Errorf(hookd.EFORBIDDEN, "Only a superadmin key may change or delete a tenant.")
	}
	if err := s.tenantExists(r.Context(), id); err != nil {
		return "", err
	}
	return id, nil
}

// superadmin authorizes the caller of r for a route outside any tenant
// (tenant list and creation, superadmin keys, the whole audit log):
// EFORBIDDEN unless it is a superadmin.
func (s *Server) superadmin(r *http.Request) (hookd.Principal, error) {
	p, _ := PrincipalFrom(r.Context())
	if p.Role != hookd.RoleSuperadmin {
		return p, errSuperadminOnly
	}
	return p, nil
}

// Cache lifetimes. A positive key or token lookup is reused for
// keyCacheTTL, so a publisher sending 10,000 requests a second costs one
// read every two seconds, not one per request; the price is that a key
// revoked through another node keeps working on this one for up to
// keyCacheTTL (a revocation through this node drops its cache entries at
// once; expiry is exact: it is checked against the clock on every
// request). Tenant existence is cached as long, so a tenant deleted through
// another node may answer empty lists for that time. Last use is recorded
// at most once per touchInterval per key or token.
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

// keyCache remembers recent successful key and token lookups by hash.
// Concurrent misses of one hash share a single store read.
type keyCache struct {
	mu      sync.Mutex
	entries map[string]*keyEntry
	calls   map[string]*keyCall
	// gen counts invalidations; a lookup that began before one does not
	// cache what it read.
	gen uint64
}

type keyEntry struct {
	cred    *credential // read-only once cached
	loaded  time.Time
	touched time.Time // when last use was last recorded
}

// keyCall is a store read in flight; done is closed when cred/err are set.
type keyCall struct {
	done chan struct{}
	cred *credential
	err  error
}

func newKeyCache() *keyCache {
	return &keyCache{entries: map[string]*keyEntry{}, calls: map[string]*keyCall{}}
}

// lookupCredential finds a key (or, with token, a token and its key) by
// hash through the cache, revoked and expired ones included. An unknown
// hash is errNoKey. A secret with the token prefix that is no token is
// looked up as a key, so an operator-chosen key may start with it.
func (s *Server) lookupCredential(ctx context.Context, hash string, token bool, now time.Time) (*credential, error) {
	c := s.keys
	c.mu.Lock()
	if e, ok := c.entries[hash]; ok && fresh(e.loaded, now, keyCacheTTL) {
		c.mu.Unlock()
		return e.cred, nil
	}
	if call, ok := c.calls[hash]; ok {
		c.mu.Unlock()
		select {
		case <-call.done:
			return call.cred, call.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	call := &keyCall{done: make(chan struct{}), err: errLookupAborted}
	c.calls[hash] = call
	gen := c.gen
	c.mu.Unlock()
	defer func() { // also if the store panics, so no caller waits forever
		c.mu.Lock()
		delete(c.calls, hash)
		if call.err == nil && c.gen == gen {
			e := &keyEntry{cred: call.cred, loaded: now}
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
	call.cred, call.err = s.readCredential(lctx, hash, token)
	return call.cred, call.err
}

// readCredential reads a token or key by hash from the store.
func (s *Server) readCredential(ctx context.Context, hash string, token bool) (*credential, error) {
	if token {
		t, err := s.cfg.Store.FindTokenByHash(ctx, hash)
		if err == nil {
			return &credential{key: t.Key, token: t}, nil
		} else if hookd.ErrorCode(err) != hookd.ENOTFOUND {
			return nil, err
		}
	}
	key, err := s.cfg.Store.FindAPIKeyByHash(ctx, hash)
	if hookd.ErrorCode(err) == hookd.ENOTFOUND {
		return nil, errNoKey
	} else if err != nil {
		return nil, err
	}
	return &credential{key: key}, nil
}

// forgetCredentials drops the cached lookups of every key (and its
// tokens) for which drop returns true, and keeps lookups in flight from
// caching what they read: a revocation or deletion through this server
// takes effect here at once.
func (s *Server) forgetCredentials(drop func(k *hookd.APIKey) bool) {
	c := s.keys
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for hash, e := range c.entries {
		if drop(e.cred.key) {
			delete(c.entries, hash)
		}
	}
}

// recordUse records that a credential with hash, of the key with id,
// authenticated a request: the key's last use, in the background and at
// most once per touchInterval. A token's use counts as its key's.
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

// forgetTenant drops the cached existence of tenant id.
func (s *Server) forgetTenant(id string) {
	s.tenants.mu.Lock()
	delete(s.tenants.found, id)
	s.tenants.mu.Unlock()
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
