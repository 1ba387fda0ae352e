package http

import (
	"net/http"

	"github.com/hookd/hookd"
)

// createTenant creates a tenant: superadmin only; 201 with the tenant.
func (s *Server) createTenant(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.superadmin(r); err != nil {
		return err
	}
	var in struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := decode(w, r, maxSmallBody, &in); err != nil {
		return err
	}
	t := &hookd.Tenant{ID: in.ID, Name: in.Name}
	if err := t.Validate(); err != nil {
		return err
	}
	if err := s.cfg.Store.CreateTenant(r.Context(), t); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, t)
	return nil
}

// listTenants answers a page of tenants: superadmin only.
func (s *Server) listTenants(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.superadmin(r); err != nil {
		return err
	}
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	items, next, err := s.cfg.Store.FindTenants(r.Context(), p)
	if err != nil {
		return err
	}
	writeList(w, items, next)
	return nil
}

// getTenant answers one tenant to anyone who may read it.
func (s *Server) getTenant(w http.ResponseWriter, r *http.Request) error {
	id, err := s.tenant(r, readAccess)
	if err != nil {
		return err
	}
	t, err := s.cfg.Store.FindTenant(r.Context(), id)
	if hookd.ErrorCode(err) == hookd.ENOTFOUND {
		return errTenantNotFound
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// updateTenant renames a tenant: superadmin only.
func (s *Server) updateTenant(w http.ResponseWriter, r *http.Request) error {
	id, err := s.tenant(r, superAccess)
	if err != nil {
		return err
	}
	var upd hookd.TenantUpdate
	if err := decode(w, r, maxSmallBody, &upd); err != nil {
		return err
	}
	if err := s.refuseManaged(r.Context(), hookd.KindTenant, "", id, id); err != nil {
		return err
	}
	if upd.Name != nil {
		if err := (&hookd.Tenant{ID: id, Name: *upd.Name}).Validate(); err != nil {
			return err
		}
	}
	t, err := s.cfg.Store.UpdateTenant(r.Context(), id, upd)
	if hookd.ErrorCode(err) == hookd.ENOTFOUND {
		return errTenantNotFound
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// deleteTenant deletes a tenant and all its data: superadmin only, not
// while a config file manages the tenant or anything in it, and only with
// ?confirm= repeating the tenant id. Its keys and tokens stop working on
// this server at once.
func (s *Server) deleteTenant(w http.ResponseWriter, r *http.Request) error {
	id, err := s.tenant(r, superAccess)
	if err != nil {
		return err
	}
	if err := s.refuseManagedTenant(r.Context(), id); err != nil {
		return err
	}
	if r.URL.Query().Get("confirm") != id {
		return hookd.Errorf(hookd.EINVALID,
			"Deleting tenant %q removes all its data (keys, endpoints, events, deliveries, audit log) and cannot be undone; to go ahead, repeat the request with ?confirm=%s.", id, id)
	}
	err = s.cfg.Store.DeleteTenant(r.Context(), id)
	if hookd.ErrorCode(err) == hookd.ENOTFOUND {
		return errTenantNotFound
	} else if err != nil {
		return err
	}
	s.forgetTenant(id)
	s.forgetCatalog(id)
	s.forgetSources()
	s.forgetCredentials(func(k *hookd.APIKey) bool { return k.TenantID == id })
	w.WriteHeader(http.StatusNoContent)
	return nil
}
