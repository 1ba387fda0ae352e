package http

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookd/hookd"
)

// Config configures the API.
type Config struct {
	Store         hookd.Store
	Logger        *slog.Logger
	Now           func() time.Time // default time.Now
	AllowInsecure bool             // --dev: http:// destination URLs are accepted
	OnPublish     func()           // called after deliveries were created or re-queued
	MaxBodyBytes  int64            // per-event payload limit; default hookd.MaxPayloadSize
}

// Server is the API handler.
type Server struct {
	cfg  Config
	log  *slog.Logger
	now  func() time.Time
	mux  *http.ServeMux
	keys *keyCache
}

// NewServer returns the API for cfg.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = hookd.MaxPayloadSize
	}
	if cfg.OnPublish == nil {
		cfg.OnPublish = func() {}
	}
	s := &Server{cfg: cfg, log: cfg.Logger, now: cfg.Now, mux: http.NewServeMux(), keys: newKeyCache()}
	s.routes()
	return s
}

// Handler returns the root handler.
func (s *Server) Handler() http.Handler { return s.mux }

// handlerFunc is an API handler that returns an error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.handleReady)

	route := func(pattern string, h handlerFunc) {
		s.mux.Handle(pattern, s.api(h))
	}
	const t = "/v1/tenants/{tenant}"
	route("POST "+t+"/event-types", s.createEventType)
	route("GET "+t+"/event-types", s.listEventTypes)
	route("GET "+t+"/event-types/{name}", s.getEventType)
	route("PATCH "+t+"/event-types/{name}", s.updateEventType)
	route("DELETE "+t+"/event-types/{name}", s.deleteEventType)

	route("POST "+t+"/endpoints", s.createEndpoint)
	route("GET "+t+"/endpoints", s.listEndpoints)
	route("GET "+t+"/endpoints/{id}", s.getEndpoint)
	route("PATCH "+t+"/endpoints/{id}", s.updateEndpoint)
	route("DELETE "+t+"/endpoints/{id}", s.deleteEndpoint)

	route("POST "+t+"/events", s.publish)
	route("POST "+t+"/events/batch", s.publishBatch)
	route("GET "+t+"/events/{id}", s.getEvent)

	route("GET "+t+"/deliveries", s.listDeliveries)
	route("GET "+t+"/deliveries/{id}", s.getDelivery)
	route("POST "+t+"/deliveries/{id}/retry", s.retryDelivery)

	// Anything else under /v1 is a JSON 404 (after auth, so unauthenticated
	// callers cannot map the API), and everything else a plain JSON 404.
	route("/v1/", func(w http.ResponseWriter, r *http.Request) error {
		return hookd.Errorf(hookd.ENOTFOUND, "No such route: %s %s.", r.Method, r.URL.Path)
	})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, s.log, hookd.Errorf(hookd.ENOTFOUND, "No such route: %s %s.", r.Method, r.URL.Path))
	})
}

// api wraps an API handler with authentication and error writing.
func (s *Server) api(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hookd"`)
			writeError(w, r, s.log, err)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		if err := h(w, r); err != nil {
			writeError(w, r, s.log, err)
		}
	})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := s.cfg.Store.FindTenant(ctx, hookd.DefaultTenant); err != nil && hookd.ErrorCode(err) != hookd.ENOTFOUND {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// statuses maps error codes to HTTP statuses.
var statuses = map[string]int{
	hookd.EINVALID:       http.StatusBadRequest,
	hookd.EUNAUTHORIZED:  http.StatusUnauthorized,
	hookd.EFORBIDDEN:     http.StatusForbidden,
	hookd.ENOTFOUND:      http.StatusNotFound,
	hookd.ECONFLICT:      http.StatusConflict,
	hookd.ETOOLARGE:      http.StatusRequestEntityTooLarge,
	hookd.EUNSUPPORTED:   http.StatusUnsupportedMediaType,
	hookd.EUNPROCESSABLE: http.StatusUnprocessableEntity,
	hookd.ERATELIMITED:   http.StatusTooManyRequests,
	hookd.EUNAVAILABLE:   http.StatusServiceUnavailable,
	hookd.EINTERNAL:      http.StatusInternalServerError,
}

// ErrorStatus returns the HTTP status of an error code.
func ErrorStatus(code string) int {
	if st, ok := statuses[code]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// writeError writes err as {"error":{"code","message"}}. Internal errors are
// logged and shown only as a generic message.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code, msg := hookd.ErrorCode(err), hookd.ErrorMessage(err)
	if code == hookd.EINTERNAL {
		log.Error("internal error", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
	}
	if code == hookd.EUNAVAILABLE {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, ErrorStatus(code), map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// list is the shape of every list response.
type list[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor"`
}

func writeList[T any](w http.ResponseWriter, items []T, next string) {
	if items == nil {
		items = []T{}
	}
	writeJSON(w, http.StatusOK, list[T]{Data: items, NextCursor: next})
}

// pageOf reads ?cursor= and ?limit=.
func pageOf(r *http.Request) (hookd.Page, error) {
	p := hookd.Page{Cursor: r.URL.Query().Get("cursor")}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > hookd.MaxPageSize {
			return p, hookd.Errorf(hookd.EINVALID, "limit must be a number from 1 to %d.", hookd.MaxPageSize)
		}
		p.Limit = n
	}
	return p, nil
}

// decode reads a JSON body of at most limit bytes into v, strictly: unknown
// fields and trailing data are errors, as is a non-JSON content type.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return hookd.Errorf(hookd.EUNSUPPORTED, "Request bodies must be application/json.")
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, limit)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return decodeError(err, limit)
		}
		return hookd.Errorf(hookd.EINVALID, "The request body must hold one JSON value.")
	}
	return nil
}

func decodeError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	var he *hookd.Error
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return hookd.Errorf(hookd.ETOOLARGE, "The request body is over %d bytes.", limit)
	case errors.As(err, &he):
		return he
	case errors.Is(err, io.EOF):
		return hookd.Errorf(hookd.EINVALID, "The request body is empty; send a JSON object.")
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return hookd.Errorf(hookd.EINVALID, "Malformed JSON in the request body.")
	case errors.As(err, &typ):
		return hookd.Errorf(hookd.EINVALID, "Field %q has the wrong type.", typ.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return hookd.Errorf(hookd.EINVALID, "Unknown field %s.", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return hookd.Errorf(hookd.EINVALID, "Invalid request body.")
}

// keyCache remembers recent successful key lookups so a busy publisher does
// not cost a database read per request. Entries live keyCacheTTL (2 s): a
// revoked or expired key stops working within that time.
type keyCache struct {
	mu      sync.Mutex
	entries map[string]keyEntry
}

type keyEntry struct {
	key     *hookd.APIKey
	loaded  time.Time
	touched time.Time
}

const (
	keyCacheTTL   = 2 * time.Second
	touchInterval = time.Minute
)

func newKeyCache() *keyCache { return &keyCache{entries: map[string]keyEntry{}} }
