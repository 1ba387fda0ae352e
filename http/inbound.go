package http

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/action"
	"github.com/hookd/hookd/inbound"
	"github.com/hookd/hookd/internal/jsondoc"
	"github.com/hookd/hookd/signature"
)

// redacted replaces the value of a credential or signature in a stored
// trigger.
const redacted = "[redacted]"

// alwaysRedacted are the headers no stored trigger keeps, whatever the
// source's verifier: credentials, and the signatures of every provider
// preset (an HMAC of the body is no use to a rule and should not outlive
// the request).
var alwaysRedacted = []string{
	"Authorization", "Cookie", "Proxy-Authorization", "X-Gitlab-Token", "St2-Api-Key", "X-Auth-Token", "X-Api-Key",
	"X-Hub-Signature", "X-Hub-Signature-256", "X-Shopify-Hmac-Sha256", "X-Slack-Signature", "Stripe-Signature",
	"Webhook-Signature", "Svix-Signature",
}

// deliveryIDHeaders carry a provider's delivery id, in the order they are
// looked at: GitHub (and Gitea), the Idempotency-Key convention, GitLab,
// Standard Webhooks and Svix, Bitbucket, Shopify.
var deliveryIDHeaders = []string{
	"X-Github-Delivery", "Idempotency-Key", "X-Gitlab-Event-Uuid", "Webhook-Id", "Svix-Id", "X-Request-Uuid", "X-Shopify-Webhook-Id",
}

// maxDeliveryID bounds a delivery id kept for de-duplication; a longer one
// is not used.
const maxDeliveryID = 255

var (
	errNotFoundWebhook = hookd.Errorf(hookd.ENOTFOUND, "No such webhook.")
	errNoST2Key        = hookd.Errorf(hookd.EUNAUTHORIZED, "An API key or token is required: send St2-Api-Key, X-Auth-Token, X-API-Key or Authorization: Bearer.")
)

// inbound wraps a handler of a route senders call: it asks for no API
// credential (the handler authenticates the request itself) and writes a
// returned error.
func (s *Server) inbound(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// webhookMethodNotAllowed answers every method but POST on an inbound URL,
// before looking the source up.
func webhookMethodNotAllowed(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Allow", http.MethodPost)
	return hookd.Errorf(codeMethodNotAllowed, "Method %s is not allowed here; use POST.", r.Method)
}

// receive handles POST /v1/webhooks/{name...}. In order: the source is
// found by normalized name (404, revealing nothing else); its rate limit
// (429 with Retry-After), body limit (413), verifier (401), content types
// (415) and the body's syntax (400) are checked; every refusal from there
// is counted on the source and stores nothing. An accepted request is
// stored as a trigger (a repeated provider delivery id within the
// source's window is acknowledged again and not stored), answered 202
// {"id"} or with the source's own response, and the rule runner woken.
func (s *Server) receive(w http.ResponseWriter, r *http.Request) error {
	store := s.cfg.Inbound
	name := hookd.NormalizeSourceName(r.PathValue("name"))
	if name == hookd.ST2SourceName {
		return s.receiveST2(w, r)
	}
	if hookd.ValidateSourceName(name) != nil {
		return errNotFoundWebhook
	}
	src, err := s.inboundSource(r.Context(), name)
	if hookd.ErrorCode(err) == hookd.ENOTFOUND {
		return errNotFoundWebhook
	} else if err != nil {
		return err
	}
	now := s.now()
	t, err := s.accept(w, r, src, now)
	if err != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), lookupTimeout)
		defer cancel()
		if rerr := store.RejectRequest(ctx, src.ID, now); rerr != nil {
			s.log.Warn("count refused request", slog.String("source_id", src.ID), slog.Any("err", rerr))
		}
		return err
	}
	if err := store.CreateTrigger(r.Context(), t, time.Duration(src.DedupWindow)); err != nil {
		return err
	}
	if t.Duplicate {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	if resp := src.Response; resp != nil {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		if resp.Body != "" {
			h.Set("Content-Type", cmp.Or(resp.ContentType, "text/plain; charset=utf-8"))
		}
		w.WriteHeader(resp.Status)
		_, _ = io.WriteString(w, resp.Body)
	} else {
		writeJSON(w, http.StatusAccepted, map[string]string{"id": t.ID})
	}
	if !t.Duplicate {
		s.cfg.OnTrigger()
	}
	return nil
}

