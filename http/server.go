package http

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/filter"
)

// Config configures the API. Only Store is required.
type Config struct {
	Store         hookd.Store
	Logger        *slog.Logger     // default: discard
	Now           func() time.Time // default time.Now
	AllowInsecure bool             // --dev: http:// and private destination URLs are accepted
	// OnPublish is called after deliveries were created or re-queued, to wake
	// the dispatcher. It must not block. May be nil.
	OnPublish func()
	// MaxBodyBytes is the limit of one event's payload in bytes; default
	// hookd.MaxPayloadSize. A batch request may carry MaxBatchEvents times
	// this, capped at maxBatchBody.
	MaxBodyBytes int64
	// Dispatcher, when set, takes new deliveries leased to it at publish
	// time, so they are sent without a claim round trip. May be nil.
	Dispatcher Dispatcher
	// ClientRate limits requests per second from one client address (IPv6:
	// one /64), with bursts of ClientBurst; over it the answer is 429 with
	// Retry-After. 0 disables the limit. Health checks are not limited.
	ClientRate  float64
	ClientBurst int
	// Notifier publishes operational events (endpoint created, updated,
	// deleted, disabled). May be nil.
	Notifier hookd.Notifier
	// Tester sends test requests (endpoint test, probe). May be nil: those
	// routes then answer 503.
	Tester Tester
	// Filters holds compiled endpoint filters; share one with the other
	// publishers of the process. Default: a new one.
	Filters *filter.Cache
	// Inbound holds sources, triggers, rules and runs; default Store.
	Inbound hookd.InboundStore
	// Reconcile plans and applies config files sent to /v1/config/apply;
	// default LocalReconciler(Store).
	Reconcile Reconciler
	// OnTrigger is called after a trigger was stored or replayed, to wake
	// the rule runner. It must not block. May be nil.
	OnTrigger func()
	// AllowCommands lets rules run command actions (off: such a rule is
	// refused when it is saved).
	AllowCommands bool
	// PublicURL is the base URL senders reach hookd at (e.g.
	// https://hooks.example.com), for the inbound URLs shown with sources.
	// Default: the scheme and host of the request asking.
	PublicURL string
}

// Dispatcher is the part of a local delivery dispatcher publishing uses
// (*delivery.Dispatcher implements it). Every Handoff is followed by exactly
// one Deliver: with the deliveries PublishEvents leased, or nil if
// publishing failed. Both accept a nil *hookd.Handoff.
type Dispatcher interface {
	Handoff() *hookd.Handoff
	Deliver(h *hookd.Handoff, leased []*hookd.ClaimedDelivery)
}

// Server is the REST API. It is an http.Handler; Handler returns the same.
type Server struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	mux     *http.ServeMux
	keys    *keyCache
	tenants *tenantCache
	clients *clientLimiter // nil: no per-client limit
	// eventTypes caches each tenant's compiled event catalog (catalog.go).
	eventTypes *catalogCache
	filters    *filter.Cache
	// sourceLimits holds the per-source rate limits of inbound requests.
	sourceLimits *sourceLimiter
	// sources caches the sources of inbound requests (sourcecache.go).
	sources *sourceCache
}

var _ http.Handler = (*Server)(nil)

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
	if cfg.Filters == nil {
		cfg.Filters = filter.NewCache(cfg.Now)
	}
	if cfg.Inbound == nil {
		cfg.Inbound = cfg.Store
	}
	if cfg.Reconcile == nil {
		cfg.Reconcile = LocalReconciler(cfg.Store)
	}
	if cfg.OnTrigger == nil {
		cfg.OnTrigger = func() {}
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, now: cfg.Now, mux: http.NewServeMux(),
		keys: newKeyCache(), tenants: newTenantCache(), clients: newClientLimiter(cfg.ClientRate, cfg.ClientBurst),
		eventTypes: &catalogCache{entries: map[string]*catalogEntry{}}, filters: cfg.Filters,
		sourceLimits: newSourceLimiter(), sources: newSourceCache(),
	}
	s.routes()
	return s
}

// Handler returns the root handler: /v1/..., /healthz and /readyz.
func (s *Server) Handler() http.Handler { return s }

// handlerFunc is an API handler that returns an error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// apiRoute is one authenticated /v1 route.
type apiRoute struct {
	pattern string // "METHOD /path" as http.ServeMux takes it
	handle  func(s *Server, w http.ResponseWriter, r *http.Request) error
}

