package http

import (
	"net/http"
	"time"

	"github.com/hookd/hookd"
)

// keyInput is the body of key creation.
type keyInput struct {
	Name string     `json:"name"`
	Role hookd.Role `json:"role"`
	// ExpiresAt (RFC 3339) or TTL (a duration from now) ends the key; at
	// most one of them. Without either the key does not expire.
	ExpiresAt *string         `json:"expires_at"`
	TTL       *hookd.Duration `json:"ttl"`
}

// keyWithSecret is the create response: the only one carrying the key.
type keyWithSecret struct {
	*hookd.APIKey
	Key string `json:"key"`
}

// createKey validates in, stores a new key of tenant ("" for superadmin)
// and answers 201 with the key, shown this once.
func (s *Server) createKey(w http.ResponseWriter, r *http.Request, tenant string, in keyInput) error {
	now := s.now().UTC().Truncate(time.Microsecond) // what every store keeps
	k := &hookd.APIKey{TenantID: tenant, Role: in.Role, Name: in.Name, CreatedAt: now}
	switch {
	case in.ExpiresAt != nil && in.TTL != nil:
		return hookd.Errorf(hookd.EINVALID, "Give expires_at or ttl, not both.")
	case in.ExpiresAt != nil:
		at, err := time.Parse(time.RFC3339, *in.ExpiresAt)
		if err != nil {
			return hookd.Errorf(hookd.EINVALID, "expires_at must be an RFC 3339 time like 2030-01-02T15:04:05Z.")
		}
		if !at.After(now) {
			return hookd.Errorf(hookd.EINVALID, "expires_at must be in the future.")
		}
		at = at.UTC().Truncate(time.Microsecond)
		k.ExpiresAt = &at
	case in.TTL != nil:
		if *in.TTL <= 0 {
			return hookd.Errorf(hookd.EINVALID, "ttl must be a positive duration like \"720h\".")
		}
		at := now.Add(time.Duration(*in.TTL))
		k.ExpiresAt = &at
	}
	if err := k.Validate(); err != nil {
		return err
	}
	secret := hookd.NewAPIKeySecret()
	k.Hash = hookd.HashAPIKey(secret)
	if err := s.cfg.Store.CreateAPIKey(r.Context(), k); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, keyWithSecret{APIKey: k, Key: secret})
	return nil
}

// listKeys answers a page of keys matching f; keys show neither the key
// nor its hash.
func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, f hookd.APIKeyFilter) error {
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	f.Page = p
	items, next, err := s.cfg.Store.FindAPIKeys(r.Context(), f)
	if err != nil {
		return err
	}
	writeList(w, items, next)
	return nil
}

// revokeKey revokes key k and drops it (and its tokens) from this
// server's cache, so it stops working here at once: 204. A key a config
// file manages is refused.
func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, k *hookd.APIKey) error {
	if err := s.refuseManaged(r.Context(), hookd.KindKey, k.TenantID, k.ID, orKey(k.Name, k.ID)); err != nil {
		return err
	}
	if err := s.cfg.Store.RevokeAPIKey(r.Context(), k.ID, s.now()); err != nil {
		return err
	}
	s.forgetCredentials(func(c *hookd.APIKey) bool { return c.ID == k.ID })
	w.WriteHeader(http.StatusNoContent)
	return nil
}

var errKeyNotFound = hookd.Errorf(hookd.ENOTFOUND, "API key not found.")

// createTenantKey creates an admin or viewer key of the tenant: admin.
func (s *Server) createTenantKey(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	var in keyInput
	if err := decode(w, r, maxSmallBody, &in); err != nil {
		return err
	}
	switch in.Role {
	case hookd.RoleAdmin, hookd.RoleViewer:
	case hookd.RoleSuperadmin:
		return hookd.Errorf(hookd.EINVALID, "A tenant's keys are admin or viewer keys; a superadmin creates superadmin keys with POST /v1/keys.")
	default:
		return hookd.Errorf(hookd.EINVALID, "role must be admin or viewer.")
	}
	return s.createKey(w, r, tenant, in)
}

// listTenantKeys lists the tenant's keys: anyone who may read the tenant,
// viewers included (a listing shows no secret).
func (s *Server) listTenantKeys(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, readAccess)
	if err != nil {
		return err
	}
	return s.listKeys(w, r, hookd.APIKeyFilter{TenantID: tenant})
}

// revokeTenantKey revokes one of the tenant's keys: admin.
func (s *Server) revokeTenantKey(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	k, err := s.cfg.Store.FindAPIKeyByID(r.Context(), r.PathValue("id"))
	if hookd.ErrorCode(err) == hookd.ENOTFOUND || (err == nil && k.TenantID != tenant) {
		return errKeyNotFound
	} else if err != nil {
		return err
	}
	return s.revokeKey(w, r, k)
}