// accept checks a request to src and returns the trigger to store, or the
// error to answer (a refusal).
func (s *Server) accept(w http.ResponseWriter, r *http.Request, src *hookd.Source, now time.Time) (*hookd.Trigger, error) {
	if ok, wait := s.sourceLimits.allow(src, now); !ok {
		secs := max(int(math.Ceil(wait.Seconds())), 1)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		return nil, hookd.Errorf(hookd.ERATELIMITED, "Too many requests for this webhook; retry after %d s.", secs)
	}
	body, err := readBody(w, r, src.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	query := r.URL.Query()
	if err := s.verify(r, src, query, body, now); err != nil {
		return nil, err
	}
	ct := r.Header.Get("Content-Type")
	kind, ok := contentKind(ct)
	if !ok || !slices.Contains(src.ContentTypes, kind) {
		return nil, hookd.Errorf(hookd.EUNSUPPORTED, "This webhook takes %s bodies, not %q.", mediaTypes(src.ContentTypes), ct)
	}
	stored, doc, err := parseBody(kind, body)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	t := &hookd.Trigger{
		TenantID: src.TenantID, SourceID: src.ID, Source: src.Name, ReceivedAt: now.UTC(), Method: r.Method,
		Headers: redactHeaders(r.Header, signature.SourceConfig(src.Verifier).SignatureHeaders()), Query: redactQuery(query),
		ContentType: ct, Body: stored, BodySHA256: hex.EncodeToString(sum[:]), DeliveryID: deliveryID(r.Header),
	}
	if t.DeliveryID == "" && src.Verifier.Type == signature.TypeStripe {
		if m, ok := doc.(map[string]any); ok {
			if id, ok := m["id"].(string); ok && len(id) <= maxDeliveryID {
				t.DeliveryID = id
			}
		}
	}
	t.Git = gitOf(src.Verifier.Type, r.Header, kind, doc)
	return t, nil
}

// readBody reads a body of at most limit bytes: ETOOLARGE over it.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	tooLarge := hookd.Errorf(hookd.ETOOLARGE, "The request body is over this webhook's limit of %d bytes.", limit)
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + bytes.MinRead) // room to see the end without growing
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	body := buf.Bytes()
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		return nil, tooLarge
	} else if err != nil {
		return nil, hookd.Errorf(hookd.EINVALID, "The request body could not be read.")
	}
	return body, nil
}

// verify checks a request against its source's verifier: nil, or an
// EUNAUTHORIZED error naming the failed check (never an expected value).
func (s *Server) verify(r *http.Request, src *hookd.Source, query url.Values, body []byte, now time.Time) error {
	if src.Verifier.Type == signature.TypeAPIKey {
		return s.verifyAPIKey(r, src.TenantID)
	}
	v, err := signature.NewVerifier(signature.SourceConfig(src.Verifier))
	if err != nil { // validated when saved: answered as internal, logged
		return fmt.Errorf("source %s: stored verifier is invalid: %s", src.ID, hookd.ErrorMessage(err))
	}
	err = v.Verify(&signature.Request{Header: r.Header, Query: query, Body: body, Now: now})
	if ve := (*signature.VerifyError)(nil); errors.As(err, &ve) {
		return hookd.Errorf(hookd.EUNAUTHORIZED, "%s", ve.Error())
	} else if err != nil {
		return hookd.Errorf(hookd.EUNAUTHORIZED, "The request could not be verified.")
	}
	return nil
}

// verifyAPIKey passes a request carrying (where signature.APIKeyFrom
// looks) a usable API key or token of an admin of tenant.
func (s *Server) verifyAPIKey(r *http.Request, tenant string) error {
	key, ok := signature.APIKeyFrom(r.Header, r.URL.Query())
	if !ok {
		return hookd.Errorf(hookd.EUNAUTHORIZED, "API key: missing")
	}
	p, err := s.authenticateKey(r, key)
	switch {
	case hookd.ErrorCode(err) == hookd.EUNAUTHORIZED:
		return hookd.Errorf(hookd.EUNAUTHORIZED, "API key: unknown, revoked or expired")
	case err != nil:
		return err
	case p.TenantID != tenant || !p.CanWrite(tenant):
		return hookd.Errorf(hookd.EUNAUTHORIZED, "API key: not an admin key (or token) of this webhook's tenant")
	}
	return nil
}

// authenticateKey resolves an API key or token found outside the
// Authorization header as the API's authentication does.
func (s *Server) authenticateKey(r *http.Request, key string) (hookd.Principal, error) {
	req := (&http.Request{Header: http.Header{"Authorization": {"Bearer " + key}}}).WithContext(r.Context())
	return s.authenticate(req)
}

