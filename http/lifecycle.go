package http

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/notify"
)

// Tester sends test requests (*delivery.Dispatcher implements it).
type Tester interface {
	Test(ctx context.Context, ep *hookd.Endpoint, ev *hookd.Event) *hookd.TestResult
}

// maxSecretOverlap bounds the overlap a rotation may ask for.
const maxSecretOverlap = 30 * 24 * time.Hour

// notify publishes operational events into tenant when a Notifier is set.
func (s *Server) notify(ctx context.Context, tenant string, events ...*hookd.Event) {
	if s.cfg.Notifier != nil {
		s.cfg.Notifier.Notify(ctx, tenant, events...)
	}
}

// stateChange is the body of enable/disable/pause/resume (optional).
type stateChange struct {
	Reason string `json:"reason"`
}

// setState returns the handler that moves an endpoint to state. from lists
// the states it may leave (nil: any); a disabled endpoint is resumed with
// enable, and a paused one enabled with resume, so each verb says what it
// does.
func setState(state hookd.EndpointState, verb string, from ...hookd.EndpointState) func(*Server, http.ResponseWriter, *http.Request) error {
	return func(s *Server, w http.ResponseWriter, r *http.Request) error {
		tenant, err := s.tenant(r, writeAccess)
		if err != nil {
			return err
		}
		var in stateChange
		if r.ContentLength != 0 {
			if err := decode(w, r, maxSmallBody, &in); err != nil {
				return err
			}
		}
		if len(in.Reason) > 500 {
			return hookd.Errorf(hookd.EINVALID, "A reason has at most 500 characters.")
		}
		current, err := s.cfg.Store.FindEndpointByID(r.Context(), tenant, r.PathValue("id"))
		if err != nil {
			return err
		}
		// No refuseManagedEndpoint: states are operations, not the file's
		// configuration (hookd itself disables failing endpoints).
		if current.State == state {
			s.withStats(r.Context(), tenant, current)
			writeJSON(w, http.StatusOK, current) // already there: nothing changes
			return nil
		}
		if len(from) > 0 && !contains(from, current.State) {
			return hookd.Errorf(hookd.ECONFLICT, "Cannot %s an endpoint that is %s; use %s.", verb, current.State, verbFor(current.State))
		}
		reason := in.Reason
		if state == hookd.EndpointDisabled && reason == "" {
			reason = "Disabled by " + principalName(r.Context()) + "."
		}
		upd := hookd.EndpointUpdate{State: &state, StateReason: &reason}
		ep, err := s.cfg.Store.UpdateEndpoint(r.Context(), tenant, current.ID, upd)
		if err != nil {
			return err
		}
		switch state {
		case hookd.EndpointDisabled:
			s.notify(r.Context(), tenant, notify.EndpointEvent(hookd.TypeEndpointDisabled, ep, ""))
		case hookd.EndpointEnabled:
			s.cfg.OnPublish() // a held backlog is claimable again
		}
		s.withStats(r.Context(), tenant, ep)
		writeJSON(w, http.StatusOK, ep)
		return nil
	}
}

// verbFor names the action that leaves state.
func verbFor(state hookd.EndpointState) string {
	if state == hookd.EndpointPaused {
		return "resume"
	}
	return "enable"
}

func contains(list []hookd.EndpointState, v hookd.EndpointState) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// principalName says who made a request, for reasons shown to people.
func principalName(ctx context.Context) string {
	p, ok := hookd.PrincipalFrom(ctx)
	if !ok {
		return "an operator"
	}
	return "API key " + p.KeyID
}

// rotateInput is the body of rotate-secret.
type rotateInput struct {
	Secret  string          `json:"secret"`  // optional: the new secret
	Overlap *hookd.Duration `json:"overlap"` // how long the current one keeps signing; default 24h
}

