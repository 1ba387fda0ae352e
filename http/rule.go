package http

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/action"
	"github.com/hookd/hookd/rule"
)

var errRuleNotFound = hookd.Errorf(hookd.ENOTFOUND, "Rule not found.")

// ruleInput is the body of rule create.
type ruleInput struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Enabled     *bool           `json:"enabled"` // default true
	Source      string          `json:"source"`
	Trigger     string          `json:"trigger"`
	Git         *hookd.GitMatch `json:"git"`
	Criteria    rawJSON         `json:"criteria"`
	Action      hookd.Action    `json:"action"`
}

// rulePatch is the body of rule update: every field optional, the name
// fixed; "git": null and "criteria": null remove them.
type rulePatch struct {
	Description *string            `json:"description"`
	Enabled     *bool              `json:"enabled"`
	Source      *string            `json:"source"`
	Trigger     *string            `json:"trigger"`
	Git         hookd.NullableJSON `json:"git"`
	Criteria    hookd.NullableJSON `json:"criteria"`
	Action      *hookd.Action      `json:"action"`
}

// validateRule checks a rule as it is to be stored (action.ValidateRule):
// a source it names must exist in the rule's tenant.
func (s *Server) validateRule(ctx context.Context, store hookd.InboundStore, r *hookd.Rule) error {
	return action.ValidateRule(r, s.cfg.AllowCommands, func(name string) error {
		noSource := hookd.Errorf(hookd.EINVALID, "source: there is no source %q in this tenant.", name)
		if hookd.ValidateSourceName(name) != nil {
			return noSource
		}
		found, err := store.FindSourceByName(ctx, name)
		switch {
		case hookd.ErrorCode(err) == hookd.ENOTFOUND:
			return noSource
		case err != nil:
			return err
		case found.TenantID != r.TenantID:
			return noSource
		}
		return nil
	})
}

func (s *Server) createRule(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	store := s.cfg.Inbound
	var in ruleInput
	if err := decode(w, r, maxSmallBody, &in); err != nil {
		return err
	}
	rl := &hookd.Rule{
		TenantID: tenant, Name: in.Name, Description: in.Description, Enabled: in.Enabled == nil || *in.Enabled,
		Source: hookd.NormalizeSourceName(in.Source), Trigger: in.Trigger, Git: in.Git, Criteria: in.Criteria.value(), Action: in.Action,
	}
	if err := s.validateRule(r.Context(), store, rl); err != nil {
		return err
	}
	if err := store.CreateRule(r.Context(), rl); err != nil {
		if hookd.ErrorCode(err) == hookd.ECONFLICT {
			return hookd.Errorf(hookd.ECONFLICT, "A rule named %q exists already.", rl.Name)
		}
		return err
	}
	writeJSON(w, http.StatusCreated, rl)
	return nil
}

func (s *Server) listRules(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, readAccess)
	if err != nil {
		return err
	}
	store := s.cfg.Inbound
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	items, next, err := store.FindRules(r.Context(), tenant, p)
	if err != nil {
		return err
	}
	writeList(w, items, next)
	return nil
}

// findRule finds a rule of tenant by id or name; errRuleNotFound if none.
func findRule(ctx context.Context, store hookd.InboundStore, tenant, idOrName string) (*hookd.Rule, error) {
	rl, err := store.FindRule(ctx, tenant, idOrName)
	if hookd.ErrorCode(err) == hookd.ENOTFOUND {
		return nil, errRuleNotFound
	}
	return rl, err
}

func (s *Server) getRule(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, readAccess)
	if err != nil {
		return err
	}
	store := s.cfg.Inbound
	rl, err := findRule(r.Context(), store, tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rl)
	return nil
}