// contentKind maps a Content-Type to a hookd.Content* kind: JSON for
// application/json, */*+json and a missing header; form; text/plain.
func contentKind(ct string) (string, bool) {
	if ct == "" {
		return hookd.ContentJSON, true
	}
	mt, _, err := mime.ParseMediaType(ct)
	switch {
	case err != nil:
		return "", false
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return hookd.ContentJSON, true
	case mt == "application/x-www-form-urlencoded":
		return hookd.ContentForm, true
	case mt == "text/plain":
		return hookd.ContentText, true
	}
	return "", false
}

// mediaTypes names the media types of kinds for a 415 message.
func mediaTypes(kinds []string) string {
	names := map[string]string{hookd.ContentJSON: "application/json", hookd.ContentForm: "application/x-www-form-urlencoded", hookd.ContentText: "text/plain"}
	out := make([]string, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, names[k])
	}
	return strings.Join(out, ", ")
}

// bodyShape is what accept reads of a JSON body: Stripe's event id and
// what inbound.NormalizeGit reads.
var bodyShape = func() jsondoc.Shape {
	s := maps.Clone(inbound.GitShape)
	s["id"] = nil
	return s
}()

// parseBody returns a body of kind as a trigger stores it, and its decoded
// value (numbers as json.Number; of a JSON object only what bodyShape
// selects): JSON as received byte for byte (body itself, not a copy); a
// form as an object of strings, lists for repeated keys; text as a JSON
// string.
// An empty JSON body is null. Malformed JSON, JSON that is not UTF-8 and
// a malformed form are EINVALID.
func parseBody(kind string, body []byte) (json.RawMessage, any, error) {
	switch kind {
	case hookd.ContentForm:
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, nil, hookd.Errorf(hookd.EINVALID, "Malformed form body.")
		}
		doc := make(map[string]any, len(vals))
		for k, v := range vals {
			if len(v) == 1 {
				doc[k] = v[0]
			} else {
				list := make([]any, len(v))
				for i, s := range v {
					list[i] = s
				}
				doc[k] = list
			}
		}
		raw, err := marshalText(doc)
		return raw, doc, err
	case hookd.ContentText:
		text := strings.ToValidUTF8(string(body), "\uFFFD")
		raw, err := marshalText(text)
		return raw, text, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return json.RawMessage("null"), nil, nil
	}
	if !utf8.Valid(body) {
		return nil, nil, hookd.Errorf(hookd.EINVALID, "The JSON body is not valid UTF-8.")
	}
	if doc, err := jsondoc.DecodeShape(body, bodyShape); err == nil {
		return json.RawMessage(body), doc, nil
	}
	// Not one valid JSON value: encoding/json says where and why.
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, jsonBodyError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, hookd.Errorf(hookd.EINVALID, "Malformed JSON body: it holds more than one JSON value.")
	}
	return json.RawMessage(body), doc, nil
}

func jsonBodyError(err error) error {
	var syn *json.SyntaxError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return hookd.Errorf(hookd.EINVALID, "Malformed JSON body: it ends too early.")
	case errors.As(err, &syn):
		return hookd.Errorf(hookd.EINVALID, "Malformed JSON body at byte %d.", syn.Offset)
	}
	return hookd.Errorf(hookd.EINVALID, "Malformed JSON body.")
}

// marshalText encodes v without escaping <, > and &, so stored text reads
// as sent.
func marshalText(v any) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return json.RawMessage(bytes.TrimSuffix(b.Bytes(), []byte("\n"))), nil
}

// gitOf returns the git view of a GitHub, GitLab or Bitbucket event; the
// provider is the verifier type when it is one of them, or detected from
// the headers. A form body's "payload" field (GitHub's form content type)
// is read as the JSON payload.
func gitOf(verifierType string, h http.Header, kind string, doc any) *hookd.Git {
	provider := ""
	switch verifierType {
	case inbound.ProviderGitHub, inbound.ProviderGitLab, inbound.ProviderBitbucket:
		provider = verifierType
	default:
		if h.Get("X-GitHub-Event") == "" && h.Get("X-Gitlab-Event") == "" && h.Get("X-Event-Key") == "" {
			return nil
		}
	}
	if kind == hookd.ContentForm {
		m, _ := doc.(map[string]any)
		p, _ := m["payload"].(string)
		dec := json.NewDecoder(strings.NewReader(p))
		dec.UseNumber()
		if doc = nil; dec.Decode(&doc) != nil {
			return nil
		}
	} else if kind != hookd.ContentJSON {
		return nil
	}
	g, ok := inbound.NormalizeGit(provider, h, doc)
	if !ok {
		return nil
	}
	out := hookd.Git(*g)
	return &out
}

