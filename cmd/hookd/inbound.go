package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/client"
	"github.com/hookd/hookd/signature"
)

// verifierFlags are the flags that describe a source's verifier.
type verifierFlags struct {
	typ, header, algorithm, encoding, prefix, tsHeader, username *string
	tolerance                                                    *time.Duration
	secrets                                                      repeated
}

func (v *verifierFlags) register(fs *flag.FlagSet) {
	v.typ = fs.String("verifier", "", "github, gitlab, stripe, slack, shopify, standard, bitbucket, hmac, token, basic, apikey or none")
	fs.Var(&v.secrets, "secret", "verifier secret (repeatable: several are valid at once, for rotation)")
	v.header = fs.String("header", "", "signature or token header (hmac, token; overrides a provider's)")
	v.algorithm = fs.String("algorithm", "", "hmac: sha1, sha256 or sha512")
	v.encoding = fs.String("encoding", "", "hmac: hex or base64")
	v.prefix = fs.String("prefix", "", "hmac: signature prefix, e.g. sha256=")
	v.tsHeader = fs.String("timestamp-header", "", "hmac: header with the signed timestamp")
	v.tolerance = fs.Duration("tolerance", 0, "how old a signed timestamp may be (default 5m)")
	v.username = fs.String("username", "", "basic: the user name")
}

func (v *verifierFlags) input() *client.SourceVerifierInput {
	return &client.SourceVerifierInput{SourceVerifier: hookd.SourceVerifier{Type: *v.typ, Header: *v.header, Algorithm: *v.algorithm,
		Encoding: *v.encoding, Prefix: *v.prefix, TimestampHeader: *v.tsHeader, Tolerance: hookd.Duration(*v.tolerance),
		Username: *v.username}, Secrets: v.secrets}
}

func runSources(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return usageError{"usage: hookd sources create|list|get|update|delete"}
	}
	var cf clientFlags
	fs := newFlagSet("sources "+args[0], env)
	cf.register(fs, env)
	switch args[0] {
	case "create", "update":
		var v verifierFlags
		v.register(fs)
		desc := fs.String("description", "", "description")
		types := fs.String("content-types", "", "accepted bodies: json,form,text (default all)")
		maxBody := fs.Int64("max-body", 0, "largest body in bytes (default 1 MiB)")
		rate := fs.Float64("rate-limit", 0, "requests per second accepted (0: no limit)")
		dedup := fs.Duration("dedup-window", 0, "how long a provider delivery id is remembered (default 24h)")
		heartbeat := fs.Duration("heartbeat", 0, "alert (hookd.alert.heartbeat_lost) when no request came for this long")
		status := fs.Int("response-status", 0, "answer accepted requests with this 2xx status instead of 202")
		body := fs.String("response-body", "", "...and this body")
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError{fmt.Sprintf("usage: hookd sources %s NAME|ID --verifier TYPE [--secret S]...", args[0])}
		}
		in := client.SourceInput{ContentTypes: splitList(*types), MaxBodyBytes: *maxBody}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if set["description"] {
			in.Description = desc
		}
		if set["verifier"] || set["secret"] {
			in.Verifier = v.input()
		}
		if set["rate-limit"] {
			in.RateLimit = rate
		}
		if set["dedup-window"] {
			d := hookd.Duration(*dedup)
			in.DedupWindow = &d
		}
		if set["heartbeat"] {
			d := hookd.Duration(*heartbeat)
			in.HeartbeatEvery = &d
		}
		if *status != 0 {
			in.Response = &hookd.SourceResponse{Status: *status, Body: *body}
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		var src *client.Source
		if args[0] == "create" {
			if in.Verifier == nil || in.Verifier.Type == "" {
				return usageError{"sources create needs --verifier (none must be chosen explicitly)"}
			}
			in.Name = pos[0]
			src, err = c.CreateSource(ctx, cf.tenant, in)
		} else {
			src, err = c.UpdateSource(ctx, cf.tenant, pos[0], in)
		}
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, src)
		}
		fmt.Fprintf(env.Stdout, "Source %s (%s): POST %s\n", src.Name, src.ID, src.URL)
		return nil
	case "list":
		if _, err := parseArgs(fs, args[1:]); err != nil {
			return err
		}
		return listSources(ctx, cf, env, false)
	case "get", "delete":
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError{fmt.Sprintf("usage: hookd sources %s ID", args[0])}
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		if args[0] == "delete" {
			if err := c.DeleteSource(ctx, cf.tenant, pos[0]); err != nil {
				return err
			}
			if !cf.json {
				fmt.Fprintf(env.Stdout, "Deleted source %s\n", pos[0])
			}
			return nil
		}
		src, err := c.GetSource(ctx, cf.tenant, pos[0])
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, src)
		}
		table(env.Stdout, "FIELD\tVALUE", [][]string{
			{"id", src.ID}, {"name", src.Name}, {"url", src.URL}, {"verifier", src.Verifier.Type},
			{"secrets", fmt.Sprint(src.Secrets)}, {"content types", strings.Join(src.ContentTypes, ",")},
			{"max body", fmt.Sprint(src.MaxBodyBytes)}, {"last request", ago(src.LastRequestAt)},
			{"accepted", fmt.Sprint(src.Accepted)}, {"rejected", fmt.Sprint(src.Rejected)},
		})
		return nil
	}
	return usageError{fmt.Sprintf("unknown sources command %q", args[0])}
}

