package http

import (
	"net/http"

	"github.com/hookd/hookd"
)

func (s *Server) createEventType(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	var in struct {
		Name        string  `json:"name"`
		Description string  `json:"description"`
		Schema      rawJSON `json:"schema"`
		Example     rawJSON `json:"example"`
		Deprecated  bool    `json:"deprecated"`
		Archived    bool    `json:"archived"`
	}
	if err := decode(w, r, maxSmallBody, &in); err != nil {
		return err
	}
	t := &hookd.EventType{TenantID: tenant, Name: in.Name, Description: in.Description,
		Schema: in.Schema.value(), Example: in.Example.value(), Deprecated: in.Deprecated, Archived: in.Archived}
	if err := t.Validate(); err != nil {
		return err
	}
	if err := s.cfg.Store.CreateEventType(r.Context(), t); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, t)
	return nil
}

func (s *Server) listEventTypes(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, readAccess)
	if err != nil {
		return err
	}
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	items, next, err := s.cfg.Store.FindEventTypes(r.Context(), tenant, p)
	if err != nil {
		return err
	}
	writeList(w, items, next)
	return nil
}

func (s *Server) getEventType(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, readAccess)
	if err != nil {
		return err
	}
	t, err := s.cfg.Store.FindEventType(r.Context(), tenant, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) updateEventType(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	var upd hookd.EventTypeUpdate
	if err := decode(w, r, maxSmallBody, &upd); err != nil {
		return err
	}
	current, err := s.cfg.Store.FindEventType(r.Context(), tenant, r.PathValue("name"))
	if err != nil {
		return err
	}
	// Validate the result before writing it.
	merged := *current
	if upd.Description != nil {
		merged.Description = *upd.Description
	}
	if upd.Schema != nil {
		merged.Schema = *upd.Schema
	}
	if upd.Example != nil {
		merged.Example = *upd.Example
	}
	if err := merged.Validate(); err != nil {
		return err
	}
	t, err := s.cfg.Store.UpdateEventType(r.Context(), tenant, current.Name, upd)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) deleteEventType(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteEventType(r.Context(), tenant, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