// publicRoutes are the routes that need no credential.
var publicRoutes = []string{"GET /healthz", "GET /readyz", openAPIRoute}

// apiRoutes lists every /v1 route. It is the one list of the API: the mux
// registers it, and the authorization test requires a row for each entry.
// Who may call a route is decided inside its handler, by Server.tenant or
// Server.superadmin.
func apiRoutes() []apiRoute {
	const t = "/v1/tenants/{tenant}"
	return []apiRoute{
		{"POST /v1/tenants", (*Server).createTenant},
		{"GET /v1/tenants", (*Server).listTenants},
		{"GET " + t, (*Server).getTenant},
		{"PATCH " + t, (*Server).updateTenant},
		{"DELETE " + t, (*Server).deleteTenant},

		{"POST " + t + "/keys", (*Server).createTenantKey},
		{"GET " + t + "/keys", (*Server).listTenantKeys},
		{"DELETE " + t + "/keys/{id}", (*Server).revokeTenantKey},
		{"POST /v1/keys", (*Server).createSuperadminKey},
		{"GET /v1/keys", (*Server).listSuperadminKeys},
		{"DELETE /v1/keys/{id}", (*Server).revokeSuperadminKey},
		{"POST /v1/tokens", (*Server).createToken},

		{"GET " + t + "/audit", (*Server).listTenantAudit},
		{"GET /v1/audit", (*Server).listAudit},

		{"POST /v1/config/apply", (*Server).applyConfig},
		{"GET " + t + "/config", (*Server).exportConfig},

		{"POST " + t + "/event-types", (*Server).createEventType},
		{"GET " + t + "/event-types", (*Server).listEventTypes},
		{"GET " + t + "/event-types/{name}", (*Server).getEventType},
		{"PATCH " + t + "/event-types/{name}", (*Server).updateEventType},
		{"DELETE " + t + "/event-types/{name}", (*Server).deleteEventType},

		{"POST " + t + "/endpoints", (*Server).createEndpoint},
		{"GET " + t + "/endpoints", (*Server).listEndpoints},
		{"GET " + t + "/endpoints/{id}", (*Server).getEndpoint},
		{"PATCH " + t + "/endpoints/{id}", (*Server).updateEndpoint},
		{"DELETE " + t + "/endpoints/{id}", (*Server).deleteEndpoint},
		{"POST " + t + "/endpoints/{id}/enable", setState(hookd.EndpointEnabled, "enable", hookd.EndpointDisabled)},
		{"POST " + t + "/endpoints/{id}/disable", setState(hookd.EndpointDisabled, "disable")},
		{"POST " + t + "/endpoints/{id}/pause", setState(hookd.EndpointPaused, "pause", hookd.EndpointEnabled)},
		{"POST " + t + "/endpoints/{id}/resume", setState(hookd.EndpointEnabled, "resume", hookd.EndpointPaused)},
		{"POST " + t + "/endpoints/{id}/rotate-secret", (*Server).rotateSecret},
		{"POST " + t + "/endpoints/{id}/test", (*Server).testEndpoint},
		{"POST " + t + "/endpoints/{id}/recover", (*Server).recoverEndpoint},
		{"POST " + t + "/endpoints/{id}/replay", (*Server).replayEndpoint},
		{"POST " + t + "/probe", (*Server).probe},

		{"POST " + t + "/events", (*Server).publish},
		{"POST " + t + "/events/batch", (*Server).publishBatch},
		{"GET " + t + "/events/{id}", (*Server).getEvent},

		{"GET " + t + "/deliveries", (*Server).listDeliveries},
		{"GET " + t + "/deliveries/{id}", (*Server).getDelivery},
		{"POST " + t + "/deliveries/{id}/retry", (*Server).retryDelivery},

		{"POST " + t + "/sources", (*Server).createSource},
		{"GET " + t + "/sources", (*Server).listSources},
		{"GET " + t + "/sources/{id}", (*Server).getSource},
		{"PATCH " + t + "/sources/{id}", (*Server).updateSource},
		{"DELETE " + t + "/sources/{id}", (*Server).deleteSource},

		{"POST " + t + "/rules", (*Server).createRule},
		{"GET " + t + "/rules", (*Server).listRules},
		{"POST " + t + "/rules/test", (*Server).testRule},
		{"GET " + t + "/rules/{id}", (*Server).getRule},
		{"PATCH " + t + "/rules/{id}", (*Server).updateRule},
		{"DELETE " + t + "/rules/{id}", (*Server).deleteRule},

		{"GET " + t + "/triggers", (*Server).listTriggers},
		{"GET " + t + "/triggers/{id}", (*Server).getTrigger},
		{"POST " + t + "/triggers/{id}/replay", (*Server).replayTrigger},
		{"GET " + t + "/runs", (*Server).listRuns},
		{"GET " + t + "/runs/{id}", (*Server).getRun},
		{"POST /v1/triggers", (*Server).postTrigger},
	}
}

