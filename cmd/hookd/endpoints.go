package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/client"
)

const endpointsUsage = "usage: hookd endpoints create|list|get|update|delete|enable|disable|pause|resume|rotate-secret|test|recover|replay"

// endpointFlags are the settings create and update share.
type endpointFlags struct {
	url, events, name, desc, mode, filter *string
	timeout                               *time.Duration
	maxInFlight                           *int
	rateLimit                             *float64
	retry                                 *string
	headers, sigs                         repeated
}

func (f *endpointFlags) register(fs *flag.FlagSet) {
	f.url = fs.String("url", "", "destination URL")
	f.events = fs.String("events", "", "comma-separated event patterns: *, prefix.*, exact")
	f.name = fs.String("name", "", "name")
	f.desc = fs.String("description", "", "description")
	f.mode = fs.String("mode", "", "delivery mode: at_least_once (default) or fire_and_forget")
	f.filter = fs.String("filter", "", `criteria over the event {"id","type","data"}, e.g. '{"data.amount":{"type":"gt","pattern":100}}' ("null" removes it)`)
	f.timeout = fs.Duration("timeout", 0, "per-attempt timeout (default 15s)")
	f.maxInFlight = fs.Int("max-in-flight", 0, "most attempts in flight at once (default 16)")
	f.rateLimit = fs.Float64("rate-limit", 0, "most deliveries started per second (0: no limit)")
	f.retry = fs.String("retry-schedule", "", "comma-separated delays before each attempt, e.g. 0s,5s,5m,1h")
	fs.Var(&f.headers, "header", "custom header K=V (repeatable)")
	fs.Var(&f.sigs, "signature", "scheme[:Header]: standard, timestamped[:Header], hmac[:Header] (repeatable)")
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (f *endpointFlags) headerMap() (map[string]string, error) {
	m := map[string]string{}
	for _, h := range f.headers {
		k, v, ok := strings.Cut(h, "=")
		if !ok {
			return nil, usageError{fmt.Sprintf("--header %q: want K=V", h)}
		}
		m[k] = v
	}
	return m, nil
}

func (f *endpointFlags) signatures() []hookd.Signature {
	var out []hookd.Signature
	for _, s := range f.sigs {
		scheme, header, _ := strings.Cut(s, ":")
		out = append(out, hookd.Signature{Scheme: hookd.SignatureScheme(scheme), Header: header})
	}
	return out
}

func (f *endpointFlags) schedule() ([]hookd.Duration, error) {
	var out []hookd.Duration
	for _, p := range splitList(*f.retry) {
		d, err := time.ParseDuration(p)
		if err != nil {
			return nil, usageError{fmt.Sprintf("--retry-schedule: %q is not a duration", p)}
		}
		out = append(out, hookd.Duration(d))
	}
	return out, nil
}

// update returns the changes the flags set on the command line ask for.
func (f *endpointFlags) update(fs *flag.FlagSet) (hookd.EndpointUpdate, error) {
	var u hookd.EndpointUpdate
	var err error
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "url":
			u.URL = f.url
		case "events":
			ev := splitList(*f.events)
			u.Events = &ev
		case "name":
			u.Name = f.name
		case "description":
			u.Description = f.desc
		case "mode":
			m := hookd.DeliveryMode(*f.mode)
			u.Mode = &m
		case "timeout":
			d := hookd.Duration(*f.timeout)
			u.Timeout = &d
		case "max-in-flight":
			u.MaxInFlight = f.maxInFlight
		case "rate-limit":
			u.RateLimit = f.rateLimit
		case "retry-schedule":
			var sched []hookd.Duration
			if sched, err = f.schedule(); err == nil {
				u.RetrySchedule = &sched
			}
		case "header":
			var h map[string]string
			if h, err = f.headerMap(); err == nil {
				u.Headers = &h
			}
		case "signature":
			sigs := f.signatures()
			u.Signatures = &sigs
		case "filter":
			u.Filter = hookd.SetTo(json.RawMessage(*f.filter))
			if *f.filter == "null" || *f.filter == "" {
				u.Filter = hookd.SetTo(nil)
			}
		}
	})
	return u, err
}

