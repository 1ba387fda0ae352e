package http

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/hookd/hookd"
)

// eventInput is one event of a publish request. IdempotencyKey is accepted
// only inside batches; a single publish sends the Idempotency-Key header.
type eventInput struct {
	ID             string          `json:"id"`
	Type           string          `json:"type"`
	Data           json.RawMessage `json:"data"`
	IdempotencyKey string          `json:"idempotency_key"`
}

// publishResult is the answer to a single publish; a replay answers the
// same as the first publish did. Deprecated is set when the event's type is
// deprecated in the catalog (at the time of the answer).
type publishResult struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	Deliveries int       `json:"deliveries"`
	CreatedAt  time.Time `json:"created_at"`
	Deprecated bool      `json:"deprecated,omitempty"`
}

// batchResult is one entry of a batch answer, in request order.
type batchResult struct {
	ID         string `json:"id"`
	Deliveries int    `json:"deliveries"`
	Deprecated bool   `json:"deprecated,omitempty"`
}

// batchAnswer is the answer to a batch publish (not a page: no cursor).
type batchAnswer struct {
	Data []batchResult `json:"data"`
}

// maxIdempotencyKey is the longest Idempotency-Key header accepted.
const maxIdempotencyKey = 255

// envelopeOverhead is room for an event's other fields around its data.
const envelopeOverhead = 4 << 10

// maxBatchBody caps a batch request at 64 MiB however large MaxBodyBytes
// is: a batch is held in memory and written in one transaction, so clients
// with large events send smaller batches. With the default 1 MiB per
// event, 1000 events of 64 KiB fit.
const maxBatchBody = 64 << 20

// batchLimit is the body limit of a batch request: MaxBatchEvents events of
// MaxBodyBytes each, capped at maxBatchBody.
func (s *Server) batchLimit() int64 {
	return min(hookd.MaxBatchEvents*(s.cfg.MaxBodyBytes+envelopeOverhead), maxBatchBody)
}

// fill sets ev from in and validates it, against its type in cat too
// (EUNPROCESSABLE if the data fails the type's schema); it reports whether
// the type is deprecated. key is the idempotency key of the request when in
// carries none. Types under hookd. are refused: only hookd publishes them.
func (s *Server) fill(ev *hookd.Event, in *eventInput, key string, cat *catalog) (deprecated bool, err error) {
	if in.IdempotencyKey != "" {
		key = in.IdempotencyKey
	}
	*ev = hookd.Event{ID: in.ID, Type: in.Type, Payload: in.Data, IdempotencyKey: key, Origin: hookd.OriginAPI}
	if int64(len(ev.Payload)) > s.cfg.MaxBodyBytes {
		return false, hookd.Errorf(hookd.ETOOLARGE, "Event data is over %d bytes.", s.cfg.MaxBodyBytes)
	}
	if err := ev.Validate(); err != nil {
		return false, err
	}
	if hookd.IsOperational(ev.Type) {
		return false, hookd.Errorf(hookd.EINVALID, "Event types starting with %q are reserved: hookd publishes its operational events itself.", hookd.OperationalPrefix)
	}
	return cat.check(ev)
}

// publishEvents publishes validated events of one tenant in one PublishEvents
// call, handing new deliveries to the local dispatcher when it has room,
// and wakes the dispatcher if deliveries were stored for it to claim.
func (s *Server) publishEvents(ctx context.Context, tenant string, events []*hookd.Event) error {
	var h *hookd.Handoff
	if s.cfg.Dispatcher != nil {
		h = s.cfg.Dispatcher.Handoff()
	}
	leased, err := s.cfg.Store.PublishEvents(ctx, tenant, events, s.filters.Matcher(), h)
	if err != nil {
		leased = nil // nothing was stored
	}
	if s.cfg.Dispatcher != nil {
		s.cfg.Dispatcher.Deliver(h, leased) // also returns the unused reservation
	}
	if err != nil {
		return err
	}
	created := 0
	for _, ev := range events {
		if !ev.Duplicate {
			created += ev.Deliveries
		}
	}
	if created > len(leased) {
		s.cfg.OnPublish()
	}
	return nil
}

