package action

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/rule"
)

// How long a tenant's enabled rules are used before they are read again,
// so that edits take effect quickly without a read per trigger.
const ruleCacheTTL = time.Second

// How many triggers of a claimed batch are matched at once: each ends in
// its own transaction, and concurrent ones share commits.
const matchParallel = 8

// compiledRule is a rule with its criteria compiled once per version.
type compiledRule struct {
	rule *hookd.Rule
	crit *rule.Criteria
	err  error // the stored criteria do not compile (any more)
	// data is a publish action's data template, compiled (nil when there
	// is none, or it does not compile: render then says why).
	data *rule.Template
}

// compileData compiles the data template of a publish action, if any.
func compileData(a hookd.Action) *rule.Template {
	if a.Type != hookd.ActionPublish || len(a.Data) == 0 {
		return nil
	}
	t, err := rule.CompileTemplate(a.Data, headerKeys)
	if err != nil {
		return nil
	}
	return t
}

type tenantRules struct {
	at    time.Time
	rules []*compiledRule
}

// matchLoop claims unprocessed triggers and matches them until ctx is done.
func (r *Runner) matchLoop(ctx context.Context) {
	poll := time.NewTicker(r.cfg.Poll)
	defer poll.Stop()
	for ctx.Err() == nil {
		if n, err := r.matchBatch(ctx); err == nil && n == r.cfg.Batch {
			continue // more may be waiting
		}
		select {
		case <-ctx.Done():
		case <-r.mwake:
		case <-poll.C:
		}
	}
}

// batchProcessor is a store that records the runs of many triggers in
// one transaction (see sqlite.Store.ProcessTriggers): each trigger is
// processed or not on its own; failed holds the error of each that was
// not, err alone means none was.
type batchProcessor interface {
	ProcessTriggers(ctx context.Context, owner string, runs map[string][]*hookd.Run, now time.Time) (failed map[string]error, err error)
}

// matchBatch claims a batch of triggers, matches each against its
// tenant's rules and stores the runs; it returns how many it claimed.
// With a store that can, the runs of the whole batch are stored in one
// call; otherwise each trigger's in its own, matchParallel at a time, so
// that concurrent ones share commits.
func (r *Runner) matchBatch(ctx context.Context) (int, error) {
	triggers, err := r.cfg.Store.ClaimTriggers(ctx, r.cfg.NodeID, r.now(), r.cfg.Lease, r.cfg.Batch)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("claim triggers", slog.Any("err", err))
		}
		return 0, err
	}
	var created atomic.Bool
	sem := make(chan struct{}, matchParallel)
	var wg sync.WaitGroup
	batch, batched := r.cfg.Store.(batchProcessor)
	matched := make([][]*hookd.Run, len(triggers))
	ok := make([]bool, len(triggers))
	for i, t := range triggers {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			runs, err := r.matchTrigger(ctx, t)
			if err != nil {
				return
			}
			if batched {
				matched[i], ok[i] = runs, true
				return
			}
			err = r.cfg.Store.ProcessTrigger(ctx, t.ID, r.cfg.NodeID, runs, r.now())
			if r.stored(ctx, t.ID, runs, err) > 0 {
				created.Store(true)
			}
		})
	}
	wg.Wait()
	if batched {
		runs := make(map[string][]*hookd.Run, len(triggers))
		for i, t := range triggers {
			if ok[i] {
				runs[t.ID] = matched[i]
			}
		}
		if len(runs) > 0 {
			failed, all := batch.ProcessTriggers(ctx, r.cfg.NodeID, runs, r.now())
			for id, list := range runs {
				err := all
				if err == nil {
					err = failed[id]
				}
				if r.stored(ctx, id, list, err) > 0 {
					created.Store(true)
				}
			}
		}
	}
	if created.Load() {
		poke(r.wake)
	}
	return len(triggers), nil
}

// matchTrigger returns the runs of the tenant's rules for t. On failure
// the trigger stays unprocessed and is claimed again when its lease
// expires.
func (r *Runner) matchTrigger(ctx context.Context, t *hookd.Trigger) ([]*hookd.Run, error) {
	rules, err := r.rulesOf(ctx, t.TenantID)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("load rules", slog.String("tenant", t.TenantID), slog.String("trigger_id", t.ID), slog.Any("err", err))
		}
		return nil, err
	}
	return r.match(t, rules), nil
}

