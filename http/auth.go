package http

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hookd/hookd"
)

type principalKey struct{}

// PrincipalFrom returns the authenticated caller of a request.
func PrincipalFrom(ctx context.Context) (hookd.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(hookd.Principal)
	return p, ok
}

// BearerToken extracts the credential of an "Authorization: Bearer <token>"
// header. The scheme is case-insensitive; the token must be non-empty
// printable ASCII without spaces.
func BearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if token == "" || len(token) > 512 {
		return "", false
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c > '~' {
			return "", false
		}
	}
	return token, true
}

var errUnauthorized = hookd.Errorf(hookd.EUNAUTHORIZED, "A valid API key is required: send Authorization: Bearer <key>.")

// authenticate resolves the request's API key to a principal.
func (s *Server) authenticate(r *http.Request) (hookd.Principal, error) {
	token, ok := BearerToken(r.Header.Get("Authorization"))
	if !ok {
		return hookd.Principal{}, errUnauthorized
	}
	hash := hookd.HashAPIKey(token)
	now := s.now()
	key, err := s.lookupKey(r.Context(), hash, now)
	if err != nil {
		return hookd.Principal{}, err
	}
	if !key.Usable(now) {
		return hookd.Principal{}, hookd.Errorf(hookd.EUNAUTHORIZED, "The API key is revoked or expired.")
	}
	return hookd.Principal{KeyID: key.ID, TenantID: key.TenantID, Role: key.Role}, nil
}

// lookupKey finds a key by hash, through the cache, and records its use at
// most once per touchInterval, off the request path.
func (s *Server) lookupKey(ctx context.Context, hash string, now time.Time) (*hookd.APIKey, error) {
	c := s.keys
	c.mu.Lock()
	e, ok := c.entries[hash]
	c.mu.Unlock()
	if !ok || now.Sub(e.loaded) > keyCacheTTL {
		key, err := s.cfg.Store.FindAPIKeyByHash(ctx, hash)
		if hookd.ErrorCode(err) == hookd.ENOTFOUND {
			return nil, errUnauthorized
		} else if err != nil {
			return nil, err
		}
		e = keyEntry{key: key, loaded: now, touched: e.touched}
	}
	touch := now.Sub(e.touched) >= touchInterval
	if touch {
		e.touched = now
	}
	c.mu.Lock()
	if len(c.entries) > 10000 {
		clear(c.entries) // bound memory against key-guessing floods
	}
	c.entries[hash] = e
	c.mu.Unlock()
	if touch {
		go func(id string) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.cfg.Store.TouchAPIKey(ctx, id, now); err != nil {
				s.log.Debug("record key use", slog.String("key_id", id), slog.Any("err", err))
			}
		}(e.key.ID)
	}
	return e.key, nil
}

// Access levels a route needs on its tenant.
const (
	read  = false
	write = true
)

// tenant authorizes the caller for the path's tenant and returns its id.
// A caller who may not read the tenant, and a tenant that does not exist,
// both get ENOTFOUND; a reader who needs write access gets EFORBIDDEN.
func (s *Server) tenant(r *http.Request, needWrite bool) (string, error) {
	id := r.PathValue("tenant")
	p, _ := PrincipalFrom(r.Context())
	if !p.CanRead(id) {
		return "", hookd.Errorf(hookd.ENOTFOUND, "Tenant not found.")
	}
	if needWrite && !p.CanWrite(id) {
		return "", hookd.Errorf(hookd.EFORBIDDEN, "This key may only read tenant %q.", id)
	}
	if p.Role == hookd.RoleSuperadmin {
		// Others can only name their own tenant, which exists while their key does.
		if _, err := s.cfg.Store.FindTenant(r.Context(), id); err != nil {
			return "", err
		}
	}
	return id, nil
}