// listSources prints every source; as webhooks it shows what a sender
// needs: the full URL, the verifier and the last request.
func listSources(ctx context.Context, cf clientFlags, env Env, webhooks bool) error {
	c, err := cf.client()
	if err != nil {
		return err
	}
	all, err := allPages(hookd.Page{Limit: hookd.MaxPageSize}, func(p hookd.Page) (*client.List[*client.Source], error) { return c.ListSources(ctx, cf.tenant, p) })
	if err != nil {
		return err
	}
	if cf.json {
		return printJSON(env.Stdout, all)
	}
	rows := make([][]string, len(all))
	for i, s := range all {
		if webhooks {
			rows[i] = []string{s.URL, s.Verifier.Type, ago(s.LastRequestAt)}
		} else {
			rows[i] = []string{s.ID, s.Name, s.Verifier.Type, ago(s.LastRequestAt), fmt.Sprint(s.Accepted), fmt.Sprint(s.Rejected)}
		}
	}
	if webhooks {
		table(env.Stdout, "URL\tVERIFIER\tLAST REQUEST", rows)
	} else {
		table(env.Stdout, "ID\tNAME\tVERIFIER\tLAST REQUEST\tACCEPTED\tREJECTED", rows)
	}
	return nil
}

func runWebhooks(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || args[0] != "list" {
		return usageError{"usage: hookd webhooks list"}
	}
	var cf clientFlags
	fs := newFlagSet("webhooks list", env)
	cf.register(fs, env)
	if _, err := parseArgs(fs, args[1:]); err != nil {
		return err
	}
	return listSources(ctx, cf, env, true)
}

