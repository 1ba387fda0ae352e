package http

import (
	"net/http"
	"time"

	"github.com/hookd/hookd"
)

// auditFilter reads ?action=, ?since= (RFC 3339) and the page of an audit
// listing.
func auditFilter(r *http.Request) (hookd.AuditFilter, error) {
	p, err := pageOf(r)
	if err != nil {
		return hookd.AuditFilter{}, err
	}
	q := r.URL.Query()
	f := hookd.AuditFilter{Action: q.Get("action"), Page: p}
	if err := hookd.ValidateAuditAction(f.Action); err != nil {
		return f, err
	}
	if v := q.Get("since"); v != "" {
		since, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return f, hookd.Errorf(hookd.EINVALID, "since must be an RFC 3339 time like 2030-01-02T15:04:05Z.")
		}
		f.Since = &since
	}
	return f, nil
}

func (s *Server) writeAudit(w http.ResponseWriter, r *http.Request, f hookd.AuditFilter) error {
	items, next, err := s.cfg.Store.FindAuditEntries(r.Context(), f)
	if err != nil {
		return err
	}
	writeList(w, items, next)
	return nil
}

// listTenantAudit answers a page of the tenant's audit log, newest first:
// admins of the tenant and superadmins (viewers get 403).
func (s *Server) listTenantAudit(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, adminAccess)
	if err != nil {
		return err
	}
	f, err := auditFilter(r)
	if err != nil {
		return err
	}
	f.TenantID = tenant
	return s.writeAudit(w, r, f)
}

// listAudit answers a page of the whole audit log, changes outside any
// tenant included, optionally of one ?tenant=: superadmin only.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.superadmin(r); err != nil {
		return err
	}
	f, err := auditFilter(r)
	if err != nil {
		return err
	}
	f.TenantID = r.URL.Query().Get("tenant")
	return s.writeAudit(w, r, f)
}
