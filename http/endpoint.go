package http

import (
	"net/http"
	"slices"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/filter"
	"github.com/hookd/hookd/notify"
)

// endpointInput is the body of endpoint create: the settable fields of
// hookd.Endpoint plus an optional caller-chosen signing secret.
type endpointInput struct {
	Name          string             `json:"name"`
	Description   string             `json:"description"`
	URL           string             `json:"url"`
	Events        []string           `json:"events"`
	Headers       map[string]string  `json:"headers"`
	Signatures    []hookd.Signature  `json:"signatures"`
	Timeout       hookd.Duration     `json:"timeout"`
	RetrySchedule []hookd.Duration   `json:"retry_schedule"`
	MaxInFlight   int                `json:"max_in_flight"`
	RateLimit     float64            `json:"rate_limit"`
	Mode          hookd.DeliveryMode `json:"mode"`
	Filter        rawJSON            `json:"filter"`
	Secret        string             `json:"secret"`
}

// endpointWithSecret is the create response: the only one carrying the secret.
type endpointWithSecret struct {
	*hookd.Endpoint
	Secret string `json:"secret"`
}

func (s *Server) createEndpoint(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	var in endpointInput
	if err := decode(w, r, maxSmallBody, &in); err != nil {
		return err
	}
	secret := in.Secret
	if secret == "" {
		secret = hookd.NewEndpointSecret()
	} else if err := hookd.ValidateEndpointSecret(secret); err != nil {
		return err
	}
	ep := &hookd.Endpoint{
		TenantID: tenant, Name: in.Name, Description: in.Description, URL: in.URL, Events: in.Events,
		Headers: in.Headers, Signatures: in.Signatures, Timeout: in.Timeout, RetrySchedule: in.RetrySchedule,
		MaxInFlight: in.MaxInFlight, RateLimit: in.RateLimit, Mode: in.Mode, Filter: in.Filter.value(), Secrets: []hookd.Secret{{Value: secret, CreatedAt: s.now().UTC()}},
	}
	ep.SetDefaults()
	if err := ep.Validate(s.cfg.AllowInsecure); err != nil {
		return err
	}
	if err := filter.Validate(ep.Filter); err != nil {
		return err
	}
	if err := s.checkSubscriptions(r.Context(), tenant, ep.Events); err != nil {
		return err
	}
	if err := s.cfg.Store.CreateEndpoint(r.Context(), ep); err != nil {
		return err
	}
	s.notify(r.Context(), tenant, notify.EndpointEvent(hookd.TypeEndpointCreated, ep, ""))
	writeJSON(w, http.StatusCreated, endpointWithSecret{Endpoint: ep, Secret: secret})
	return nil
}

func (s *Server) listEndpoints(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, readAccess)
	if err != nil {
		return err
	}
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	f := hookd.EndpointFilter{TenantID: tenant, Page: p}
	if v := r.URL.Query().Get("state"); v != "" {
		st := hookd.EndpointState(v)
		if st != hookd.EndpointEnabled && st != hookd.EndpointPaused && st != hookd.EndpointDisabled {
			return hookd.Errorf(hookd.EINVALID, "state must be enabled, paused or disabled.")
		}
		f.State = &st
	}
	items, next, err := s.cfg.Store.FindEndpoints(r.Context(), f)
	if err != nil {
		return err
	}
	s.withStats(r.Context(), tenant, items...)
	writeList(w, items, next)
	return nil
}

func (s *Server) getEndpoint(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, readAccess)
	if err != nil {
		return err
	}
	ep, err := s.cfg.Store.FindEndpointByID(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	s.withStats(r.Context(), tenant, ep)
	writeJSON(w, http.StatusOK, ep)
	return nil
}

func (s *Server) updateEndpoint(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	var upd hookd.EndpointUpdate
	if err := decode(w, r, maxSmallBody, &upd); err != nil {
		return err
	}
	current, err := s.cfg.Store.FindEndpointByID(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.refuseManagedEndpoint(r.Context(), current); err != nil {
		return err
	}
	// Validate the endpoint as it would be, then write only what the caller
	// set, in the form SetDefaults gave it (e.g. a signature's default
	// header, the default schedule for an empty one).
	merged := *current
	upd.Apply(&merged)
	merged.SetDefaults()
	if err := merged.Validate(s.cfg.AllowInsecure); err != nil {
		return err
	}
	if upd.Filter.Set {
		if err := filter.Validate(merged.Filter); err != nil {
			return err
		}
	}
	if upd.Signatures != nil {
		upd.Signatures = &merged.Signatures
	}
	if upd.Events != nil {
		upd.Events = &merged.Events
	}
	if upd.Headers != nil {
		upd.Headers = &merged.Headers
	}
	if upd.Timeout != nil {
		upd.Timeout = &merged.Timeout
	}
	if upd.RetrySchedule != nil {
		upd.RetrySchedule = &merged.RetrySchedule
	}
	if upd.MaxInFlight != nil {
		upd.MaxInFlight = &merged.MaxInFlight
	}
	if upd.RateLimit != nil {
		upd.RateLimit = &merged.RateLimit
	}
	if upd.Mode != nil {
		upd.Mode = &merged.Mode
	}
	if upd.Events != nil {
		if err := s.checkSubscriptions(r.Context(), tenant, added(current.Events, merged.Events)); err != nil {
			return err
		}
	}
	ep, err := s.cfg.Store.UpdateEndpoint(r.Context(), tenant, current.ID, upd)
	if err != nil {
		return err
	}
	s.notify(r.Context(), tenant, notify.EndpointEvent(hookd.TypeEndpointUpdated, ep, ""))
	s.withStats(r.Context(), tenant, ep)
	writeJSON(w, http.StatusOK, ep)
	return nil
}

// added returns the patterns of now that were not in before.
func added(before, now []string) []string {
	var out []string
	for _, p := range now {
		if !slices.Contains(before, p) {
			out = append(out, p)
		}
	}
	return out
}

func (s *Server) deleteEndpoint(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	ep, err := s.cfg.Store.FindEndpointByID(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.refuseManagedEndpoint(r.Context(), ep); err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteEndpoint(r.Context(), tenant, ep.ID); err != nil {
		return err
	}
	s.notify(r.Context(), tenant, notify.EndpointEvent(hookd.TypeEndpointDeleted, ep, ""))
	w.WriteHeader(http.StatusNoContent)
	return nil
}