// rotateSecret makes a new current secret; the old one keeps signing for
// the overlap (0: it stops at once) and is dropped after that.
func (s *Server) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	var in rotateInput
	if r.ContentLength != 0 {
		if err := decode(w, r, maxSmallBody, &in); err != nil {
			return err
		}
	}
	overlap := hookd.DefaultSecretOverlap
	if in.Overlap != nil {
		overlap = time.Duration(*in.Overlap)
	}
	if overlap < 0 || overlap > maxSecretOverlap {
		return hookd.Errorf(hookd.EINVALID, "overlap must be between 0s and %s.", maxSecretOverlap)
	}
	secret := in.Secret
	if secret == "" {
		secret = hookd.NewEndpointSecret()
	} else if err := hookd.ValidateEndpointSecret(secret); err != nil {
		return err
	}
	current, err := s.cfg.Store.FindEndpointByID(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.refuseManagedEndpoint(r.Context(), current); err != nil {
		return err
	}
	now := s.now().UTC()
	secrets := []hookd.Secret{{Value: secret, CreatedAt: now}}
	for _, old := range current.Secrets {
		if old.Value == secret {
			return hookd.Errorf(hookd.EINVALID, "The new secret must differ from the endpoint's secrets.")
		}
		if old.ExpiresAt != nil && !now.Before(*old.ExpiresAt) {
			continue // expired: dropped
		}
		if overlap == 0 {
			continue
		}
		until := now.Add(overlap)
		if old.ExpiresAt != nil && old.ExpiresAt.Before(until) {
			until = *old.ExpiresAt // an earlier rotation's deadline stands
		}
		old.ExpiresAt = &until
		secrets = append(secrets, old)
	}
	ep, err := s.cfg.Store.UpdateEndpoint(r.Context(), tenant, current.ID, hookd.EndpointUpdate{Secrets: &secrets})
	if err != nil {
		return err
	}
	s.notify(r.Context(), tenant, notify.EndpointEvent(hookd.TypeEndpointUpdated, ep, ""))
	writeJSON(w, http.StatusOK, rotated{endpointWithSecret: endpointWithSecret{Endpoint: ep, Secret: secret}, Secrets: secretInfo(ep.Secrets)})
	return nil
}

// rotated is the rotate-secret response: the new secret (shown once) and
// when each signing secret was made and expires (never their values).
type rotated struct {
	endpointWithSecret
	Secrets []hookd.Secret `json:"secrets"`
}

func secretInfo(list []hookd.Secret) []hookd.Secret {
	out := make([]hookd.Secret, len(list))
	for i, s := range list {
		out[i] = hookd.Secret{CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt}
	}
	return out
}

// testEvent is the synthetic event of a test request.
func (s *Server) testEvent(tenant string, ep *hookd.Endpoint) *hookd.Event {
	now := s.now().UTC()
	payload, _ := json.Marshal(map[string]any{
		"test": true, "tenant": tenant, "endpoint_id": ep.ID, "sent_at": now,
		"message": "A test event from hookd. It was sent on request and is not part of the delivery history.",
	})
	return &hookd.Event{ID: hookd.NewID(hookd.PrefixEvent), TenantID: tenant, Type: hookd.TypeTest, Payload: payload,
		Origin: hookd.OriginTest, CreatedAt: now}
}