func (s *Server) updateRule(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	store := s.cfg.Inbound
	var in rulePatch
	if err := decode(w, r, maxSmallBody, &in); err != nil {
		return err
	}
	current, err := findRule(r.Context(), store, tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.refuseManaged(r.Context(), hookd.KindRule, tenant, current.Name, current.Name); err != nil {
		return err
	}
	upd := hookd.RuleUpdate{Description: in.Description, Enabled: in.Enabled, Source: in.Source, Trigger: in.Trigger, Action: in.Action}
	if in.Source != nil {
		name := hookd.NormalizeSourceName(*in.Source)
		upd.Source = &name
	}
	if in.Git.Set {
		var g *hookd.GitMatch
		if in.Git.Value != nil {
			g = &hookd.GitMatch{}
			if err := strictJSON(in.Git.Value, g); err != nil {
				return hookd.Errorf(hookd.EINVALID, "git: %s", hookd.ErrorMessage(err))
			}
		}
		upd.Git = &g
	}
	if in.Criteria.Set {
		c := json.RawMessage(in.Criteria.Value)
		upd.Criteria = &c
	}
	merged := *current
	upd.Apply(&merged)
	if err := s.validateRule(r.Context(), store, &merged); err != nil {
		return err
	}
	rl, err := store.UpdateRule(r.Context(), tenant, current.ID, upd)
	if hookd.ErrorCode(err) == hookd.ENOTFOUND {
		return errRuleNotFound
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rl)
	return nil
}

func (s *Server) deleteRule(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	store := s.cfg.Inbound
	rl, err := findRule(r.Context(), store, tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.refuseManaged(r.Context(), hookd.KindRule, tenant, rl.Name, rl.Name); err != nil {
		return err
	}
	if err := store.DeleteRule(r.Context(), tenant, rl.ID); hookd.ErrorCode(err) == hookd.ENOTFOUND {
		return errRuleNotFound
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ruleTestInput is the body of rules/test: a stored rule's name (or id),
// or criteria, and the trigger to try.
type ruleTestInput struct {
	Rule     string       `json:"rule"`
	Criteria rawJSON      `json:"criteria"`
	Trigger  *testTrigger `json:"trigger"`
}

// testTrigger is the inner part of a trigger document ({"trigger": ...}):
// what a rule sees. Every field of a stored trigger is taken, so one
// fetched with GET .../triggers/{id} can be pasted as it is.
type testTrigger struct {
	ID          string            `json:"id"`
	Tenant      string            `json:"tenant"`
	SourceID    string            `json:"source_id"`
	Source      string            `json:"source"`
	Name        string            `json:"name"`
	ReceivedAt  *time.Time        `json:"received_at"`
	Method      string            `json:"method"`
	Headers     map[string]string `json:"headers"`
	Query       queryInput        `json:"query"`
	ContentType string            `json:"content_type"`
	Body        rawJSON           `json:"body"`
	BodySHA256  string            `json:"body_sha256"`
	DeliveryID  string            `json:"delivery_id"`
	Git         *hookd.Git        `json:"git"`
	Processed   *time.Time        `json:"processed_at"`
	Runs        int               `json:"runs"`
}

// queryInput is a query whose values are strings or lists of strings.
type queryInput map[string][]string

// UnmarshalJSON takes {"a":"1","b":["2","3"]}.
func (q *queryInput) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return hookd.Errorf(hookd.EINVALID, "trigger.query must be an object of strings or lists of strings.")
	}
	out := make(queryInput, len(raw))
	for k, v := range raw {
		var one string
		if json.Unmarshal(v, &one) == nil {
			out[k] = []string{one}
			continue
		}
		var list []string
		if err := json.Unmarshal(v, &list); err != nil {
			return hookd.Errorf(hookd.EINVALID, "trigger.query.%s must be a string or a list of strings.", k)
		}
		out[k] = list
	}
	*q = out
	return nil
}

// trigger returns t as a stored trigger of tenant received at now (unless
// it says when).
func (t *testTrigger) trigger(tenant string, now time.Time) *hookd.Trigger {
	out := &hookd.Trigger{
		ID: t.ID, TenantID: tenant, SourceID: t.SourceID, Source: hookd.NormalizeSourceName(t.Source), Name: t.Name,
		ReceivedAt: now, Method: t.Method, Headers: map[string]string{}, Query: map[string][]string(t.Query),
		ContentType: t.ContentType, Body: t.Body.value(), BodySHA256: t.BodySHA256, DeliveryID: t.DeliveryID, Git: t.Git,
	}
	if t.ReceivedAt != nil {
		out.ReceivedAt = *t.ReceivedAt
	}
	for k, v := range t.Headers {
		out.Headers[http.CanonicalHeaderKey(k)] = v
	}
	if out.Query == nil {
		out.Query = map[string][]string{}
	}
	if out.Body == nil {
		out.Body = json.RawMessage("null")
	}
	return out
}

// ruleTestResult answers rules/test: whether the criteria matched, each
// criterion's outcome, and for a stored rule whether it listens to the
// trigger, whether it is enabled, whether it would fire, and the action
// as it would run.
type ruleTestResult struct {
	Matched     bool                   `json:"matched"`
	Listens     *bool                  `json:"listens,omitempty"`
	Enabled     *bool                  `json:"enabled,omitempty"`
	Fires       *bool                  `json:"fires,omitempty"`
	Criteria    []rule.CriterionResult `json:"criteria"`
	Action      *hookd.Action          `json:"action,omitempty"`
	ActionError string                 `json:"action_error,omitempty"`
}

// testRule handles POST .../rules/test: "why did my hook not fire?".
func (s *Server) testRule(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, readAccess)
	if err != nil {
		return err
	}
	store := s.cfg.Inbound
	var in ruleTestInput
	if err := decode(w, r, maxSmallBody, &in); err != nil {
		return err
	}
	if (in.Rule == "") == (in.Criteria.value() == nil) {
		return hookd.Errorf(hookd.EINVALID, "Give either rule (a rule's name or id) or criteria.")
	}
	if in.Trigger == nil {
		return hookd.Errorf(hookd.EINVALID, "trigger is required: the trigger document's inner part, e.g. {\"headers\":{...},\"body\":{...}}.")
	}
	now := s.now()
	t := in.Trigger.trigger(tenant, now.UTC())
	doc := action.DocOf(t)
	raw := in.Criteria.value()
	var rl *hookd.Rule
	if in.Rule != "" {
		if rl, err = findRule(r.Context(), store, tenant, in.Rule); err != nil {
			return err
		}
		raw = rl.Criteria
	}
	c, err := action.CheckCriteria(raw)
	if err != nil {
		return err
	}
	ex := c.Explain(doc, now)
	out := ruleTestResult{Matched: ex.Matched, Criteria: ex.Criteria}
	if rl != nil {
		listens := action.Listens(rl, t)
		fires := rl.Enabled && listens && ex.Matched
		out.Listens, out.Enabled, out.Fires = &listens, &rl.Enabled, &fires
		if ex.Matched {
			a, err := action.Render(rl.Action, doc)
			if err != nil {
				out.ActionError = hookd.ErrorMessage(err)
			} else {
				out.Action = &a
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// strictJSON decodes one JSON value into v, refusing unknown fields and
// trailing data (EINVALID).
func strictJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, int64(len(raw)))
	}
	return finish(dec, int64(len(raw)))
}