func runEndpoints(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return usageError{endpointsUsage}
	}
	var cf clientFlags
	fs := newFlagSet("endpoints "+args[0], env)
	cf.register(fs, env)
	switch args[0] {
	case "create":
		var f endpointFlags
		f.register(fs)
		secret := fs.String("secret", "", "signing secret to use instead of a generated one (whsec_...)")
		if _, err := parseArgs(fs, args[1:]); err != nil {
			return err
		}
		if *f.url == "" || *f.events == "" {
			return usageError{"endpoints create needs --url and --events"}
		}
		headers, err := f.headerMap()
		if err != nil {
			return err
		}
		sched, err := f.schedule()
		if err != nil {
			return err
		}
		ep := &hookd.Endpoint{URL: *f.url, Name: *f.name, Description: *f.desc, Events: splitList(*f.events), Headers: headers,
			Signatures: f.signatures(), Timeout: hookd.Duration(*f.timeout), RetrySchedule: sched, MaxInFlight: *f.maxInFlight,
			RateLimit: *f.rateLimit, Mode: hookd.DeliveryMode(*f.mode), Filter: json.RawMessage(*f.filter)}
		if *f.filter == "" {
			ep.Filter = nil
		}
		if *secret != "" {
			ep.Secrets = []hookd.Secret{{Value: *secret}}
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		created, sec, err := c.CreateEndpoint(ctx, cf.tenant, ep)
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, struct {
				*hookd.Endpoint
				Secret string `json:"secret"`
			}{created, sec})
		}
		fmt.Fprintf(env.Stdout, "Created endpoint %s -> %s\n", created.ID, created.URL)
		fmt.Fprintf(env.Stdout, "Signing secret (shown only this once):\n\n    %s\n\n", sec)
		return nil
	case "list":
		if _, err := parseArgs(fs, args[1:]); err != nil {
			return err
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		all, err := allPages(hookd.Page{Limit: hookd.MaxPageSize}, func(p hookd.Page) (*client.List[*hookd.Endpoint], error) { return c.ListEndpoints(ctx, cf.tenant, p) })
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, all)
		}
		rows := make([][]string, len(all))
		for i, e := range all {
			status := "-"
			if e.LastStatus != 0 {
				status = fmt.Sprint(e.LastStatus)
			}
			rows[i] = []string{e.ID, orDash(e.Name), e.URL, strings.Join(e.Events, ","), string(e.State), ago(e.LastDeliveryAt), status,
				fmt.Sprint(e.ConsecutiveFailures), successRate(e.Stats), attempts(e.Stats)}
		}
		table(env.Stdout, "ID\tNAME\tURL\tEVENTS\tSTATE\tLAST DELIVERY\tLAST STATUS\tFAILURES\tSUCCESS 24H\tATTEMPTS 24H", rows)
		return nil
	case "get", "delete", "test":
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError{fmt.Sprintf("usage: hookd endpoints %s ID", args[0])}
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		switch args[0] {
		case "delete":
			if err := c.DeleteEndpoint(ctx, cf.tenant, pos[0]); err != nil {
				return err
			}
			if !cf.json {
				fmt.Fprintf(env.Stdout, "Deleted endpoint %s\n", pos[0])
			}
			return nil
		case "test":
			res, err := c.TestEndpoint(ctx, cf.tenant, pos[0])
			if err != nil {
				return err
			}
			return printTest(env, cf.json, res, "")
		}
		e, err := c.GetEndpoint(ctx, cf.tenant, pos[0])
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, e)
		}
		printEndpoint(env, e)
		return nil
	case "update":
		var f endpointFlags
		f.register(fs)
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError{"usage: hookd endpoints update ID [--url U] [--events E] [--mode M] ..."}
		}
		upd, err := f.update(fs)
		if err != nil {
			return err
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		e, err := c.UpdateEndpoint(ctx, cf.tenant, pos[0], upd)
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, e)
		}
		printEndpoint(env, e)
		return nil
	case "enable", "disable", "pause", "resume":
		why := fs.String("reason", "", "why (shown on the endpoint)")
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError{fmt.Sprintf("usage: hookd endpoints %s ID [--reason TEXT]", args[0])}
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		e, err := c.SetEndpointState(ctx, cf.tenant, pos[0], args[0], *why)
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, e)
		}
		fmt.Fprintf(env.Stdout, "Endpoint %s is %s%s\n", e.ID, e.State, reason(e.StateReason))
		return nil
	case "rotate-secret":
		overlap := fs.Duration("overlap", 24*time.Hour, "how long the current secret keeps signing (0: stop at once)")
		secret := fs.String("secret", "", "the new secret (whsec_...); default: a generated one")
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError{"usage: hookd endpoints rotate-secret ID [--overlap 24h] [--secret S]"}
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		r, err := c.RotateSecret(ctx, cf.tenant, pos[0], *secret, overlap)
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, r)
		}
		fmt.Fprintf(env.Stdout, "New signing secret of %s (shown only this once):\n\n    %s\n\n", r.ID, r.Secret)
		for _, s := range r.Secrets[1:] {
			fmt.Fprintf(env.Stdout, "The previous secret keeps signing until %s.\n", s.ExpiresAt.Format(time.RFC3339))
		}
		return nil
	case "recover", "replay":
		since := fs.String("since", "", "start of the window: RFC 3339 time, or a duration ago like 2h (required)")
		until := fs.String("until", "", "end of the window (default: now)")
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 || *since == "" {
			return usageError{fmt.Sprintf("usage: hookd endpoints %s ID --since T [--until T]", args[0])}
		}
		now := time.Now()
		from, err := parseWhen(*since, now)
		if err != nil {
			return err
		}
		var to time.Time
		if *until != "" {
			if to, err = parseWhen(*until, now); err != nil {
				return err
			}
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		r, err := c.Requeue(ctx, cf.tenant, pos[0], args[0], from, to)
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, r)
		}
		fmt.Fprintf(env.Stdout, "Queued %d deliveries of %s (%s to %s)\n", r.Deliveries, pos[0],
			r.Since.Format(time.RFC3339), r.Until.Format(time.RFC3339))
		return nil
	}
	return usageError{fmt.Sprintf("unknown endpoints command %q\n%s", args[0], endpointsUsage)}
}