// stored accounts for the outcome err of storing a trigger's runs and
// returns how many were stored. On failure the trigger stays unprocessed
// and is claimed again when its lease expires.
func (r *Runner) stored(ctx context.Context, triggerID string, runs []*hookd.Run, err error) int {
	switch {
	case err == nil:
		return len(runs)
	case hookd.ErrorCode(err) == hookd.ECONFLICT:
		r.log.Info("trigger lease lost; another node matches it", slog.String("trigger_id", triggerID))
	case ctx.Err() == nil:
		r.log.Warn("store runs", slog.String("trigger_id", triggerID), slog.Any("err", err))
	}
	r.doomedMu.Lock()
	for _, run := range runs {
		delete(r.doomed, run.ID)
	}
	r.doomedMu.Unlock()
	return 0
}

// match returns the runs of the rules that listen to t and whose criteria
// hold. A rule whose criteria or templates fail gives a failed run that
// says why, so the trigger is not silently lost.
func (r *Runner) match(t *hookd.Trigger, rules []*compiledRule) []*hookd.Run {
	var (
		runs []*hookd.Run
		doc  map[string]any
		body json.RawMessage
	)
	now := r.now()
	for _, cr := range rules {
		if !Listens(cr.rule, t) {
			continue
		}
		if doc == nil {
			var valid bool
			if doc, valid = docOf(t); valid {
				body = t.Body
			}
		}
		run := &hookd.Run{
			ID: hookd.NewID(hookd.PrefixRun), TenantID: t.TenantID, RuleID: cr.rule.ID, RuleName: cr.rule.Name, TriggerID: t.ID,
			Status: hookd.RunQueued, NextAt: &now, CreatedAt: now, UpdatedAt: now,
		}
		var failure string
		if cr.err != nil {
			failure = hookd.ErrorMessage(cr.err)
		} else if !cr.crit.Match(doc, now) {
			continue
		} else if a, err := renderWith(cr.rule.Action, cr.data, doc, body); err != nil {
			failure = hookd.ErrorMessage(err)
		} else {
			run.Action = a
		}
		if failure != "" {
			r.fail(run, cr.rule.Action.Type, failure, now)
		}
		runs = append(runs, run)
	}
	return runs
}

// fail makes run a failed one: no parameters (so it cannot do anything if
// a store queues it regardless), the reason as its result. The reason is
// also kept here, so that should the run be claimed after all, this
// node fails it with the reason (see execute).
func (r *Runner) fail(run *hookd.Run, typ, msg string, now time.Time) {
	run.Status = hookd.RunFailed
	run.NextAt = nil
	run.EndedAt = &now
	run.Action = hookd.Action{Type: typ}
	run.Result = &hookd.RunResult{Error: msg}
	r.doomedMu.Lock()
	defer r.doomedMu.Unlock()
	for id, d := range r.doomed {
		if now.Sub(d.at) > 10*time.Minute || d.at.After(now) {
			delete(r.doomed, id)
		}
	}
	r.doomed[run.ID] = doomedRun{msg: msg, at: now}
}

// rulesOf returns the tenant's enabled rules, read at most once per
// ruleCacheTTL, with criteria compiled once per rule version.
func (r *Runner) rulesOf(ctx context.Context, tenantID string) ([]*compiledRule, error) {
	now := r.now()
	r.rulesMu.Lock()
	tr := r.tenants[tenantID]
	r.rulesMu.Unlock()
	if tr != nil && now.Sub(tr.at) < ruleCacheTTL && !now.Before(tr.at) {
		return tr.rules, nil
	}
	list, err := r.cfg.Store.EnabledRules(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	prev := map[string]*compiledRule{}
	if tr != nil {
		for _, cr := range tr.rules {
			prev[cr.rule.ID] = cr
		}
	}
	rules := make([]*compiledRule, 0, len(list))
	for _, rl := range list {
		if !rl.Enabled {
			continue
		}
		if p := prev[rl.ID]; p != nil && p.rule.UpdatedAt.Equal(rl.UpdatedAt) && bytes.Equal(p.rule.Criteria, rl.Criteria) &&
			bytes.Equal(p.rule.Action.Data, rl.Action.Data) && p.rule.Action.Type == rl.Action.Type {
			rules = append(rules, &compiledRule{rule: rl, crit: p.crit, err: p.err, data: p.data})
			continue
		}
		cr := &compiledRule{rule: rl, data: compileData(rl.Action)}
		cr.crit, cr.err = CompileCriteria(rl.Criteria)
		if cr.err != nil {
			r.log.Warn("rule criteria do not compile; its matches fail", slog.String("rule_id", rl.ID), slog.Any("err", cr.err))
		}
		rules = append(rules, cr)
	}
	r.rulesMu.Lock()
	defer r.rulesMu.Unlock()
	for id, old := range r.tenants {
		if now.Sub(old.at) > time.Minute {
			delete(r.tenants, id)
		}
	}
	r.tenants[tenantID] = &tenantRules{at: now, rules: rules}
	return rules, nil
}
