package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/client"
	"github.com/hookd/hookd/signature"
)

// InboundBenchResult is what `hookd bench --inbound --json` prints.
type InboundBenchResult struct {
	Requests    int `json:"requests"`
	Concurrency int `json:"concurrency"`
	BodyBytes   int `json:"body_bytes"`
	// Accepted counts 202 answers; Refused every other status, Errors
	// requests that got no answer.
	Accepted          int          `json:"accepted"`
	Refused           int          `json:"refused"`
	Errors            int          `json:"errors"`
	AcceptedPerSecond float64      `json:"accepted_per_second"`
	LatencyMS         BenchLatency `json:"latency_ms"` // of the 202 answers, request sent to answer read
	// Runs counts runs of the bench's rule that succeeded, FailedRuns those
	// that failed; Unfinished is accepted requests without an ended run
	// when the bench stopped waiting.
	Runs       int `json:"runs"`
	FailedRuns int `json:"failed_runs"`
	Unfinished int `json:"unfinished"`
	// ProcessedSeconds is from the first request to the end of the last
	// run (the server's clock); RunsPerSecond is Runs over it.
	ProcessedSeconds float64 `json:"processed_seconds"`
	RunsPerSecond    float64 `json:"runs_per_second"`
	// Deliveries, with --subscribe: the published events as the built-in
	// receiver verified them.
	Deliveries *InboundDeliveries `json:"deliveries,omitempty"`
	RSSMB      float64            `json:"rss_mb"`
}

// InboundDeliveries is what the receiver saw of the rule's events.
type InboundDeliveries struct {
	Received      int          `json:"received"`
	PerSecond     float64      `json:"per_second"` // from the first request to the last receipt
	LatencyMS     BenchLatency `json:"latency_ms"` // request sent to verified receipt
	Lost          int          `json:"lost"`
	Duplicates    int          `json:"duplicates"`
	BadSignatures int          `json:"bad_signatures"`
}

func (res *InboundBenchResult) writeText(w io.Writer) {
	fmt.Fprintf(w, "requests     %d GitHub push requests of %d bytes over %d connections\n", res.Requests, res.BodyBytes, res.Concurrency)
	fmt.Fprintf(w, "accepted     %d (%.0f /s), refused %d, errors %d\n", res.Accepted, res.AcceptedPerSecond, res.Refused, res.Errors)
	fmt.Fprintf(w, "latency ms   %s (202 answers)\n", res.LatencyMS)
	fmt.Fprintf(w, "runs         %d succeeded, %d failed, %d unfinished; last ended %.1f s after the first request (%.0f runs/s)\n",
		res.Runs, res.FailedRuns, res.Unfinished, res.ProcessedSeconds, res.RunsPerSecond)
	if d := res.Deliveries; d != nil {
		fmt.Fprintf(w, "deliveries   %d (%.0f /s), lost %d, duplicates %d, bad signatures %d\n", d.Received, d.PerSecond, d.Lost, d.Duplicates, d.BadSignatures)
		fmt.Fprintf(w, "delivery ms  %s (request to verified receipt)\n", d.LatencyMS)
	}
	if res.RSSMB > 0 {
		fmt.Fprintf(w, "server rss   %.1f MB peak\n", res.RSSMB)
	}
}

func (res *InboundBenchResult) check() error {
	switch {
	case res.Refused+res.Errors > 0:
		return fmt.Errorf("%d requests were refused and %d got no answer", res.Refused, res.Errors)
	case res.Unfinished+res.FailedRuns > 0:
		return fmt.Errorf("%d accepted requests have no succeeded run (%d failed)", res.Unfinished+res.FailedRuns, res.FailedRuns)
	case res.Deliveries != nil && res.Deliveries.Lost > 0:
		return fmt.Errorf("%d deliveries were lost", res.Deliveries.Lost)
	}
	return nil
}

// inboundBench is one run of the inbound mode: its names and secrets.
type inboundBench struct {
	name      string // of the source, the rule and the event type's suffix
	secret    string
	salt      string // 24 hex digits in the commit ids
	deliveryP string // the first 24 characters of every X-GitHub-Delivery
	source    *client.Source
	rule      *hookd.Rule
}

