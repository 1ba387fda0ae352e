package http

import (
	"net/http"

	"github.com/hookd/hookd"
)

// listDeliveries answers a page of deliveries, optionally filtered by
// endpoint_id, event_id and state.
func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, readAccess)
	if err != nil {
		return err
	}
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := hookd.DeliveryFilter{
		TenantID: tenant, EndpointID: q.Get("endpoint_id"), EventID: q.Get("event_id"),
		State: hookd.DeliveryState(q.Get("state")), Page: p,
	}
	if f.State != "" && !f.State.Valid() {
		return hookd.Errorf(hookd.EINVALID, "state must be one of pending, delivering, succeeded, failed, dead, cancelled.")
	}
	items, next, err := s.cfg.Store.FindDeliveries(r.Context(), f)
	if err != nil {
		return err
	}
	writeList(w, items, next)
	return nil
}

// deliveryDetail is a delivery whose attempt log is always present.
type deliveryDetail struct {
	*hookd.Delivery
	AttemptLog []*hookd.Attempt `json:"attempt_log"`
}

// getDelivery answers one delivery with its attempt log.
func (s *Server) getDelivery(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, readAccess)
	if err != nil {
		return err
	}
	d, err := s.cfg.Store.FindDeliveryByID(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	attempts := d.AttemptLog
	if attempts == nil {
		attempts = []*hookd.Attempt{}
	}
	writeJSON(w, http.StatusOK, deliveryDetail{d, attempts})
	return nil
}

// retryDelivery makes a delivery due now, its next attempt marked manual,
// and wakes the dispatcher: 202 with the delivery. ECONFLICT (409) while it
// is being delivered or once it was cancelled.
func (s *Server) retryDelivery(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	d, err := s.cfg.Store.RetryDelivery(r.Context(), tenant, r.PathValue("id"), s.now())
	if err != nil {
		return err
	}
	s.cfg.OnPublish()
	writeJSON(w, http.StatusAccepted, d)
	return nil
}