// testEndpoint sends a signed hookd.test event to the endpoint now and
// records the outcome as its last test.
func (s *Server) testEndpoint(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	if s.cfg.Tester == nil {
		return hookd.Errorf(hookd.EUNAVAILABLE, "This server does not send test requests.")
	}
	ep, err := s.cfg.Store.FindEndpointByID(r.Context(), tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	res := s.cfg.Tester.Test(r.Context(), ep, s.testEvent(tenant, ep))
	if _, err := s.cfg.Store.UpdateEndpoint(r.Context(), tenant, ep.ID, hookd.EndpointUpdate{LastTest: res}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// probeInput is the body of probe: a URL that is not an endpoint yet.
type probeInput struct {
	URL        string            `json:"url"`
	Signatures []hookd.Signature `json:"signatures"`
	Secret     string            `json:"secret"`
	Headers    map[string]string `json:"headers"`
	Timeout    hookd.Duration    `json:"timeout"`
}

// probe sends a signed hookd.test event to a URL, like testEndpoint, and
// stores nothing. Without a secret one is made for the probe and returned
// so the receiver's check can be tried.
func (s *Server) probe(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	if s.cfg.Tester == nil {
		return hookd.Errorf(hookd.EUNAVAILABLE, "This server does not send test requests.")
	}
	var in probeInput
	if err := decode(w, r, maxSmallBody, &in); err != nil {
		return err
	}
	secret := in.Secret
	if secret == "" {
		secret = hookd.NewEndpointSecret()
	} else if err := hookd.ValidateEndpointSecret(secret); err != nil {
		return err
	}
	ep := &hookd.Endpoint{ID: "probe", TenantID: tenant, URL: in.URL, Events: []string{hookd.TypeTest}, Headers: in.Headers,
		Signatures: in.Signatures, Timeout: in.Timeout, Secrets: []hookd.Secret{{Value: secret, CreatedAt: s.now().UTC()}}}
	ep.SetDefaults()
	if err := ep.Validate(s.cfg.AllowInsecure); err != nil {
		return err
	}
	res := s.cfg.Tester.Test(r.Context(), ep, s.testEvent(tenant, ep))
	writeJSON(w, http.StatusOK, struct {
		*hookd.TestResult
		Secret string `json:"secret,omitempty"`
	}{res, generated(secret, in.Secret)})
	return nil
}

// generated returns secret when hookd made it (the caller gave none).
func generated(secret, given string) string {
	if given != "" {
		return ""
	}
	return secret
}

// windowInput is the body of recover and replay.
type windowInput struct {
	Since *time.Time `json:"since"`
	Until *time.Time `json:"until"`
}

// maxWindow bounds recover and replay windows.
const maxWindow = 90 * 24 * time.Hour

// window validates a recover/replay body: since is required, until
// defaults to now; since < until, at most maxWindow apart.
func (s *Server) window(w http.ResponseWriter, r *http.Request) (hookd.Window, error) {
	var in windowInput
	if err := decode(w, r, maxSmallBody, &in); err != nil {
		return hookd.Window{}, err
	}
	if in.Since == nil {
		return hookd.Window{}, hookd.Errorf(hookd.EINVALID, "since is required (an RFC 3339 time).")
	}
	win := hookd.Window{Since: in.Since.UTC(), Until: s.now().UTC()}
	if in.Until != nil {
		win.Until = in.Until.UTC()
	}
	if !win.Since.Before(win.Until) {
		return hookd.Window{}, hookd.Errorf(hookd.EINVALID, "since must be before until.")
	}
	if win.Until.Sub(win.Since) > maxWindow {
		return hookd.Window{}, hookd.Errorf(hookd.EINVALID, "A window spans at most %s.", maxWindow)
	}
	return win, nil
}

// requeued is the answer of recover and replay.
type requeued struct {
	Deliveries int       `json:"deliveries"`
	Since      time.Time `json:"since"`
	Until      time.Time `json:"until"`
}

// recoverEndpoint re-queues the endpoint's failed and dead deliveries of a
// window.
func (s *Server) recoverEndpoint(w http.ResponseWriter, r *http.Request) error {
	return s.requeue(w, r, func(ctx context.Context, tenant, id string, win hookd.Window) (int, error) {
		return s.cfg.Store.RecoverDeliveries(ctx, tenant, id, win, s.now().UTC())
	})
}

// replayEndpoint re-sends every event of a window the endpoint wants.
func (s *Server) replayEndpoint(w http.ResponseWriter, r *http.Request) error {
	return s.requeue(w, r, func(ctx context.Context, tenant, id string, win hookd.Window) (int, error) {
		return s.cfg.Store.ReplayEvents(ctx, tenant, id, win, s.filters.Matcher(), s.now().UTC())
	})
}

func (s *Server) requeue(w http.ResponseWriter, r *http.Request, fn func(ctx context.Context, tenant, id string, win hookd.Window) (int, error)) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	win, err := s.window(w, r)
	if err != nil {
		return err
	}
	n, err := fn(r.Context(), tenant, r.PathValue("id"), win)
	if err != nil {
		return err
	}
	if n > 0 {
		s.cfg.OnPublish()
	}
	writeJSON(w, http.StatusOK, requeued{Deliveries: n, Since: win.Since, Until: win.Until})
	return nil
}

// withStats fills in the endpoints' stats of the last StatsWindow. A
// failure to count is logged and leaves stats out: the endpoint itself is
// what was asked for.
func (s *Server) withStats(ctx context.Context, tenant string, eps ...*hookd.Endpoint) {
	if len(eps) == 0 {
		return
	}
	ids := make([]string, len(eps))
	for i, ep := range eps {
		ids[i] = ep.ID
	}
	stats, err := s.cfg.Store.EndpointStats(ctx, hookd.StatsFilter{TenantID: tenant, EndpointIDs: ids, Since: s.now().Add(-hookd.StatsWindow)})
	if err != nil {
		s.log.Warn("endpoint stats", "tenant", tenant, "err", err)
		return
	}
	for _, ep := range eps {
		st := stats[ep.ID]
		if st == nil {
			st = &hookd.EndpointStats{}
		}
		st.Window = hookd.Duration(hookd.StatsWindow)
		ep.Stats = st
	}
}