func runRules(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return usageError{"usage: hookd rules create|list|get|enable|disable|delete|test"}
	}
	var cf clientFlags
	fs := newFlagSet("rules "+args[0], env)
	cf.register(fs, env)
	switch args[0] {
	case "create":
		file := fs.String("file", "", "the rule as JSON (as the API takes it): a path, @path or - for stdin (required)")
		if _, err := parseArgs(fs, args[1:]); err != nil {
			return err
		}
		if *file == "" {
			return usageError{"usage: hookd rules create --file rule.json"}
		}
		src := *file
		if src != "-" && !strings.HasPrefix(src, "@") {
			src = "@" + src
		}
		body, err := readData(src)
		if err != nil {
			return err
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		r, err := c.CreateRule(ctx, cf.tenant, body)
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, r)
		}
		fmt.Fprintf(env.Stdout, "Created rule %s (%s)\n", r.Name, r.ID)
		return nil
	case "list":
		if _, err := parseArgs(fs, args[1:]); err != nil {
			return err
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		rules, err := allPages(hookd.Page{Limit: hookd.MaxPageSize}, func(p hookd.Page) (*client.List[*hookd.Rule], error) { return c.ListRules(ctx, cf.tenant, p) })
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, rules)
		}
		rows := make([][]string, len(rules))
		for i, r := range rules {
			rows[i] = []string{r.Name, fmt.Sprint(r.Enabled), listensTo(r), r.Action.Type}
		}
		table(env.Stdout, "NAME\tENABLED\tLISTENS TO\tACTION", rows)
		return nil
	case "get", "delete", "enable", "disable":
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError{fmt.Sprintf("usage: hookd rules %s NAME", args[0])}
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		var r *hookd.Rule
		switch args[0] {
		case "delete":
			if err := c.DeleteRule(ctx, cf.tenant, pos[0]); err != nil {
				return err
			}
			if !cf.json {
				fmt.Fprintf(env.Stdout, "Deleted rule %s\n", pos[0])
			}
			return nil
		case "get":
			r, err = c.GetRule(ctx, cf.tenant, pos[0])
		default:
			r, err = c.UpdateRule(ctx, cf.tenant, pos[0], map[string]bool{"enabled": args[0] == "enable"})
		}
		if err != nil {
			return err
		}
		return printJSON(env.Stdout, r)
	case "test":
		trigger := fs.String("trigger", "", "the trigger document {headers, query, body, git}: JSON, @file or - (required)")
		criteria := fs.String("criteria", "", "criteria to try instead of a stored rule's: JSON or @file")
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if *trigger == "" || (len(pos) == 1) == (*criteria != "") {
			return usageError{"usage: hookd rules test (NAME | --criteria JSON) --trigger JSON"}
		}
		doc, err := readData(*trigger)
		if err != nil {
			return err
		}
		req := map[string]any{"trigger": doc}
		if len(pos) == 1 {
			req["rule"] = pos[0]
		} else {
			crit, err := readData(*criteria)
			if err != nil {
				return err
			}
			req["criteria"] = crit
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		out, err := c.TestRule(ctx, cf.tenant, req)
		if err != nil {
			return err
		}
		var pretty bytes.Buffer
		if json.Indent(&pretty, out, "", "  ") == nil {
			out = pretty.Bytes()
		}
		fmt.Fprintln(env.Stdout, string(out))
		return nil
	}
	return usageError{fmt.Sprintf("unknown rules command %q", args[0])}
}

func listensTo(r *hookd.Rule) string {
	var parts []string
	if r.Source != "" {
		parts = append(parts, "source "+r.Source)
	}
	if r.Trigger != "" {
		parts = append(parts, "trigger "+r.Trigger)
	}
	if g := r.Git; g != nil {
		parts = append(parts, strings.TrimSpace(fmt.Sprintf("git %s %s %s", g.Event, g.Repo, g.Branch)))
	}
	return orDash(strings.Join(parts, ", "))
}

func runTriggers(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return usageError{"usage: hookd triggers list|get|replay"}
	}
	var cf clientFlags
	fs := newFlagSet("triggers "+args[0], env)
	cf.register(fs, env)
	switch args[0] {
	case "list":
		source := fs.String("source", "", "only this source's (id)")
		name := fs.String("name", "", "only generic triggers of this name")
		limit := fs.Int("limit", 50, "how many")
		if _, err := parseArgs(fs, args[1:]); err != nil {
			return err
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		page, err := c.ListTriggers(ctx, cf.tenant, *source, *name, hookd.Page{Limit: *limit})
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, page.Data)
		}
		rows := make([][]string, len(page.Data))
		for i, t := range page.Data {
			from := t.Source
			if from == "" {
				from = "trigger " + t.Name
			}
			rows[i] = []string{t.ID, from, t.ReceivedAt.Format(time.RFC3339), orDash(t.DeliveryID), fmt.Sprint(t.Runs)}
		}
		table(env.Stdout, "ID\tFROM\tRECEIVED\tDELIVERY ID\tRUNS", rows)
		return nil
	case "get", "replay":
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError{fmt.Sprintf("usage: hookd triggers %s ID", args[0])}
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		get := c.GetTrigger
		if args[0] == "replay" {
			get = c.ReplayTrigger
		}
		t, err := get(ctx, cf.tenant, pos[0])
		if err != nil {
			return err
		}
		return printJSON(env.Stdout, t)
	}
	return usageError{fmt.Sprintf("unknown triggers command %q", args[0])}
}