// publish stores one event and its deliveries: 202 with publishResult.
func (s *Server) publish(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKey {
		return hookd.Errorf(hookd.EINVALID, "Idempotency-Key must be at most %d characters.", maxIdempotencyKey)
	}
	var in eventInput
	if err := decode(w, r, s.cfg.MaxBodyBytes+envelopeOverhead, &in); err != nil {
		return err
	}
	if in.IdempotencyKey != "" {
		return hookd.Errorf(hookd.EINVALID, "Send the idempotency key in the Idempotency-Key header.")
	}
	cat, err := s.catalog(r.Context(), tenant)
	if err != nil {
		return err
	}
	ev := new(hookd.Event)
	deprecated, err := s.fill(ev, &in, key, cat)
	if err != nil {
		return err
	}
	if err := s.publishEvents(r.Context(), tenant, []*hookd.Event{ev}); err != nil {
		return err
	}
	if ev.Duplicate {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusAccepted, publishResult{ID: ev.ID, Type: ev.Type, Deliveries: ev.Deliveries, CreatedAt: ev.CreatedAt, Deprecated: deprecated})
	return nil
}

// publishBatch stores 1..MaxBatchEvents events in one PublishEvents call,
// all or nothing: 202 with {"data":[{"id","deliveries"}...]} in order.
func (s *Server) publishBatch(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	inputs, err := s.decodeBatch(w, r)
	if err != nil {
		return err
	}
	cat, err := s.catalog(r.Context(), tenant)
	if err != nil {
		return err
	}
	events := make([]hookd.Event, len(inputs))
	ptrs := make([]*hookd.Event, len(inputs))
	out := make([]batchResult, len(events))
	for i := range inputs {
		if out[i].Deprecated, err = s.fill(&events[i], &inputs[i], "", cat); err != nil {
			return hookd.Errorf(hookd.ErrorCode(err), "events[%d]: %s", i, hookd.ErrorMessage(err))
		}
		ptrs[i] = &events[i]
	}
	if err := s.publishEvents(r.Context(), tenant, ptrs); err != nil {
		return err
	}
	for i := range events {
		out[i].ID, out[i].Deliveries = events[i].ID, events[i].Deliveries
	}
	writeJSON(w, http.StatusAccepted, batchAnswer{Data: out})
	return nil
}

// decodeBatch reads {"events":[...]} event by event, so a batch over
// MaxBatchEvents is refused as soon as its extra event starts, before the
// rest is read or held in memory.
func (s *Server) decodeBatch(w http.ResponseWriter, r *http.Request) ([]eventInput, error) {
	limit := s.batchLimit()
	dec, err := bodyDecoder(w, r, limit)
	if err != nil {
		return nil, err
	}
	notObject := hookd.Errorf(hookd.EINVALID, `The request body must be an object {"events":[...]}.`)
	if err := expectDelim(dec, '{', notObject, limit); err != nil {
		return nil, err
	}
	var inputs []eventInput
	seen := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, decodeError(err, limit)
		}
		if name, _ := tok.(string); name != "events" {
			return nil, hookd.Errorf(hookd.EINVALID, "Unknown field %q.", name)
		} else if seen {
			return nil, hookd.Errorf(hookd.EINVALID, `Field "events" is given twice.`)
		}
		seen = true
		notList := hookd.Errorf(hookd.EINVALID, "events must be a list of events.")
		if err := expectDelim(dec, '[', notList, limit); err != nil {
			return nil, err
		}
		for dec.More() {
			if len(inputs) == hookd.MaxBatchEvents {
				return nil, hookd.Errorf(hookd.ETOOLARGE, "A batch holds at most %d events; send the rest in another batch.", hookd.MaxBatchEvents)
			}
			inputs = append(inputs, eventInput{})
			if err := dec.Decode(&inputs[len(inputs)-1]); err != nil {
				if errors.Is(err, io.EOF) { // after a comma
					err = io.ErrUnexpectedEOF
				}
				err = decodeError(err, limit)
				if hookd.ErrorCode(err) == hookd.ETOOLARGE {
					return nil, err
				}
				return nil, hookd.Errorf(hookd.ErrorCode(err), "events[%d]: %s", len(inputs)-1, hookd.ErrorMessage(err))
			}
		}
		if err := expectDelim(dec, ']', notList, limit); err != nil {
			return nil, err
		}
	}
	if err := expectDelim(dec, '}', notObject, limit); err != nil {
		return nil, err
	}
	if err := finish(dec, limit); err != nil {
		return nil, err
	}
	if len(inputs) == 0 {
		return nil, hookd.Errorf(hookd.EINVALID, "events must hold at least one event.")
	}
	return inputs, nil
}

// expectDelim reads the next token and returns wrong unless it is d. The
// body ending before it is malformed JSON, except before the opening '{'.
func expectDelim(dec *json.Decoder, d json.Delim, wrong error, limit int64) error {
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) && d != '{' {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return decodeError(err, limit)
	}
	if tok != d {
		return wrong
	}
	return nil
}

// getEvent answers one event with its data.
func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, readAccess)
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
