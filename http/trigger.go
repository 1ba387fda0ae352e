package http

import (
	"net/http"

	"github.com/hookd/hookd"
)

var (
	errTriggerNotFound = hookd.Errorf(hookd.ENOTFOUND, "Trigger not found.")
	errRunNotFound     = hookd.Errorf(hookd.ENOTFOUND, "Run not found.")
)

// listTriggers handles GET .../triggers[?source=&name=]: newest first;
// source is a source's id or name, name a generic trigger's name.
func (s *Server) listTriggers(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, readAccess)
	if err != nil {
		return err
	}
	store := s.cfg.Inbound
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := hookd.TriggerFilter{TenantID: tenant, Name: q.Get("name"), Page: p}
	if v := q.Get("source"); v != "" {
		src, err := findSource(r.Context(), store, tenant, v)
		if err == errSourceNotFound {
			writeList[*hookd.Trigger](w, nil, "") // no such source: none of its triggers
			return nil
		} else if err != nil {
			return err
		}
		f.SourceID = src.ID
	}
	items, next, err := store.FindTriggers(r.Context(), f)
	if err != nil {
		return err
	}
	writeList(w, items, next)
	return nil
}

func (s *Server) getTrigger(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, readAccess)
	if err != nil {
		return err
	}
	store := s.cfg.Inbound
	t, err := store.FindTriggerByID(r.Context(), tenant, r.PathValue("id"))
	if hookd.ErrorCode(err) == hookd.ENOTFOUND {
		return errTriggerNotFound
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// replayTrigger handles POST .../triggers/{id}/replay: the trigger's
// rules are matched again, as they are now, by the rule runner (woken).
// It answers 202 with the trigger, unprocessed.
func (s *Server) replayTrigger(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	store := s.cfg.Inbound
	t, err := store.ReplayTrigger(r.Context(), tenant, r.PathValue("id"))
	if hookd.ErrorCode(err) == hookd.ENOTFOUND {
		return errTriggerNotFound
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, t)
	s.cfg.OnTrigger()
	return nil
}

// listRuns handles GET .../runs[?rule=&trigger=&status=]: newest first;
// rule is a rule's name or id.
func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, readAccess)
	if err != nil {
		return err
	}
	store := s.cfg.Inbound
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := hookd.RunFilter{TenantID: tenant, TriggerID: q.Get("trigger"), Status: q.Get("status"), Page: p}
	switch f.Status {
	case "", hookd.RunQueued, hookd.RunRunning, hookd.RunSucceeded, hookd.RunFailed:
	default:
		return hookd.Errorf(hookd.EINVALID, "status must be queued, running, succeeded or failed.")
	}
	if v := q.Get("rule"); v != "" {
		rl, err := findRule(r.Context(), store, tenant, v)
		if err == errRuleNotFound {
			writeList[*hookd.Run](w, nil, "") // no such rule: none of its runs
			return nil
		} else if err != nil {
			return err
		}
		f.RuleID = rl.ID
	}
	items, next, err := store.FindRuns(r.Context(), f)
	if err != nil {
		return err
	}
	writeList(w, items, next)
	return nil
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, readAccess)
	if err != nil {
		return err
	}
	store := s.cfg.Inbound
	run, err := store.FindRunByID(r.Context(), tenant, r.PathValue("id"))
	if hookd.ErrorCode(err) == hookd.ENOTFOUND {
		return errRunNotFound
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run)
	return nil
}