func runRuns(ctx context.Context, args []string, env Env) error {
	sub := "list"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	var cf clientFlags
	fs := newFlagSet("runs "+sub, env)
	cf.register(fs, env)
	switch sub {
	case "list":
		rule := fs.String("rule", "", "only this rule's (name or id)")
		trigger := fs.String("trigger", "", "only this trigger's")
		status := fs.String("status", "", "queued, running, succeeded or failed")
		limit := fs.Int("limit", 50, "how many")
		if _, err := parseArgs(fs, args); err != nil {
			return err
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		page, err := c.ListRuns(ctx, cf.tenant, *rule, *trigger, *status, hookd.Page{Limit: *limit})
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, page.Data)
		}
		rows := make([][]string, len(page.Data))
		for i, r := range page.Data {
			rows[i] = []string{r.ID, r.RuleName, r.TriggerID, r.Status, r.Action.Type, runOutcome(r.Result)}
		}
		table(env.Stdout, "ID\tRULE\tTRIGGER\tSTATUS\tACTION\tRESULT", rows)
		return nil
	case "get":
		pos, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError{"usage: hookd runs get ID"}
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		r, err := c.GetRun(ctx, cf.tenant, pos[0])
		if err != nil {
			return err
		}
		return printJSON(env.Stdout, r)
	}
	return usageError{"usage: hookd runs [list] [--rule R] [--status S] | runs get ID"}
}

func runOutcome(r *hookd.RunResult) string {
	switch {
	case r == nil:
		return "-"
	case r.Error != "":
		return r.Error
	case r.EventID != "":
		return "event " + r.EventID
	case r.ExitCode != nil:
		return fmt.Sprintf("exit %d", *r.ExitCode)
	case r.StatusCode != 0:
		return fmt.Sprintf("HTTP %d", r.StatusCode)
	}
	return "-"
}

// providerEvents are the event headers each provider sends, by the
// normalized event names hookd send takes.
var providerEvents = map[string]func(h http.Header, event string){
	signature.TypeGitHub: func(h http.Header, event string) {
		h.Set("X-GitHub-Event", event)
		h.Set("X-GitHub-Delivery", newUUID())
	},
	signature.TypeGitLab: func(h http.Header, event string) {
		names := map[string]string{"push": "Push Hook", "tag": "Tag Push Hook", "tag_push": "Tag Push Hook",
			"merge_request": "Merge Request Hook", "pull_request": "Merge Request Hook"}
		if n, ok := names[event]; ok {
			event = n
		}
		h.Set("X-Gitlab-Event", event)
		h.Set("X-Gitlab-Event-UUID", newUUID())
	},
	signature.TypeBitbucket: func(h http.Header, event string) {
		names := map[string]string{"push": "repo:push", "pull_request": "pullrequest:created"}
		if n, ok := names[event]; ok {
			event = n
		}
		h.Set("X-Event-Key", event)
		h.Set("X-Request-UUID", newUUID())
	},
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// runSend posts a request to a source signed the way a provider signs it,
// for trying rules locally.
func runSend(ctx context.Context, args []string, env Env) error {
	fs := newFlagSet("send", env)
	server := fs.String("server", envOr(env, "HOOKD_SERVER", "http://127.0.0.1:8080"), "hookd base URL (HOOKD_SERVER)")
	provider := fs.String("provider", "", "sign as: github, gitlab, bitbucket, stripe, slack, shopify, standard, hmac, token, basic (required)")
	secret := fs.String("secret", "", "the source's secret (required but for none)")
	event := fs.String("event", "", "the provider's event, e.g. push, pull_request (github, gitlab, bitbucket)")
	data := fs.String("data", "", "the body: JSON, @file or - for stdin (required)")
	header := fs.String("header", "", "hmac/token: the signature or token header")
	username := fs.String("username", "", "basic: the user name")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *provider == "" || *data == "" {
		return usageError{"usage: hookd send SOURCE --provider github --secret S --event push --data FILE"}
	}
	body, err := readData(*data)
	if err != nil {
		return err
	}
	cfg := signature.VerifierConfig{Type: *provider, Header: *header, Username: *username}
	if *secret != "" {
		cfg.Secrets = []string{*secret}
	}
	h := http.Header{}
	if *provider != signature.TypeNone {
		if h, err = signature.SignRequest(cfg, body, time.Now()); err != nil {
			return err
		}
	}
	if set := providerEvents[*provider]; set != nil && *event != "" {
		set(h, *event)
	}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "hookd-send/"+version)
	url := strings.TrimRight(*server, "/") + "/v1/webhooks/" + hookd.NormalizeSourceName(pos[0])
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	fmt.Fprintf(env.Stdout, "%s %s\n%s\n", resp.Proto, resp.Status, strings.TrimSpace(string(answer)))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the source answered %s", resp.Status)
	}
	return nil
}