// benchInbound sets up a GitHub source with one publish rule (and with
// --subscribe an endpoint on the built-in receiver), sends cfg.requests
// signed push requests over cfg.concurrency connections, and waits until
// every accepted request's run has ended (and every delivery arrived).
func benchInbound(ctx context.Context, cfg benchConfig, progress io.Writer) (*InboundBenchResult, error) {
	var rnd [44]byte
	_, _ = rand.Read(rnd[:])
	h := hex.EncodeToString(rnd[:])
	b := &inboundBench{
		name:      "bench-" + strings.TrimPrefix(hookd.NewID("b"), "b_"),
		secret:    h[:40],
		salt:      h[40:64],
		deliveryP: h[64:72] + "-" + h[72:76] + "-4" + h[77:80] + "-8" + h[81:84] + "-",
	}
	targets := make([]benchTarget, len(cfg.servers))
	for i, s := range cfg.servers {
		t, err := newBenchTarget(s, "/v1/webhooks/"+b.name)
		if err != nil {
			return nil, err
		}
		targets[i] = t
	}
	api := client.New(cfg.servers[0], cfg.key)
	cleanup, err := b.setup(ctx, api, cfg.tenant)
	defer cleanup()
	if err != nil {
		return nil, err
	}

	var rc *receiver
	if cfg.subscribe {
		rc = newReceiver(1, cfg.requests, b.deliveryIndex)
		addr, stop, err := rc.serve(cfg.receiver)
		if err != nil {
			return nil, err
		}
		defer stop()
		unsubscribe, err := rc.subscribe(ctx, api, cfg.tenant, addr, "bench."+b.name)
		if err != nil {
			return nil, err
		}
		defer unsubscribe()
	}

	res := &InboundBenchResult{Requests: cfg.requests, Concurrency: cfg.concurrency, BodyBytes: len(b.body(nil, 0, time.Now()))}
	begin := time.Now()
	sent := b.send(ctx, cfg, targets, rc, progress)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.Accepted, res.Refused, res.Errors = sent.accepted, sent.refused, sent.errors
	if sent.firstRefusal != "" {
		fmt.Fprintf(progress, "bench: first refusal: %s\n", sent.firstRefusal)
	}
	if d := sent.last.Sub(begin); d > 0 {
		res.AcceptedPerSecond = round1(float64(sent.accepted) / d.Seconds())
	}
	res.LatencyMS = latencyOf(sent.latency)

	runs, err := b.awaitRuns(ctx, api, cfg, sent.accepted, begin, progress)
	if err != nil {
		return nil, err
	}
	res.Runs, res.FailedRuns = runs.succeeded, runs.failed
	res.Unfinished = max(0, sent.accepted-runs.succeeded-runs.failed)
	if d := runs.lastEnded.Sub(begin); d > 0 {
		res.ProcessedSeconds = round1(d.Seconds())
		res.RunsPerSecond = round1(float64(runs.succeeded) / d.Seconds())
	}

	if rc != nil {
		select {
		case <-rc.all:
		case <-time.After(max(time.Until(begin.Add(cfg.wait)), time.Second)):
			fmt.Fprintf(progress, "bench: gave up waiting for deliveries after %s\n", cfg.wait)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		time.Sleep(200 * time.Millisecond) // let in-flight duplicates land before counting
		st := rc.stats(begin)
		// Only accepted requests publish an event.
		res.Deliveries = &InboundDeliveries{
			Received: st.distinct, PerSecond: st.perSecond, LatencyMS: st.latency,
			Lost: sent.accepted - st.distinct, Duplicates: st.duplicates, BadSignatures: st.bad,
		}
	}
	return res, nil
}

// setup creates the source and the rule; the returned function deletes
// them (their triggers and runs stay).
func (b *inboundBench) setup(ctx context.Context, api *client.Client, tenant string) (func(), error) {
	var undo []func()
	cleanup := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	bg := context.WithoutCancel(ctx)
	src, err := api.CreateSource(ctx, tenant, client.SourceInput{
		Name:     b.name,
		Verifier: &client.SourceVerifierInput{SourceVerifier: hookd.SourceVerifier{Type: signature.TypeGitHub}, Secrets: []string{b.secret}},
	})
	if err != nil {
		return cleanup, fmt.Errorf("create source: %w", err)
	}
	b.source = src
	undo = append(undo, func() { _ = api.DeleteSource(bg, tenant, src.ID) })
	rule, err := json.Marshal(map[string]any{
		"name":   b.name,
		"source": b.name,
		"action": map[string]any{
			"type":       hookd.ActionPublish,
			"event_type": "bench." + b.name,
			"data": map[string]any{
				"repo": "{{ trigger.git.repo }}", "branch": "{{ trigger.git.branch }}", "sha": "{{ trigger.git.sha }}",
				"pusher": "{{ trigger.git.actor }}", "message": "{{ trigger.body.head_commit.message }}",
				"delivery": "{{ trigger.delivery_id }}",
			},
		},
	})
	if err != nil {
		return cleanup, err
	}
	if b.rule, err = api.CreateRule(ctx, tenant, rule); err != nil {
		return cleanup, fmt.Errorf("create rule: %w", err)
	}
	undo = append(undo, func() { _ = api.DeleteRule(bg, tenant, b.rule.ID) })
	return cleanup, nil
}

// appendDeliveryID appends request n's X-GitHub-Delivery to buf: a UUID
// whose last 48 bits are scrambleID(n). GitHub's delivery ids are random;
// ids in request order would each land next to the last one in the
// de-duplication index, which costs the server a quarter less than ids
// spread like GitHub's (docs/PERFORMANCE.md, "Receiving, session 5").
func (b *inboundBench) appendDeliveryID(buf []byte, n int) []byte {
	const hexDigits = "0123456789abcdef"
	buf = append(buf, b.deliveryP...)
	x := scrambleID(uint64(n))
	for shift := 44; shift >= 0; shift -= 4 {
		buf = append(buf, hexDigits[x>>shift&0xf])
	}
	return buf
}

// deliveryIndex finds the request number in an envelope of the rule's
// event, whose data holds the delivery id.
func (b *inboundBench) deliveryIndex(body []byte) (int, bool) {
	i := bytes.Index(body, []byte(b.deliveryP))
	if i < 0 || len(body) < i+len(b.deliveryP)+12 {
		return 0, false
	}
	i += len(b.deliveryP)
	x, err := strconv.ParseUint(string(body[i:i+12]), 16, 48)
	return int(unscrambleID(x)), err == nil
}

// idMul is odd, so that multiplying by it modulo 2^48 is a bijection:
// consecutive request numbers give ids spread over the whole range.
const (
	idMul  = 0x5deece66d
	idMask = 1<<48 - 1
)

// idMulInverse is idMul's inverse modulo 2^64 (hence modulo 2^48), by
// Newton's iteration: each step doubles the correct low bits.
var idMulInverse = func() uint64 {
	inv := uint64(idMul)
	for range 6 {
		inv *= 2 - idMul*inv
	}
	return inv
}()

func scrambleID(n uint64) uint64   { return n * idMul & idMask }
func unscrambleID(x uint64) uint64 { return x * idMulInverse & idMask }

// sendResult is what the senders saw.
type sendResult struct {
	accepted, refused, errors int
	firstRefusal              string
	latency                   []float64 // ms of each 202
	last                      time.Time // when the last answer arrived
}

// send posts the requests, paced by cfg.rate, from cfg.concurrency
// goroutines with a connection each, spread over the targets.
func (b *inboundBench) send(ctx context.Context, cfg benchConfig, targets []benchTarget, rc *receiver, progress io.Writer) sendResult {
	pool, err := b.signedBodies(min(cfg.requests, 512))
	if err != nil {
		return sendResult{errors: cfg.requests, firstRefusal: "sign: " + err.Error()}
	}

	next := pace(ctx, cfg.requests, 1, cfg.rate)
	var accepted, answered atomic.Int64
	results := make([]sendResult, cfg.concurrency)
	var wg sync.WaitGroup
	for w := range cfg.concurrency {
		wg.Go(func() {
			out := &results[w]
			t := targets[w%len(targets)]
			c := &benchConn{addr: t.addr}
			defer c.close()
			var req []byte
			var answer benchResponse
			for n := range next {
				req = b.appendRequest(req[:0], t, &pool[n%len(pool)], n)
				err := c.ready(ctx)
				now := time.Now()
				if err == nil {
					if rc != nil {
						rc.started[n].Store(now.UnixNano())
					}
					err = c.roundTrip(req, &answer)
				}
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					out.errors++
					if out.firstRefusal == "" {
						out.firstRefusal = "POST " + t.url + ": " + err.Error()
					}
					continue
				}
				done := time.Now()
				out.last = done
				answered.Add(1)
				if answer.code == http.StatusAccepted {
					out.accepted++
					accepted.Add(1)
					out.latency = append(out.latency, float64(done.Sub(now).Nanoseconds())/1e6)
				} else {
					out.refused++
					if out.firstRefusal == "" {
						out.firstRefusal = string(answer.status) + " " + strings.TrimSpace(string(answer.body))
					}
				}
			}
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	begin := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-finished:
			waiting = false
		case <-tick.C:
			fmt.Fprintf(progress, "bench: %6.1fs answered %d/%d requests, %d accepted\n",
				time.Since(begin).Seconds(), answered.Load(), cfg.requests, accepted.Load())
		}
	}
	var all sendResult
	for _, r := range results {
		all.accepted += r.accepted
		all.refused += r.refused
		all.errors += r.errors
		all.latency = append(all.latency, r.latency...)
		if all.firstRefusal == "" {
			all.firstRefusal = r.firstRefusal
		}
		if r.last.After(all.last) {
			all.last = r.last
		}
	}
	return all
}

// appendRequest appends request n to buf, whole: the request line and Host
// of t, GitHub's headers, and sb.
func (b *inboundBench) appendRequest(buf []byte, t benchTarget, sb *signedBody, n int) []byte {
	buf = append(buf, t.head...)
	buf = append(buf, githubHeaders...)
	buf = append(buf, sb.head...)
	buf = append(buf, "X-GitHub-Delivery: "...)
	buf = b.appendDeliveryID(buf, n)
	buf = append(buf, "\r\n\r\n"...)
	return append(buf, sb.body...)
}

// githubHeaders are the headers of every request that depend neither on
// the body nor on the request number.
const githubHeaders = "Content-Type: application/json\r\n" +
	"Accept: */*\r\n" +
	"User-Agent: GitHub-Hookshot/6a4a6b5\r\n" +
	"X-GitHub-Event: push\r\n" +
	"X-GitHub-Hook-ID: 482901337\r\n" +
	"X-GitHub-Hook-Installation-Target-ID: 1296269\r\n" +
	"X-GitHub-Hook-Installation-Target-Type: repository\r\n"

// signedBody is a push payload and its headers: Content-Length and
// GitHub's two signatures of it.
type signedBody struct {
	body, head []byte
}

// signedBodies returns n different push payloads, signed, so that sending
// costs the bench little CPU. GitHub signs the body only: each request
// still gets its own X-GitHub-Delivery.
func (b *inboundBench) signedBodies(n int) ([]signedBody, error) {
	github := signature.VerifierConfig{Type: signature.TypeGitHub, Secrets: []string{b.secret}}
	legacy := signature.VerifierConfig{Type: signature.TypeHMAC, Header: "X-Hub-Signature", Algorithm: "sha1", Prefix: "sha1=", Secrets: []string{b.secret}}
	out := make([]signedBody, n)
	now := time.Now()
	for i := range out {
		body := b.body(nil, i, now)
		h, err := signature.SignRequest(github, body, now)
		if err != nil {
			return nil, err
		}
		h1, err := signature.SignRequest(legacy, body, now)
		if err != nil {
			return nil, err
		}
		head := fmt.Appendf(nil, "Content-Length: %d\r\nX-Hub-Signature: %s\r\nX-Hub-Signature-256: %s\r\n",
			len(body), h1.Get("X-Hub-Signature"), h.Get("X-Hub-Signature-256"))
		out[i] = signedBody{body: body, head: head}
	}
	return out, nil
}

// runTally counts the ended runs of the bench's rule.
type runTally struct {
	succeeded, failed int
	lastEnded         time.Time
}

// awaitRuns waits until runs of the rule have ended for all accepted
// requests, or cfg.wait after begin. It polls cheap signs first (the
// newest triggers processed, no run queued or running), then counts every
// run of the rule, so that counting, which reads them all, runs about once.
func (b *inboundBench) awaitRuns(ctx context.Context, api *client.Client, cfg benchConfig, accepted int, begin time.Time, progress io.Writer) (runTally, error) {
	deadline := begin.Add(cfg.wait)
	var t runTally
	lastReport := time.Now()
	for {
		ready, err := b.quiet(ctx, api, cfg.tenant)
		if err != nil {
			return t, err
		}
		if ready {
			if t, err = b.countRuns(ctx, api, cfg.tenant); err != nil {
				return t, err
			}
			if t.succeeded+t.failed >= accepted {
				return t, nil
			}
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(progress, "bench: gave up waiting for runs after %s\n", cfg.wait)
			return b.countRuns(ctx, api, cfg.tenant)
		}
		if time.Since(lastReport) >= time.Second {
			lastReport = time.Now()
			fmt.Fprintf(progress, "bench: %6.1fs waiting for runs (%d ended at the last count)\n", time.Since(begin).Seconds(), t.succeeded+t.failed)
		}
		pause := 100 * time.Millisecond
		if ready {
			pause = time.Second // counted, not all there: a trigger waits for its lease to expire
		}
		select {
		case <-ctx.Done():
			return t, ctx.Err()
		case <-time.After(pause):
		}
	}
}

// quiet reports whether the newest triggers of the source are processed
// and no run of the rule is queued or running.
func (b *inboundBench) quiet(ctx context.Context, api *client.Client, tenant string) (bool, error) {
	triggers, err := api.ListTriggers(ctx, tenant, b.source.ID, "", hookd.Page{Limit: 20})
	if err != nil {
		return false, fmt.Errorf("list triggers: %w", err)
	}
	for _, t := range triggers.Data {
		if t.Processed == nil {
			return false, nil
		}
	}
	for _, status := range []string{hookd.RunQueued, hookd.RunRunning} {
		runs, err := api.ListRuns(ctx, tenant, b.rule.ID, "", status, hookd.Page{Limit: 1})
		if err != nil {
			return false, fmt.Errorf("list runs: %w", err)
		}
		if len(runs.Data) > 0 {
			return false, nil
		}
	}
	return true, nil
}

// countRuns reads every run of the rule.
func (b *inboundBench) countRuns(ctx context.Context, api *client.Client, tenant string) (runTally, error) {
	var t runTally
	p := hookd.Page{Limit: hookd.MaxPageSize}
	for {
		page, err := api.ListRuns(ctx, tenant, b.rule.ID, "", "", p)
		if err != nil {
			return t, fmt.Errorf("list runs: %w", err)
		}
		for _, r := range page.Data {
			switch r.Status {
			case hookd.RunSucceeded:
				t.succeeded++
			case hookd.RunFailed:
				t.failed++
			default:
				continue
			}
			if r.EndedAt != nil && r.EndedAt.After(t.lastEnded) {
				t.lastEnded = *r.EndedAt
			}
		}
		if page.NextCursor == "" {
			return t, nil
		}
		p.Cursor = page.NextCursor
	}
}

// body appends request n's push payload to buf: about 6 KB, shaped like
// what GitHub sends for a push of three commits to main.
func (b *inboundBench) body(buf []byte, n int, now time.Time) []byte {
	sha := func(k int) string { return fmt.Sprintf("%08x%s%08x", n, b.salt, k) }
	ts := now.UTC().Format(time.RFC3339)
	return fmt.Appendf(buf, pushPayload, sha(0), sha(1), sha(2), sha(3), ts, now.Unix(), n)
}

// pushPayload is a GitHub push event: before, three commit ids (the last
// is after), a timestamp, Unix seconds and the request number.
const pushPayload = `{"ref":"refs/heads/main","before":"%[1]s","after":"%[4]s",` +
	`"repository":{"id":1296269,"node_id":"MDEwOlJlcG9zaXRvcnkxMjk2MjY5","name":"api","full_name":"acme/api","private":true,` +
	`"owner":{"name":"acme","email":null,"login":"acme","id":9919,"node_id":"MDEyOk9yZ2FuaXphdGlvbjk5MTk=","avatar_url":"https://avatars.githubusercontent.com/u/9919?v=4","gravatar_id":"","url":"https://api.github.com/users/acme","html_url":"https://github.com/acme","followers_url":"https://api.github.com/users/acme/followers","following_url":"https://api.github.com/users/acme/following{/other_user}","repos_url":"https://api.github.com/users/acme/repos","events_url":"https://api.github.com/users/acme/events{/privacy}","type":"Organization","site_admin":false},` +
	`"html_url":"https://github.com/acme/api","description":"The Acme API","fork":false,"url":"https://github.com/acme/api",` +
	`"forks_url":"https://api.github.com/repos/acme/api/forks","keys_url":"https://api.github.com/repos/acme/api/keys{/key_id}","collaborators_url":"https://api.github.com/repos/acme/api/collaborators{/collaborator}","teams_url":"https://api.github.com/repos/acme/api/teams","hooks_url":"https://api.github.com/repos/acme/api/hooks","events_url":"https://api.github.com/repos/acme/api/events","branches_url":"https://api.github.com/repos/acme/api/branches{/branch}","tags_url":"https://api.github.com/repos/acme/api/tags","blobs_url":"https://api.github.com/repos/acme/api/git/blobs{/sha}","statuses_url":"https://api.github.com/repos/acme/api/statuses/{sha}","commits_url":"https://api.github.com/repos/acme/api/commits{/sha}","comments_url":"https://api.github.com/repos/acme/api/comments{/number}","contents_url":"https://api.github.com/repos/acme/api/contents/{+path}","compare_url":"https://api.github.com/repos/acme/api/compare/{base}...{head}","issues_url":"https://api.github.com/repos/acme/api/issues{/number}","pulls_url":"https://api.github.com/repos/acme/api/pulls{/number}",` +
	`"created_at":1589932131,"updated_at":"2025-11-20T08:14:07Z","pushed_at":%[6]d,"git_url":"git://github.com/acme/api.git","ssh_url":"git@github.com:acme/api.git","clone_url":"https://github.com/acme/api.git","svn_url":"https://github.com/acme/api","homepage":null,"size":48213,"stargazers_count":12,"watchers_count":12,"language":"Go","has_issues":true,"has_projects":false,"has_downloads":true,"has_wiki":false,"has_pages":false,"has_discussions":false,"forks_count":3,"mirror_url":null,"archived":false,"disabled":false,"open_issues_count":7,"license":null,"allow_forking":false,"is_template":false,"web_commit_signoff_required":false,"topics":[],"visibility":"private","forks":3,"open_issues":7,"watchers":12,"default_branch":"main","stargazers":12,"master_branch":"main","organization":"acme"},` +
	`"pusher":{"name":"octocat","email":"octocat@users.noreply.github.com"},` +
	`"organization":{"login":"acme","id":9919,"node_id":"MDEyOk9yZ2FuaXphdGlvbjk5MTk=","url":"https://api.github.com/orgs/acme","repos_url":"https://api.github.com/orgs/acme/repos","events_url":"https://api.github.com/orgs/acme/events","hooks_url":"https://api.github.com/orgs/acme/hooks","issues_url":"https://api.github.com/orgs/acme/issues","members_url":"https://api.github.com/orgs/acme/members{/member}","public_members_url":"https://api.github.com/orgs/acme/public_members{/member}","avatar_url":"https://avatars.githubusercontent.com/u/9919?v=4","description":"Acme"},` +
	`"sender":{"login":"octocat","id":583231,"node_id":"MDQ6VXNlcjU4MzIzMQ==","avatar_url":"https://avatars.githubusercontent.com/u/583231?v=4","gravatar_id":"","url":"https://api.github.com/users/octocat","html_url":"https://github.com/octocat","type":"User","site_admin":false},` +
	`"created":false,"deleted":false,"forced":false,"base_ref":null,"compare":"https://github.com/acme/api/compare/%[1]s...%[4]s",` +
	`"commits":[` +
	`{"id":"%[2]s","tree_id":"%[1]s","distinct":true,"message":"http: answer 404 for unknown routes","timestamp":"%[5]s","url":"https://github.com/acme/api/commit/%[2]s","author":{"name":"Octo Cat","email":"octocat@users.noreply.github.com","username":"octocat"},"committer":{"name":"GitHub","email":"noreply@github.com","username":"web-flow"},"added":[],"removed":[],"modified":["http/router.go","http/router_test.go"]},` +
	`{"id":"%[3]s","tree_id":"%[2]s","distinct":true,"message":"docs: describe the retry schedule","timestamp":"%[5]s","url":"https://github.com/acme/api/commit/%[3]s","author":{"name":"Octo Cat","email":"octocat@users.noreply.github.com","username":"octocat"},"committer":{"name":"GitHub","email":"noreply@github.com","username":"web-flow"},"added":["docs/RETRIES.md"],"removed":[],"modified":["README.md"]},` +
	`{"id":"%[4]s","tree_id":"%[3]s","distinct":true,"message":"Merge pull request #%[7]d from acme/retries","timestamp":"%[5]s","url":"https://github.com/acme/api/commit/%[4]s","author":{"name":"Octo Cat","email":"octocat@users.noreply.github.com","username":"octocat"},"committer":{"name":"GitHub","email":"noreply@github.com","username":"web-flow"},"added":[],"removed":[],"modified":["delivery/retry.go"]}],` +
	`"head_commit":{"id":"%[4]s","tree_id":"%[3]s","distinct":true,"message":"Merge pull request #%[7]d from acme/retries","timestamp":"%[5]s","url":"https://github.com/acme/api/commit/%[4]s","author":{"name":"Octo Cat","email":"octocat@users.noreply.github.com","username":"octocat"},"committer":{"name":"GitHub","email":"noreply@github.com","username":"web-flow"},"added":[],"removed":[],"modified":["delivery/retry.go"]}}`
