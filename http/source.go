package http

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/tokenbucket"
	"github.com/hookd/hookd/signature"
)

var (
	errSourceNotFound = hookd.Errorf(hookd.ENOTFOUND, "Source not found.")
)

// verifierInput is a verifier as the API takes it: the settings of
// hookd.SourceVerifier plus its secrets, which no answer shows.
type verifierInput struct {
	hookd.SourceVerifier
	Secrets []string `json:"secrets"`
}

func (v *verifierInput) verifier() hookd.SourceVerifier {
	out := v.SourceVerifier
	out.Secrets = v.Secrets
	return out
}

// sourceInput is the body of source create.
type sourceInput struct {
	Name           string                `json:"name"`
	Description    string                `json:"description"`
	Verifier       *verifierInput        `json:"verifier"`
	ContentTypes   []string              `json:"content_types"`
	MaxBodyBytes   int64                 `json:"max_body_bytes"`
	Response       *hookd.SourceResponse `json:"response"`
	RateLimit      float64               `json:"rate_limit"`
	DedupWindow    hookd.Duration        `json:"dedup_window"`
	HeartbeatEvery hookd.Duration        `json:"heartbeat_every"`
}

// sourcePatch is the body of source update: every field optional, the
// name fixed. A verifier without type keeps the current type, and one
// without secrets keeps the current secrets if the type stays the same.
// "response": null removes a custom response.
type sourcePatch struct {
	Description    *string            `json:"description"`
	Verifier       *verifierInput     `json:"verifier"`
	ContentTypes   *[]string          `json:"content_types"`
	MaxBodyBytes   *int64             `json:"max_body_bytes"`
	Response       hookd.NullableJSON `json:"response"`
	RateLimit      *float64           `json:"rate_limit"`
	DedupWindow    *hookd.Duration    `json:"dedup_window"`
	HeartbeatEvery *hookd.Duration    `json:"heartbeat_every"`
}

// sourceView is a source as the API shows it: with the URL senders post
// to and how many verifier secrets it holds, never their values.
type sourceView struct {
	*hookd.Source
	URL     string `json:"url"`
	Secrets int    `json:"secrets"`
}

func (s *Server) viewSource(r *http.Request, src *hookd.Source) sourceView {
	return sourceView{Source: src, URL: s.webhookURL(r, src.Name), Secrets: len(src.Verifier.Secrets)}
}

// webhookURL is the full inbound URL of the source name: Config.PublicURL,
// or the scheme and host the request came to, + /v1/webhooks/name.
func (s *Server) webhookURL(r *http.Request, name string) string {
	base := strings.TrimRight(s.cfg.PublicURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return base + "/v1/webhooks/" + strings.Join(parts, "/")
}

// validateSource checks a source as it is to be stored: its own rules, the
// reserved name and its verifier's settings (all EINVALID).
func validateSource(src *hookd.Source) error {
	if err := src.Validate(); err != nil {
		return err
	}
	if strings.EqualFold(src.Name, hookd.ST2SourceName) {
		return hookd.Errorf(hookd.EINVALID, "The source name %q is reserved for StackStorm's generic webhook (POST /v1/webhooks/st2).", src.Name)
	}
	return signature.ValidateSourceVerifier(src.Verifier)
}

func (s *Server) createSource(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	store := s.cfg.Inbound
	var in sourceInput
	if err := decode(w, r, maxSmallBody, &in); err != nil {
		return err
	}
	src := &hookd.Source{
		TenantID: tenant, Name: in.Name, Description: in.Description, ContentTypes: in.ContentTypes,
		MaxBodyBytes: in.MaxBodyBytes, Response: in.Response, RateLimit: in.RateLimit,
		DedupWindow: in.DedupWindow, HeartbeatEvery: in.HeartbeatEvery,
	}
	if in.Verifier != nil {
		src.Verifier = in.Verifier.verifier()
	}
	src.SetDefaults()
	if err := validateSource(src); err != nil {
		return err
	}
	if err := store.CreateSource(r.Context(), src); err != nil {
		if hookd.ErrorCode(err) == hookd.ECONFLICT {
			// Names are unique across tenants; say so without telling whose.
			return hookd.Errorf(hookd.ECONFLICT, "The source name %q is taken.", src.Name)
		}
		return err
	}
	s.forgetSources() // a name deleted on another node may be cached here
	writeJSON(w, http.StatusCreated, s.viewSource(r, src))
	return nil
}

func (s *Server) listSources(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, readAccess)
	if err != nil {
		return err
	}
	store := s.cfg.Inbound
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	items, next, err := store.FindSources(r.Context(), tenant, p)
	if err != nil {
		return err
	}
	views := make([]sourceView, len(items))
	for i, src := range items {
		views[i] = s.viewSource(r, src)
	}
	writeList(w, views, next)
	return nil
}