// parseWhen reads an RFC 3339 time or a duration before now ("2h").
func parseWhen(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usageError{fmt.Sprintf("%q is neither an RFC 3339 time nor a duration like 2h", v)}
}

func successRate(st *hookd.EndpointStats) string {
	if st == nil || st.SuccessRate == nil {
		return "-"
	}
	return strconv.FormatFloat(*st.SuccessRate*100, 'f', 1, 64) + "%"
}

func attempts(st *hookd.EndpointStats) string {
	if st == nil {
		return "-"
	}
	return fmt.Sprintf("%d ok / %d failed", st.Succeeded, st.Failed)
}

func printEndpoint(env Env, e *hookd.Endpoint) {
	sigs := make([]string, len(e.Signatures))
	for i, s := range e.Signatures {
		sigs[i] = string(s.Scheme)
		if s.Header != "" {
			sigs[i] += ":" + s.Header
		}
	}
	rows := [][]string{
		{"id", e.ID}, {"name", orDash(e.Name)}, {"url", e.URL}, {"events", strings.Join(e.Events, ",")},
		{"state", string(e.State) + reason(e.StateReason)}, {"state changed", ago(e.StateChanged)},
		{"mode", string(e.Mode)}, {"signatures", strings.Join(sigs, ", ")},
		{"timeout", time.Duration(e.Timeout).String()}, {"max in flight", fmt.Sprint(e.MaxInFlight)},
		{"last delivery", ago(e.LastDeliveryAt)}, {"last status", fmt.Sprint(e.LastStatus)},
		{"consecutive failures", fmt.Sprint(e.ConsecutiveFailures)}, {"failing since", ago(e.FailingSince)},
		{"success (24h)", successRate(e.Stats)}, {"attempts (24h)", attempts(e.Stats)},
	}
	if e.RateLimit > 0 {
		rows = append(rows, []string{"rate limit", fmt.Sprintf("%g/s", e.RateLimit)})
	}
	if t := e.LastTest; t != nil {
		rows = append(rows, []string{"last test", fmt.Sprintf("%s: %s", ago(&t.At), testOutcome(t))})
	}
	table(env.Stdout, "FIELD\tVALUE", rows)
}

