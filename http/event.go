package http

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/hookd/hookd"
)

// eventInput is one event of a publish request.
type eventInput struct {
	ID             string          `json:"id"`
	Type           string          `json:"type"`
	Data           json.RawMessage `json:"data"`
	IdempotencyKey string          `json:"idempotency_key"`
}

// publishResult is what publishing answers for one event.
type publishResult struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	Deliveries int       `json:"deliveries"`
	CreatedAt  time.Time `json:"created_at"`
}

func resultOf(ev *hookd.Event) publishResult {
	return publishResult{ID: ev.ID, Type: ev.Type, Deliveries: ev.Deliveries, CreatedAt: ev.CreatedAt}
}

// envelopeOverhead is room for an event's fields around its data.
const envelopeOverhead = 4 << 10

// maxBatchBody bounds a batch request: room for MaxBatchEvents events of
// 16 KiB each, or fewer larger ones, but never above 64 MiB in one request.
const maxBatchBody = 64 << 20

func (s *Server) toEvent(in *eventInput, key string) (*hookd.Event, error) {
	if in.IdempotencyKey != "" {
		key = in.IdempotencyKey
	}
	ev := &hookd.Event{ID: in.ID, Type: in.Type, Payload: in.Data, IdempotencyKey: key, Origin: hookd.OriginAPI}
	if int64(len(ev.Payload)) > s.cfg.MaxBodyBytes {
		return nil, hookd.Errorf(hookd.ETOOLARGE, "Event data is over %d bytes.", s.cfg.MaxBodyBytes)
	}
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	return ev, nil
}

func (s *Server) publish(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, write)
	if err != nil {
		return err
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 {
		return hookd.Errorf(hookd.EINVALID, "Idempotency-Key must be at most 255 characters.")
	}
	var in eventInput
	if err := decode(w, r, s.cfg.MaxBodyBytes+envelopeOverhead, &in); err != nil {
		return err
	}
	if in.IdempotencyKey != "" {
		return hookd.Errorf(hookd.EINVALID, "Send the idempotency key in the Idempotency-Key header.")
	}
	ev, err := s.toEvent(&in, key)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.PublishEvents(r.Context(), tenant, []*hookd.Event{ev}, hookd.MatchSubscribed); err != nil {
		return err
	}
	if ev.Duplicate {
		w.Header().Set("Idempotent-Replayed", "true")
	} else if ev.Deliveries > 0 {
		s.cfg.OnPublish()
	}
	writeJSON(w, http.StatusAccepted, resultOf(ev))
	return nil
}

func (s *Server) publishBatch(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, write)
	if err != nil {
		return err
	}
	var in struct {
		Events []eventInput `json:"events"`
	}
	if err := decode(w, r, maxBatchBody, &in); err != nil {
		return err
	}
	switch {
	case len(in.Events) == 0:
		return hookd.Errorf(hookd.EINVALID, "events must hold at least one event.")
	case len(in.Events) > hookd.MaxBatchEvents:
		return hookd.Errorf(hookd.ETOOLARGE, "A batch holds at most %d events; got %d.", hookd.MaxBatchEvents, len(in.Events))
	}
	events := make([]*hookd.Event, len(in.Events))
	for i := range in.Events {
		ev, err := s.toEvent(&in.Events[i], "")
		if err != nil {
			return hookd.Errorf(hookd.ErrorCode(err), "events[%d]: %s", i, hookd.ErrorMessage(err))
		}
		events[i] = ev
	}
	if err := s.cfg.Store.PublishEvents(r.Context(), tenant, events, hookd.MatchSubscribed); err != nil {
		return err
	}
	out := make([]publishResult, len(events))
	wake := false
	for i, ev := range events {
		out[i] = resultOf(ev)
		wake = wake || (!ev.Duplicate && ev.Deliveries > 0)
	}
	if wake {
		s.cfg.OnPublish()
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"data": out})
	return nil
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, read)
	if err != nil {
		return err
	}
	ev, err := s.cfg.Store.FindEventByID(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ev)
	return nil
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, read)
	if err != nil {
		return err
	}
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := hookd.DeliveryFilter{TenantID: tenant, EndpointID: q.Get("endpoint_id"), EventID: q.Get("event_id"),
		State: hookd.DeliveryState(q.Get("state")), Page: p}
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

func (s *Server) getDelivery(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, read)
	if err != nil {
		return err
	}
	d, err := s.cfg.Store.FindDeliveryByID(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	log := d.AttemptLog
	if log == nil {
		log = []*hookd.Attempt{}
	}
	// The detail view always carries the attempt log, empty or not.
	writeJSON(w, http.StatusOK, struct {
		*hookd.Delivery
		AttemptLog []*hookd.Attempt `json:"attempt_log"`
	}{d, log})
	return nil
}

func (s *Server) retryDelivery(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, write)
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
