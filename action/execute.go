package action

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/delivery"
)

// The most of a forward's response body kept in the run's result.
const maxResponseOutput = 4 << 10

// outcome is what one execution of an action came to.
type outcome struct {
	res   *hookd.RunResult
	ok    bool
	retry bool // not ok, and worth another attempt per the retry schedule
}

func failed(format string, args ...any) outcome {
	return outcome{res: &hookd.RunResult{Error: fmt.Sprintf(format, args...)}}
}

// execute runs a claimed run's action once and returns its update.
func (r *Runner) execute(ctx context.Context, run *hookd.Run) *hookd.RunUpdate {
	began := time.Now()
	var o outcome
	a := run.Action
	switch msg, doomed := r.takeDoomed(run.ID); {
	case doomed:
		o = failed("%s", msg)
	case publishable(a):
		o = r.publish(ctx, run)
	case a.Type == hookd.ActionForward && a.URL != "":
		o = r.forward(ctx, run)
	case a.Type == hookd.ActionCommand && len(a.Command) > 0:
		o = r.command(ctx, run)
	case a.Type == hookd.ActionPublish, a.Type == hookd.ActionForward, a.Type == hookd.ActionCommand:
		// What match stores for a rule whose criteria or templates failed.
		o = failed("The action's parameters could not be rendered when the rule matched.")
	default:
		o = failed("Unknown action type %q.", a.Type)
	}
	return r.update(run, o, time.Since(began))
}

// takeDoomed returns (and forgets) the error of a run that failed when its
// rule matched, if this node matched it.
func (r *Runner) takeDoomed(id string) (string, bool) {
	r.doomedMu.Lock()
	defer r.doomedMu.Unlock()
	d, ok := r.doomed[id]
	delete(r.doomed, id)
	return d.msg, ok
}

// update turns the outcome of one execution of run, which took took, into
// the run's update: succeeded, queued again per the retry schedule, or
// failed.
func (r *Runner) update(run *hookd.Run, o outcome, took time.Duration) *hookd.RunUpdate {
	a := run.Action
	o.res.DurationMS = float64(took.Microseconds()) / 1000
	now := r.now()
	upd := &hookd.RunUpdate{ID: run.ID, Owner: r.cfg.NodeID, Result: o.res, At: now}
	switch {
	case o.ok:
		upd.Status = hookd.RunSucceeded
	case o.retry:
		schedule := a.RetrySchedule
		if len(schedule) == 0 {
			schedule = DefaultRetrySchedule
		}
		if run.Attempts < len(schedule) {
			upd.Status = hookd.RunQueued
			upd.NextAt = now.Add(time.Duration(schedule[max(run.Attempts, 0)]))
		} else {
			upd.Status = hookd.RunFailed
		}
	default:
		upd.Status = hookd.RunFailed
	}
	r.log.Debug("run", slog.String("run_id", run.ID), slog.String("rule_id", run.RuleID), slog.String("trigger_id", run.TriggerID),
		slog.String("type", a.Type), slog.Int("attempt", run.Attempts), slog.String("status", upd.Status))
	return upd
}

// publishable reports whether a is a publish action with its parameters.
func publishable(a hookd.Action) bool {
	return a.Type == hookd.ActionPublish && a.EventType != ""
}

// event is the event a publish run stores. Its idempotency key is the
// run's id, so a run executed again (a node died after publishing and
// before recording) publishes nothing new and reports the first event.
func event(run *hookd.Run) *hookd.Event {
	a := run.Action
	return &hookd.Event{Type: a.EventType, Payload: a.Data, IdempotencyKey: "run:" + run.ID, Origin: hookd.OriginRule}
}

// publish stores one event into the run's tenant.
func (r *Runner) publish(ctx context.Context, run *hookd.Run) outcome {
	ev := event(run)
	if err := ev.Validate(); err != nil {
		return failed("%s", hookd.ErrorMessage(err))
	}
	if err := r.publishEvents(ctx, run.TenantID, []*hookd.Event{ev}); err != nil {
		return r.publishFailed(run, err)
	}
	return outcome{res: &hookd.RunResult{EventID: ev.ID}, ok: true}
}

// publishAll executes publish runs of one tenant with one PublishEvents
// call. Should that fail, each run is published on its own, so that each
// gets its own outcome (a publish stores all of its events or none).
func (r *Runner) publishAll(ctx context.Context, jobs []*job) {
	began := time.Now()
	outcomes := make([]*outcome, len(jobs))
	var evs []*hookd.Event
	var pending []int // jobs whose event is in evs
	for i, j := range jobs {
		if msg, doomed := r.takeDoomed(j.run.ID); doomed {
			outcomes[i] = &outcome{res: &hookd.RunResult{Error: msg}}
			continue
		}
		ev := event(j.run)
		if err := ev.Validate(); err != nil {
			o := failed("%s", hookd.ErrorMessage(err))
			outcomes[i] = &o
			continue
		}
		evs = append(evs, ev)
		pending = append(pending, i)
	}
	if len(evs) > 0 {
		if err := r.publishEvents(ctx, jobs[pending[0]].run.TenantID, evs); err != nil {
			for _, i := range pending {
				o := r.publish(ctx, jobs[i].run)
				outcomes[i] = &o
			}
		} else {
			for k, i := range pending {
				outcomes[i] = &outcome{res: &hookd.RunResult{EventID: evs[k].ID}, ok: true}
			}
		}
	}
	took := time.Since(began)
	for i, j := range jobs {
		j.upd = r.update(j.run, *outcomes[i], took)
	}
}