// findSource finds the source of the path's {id} in tenant, by id or by
// name ("/ci", "ci/" and "ci" are one name). Another tenant's source is
// errSourceNotFound, exactly like one that does not exist.
func findSource(ctx context.Context, store hookd.InboundStore, tenant, idOrName string) (*hookd.Source, error) {
	src, err := store.FindSourceByID(ctx, tenant, idOrName)
	if hookd.ErrorCode(err) != hookd.ENOTFOUND {
		return src, err
	}
	name := hookd.NormalizeSourceName(idOrName)
	if hookd.ValidateSourceName(name) != nil {
		return nil, errSourceNotFound
	}
	src, err = store.FindSourceByName(ctx, name)
	switch {
	case hookd.ErrorCode(err) == hookd.ENOTFOUND:
		return nil, errSourceNotFound
	case err != nil:
		return nil, err
	case src.TenantID != tenant:
		return nil, errSourceNotFound
	}
	return src, nil
}

func (s *Server) getSource(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, readAccess)
	if err != nil {
		return err
	}
	store := s.cfg.Inbound
	src, err := findSource(r.Context(), store, tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.viewSource(r, src))
	return nil
}

func (s *Server) updateSource(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	store := s.cfg.Inbound
	var in sourcePatch
	if err := decode(w, r, maxSmallBody, &in); err != nil {
		return err
	}
	current, err := findSource(r.Context(), store, tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.refuseManaged(r.Context(), hookd.KindSource, tenant, current.Name, current.Name); err != nil {
		return err
	}
	upd := hookd.SourceUpdate{
		Description: in.Description, ContentTypes: in.ContentTypes, MaxBodyBytes: in.MaxBodyBytes,
		RateLimit: in.RateLimit, DedupWindow: in.DedupWindow, HeartbeatEvery: in.HeartbeatEvery,
	}
	if in.Verifier != nil {
		v := in.Verifier.verifier()
		if v.Type == "" {
			v.Type = current.Verifier.Type
		}
		if v.Secrets == nil && v.Type != current.Verifier.Type {
			v.Secrets = []string{} // another type's secrets are not kept (nil keeps them)
		}
		upd.Verifier = &v
	}
	if in.Response.Set {
		var resp *hookd.SourceResponse
		if in.Response.Value != nil {
			resp = &hookd.SourceResponse{}
			if err := strictJSON(in.Response.Value, resp); err != nil {
				return hookd.Errorf(hookd.EINVALID, "response: %s", hookd.ErrorMessage(err))
			}
		}
		upd.Response = &resp
	}
	// Validate the source as it would be, then write what the caller set,
	// in the form SetDefaults gave it.
	merged := *current
	upd.Apply(&merged)
	merged.SetDefaults()
	if err := validateSource(&merged); err != nil {
		return err
	}
	if upd.ContentTypes != nil {
		upd.ContentTypes = &merged.ContentTypes
	}
	if upd.MaxBodyBytes != nil {
		upd.MaxBodyBytes = &merged.MaxBodyBytes
	}
	if upd.DedupWindow != nil {
		upd.DedupWindow = &merged.DedupWindow
	}
	src, err := store.UpdateSource(r.Context(), tenant, current.ID, upd)
	if err != nil {
		return err
	}
	s.forgetSources()
	writeJSON(w, http.StatusOK, s.viewSource(r, src))
	return nil
}

func (s *Server) deleteSource(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	store := s.cfg.Inbound
	src, err := findSource(r.Context(), store, tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.refuseManaged(r.Context(), hookd.KindSource, tenant, src.Name, src.Name); err != nil {
		return err
	}
	if err := store.DeleteSource(r.Context(), tenant, src.ID); err != nil {
		return err
	}
	s.sourceLimits.forget(src.ID)
	s.forgetSources()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// sourceLimiter holds a token bucket per source for Source.RateLimit, on
// this node: rate per second, bursts of twice that (at least one).
type sourceLimiter struct {
	mu      sync.Mutex
	buckets map[string]*sourceBucket
}

type sourceBucket struct {
	tokenbucket.Bucket
	rate, burst float64 // as of the last request
}

// maxSourceBuckets bounds the buckets kept; past it, full ones (of idle
// sources) are dropped, and if that is not enough all are.
const maxSourceBuckets = 100_000

func newSourceLimiter() *sourceLimiter {
	return &sourceLimiter{buckets: map[string]*sourceBucket{}}
}

// allow spends a token of the source at now, or reports how long until it
// has one. A source without a rate limit is always allowed.
func (l *sourceLimiter) allow(src *hookd.Source, now time.Time) (bool, time.Duration) {
	if src.RateLimit <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[src.ID]
	if b == nil {
		if len(l.buckets) >= maxSourceBuckets {
			for k, b := range l.buckets {
				if b.Full(now, b.rate, b.burst) {
					delete(l.buckets, k)
				}
			}
			if len(l.buckets) >= maxSourceBuckets {
				clear(l.buckets)
			}
		}
		b = &sourceBucket{}
		l.buckets[src.ID] = b
	}
	b.rate, b.burst = src.RateLimit, max(2*src.RateLimit, 1)
	return b.Take(now, b.rate, b.burst)
}

func (l *sourceLimiter) forget(id string) {
	l.mu.Lock()
	delete(l.buckets, id)
	l.mu.Unlock()
}