// createSuperadminKey creates a superadmin key: superadmin.
func (s *Server) createSuperadminKey(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.superadmin(r); err != nil {
		return err
	}
	var in keyInput
	if err := decode(w, r, maxSmallBody, &in); err != nil {
		return err
	}
	if in.Role == "" {
		in.Role = hookd.RoleSuperadmin
	}
	if in.Role != hookd.RoleSuperadmin {
		return hookd.Errorf(hookd.EINVALID, "Keys made here are superadmin keys; create admin and viewer keys with POST /v1/tenants/{tenant}/keys.")
	}
	return s.createKey(w, r, "", in)
}

// listSuperadminKeys lists the superadmin keys: superadmin.
func (s *Server) listSuperadminKeys(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.superadmin(r); err != nil {
		return err
	}
	return s.listKeys(w, r, hookd.APIKeyFilter{Role: hookd.RoleSuperadmin})
}

// revokeSuperadminKey revokes a superadmin key: superadmin. The last
// usable superadmin key cannot be revoked (ECONFLICT), so the API never
// locks itself out.
func (s *Server) revokeSuperadminKey(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.superadmin(r); err != nil {
		return err
	}
	k, err := s.cfg.Store.FindAPIKeyByID(r.Context(), r.PathValue("id"))
	if hookd.ErrorCode(err) == hookd.ENOTFOUND || (err == nil && k.Role != hookd.RoleSuperadmin) {
		return errKeyNotFound
	} else if err != nil {
		return err
	}
	if now := s.now(); k.Usable(now) {
		others, err := s.usableSuperadminKeys(r, k.ID, now)
		if err != nil {
			return err
		}
		if others == 0 {
			return hookd.Errorf(hookd.ECONFLICT, "This is the last usable superadmin key; create another one before revoking it.")
		}
	}
	return s.revokeKey(w, r, k)
}

// usableSuperadminKeys counts the usable superadmin keys other than except.
func (s *Server) usableSuperadminKeys(r *http.Request, except string, now time.Time) (int, error) {
	n := 0
	f := hookd.APIKeyFilter{Role: hookd.RoleSuperadmin, Page: hookd.Page{Limit: hookd.MaxPageSize}}
	for {
		keys, next, err := s.cfg.Store.FindAPIKeys(r.Context(), f)
		if err != nil {
			return 0, err
		}
		for _, k := range keys {
			if k.ID != except && k.Usable(now) {
				n++
			}
		}
		if next == "" || n > 0 {
			return n, nil
		}
		f.Cursor = next
	}
}

// tokenAnswer is the answer to a token request: the only time the token
// is shown.
type tokenAnswer struct {
	ID        string    `json:"id"`
	Token     string    `json:"token"`
	KeyID     string    `json:"key_id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// createToken mints a token from the caller's API key (a token cannot
// mint tokens): ttl between MinTokenTTL and MaxTokenTTL, default
// DefaultTokenTTL, and never past the key's own expiry. The body may be
// empty.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	if p.TokenID != "" {
		return hookd.Errorf(hookd.EFORBIDDEN, "Tokens are minted with an API key, not with another token.")
	}
	var in struct {
		TTL *hookd.Duration `json:"ttl"`
	}
	if r.ContentLength != 0 {
		if err := decode(w, r, maxSmallBody, &in); err != nil {
			return err
		}
	}
	ttl := hookd.DefaultTokenTTL
	if in.TTL != nil {
		ttl = time.Duration(*in.TTL)
	}
	if ttl < hookd.MinTokenTTL || ttl > hookd.MaxTokenTTL {
		return hookd.Errorf(hookd.EINVALID, "ttl must be between %s and %s.", hookd.MinTokenTTL, hookd.MaxTokenTTL)
	}
	key, err := s.cfg.Store.FindAPIKeyByID(r.Context(), p.KeyID)
	if hookd.ErrorCode(err) == hookd.ENOTFOUND {
		return errKeyNotUsable
	} else if err != nil {
		return err
	}
	now := s.now().UTC().Truncate(time.Microsecond) // what every store keeps
	if !key.Usable(now) {
		return errKeyNotUsable
	}
	expires := now.Add(ttl)
	if key.ExpiresAt != nil && key.ExpiresAt.Before(expires) {
		expires = key.ExpiresAt.UTC().Truncate(time.Microsecond)
	}
	secret := hookd.NewTokenSecret()
	t := &hookd.Token{KeyID: key.ID, Hash: hookd.HashAPIKey(secret), CreatedAt: now, ExpiresAt: expires}
	if err := s.cfg.Store.CreateToken(r.Context(), t); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, tokenAnswer{ID: t.ID, Token: secret, KeyID: t.KeyID, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt})
	return nil
}