// publishEvents stores events of one tenant and wakes the dispatcher for
// their deliveries.
func (r *Runner) publishEvents(ctx context.Context, tenantID string, evs []*hookd.Event) error {
	match := hookd.MatchSubscribed
	if r.cfg.Match != nil {
		match = r.cfg.Match()
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := r.cfg.Store.PublishEvents(pctx, tenantID, evs, match, nil); err != nil {
		return err
	}
	if r.cfg.OnPublish != nil {
		for _, ev := range evs {
			if ev.Deliveries > 0 && !ev.Duplicate {
				r.cfg.OnPublish() // once per publish action, as documented
			}
		}
	}
	return nil
}

// publishFailed is the outcome of a run whose event could not be stored:
// failed for good when the event is refused, retried otherwise.
func (r *Runner) publishFailed(run *hookd.Run, err error) outcome {
	switch hookd.ErrorCode(err) {
	case hookd.EINVALID, hookd.ETOOLARGE, hookd.EUNPROCESSABLE, hookd.ENOTFOUND, hookd.EFORBIDDEN:
		return failed("Publish: %s", hookd.ErrorMessage(err))
	}
	r.log.Warn("publish from a rule", slog.String("run_id", run.ID), slog.Any("err", err))
	return outcome{res: &hookd.RunResult{Error: "Publish: " + hookd.ErrorMessage(err)}, retry: true}
}

// forward sends the trigger's request on: its body, the headers named in
// ForwardHeaders and the action's Headers, POSTed to the URL.
func (r *Runner) forward(ctx context.Context, run *hookd.Run) outcome {
	a := run.Action
	t, err := r.cfg.Store.FindTriggerByID(ctx, run.TenantID, run.TriggerID)
	if err != nil {
		if hookd.ErrorCode(err) == hookd.ENOTFOUND {
			return failed("The trigger %s is gone (retention), so there is nothing to forward.", run.TriggerID)
		}
		r.log.Warn("load trigger to forward", slog.String("run_id", run.ID), slog.Any("err", err))
		return outcome{res: &hookd.RunResult{Error: "Load trigger: " + hookd.ErrorMessage(err)}, retry: true}
	}
	body, ctype := forwardBody(t)
	timeout := DefaultTimeout
	if a.Timeout > 0 {
		timeout = time.Duration(a.Timeout)
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, a.URL, bytes.NewReader(body))
	if err != nil {
		return failed("Invalid URL: %s", a.URL)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", r.cfg.UserAgent)
	for _, name := range a.ForwardHeaders {
		if v, ok := headerValue(t.Headers, name); ok {
			req.Header.Set(name, v)
		}
	}
	for k, v := range a.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Hookd-Run-Id", run.ID)
	req.Header.Set("Hookd-Trigger-Id", t.ID)
	resp, err := r.client.Do(req)
	if err != nil {
		return outcome{res: &hookd.RunResult{Error: describe(err, rctx, timeout)}, retry: true}
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseOutput))
	res := &hookd.RunResult{StatusCode: resp.StatusCode, Output: text(out)}
	if err == nil {
		// Read a little more so the connection can be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		res.Error = fmt.Sprintf("HTTP %d", resp.StatusCode)
		return outcome{res: res, retry: true}
	}
	return outcome{res: res, ok: true}
}

// forwardBody returns the trigger's body as it is sent on: JSON as stored,
// a form re-encoded, text as it came.
func forwardBody(t *hookd.Trigger) ([]byte, string) {
	ct := strings.ToLower(t.ContentType)
	switch {
	case ct == hookd.ContentForm || strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
		var fields map[string]any
		if json.Unmarshal(t.Body, &fields) == nil {
			form := url.Values{}
			for k, v := range fields {
				switch v := v.(type) {
				case string:
					form.Add(k, v)
				case []any:
					for _, e := range v {
						if s, ok := e.(string); ok {
							form.Add(k, s)
						}
					}
				}
			}
			return []byte(form.Encode()), "application/x-www-form-urlencoded"
		}
	case ct == hookd.ContentText || strings.HasPrefix(ct, "text/"):
		var s string
		if json.Unmarshal(t.Body, &s) == nil {
			return []byte(s), "text/plain; charset=utf-8"
		}
	}
	return t.Body, "application/json"
}

// headerValue finds a trigger header regardless of the name's case.
func headerValue(h map[string]string, name string) (string, bool) {
	if v, ok := h[name]; ok {
		return v, true
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// describe says why a request failed, without repeating the URL.
func describe(err error, ctx context.Context, timeout time.Duration) string {
	var blocked *delivery.BlockedError
	switch {
	case errors.As(err, &blocked):
		return blocked.Error()
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Sprintf("Timeout: no answer within %s.", timeout)
	case ctx.Err() != nil:
		return "Cancelled: hookd is stopping."
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// text makes b a valid UTF-8 string for a result, dropping a character
// cut in two at the end of a truncated output.
func text(b []byte) string {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				b = b[:i]
			}
			break
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