// redactHeaders returns the headers of a request as a trigger keeps them:
// canonical names, several values joined by ", ", and the values of
// credential and signature headers (alwaysRedacted and extra) replaced.
func redactHeaders(h http.Header, extra []string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[http.CanonicalHeaderKey(k)] = strings.Join(v, ", ")
	}
	for _, k := range slices.Concat(alwaysRedacted, extra) {
		k = http.CanonicalHeaderKey(k)
		if _, ok := out[k]; ok {
			out[k] = redacted
		}
	}
	if ref, ok := out["Referer"]; ok {
		out["Referer"] = redactURL(ref)
	}
	return out
}

// redactQuery copies a query with the values of the API key parameters
// (signature.APIKeyParams, any case) replaced.
func redactQuery(q url.Values) map[string][]string {
	out := hookd.QueryOf(q)
	for k, v := range out {
		if isAPIKeyParam(k) {
			for i := range v {
				v[i] = redacted
			}
		}
	}
	return out
}

func isAPIKeyParam(name string) bool {
	return slices.ContainsFunc(signature.APIKeyParams(), func(p string) bool { return strings.EqualFold(name, p) })
}

// redactURL redacts the user information and the API key parameters of a
// URL (a Referer: a sender that followed a redirect names the URL it was
// given, credentials included).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return redacted
	}
	if u.User != nil {
		u.User = url.User(redacted)
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k, v := range q {
			if isAPIKeyParam(k) {
				for i := range v {
					v[i] = redacted
				}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// deliveryID returns the provider's delivery id of a request, "" if none
// (or one too long to keep).
func deliveryID(h http.Header) string {
	for _, name := range deliveryIDHeaders {
		if id := strings.TrimSpace(h.Get(name)); id != "" && len(id) <= maxDeliveryID {
			return id
		}
	}
	return ""
}

// triggerInput is the body of a generic trigger (StackStorm's form).
type triggerInput struct {
	Trigger string  `json:"trigger"`
	Payload rawJSON `json:"payload"`
}

// postTrigger handles POST /v1/triggers {"trigger","payload"}: a generic
// trigger in the tenant of the caller's key (a superadmin names it with
// ?tenant=), which needs write access. Its body is the payload (default
// {}); Idempotency-Key (or another delivery id header) de-duplicates
// within hookd.DefaultDedupWindow.
func (s *Server) postTrigger(w http.ResponseWriter, r *http.Request) error {
	store := s.cfg.Inbound
	p, _ := PrincipalFrom(r.Context())
	id := r.URL.Query().Get("tenant")
	if id == "" {
		if p.Role == hookd.RoleSuperadmin {
			return hookd.Errorf(hookd.EINVALID, "A superadmin key must name the tenant: add ?tenant=ID.")
		}
		id = p.TenantID
	}
	r.SetPathValue("tenant", id)
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	var in triggerInput
	if err := decode(w, r, maxSmallBody, &in); err != nil {
		return err
	}
	if err := action.ValidateTriggerName(in.Trigger); err != nil {
		return err
	}
	payload := in.Payload.value()
	if payload == nil {
		payload = json.RawMessage("{}")
	}
	sum := sha256.Sum256(payload)
	t := &hookd.Trigger{
		TenantID: tenant, Name: in.Trigger, ReceivedAt: s.now().UTC(), Method: r.Method,
		Headers: redactHeaders(r.Header, nil), Query: redactQuery(r.URL.Query()), ContentType: r.Header.Get("Content-Type"),
		Body: payload, BodySHA256: hex.EncodeToString(sum[:]), DeliveryID: deliveryID(r.Header),
	}
	if err := store.CreateTrigger(r.Context(), t, hookd.DefaultDedupWindow); err != nil {
		return err
	}
	if t.Duplicate {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": t.ID})
	if !t.Duplicate {
		s.cfg.OnTrigger()
	}
	return nil
}

// receiveST2 handles POST /v1/webhooks/st2, StackStorm's generic webhook:
// a generic trigger authenticated by an API key or token wherever
// signature.APIKeyFrom looks (Authorization, X-API-Key, St2-Api-Key,
// X-Auth-Token, or the api_key, st2-api-key, x-auth-token parameters).
func (s *Server) receiveST2(w http.ResponseWriter, r *http.Request) error {
	key, ok := signature.APIKeyFrom(r.Header, r.URL.Query())
	if !ok {
		return errNoST2Key
	}
	p, err := s.authenticateKey(r, key)
	if err != nil {
		return err
	}
	return s.postTrigger(w, r.WithContext(hookd.WithPrincipal(r.Context(), p)))
}