// inboundRoutes are the routes senders call. They take no bearer
// credential of the API: a source's verifier (or, for st2, an API key in
// any place signature.APIKeyFrom looks) authenticates each request.
func inboundRoutes() []apiRoute {
	return []apiRoute{
		{"POST /v1/webhooks/st2", (*Server).receiveST2},
		{"POST /v1/webhooks/{name...}", (*Server).receive},
	}
}

// Routes returns the pattern ("METHOD /path") of every route the server
// registers: /healthz and /readyz, then every /v1 route, then the inbound
// routes.
func Routes() []string {
	out := append([]string(nil), publicRoutes...)
	for _, rt := range apiRoutes() {
		out = append(out, rt.pattern)
	}
	for _, rt := range inboundRoutes() {
		out = append(out, rt.pattern)
	}
	return out
}

// routes registers every route. Resources live under /v1/tenants/{tenant}.
func (s *Server) routes() {
	s.mux.HandleFunc(publicRoutes[0], s.handleHealth)
	s.mux.HandleFunc(publicRoutes[1], s.handleReady)
	s.mux.HandleFunc(openAPIRoute, s.handleOpenAPI)
	for _, rt := range apiRoutes() {
		handle := rt.handle
		s.mux.Handle(rt.pattern, s.api(func(w http.ResponseWriter, r *http.Request) error { return handle(s, w, r) }))
	}
	for _, rt := range inboundRoutes() {
		handle := rt.handle
		s.mux.Handle(rt.pattern, s.inbound(func(w http.ResponseWriter, r *http.Request) error { return handle(s, w, r) }))
	}
	// Other methods on inbound URLs: 405 without asking for a credential.
	s.mux.Handle("/v1/webhooks/{name...}", s.inbound(webhookMethodNotAllowed))
}

// ServeHTTP serves the API. Requests no route matches get a JSON 404 or,
// when the path exists with other methods, a JSON 405 with Allow; under /v1
// the caller must authenticate first, so the API cannot be mapped anonymously.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer s.recoverPanic(w, r)
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		w = sw
		defer func() {
			s.log.Debug("request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)))
		}()
	}
	if r.URL.Path != "/healthz" && r.URL.Path != "/readyz" && !s.limit(w, r) {
		return
	}
	if h, pattern := s.mux.Handler(r); pattern == "" {
		s.noRoute(w, r, h)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// noRoute answers a request no pattern matched. h is the mux's own answer,
// run against a recorder only to learn whether it would be a 405 and which
// methods it would allow.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request, h http.Handler) {
	if r.URL.Path == "/v1" || strings.HasPrefix(r.URL.Path, "/v1/") {
		if _, err := s.authenticate(r); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", rec.header.Get("Allow"))
		s.writeError(w, r, hookd.Errorf(codeMethodNotAllowed, "Method %s is not allowed here; use %s.", r.Method, rec.header.Get("Allow")))
		return
	}
	s.writeError(w, r, hookd.Errorf(hookd.ENOTFOUND, "No such route: %s %s.", r.Method, r.URL.Path))
}

// api wraps an API handler: it authenticates the caller, puts the
// principal in the request context and writes a returned error.
func (s *Server) api(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		r = r.WithContext(hookd.WithPrincipal(r.Context(), p))
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady answers 200 while the store answers a read, 503 otherwise.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	_, err := s.cfg.Store.FindTenant(ctx, hookd.DefaultTenant)
	if err != nil && hookd.ErrorCode(err) != hookd.ENOTFOUND {
		s.log.Warn("not ready", slog.Any("err", err))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// recoverPanic turns a handler panic into a logged 500 instead of a dropped
// connection. http.ErrAbortHandler keeps its meaning.
func (s *Server) recoverPanic(w http.ResponseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	s.log.Error("panic serving request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
	writeJSON(w, http.StatusInternalServerError, errorBody(hookd.EINTERNAL, internalMessage))
}

// headerRecorder captures the status and headers the mux's fallback
// handlers would write, and drops their plain-text body.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerRecorder) WriteHeader(status int)      { h.status = status }

// statusWriter remembers the status of a response for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