func testOutcome(t *hookd.TestResult) string {
	out := "failed"
	if t.Success {
		out = "ok"
	}
	if t.StatusCode != 0 {
		out += fmt.Sprintf(", HTTP %d", t.StatusCode)
	}
	if t.Error != "" {
		out += ", " + t.Error
	}
	return out + fmt.Sprintf(", %.0f ms", t.LatencyMS)
}

// printTest shows a test or probe result; secret is the probe's
// generated secret, if any.
func printTest(env Env, asJSON bool, t *hookd.TestResult, secret string) error {
	if asJSON {
		return printJSON(env.Stdout, client.ProbeResult{TestResult: *t, Secret: secret})
	}
	fmt.Fprintf(env.Stdout, "%s %s: %s\n", t.URL, t.EventID, testOutcome(t))
	if t.Body != "" {
		fmt.Fprintf(env.Stdout, "response body:\n%s\n", t.Body)
	}
	if secret != "" {
		fmt.Fprintf(env.Stdout, "signed with the generated secret %s\n", secret)
	}
	if !t.Success {
		return fmt.Errorf("the test request failed")
	}
	return nil
}

// runProbe sends a test request to a URL that is not an endpoint yet.
func runProbe(ctx context.Context, args []string, env Env) error {
	var cf clientFlags
	fs := newFlagSet("probe", env)
	cf.register(fs, env)
	secret := fs.String("secret", "", "sign with this secret (whsec_...); default: a generated one, printed")
	var sigs, headers repeated
	fs.Var(&sigs, "signature", "scheme[:Header] (repeatable; default standard)")
	fs.Var(&headers, "header", "custom header K=V (repeatable)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"usage: hookd probe URL [--secret S] [--signature scheme[:Header]]"}
	}
	f := endpointFlags{sigs: sigs, headers: headers}
	h, err := f.headerMap()
	if err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	res, err := c.Probe(ctx, cf.tenant, client.Probe{URL: pos[0], Signatures: f.signatures(), Secret: *secret, Headers: h})
	if err != nil {
		return err
	}
	return printTest(env, cf.json, &res.TestResult, res.Secret)
}

// runTrigger publishes an event of a type with the type's example payload.
func runTrigger(ctx context.Context, args []string, env Env) error {
	var cf clientFlags
	fs := newFlagSet("trigger", env)
	cf.register(fs, env)
	data := fs.String("data", "", "payload instead of the type's example: JSON, @file or - for stdin")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"usage: hookd trigger TYPE [--data JSON]"}
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	var payload []byte
	if *data != "" {
		if payload, err = readData(*data); err != nil {
			return err
		}
	} else {
		et, err := c.GetEventType(ctx, cf.tenant, pos[0])
		if err != nil {
			return err
		}
		if len(et.Example) == 0 {
			return fmt.Errorf("event type %s has no example payload: give one with --data, or add one to the type", pos[0])
		}
		payload = et.Example
	}
	res, err := c.Publish(ctx, cf.tenant, pos[0], payload, "")
	if err != nil {
		return err
	}
	if cf.json {
		return printJSON(env.Stdout, res)
	}
	fmt.Fprintf(env.Stdout, "Published sample %s (%s): %d deliveries\n", res.ID, res.Type, res.Deliveries)
	return nil
}
