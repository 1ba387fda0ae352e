package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// The receiving side (hookd.InboundStore): sources, triggers, rules, runs.

// inboundOf returns s as an InboundStore; the suite fails if it is not one.
func inboundOf(t *testing.T, s hookd.Store) hookd.InboundStore {
	t.Helper()
	is, ok := s.(hookd.InboundStore)
	if !ok {
		t.Fatalf("%T does not implement hookd.InboundStore", s)
	}
	return is
}

// inboundNow is an explicit time kept exactly by every store (microseconds).
func inboundNow() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// newSource creates a source with the given name (normalized by the caller,
// as the API does) and secrets.
func newSource(t *testing.T, is hookd.InboundStore, tenantID, name string, secrets ...string) *hookd.Source {
	t.Helper()
	src := &hookd.Source{TenantID: tenantID, Name: name, Verifier: hookd.SourceVerifier{Type: "hmac", Header: "X-Signature",
		Algorithm: "sha256", Encoding: "hex", Prefix: "sha256=", Secrets: secrets}}
	src.SetDefaults()
	must(t, is.CreateSource(ctx, src))
	return src
}

// sourceTrigger is a request to src received at at.
func sourceTrigger(src *hookd.Source, deliveryID string, at time.Time) *hookd.Trigger {
	return &hookd.Trigger{TenantID: src.TenantID, SourceID: src.ID, Source: src.Name, ReceivedAt: at, Method: "POST",
		Headers: map[string]string{"Content-Type": "application/json"}, Query: map[string][]string{},
		ContentType: hookd.ContentJSON, Body: json.RawMessage(`{"delivery":"` + deliveryID + `"}`), BodySHA256: "00",
		DeliveryID: deliveryID}
}

// genericTrigger is a generic trigger posted to /v1/triggers.
func genericTrigger(tenantID, name, deliveryID string, at time.Time) *hookd.Trigger {
	return &hookd.Trigger{TenantID: tenantID, Name: name, ReceivedAt: at, Method: "POST", Headers: map[string]string{},
		Query: map[string][]string{}, ContentType: hookd.ContentJSON, Body: json.RawMessage(`{}`), BodySHA256: "00",
		DeliveryID: deliveryID}
}

func createTrigger(t *testing.T, is hookd.InboundStore, tr *hookd.Trigger, window time.Duration) *hookd.Trigger {
	t.Helper()
	must(t, is.CreateTrigger(ctx, tr, window))
	return tr
}

func newRule(t *testing.T, is hookd.InboundStore, tenantID, name string, enabled bool) *hookd.Rule {
	t.Helper()
	r := &hookd.Rule{TenantID: tenantID, Name: name, Enabled: enabled, Source: "ci",
		Action: hookd.Action{Type: hookd.ActionPublish, EventType: "ci.built"}}
	must(t, is.CreateRule(ctx, r))
	return r
}

// runOf is a run of rule r as the runner renders it.
func runOf(r *hookd.Rule) *hookd.Run {
	return &hookd.Run{TenantID: r.TenantID, RuleID: r.ID, RuleName: r.Name, Action: r.Action}
}

// process claims exactly tr (no other trigger may be waiting) and stores
// runs for it at now.
func process(t *testing.T, is hookd.InboundStore, tr *hookd.Trigger, now time.Time, runs ...*hookd.Run) {
	t.Helper()
	got, err := is.ClaimTriggers(ctx, "setup", now, time.Minute, 100)
	must(t, err)
	if len(got) != 1 || got[0].ID != tr.ID {
		t.Fatalf("claimed %d triggers, want only %s", len(got), tr.ID)
	}
	must(t, is.ProcessTrigger(ctx, tr.ID, "setup", runs, now))
}

// sameJSON fails unless a and b are equal JSON values.
func sameJSON(t *testing.T, what string, a, b json.RawMessage) {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %s: %v", what, a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %s: %v", what, b, err)
	}
	if !reflect.DeepEqual(x, y) {
		t.Fatalf("%s = %s, want %s", what, a, b)
	}
}

func ids[T any](list []T, id func(T) string) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = id(v)
	}
	return out
}

func sourceID(s *hookd.Source) string    { return s.ID }
func triggerID(tr *hookd.Trigger) string { return tr.ID }
func ruleID(r *hookd.Rule) string        { return r.ID }
func runID(r *hookd.Run) string          { return r.ID }

// wantIDs fails unless got holds exactly want, in any order.
func wantIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	sort.Strings(g)
	sort.Strings(w)
	if !slices.Equal(g, w) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// allPages lists every item across pages of size 2, checking that each
// page is newest first and no item repeats.
func allPages[T any](t *testing.T, list func(p hookd.Page) ([]T, string, error), id func(T) string) []string {
	t.Helper()
	var out []string
	p := hookd.Page{Limit: 2}
	for range 100 {
		page, next, err := list(p)
		must(t, err)
		if len(page) > 2 {
			t.Fatalf("page of %d items, limit 2", len(page))
		}
		for _, v := range page {
			if len(out) > 0 && id(v) >= out[len(out)-1] {
				t.Fatalf("%s listed after %s: not newest first", id(v), out[len(out)-1])
			}
			out = append(out, id(v))
		}
		if next == "" {
			return out
		}
		p.Cursor = next
	}
	t.Fatal("pagination does not end")
	return nil
}

func testSources(t *testing.T, s hookd.Store) {
	is := inboundOf(t, s)
	tenant(t, s, "acme")
	tenant(t, s, "beta")
	src := &hookd.Source{TenantID: "acme", Name: "/github/acme/", Description: "pushes",
		Verifier:     hookd.SourceVerifier{Type: "github", Secrets: []string{"s3cret-one", "s3cret-two"}, Tolerance: hookd.Duration(time.Minute)},
		ContentTypes: []string{hookd.ContentJSON}, Response: &hookd.SourceResponse{Status: 200, Body: "ok", ContentType: "text/plain"},
		RateLimit: 5, HeartbeatEvery: hookd.Duration(time.Hour)}
	src.SetDefaults() // the caller normalizes the name
	must(t, is.CreateSource(ctx, src))
	if !strings.HasPrefix(src.ID, hookd.PrefixSource+"_") || src.CreatedAt.IsZero() || src.UpdatedAt.IsZero() {
		t.Fatalf("create did not set id and times: %+v", src)
	}
	if len(src.Verifier.Secrets) != 2 || src.Verifier.Secrets[0] != "s3cret-one" {
		t.Fatalf("create changed the caller's secrets: %v", src.Verifier.Secrets)
	}

	// Names are unique across tenants.
	wantCode(t, is.CreateSource(ctx, &hookd.Source{TenantID: "beta", Name: "github/acme", Verifier: hookd.SourceVerifier{Type: "none"}}), hookd.ECONFLICT)
	wantCode(t, is.CreateSource(ctx, &hookd.Source{TenantID: "acme", Name: "github/acme", Verifier: hookd.SourceVerifier{Type: "none"}}), hookd.ECONFLICT)
	wantCode(t, is.CreateSource(ctx, &hookd.Source{TenantID: "ghost", Name: "ghost", Verifier: hookd.SourceVerifier{Type: "none"}}), hookd.ENOTFOUND)

	check := func(got *hookd.Source, secrets ...string) {
		t.Helper()
		if got.ID != src.ID || got.TenantID != "acme" || got.Name != "github/acme" || got.Description != "pushes" ||
			got.Verifier.Type != "github" || got.Verifier.Tolerance != hookd.Duration(time.Minute) ||
			!slices.Equal(got.ContentTypes, []string{hookd.ContentJSON}) || got.MaxBodyBytes != hookd.DefaultSourceMaxBody ||
			got.RateLimit != 5 || got.DedupWindow != hookd.Duration(hookd.DefaultDedupWindow) || got.HeartbeatEvery != hookd.Duration(time.Hour) ||
			!got.CreatedAt.Equal(src.CreatedAt) || got.Accepted != 0 || got.Rejected != 0 || got.LastRequestAt != nil {
			t.Fatalf("source round trip: %+v", got)
		}
		if !slices.Equal(got.Verifier.Secrets, secrets) {
			t.Fatalf("secrets round trip: %q, want %q", got.Verifier.Secrets, secrets)
		}
	}
	got, err := is.FindSourceByID(ctx, "acme", src.ID)
	must(t, err)
	check(got, "s3cret-one", "s3cret-two")
	if got.Response == nil || *got.Response != *src.Response {
		t.Fatalf("response round trip: %+v", got.Response)
	}
	_, err = is.FindSourceByID(ctx, "beta", src.ID)
	wantCode(t, err, hookd.ENOTFOUND)
	got, err = is.FindSourceByName(ctx, hookd.NormalizeSourceName("/github/acme"))
	must(t, err)
	check(got, "s3cret-one", "s3cret-two")
	_, err = is.FindSourceByName(ctx, "github")
	wantCode(t, err, hookd.ENOTFOUND)

	// Update: a new verifier replaces the secrets; unset fields stay.
	desc := "all pushes"
	ver := hookd.SourceVerifier{Type: "github", Secrets: []string{"s3cret-three"}, Tolerance: hookd.Duration(time.Minute)}
	var noResponse *hookd.SourceResponse
	up, err := is.UpdateSource(ctx, "acme", src.ID, hookd.SourceUpdate{Description: &desc, Verifier: &ver, Response: &noResponse})
	must(t, err)
	if up.Description != desc || up.Response != nil || up.RateLimit != 5 || up.UpdatedAt.Before(up.CreatedAt) {
		t.Fatalf("update = %+v", up)
	}
	got, err = is.FindSourceByID(ctx, "acme", src.ID)
	must(t, err)
	if got.Description != desc || got.Response != nil || !slices.Equal(got.Verifier.Secrets, []string{"s3cret-three"}) ||
		got.RateLimit != 5 || got.Name != "github/acme" {
		t.Fatalf("after update: %+v (secrets %q)", got, got.Verifier.Secrets)
	}
	_, err = is.UpdateSource(ctx, "beta", src.ID, hookd.SourceUpdate{Description: &desc})
	wantCode(t, err, hookd.ENOTFOUND)

	// Lists: one tenant's sources, newest first, in pages.
	want := []string{src.ID}
	for i := range 4 {
		want = append(want, newSource(t, is, "acme", fmt.Sprintf("acme/%d", i)).ID)
	}
	other := newSource(t, is, "beta", "beta")
	listed := allPages(t, func(p hookd.Page) ([]*hookd.Source, string, error) { return is.FindSources(ctx, "acme", p) }, sourceID)
	wantIDs(t, "acme's sources", listed, want...)
	list, _, err := is.FindSources(ctx, "beta", hookd.Page{})
	must(t, err)
	wantIDs(t, "beta's sources", ids(list, sourceID), other.ID)

	// Delete: gone by id and name, the name is free again.
	wantCode(t, is.DeleteSource(ctx, "beta", src.ID), hookd.ENOTFOUND)
	must(t, is.DeleteSource(ctx, "acme", src.ID))
	_, err = is.FindSourceByID(ctx, "acme", src.ID)
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = is.FindSourceByName(ctx, "github/acme")
	wantCode(t, err, hookd.ENOTFOUND)
	wantCode(t, is.DeleteSource(ctx, "acme", src.ID), hookd.ENOTFOUND)
	again := newSource(t, is, "beta", "github/acme")
	if again.ID == src.ID {
		t.Fatal("a new source reused the deleted one's id")
	}
	_, err = is.UpdateSource(ctx, "acme", src.ID, hookd.SourceUpdate{Description: &desc})
	wantCode(t, err, hookd.ENOTFOUND)
}

func testSourceCounters(t *testing.T, s hookd.Store) {
	is := inboundOf(t, s)
	tenant(t, s, "acme")
	src := newSource(t, is, "acme", "ci", "k")
	other := newSource(t, is, "acme", "other", "k")
	base := inboundNow()
	counters := func(src *hookd.Source, accepted, rejected int64, last time.Time) {
		t.Helper()
		got, err := is.FindSourceByID(ctx, "acme", src.ID)
		must(t, err)
		if got.Accepted != accepted || got.Rejected != rejected || got.LastRequestAt == nil || !got.LastRequestAt.Equal(last) {
			t.Fatalf("%s: accepted %d rejected %d last %v, want %d %d %v", src.Name, got.Accepted, got.Rejected, got.LastRequestAt,
				accepted, rejected, last)
		}
	}
	must(t, is.RejectRequest(ctx, src.ID, base))
	counters(src, 0, 1, base)
	createTrigger(t, is, sourceTrigger(src, "d1", base.Add(time.Second)), time.Hour)
	counters(src, 1, 1, base.Add(time.Second))
	createTrigger(t, is, sourceTrigger(src, "", base.Add(2*time.Second)), time.Hour)
	counters(src, 2, 1, base.Add(2*time.Second))
	// A repeated delivery stores nothing and counts nothing.
	dup := createTrigger(t, is, sourceTrigger(src, "d1", base.Add(3*time.Second)), time.Hour)
	if !dup.Duplicate {
		t.Fatal("a repeated delivery id within the window was stored")
	}
	counters(src, 2, 1, base.Add(2*time.Second))
	// The last request time never moves back (requests may commit out of order).
	must(t, is.RejectRequest(ctx, src.ID, base))
	counters(src, 2, 2, base.Add(2*time.Second))
	// Counters are per source.
	if got, err := is.FindSourceByID(ctx, "acme", other.ID); err != nil || got.Accepted != 0 || got.Rejected != 0 || got.LastRequestAt != nil {
		t.Fatalf("the other source counted: %+v, %v", got, err)
	}
	wantCode(t, is.RejectRequest(ctx, "src_nope", base), hookd.ENOTFOUND)
	// A failed trigger (unknown source) counts nothing anywhere.
	ghost := sourceTrigger(src, "d9", base.Add(time.Minute))
	ghost.SourceID = "src_nope"
	wantCode(t, is.CreateTrigger(ctx, ghost, time.Hour), hookd.ENOTFOUND)
	counters(src, 2, 2, base.Add(2*time.Second))
}

func testTriggers(t *testing.T, s hookd.Store) {
	is := inboundOf(t, s)
	tenant(t, s, "acme")
	tenant(t, s, "beta")
	src := newSource(t, is, "acme", "github/acme", "k")
	src2 := newSource(t, is, "acme", "gitlab", "k")
	base := inboundNow()
	window := 24 * time.Hour

	first := &hookd.Trigger{TenantID: "acme", SourceID: src.ID, Source: src.Name, ReceivedAt: base, Method: "POST",
		Headers: map[string]string{"X-Github-Event": "push", "X-Hub-Signature-256": "[redacted]"},
		Query:   map[string][]string{"a": {"1", "2"}, "b": {""}}, ContentType: hookd.ContentJSON,
		Body:       json.RawMessage("{\"ref\": \"refs/heads/main\",\n \"n\": 1.50, \"big\": 12345678901234567890}"),
		BodySHA256: "abc123", DeliveryID: "d1",
		Git: &hookd.Git{Provider: "github", Event: "push", Repo: "acme/app", Branch: "main", Ref: "refs/heads/main", SHA: "f00", Actor: "ann"}}
	createTrigger(t, is, first, window)
	if !strings.HasPrefix(first.ID, hookd.PrefixTrigger+"_") || first.Duplicate {
		t.Fatalf("created trigger = %+v", first)
	}
	got, err := is.FindTriggerByID(ctx, "acme", first.ID)
	must(t, err)
	if got.TenantID != "acme" || got.SourceID != src.ID || got.Source != src.Name || got.Name != "" || !got.ReceivedAt.Equal(base) ||
		got.Method != "POST" || !reflect.DeepEqual(got.Headers, first.Headers) || !reflect.DeepEqual(got.Query, first.Query) ||
		got.ContentType != hookd.ContentJSON || got.BodySHA256 != "abc123" || got.DeliveryID != "d1" ||
		got.Git == nil || *got.Git != *first.Git || got.Processed != nil || got.Runs != 0 || got.Duplicate {
		t.Fatalf("trigger round trip: %+v", got)
	}
	if string(got.Body) != string(first.Body) {
		t.Fatalf("body changed: %s, want %s", got.Body, first.Body)
	}
	_, err = is.FindTriggerByID(ctx, "beta", first.ID)
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = is.FindTriggerByID(ctx, "acme", "trg_nope")
	wantCode(t, err, hookd.ENOTFOUND)

	// The same delivery id of the same source within the window: nothing
	// stored, the caller's trigger is the first one.
	dup := sourceTrigger(src, "d1", base.Add(time.Hour))
	dup.Body = json.RawMessage(`{"different":true}`)
	createTrigger(t, is, dup, window)
	if !dup.Duplicate || dup.ID != first.ID || string(dup.Body) != string(first.Body) || !dup.ReceivedAt.Equal(base) || dup.Git == nil {
		t.Fatalf("repeat within the window = %+v", dup)
	}
	// Another source, no delivery id, or no window: not a repeat.
	other := createTrigger(t, is, sourceTrigger(src2, "d1", base.Add(time.Hour)), window)
	noID := createTrigger(t, is, sourceTrigger(src, "", base.Add(time.Hour)), window)
	noWindow := createTrigger(t, is, sourceTrigger(src, "d1", base.Add(time.Hour)), 0)
	for _, tr := range []*hookd.Trigger{other, noID, noWindow} {
		if tr.Duplicate || tr.ID == first.ID {
			t.Fatalf("not a repeat, but marked one: %+v", tr)
		}
	}
	// Outside the window it is new, and later repeats resolve to the new one.
	late := createTrigger(t, is, sourceTrigger(src, "d1", base.Add(window+time.Hour)), window)
	if late.Duplicate {
		t.Fatal("a delivery id seen outside the window was taken for a repeat")
	}
	later := createTrigger(t, is, sourceTrigger(src, "d1", base.Add(window+2*time.Hour)), window)
	if !later.Duplicate || later.ID != late.ID {
		t.Fatalf("repeat of the second delivery = %+v, want %s", later, late.ID)
	}
	// The window is the caller's (the source's setting at the time).
	short := createTrigger(t, is, sourceTrigger(src, "d1", base.Add(window+3*time.Hour)), time.Minute)
	if short.Duplicate {
		t.Fatal("a repeat older than the given window was taken for one")
	}

	// Generic triggers: de-duplicated per tenant and name.
	g := createTrigger(t, is, genericTrigger("acme", "deploy", "g1", base), window)
	if g.Duplicate || g.SourceID != "" {
		t.Fatalf("generic trigger = %+v", g)
	}
	if tr := createTrigger(t, is, genericTrigger("acme", "deploy", "g1", base.Add(time.Minute)), window); !tr.Duplicate || tr.ID != g.ID || tr.Name != "deploy" {
		t.Fatalf("generic repeat = %+v", tr)
	}
	gOther := createTrigger(t, is, genericTrigger("acme", "release", "g1", base), window)
	gBeta := createTrigger(t, is, genericTrigger("beta", "deploy", "g1", base), window)
	gD1 := createTrigger(t, is, genericTrigger("acme", "deploy", "d1", base), window) // a source's delivery id
	for _, tr := range []*hookd.Trigger{gOther, gBeta, gD1} {
		if tr.Duplicate {
			t.Fatalf("not a repeat, but marked one: %+v", tr)
		}
	}
	if tr := createTrigger(t, is, genericTrigger("beta", "deploy", "g1", base.Add(time.Minute)), window); !tr.Duplicate || tr.ID != gBeta.ID {
		t.Fatalf("repeat in beta = %+v, want %s", tr, gBeta.ID)
	}
	got, err = is.FindTriggerByID(ctx, "acme", g.ID)
	must(t, err)
	if got.Name != "deploy" || got.SourceID != "" || got.Source != "" || got.DeliveryID != "g1" || got.Git != nil {
		t.Fatalf("generic round trip: %+v", got)
	}
	wantCode(t, is.CreateTrigger(ctx, genericTrigger("ghost", "deploy", "", base), window), hookd.ENOTFOUND)
	// A trigger of another tenant's source is refused.
	wrong := sourceTrigger(src, "x", base)
	wrong.TenantID = "beta"
	wantCode(t, is.CreateTrigger(ctx, wrong, window), hookd.ENOTFOUND)

	// Lists and filters, newest first.
	wantIDs(t, "acme's triggers", allPagesTriggers(t, is, hookd.TriggerFilter{TenantID: "acme"}),
		first.ID, other.ID, noID.ID, noWindow.ID, late.ID, short.ID, g.ID, gOther.ID, gD1.ID)
	wantIDs(t, "triggers of the source", allPagesTriggers(t, is, hookd.TriggerFilter{TenantID: "acme", SourceID: src.ID}),
		first.ID, noID.ID, noWindow.ID, late.ID, short.ID)
	wantIDs(t, "triggers named deploy", allPagesTriggers(t, is, hookd.TriggerFilter{TenantID: "acme", Name: "deploy"}), g.ID, gD1.ID)
	wantIDs(t, "beta's triggers", allPagesTriggers(t, is, hookd.TriggerFilter{TenantID: "beta"}), gBeta.ID)
	wantIDs(t, "beta's triggers of acme's source", allPagesTriggers(t, is, hookd.TriggerFilter{TenantID: "beta", SourceID: src.ID}))
	_, _, err = is.FindTriggers(ctx, hookd.TriggerFilter{TenantID: "acme", Page: hookd.Page{Cursor: "!!not a cursor!!"}})
	wantCode(t, err, hookd.EINVALID)

	// A deleted source's triggers stay.
	must(t, is.DeleteSource(ctx, "acme", src2.ID))
	wantIDs(t, "triggers of a deleted source", allPagesTriggers(t, is, hookd.TriggerFilter{TenantID: "acme", SourceID: src2.ID}), other.ID)
	if _, err := is.FindTriggerByID(ctx, "acme", other.ID); err != nil {
		t.Fatal(err)
	}
}

func allPagesTriggers(t *testing.T, is hookd.InboundStore, f hookd.TriggerFilter) []string {
	t.Helper()
	return allPages(t, func(p hookd.Page) ([]*hookd.Trigger, string, error) {
		f.Page = p
		return is.FindTriggers(ctx, f)
	}, triggerID)
}

func testTriggerClaims(t *testing.T, s hookd.Store) {
	is := inboundOf(t, s)
	tenant(t, s, "acme")
	tenant(t, s, "beta")
	src := newSource(t, is, "acme", "ci")
	r := newRule(t, is, "acme", "build", true)
	base := inboundNow()
	lease := 30 * time.Second
	// Received out of creation order: claims go by received time.
	t2 := createTrigger(t, is, sourceTrigger(src, "", base.Add(time.Second)), 0)
	t3 := createTrigger(t, is, sourceTrigger(src, "", base.Add(2*time.Second)), 0)
	t1 := createTrigger(t, is, sourceTrigger(src, "", base), 0)
	b1 := createTrigger(t, is, genericTrigger("beta", "deploy", "", base.Add(3*time.Second)), 0)

	now := base.Add(time.Minute)
	claimT := func(owner string, at time.Time, limit int) []string {
		t.Helper()
		got, err := is.ClaimTriggers(ctx, owner, at, lease, limit)
		must(t, err)
		for _, tr := range got {
			if tr.Processed != nil || tr.TenantID == "" || len(tr.Body) == 0 {
				t.Fatalf("claimed trigger = %+v", tr)
			}
		}
		return ids(got, triggerID)
	}
	if got := claimT("n1", now, 2); !slices.Equal(got, []string{t1.ID, t2.ID}) {
		t.Fatalf("first claim = %v, want the two oldest %v", got, []string{t1.ID, t2.ID})
	}
	wantIDs(t, "second claim", claimT("n2", now, 10), t3.ID, b1.ID) // every tenant's
	wantIDs(t, "claim while all are leased", claimT("n3", now.Add(lease-time.Second), 10))

	// Processing stores the runs and marks the trigger, for the lease holder only.
	run := runOf(r)
	run.Action.Data = json.RawMessage(`{"rendered":true}`)
	must(t, is.ProcessTrigger(ctx, t1.ID, "n1", []*hookd.Run{run}, now))
	if !strings.HasPrefix(run.ID, hookd.PrefixRun+"_") || run.Status != hookd.RunQueued || run.TriggerID != t1.ID ||
		run.NextAt == nil || !run.NextAt.Equal(now) || run.TenantID != "acme" {
		t.Fatalf("stored run = %+v", run)
	}
	got, err := is.FindTriggerByID(ctx, "acme", t1.ID)
	must(t, err)
	if got.Processed == nil || !got.Processed.Equal(now) || got.Runs != 1 {
		t.Fatalf("processed trigger = %+v", got)
	}
	runs := func(tr *hookd.Trigger) []*hookd.Run {
		t.Helper()
		list, _, err := is.FindRuns(ctx, hookd.RunFilter{TenantID: tr.TenantID, TriggerID: tr.ID})
		must(t, err)
		return list
	}
	if list := runs(t1); len(list) != 1 || list[0].ID != run.ID || list[0].Status != hookd.RunQueued || list[0].RuleID != r.ID ||
		list[0].RuleName != "build" || list[0].Attempts != 0 || list[0].NextAt == nil || !list[0].NextAt.Equal(now) ||
		!list[0].CreatedAt.Equal(now) || list[0].StartedAt != nil || list[0].EndedAt != nil || list[0].Result != nil {
		t.Fatalf("runs of t1 = %+v", list)
	} else {
		sameJSON(t, "rendered data", list[0].Action.Data, run.Action.Data)
	}
	// Twice, or by someone who does not hold the lease: ECONFLICT, nothing written.
	wantCode(t, is.ProcessTrigger(ctx, t1.ID, "n1", []*hookd.Run{runOf(r)}, now), hookd.ECONFLICT)
	wantCode(t, is.ProcessTrigger(ctx, t3.ID, "n1", []*hookd.Run{runOf(r)}, now), hookd.ECONFLICT)
	wantCode(t, is.ProcessTrigger(ctx, "trg_nope", "n1", nil, now), hookd.ECONFLICT)
	if n := len(runs(t1)); n != 1 {
		t.Fatalf("t1 has %d runs after refused processing, want 1", n)
	}
	if list := runs(t3); len(list) != 0 {
		t.Fatalf("a refused ProcessTrigger stored runs: %+v", list)
	}
	if got, _ := is.FindTriggerByID(ctx, "acme", t3.ID); got.Processed != nil {
		t.Fatal("a refused ProcessTrigger marked the trigger processed")
	}

	// Expired leases are claimable; the old holder has lost them.
	expired := now.Add(lease)
	wantIDs(t, "claim after the leases expired", claimT("n3", expired, 10), t2.ID, t3.ID, b1.ID)
	wantCode(t, is.ProcessTrigger(ctx, t2.ID, "n1", []*hookd.Run{runOf(r)}, expired), hookd.ECONFLICT)
	must(t, is.ProcessTrigger(ctx, t2.ID, "n3", nil, expired)) // no rule matched
	if got, _ := is.FindTriggerByID(ctx, "acme", t2.ID); got.Processed == nil || got.Runs != 0 || len(runs(t2)) != 0 {
		t.Fatalf("trigger processed without runs = %+v", got)
	}
	must(t, is.ProcessTrigger(ctx, b1.ID, "n3", nil, expired))

	// Replay makes a processed trigger claimable again; runs add up.
	wantIDs(t, "claim of the last open trigger", claimT("n4", expired.Add(time.Hour), 10), t3.ID)
	_, err = is.ReplayTrigger(ctx, "beta", t1.ID)
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = is.ReplayTrigger(ctx, "acme", "trg_nope")
	wantCode(t, err, hookd.ENOTFOUND)
	re, err := is.ReplayTrigger(ctx, "acme", t1.ID)
	must(t, err)
	if re.ID != t1.ID || re.Processed != nil || re.Runs != 1 {
		t.Fatalf("replayed = %+v", re)
	}
	at := expired.Add(2 * time.Hour)
	wantIDs(t, "claim after replay", claimT("n5", at, 10), t1.ID, t3.ID)
	must(t, is.ProcessTrigger(ctx, t1.ID, "n5", []*hookd.Run{runOf(r)}, at))
	if got, _ := is.FindTriggerByID(ctx, "acme", t1.ID); got.Runs != 2 || got.Processed == nil || !got.Processed.Equal(at) || len(runs(t1)) != 2 {
		t.Fatalf("replayed trigger = %+v, %d runs", got, len(runs(t1)))
	}
	// Replay of a leased trigger frees it: the holder's result is refused.
	_, err = is.ReplayTrigger(ctx, "acme", t3.ID)
	must(t, err)
	wantIDs(t, "claim of a replayed leased trigger", claimT("n6", at, 10), t3.ID)
	wantCode(t, is.ProcessTrigger(ctx, t3.ID, "n5", nil, at), hookd.ECONFLICT)
	must(t, is.ProcessTrigger(ctx, t3.ID, "n6", nil, at))
	wantIDs(t, "claim when all are processed", claimT("n7", at.Add(time.Hour), 10))
}

func testRules(t *testing.T, s hookd.Store) {
	is := inboundOf(t, s)
	tenant(t, s, "acme")
	tenant(t, s, "beta")
	when := json.RawMessage(`{"trigger.body.ref": {"type": "equals", "pattern": "refs/heads/main"}}`)
	r := &hookd.Rule{TenantID: "acme", Name: "deploy", Description: "ship it", Enabled: true, Source: "github/acme",
		Git: &hookd.GitMatch{Event: "push", Repo: "acme/app", Branch: "main"}, Criteria: when,
		Action: hookd.Action{Type: hookd.ActionForward, URL: "https://ci.example.com/{{ trigger.body.ref }}", ForwardHeaders: []string{"X-Github-Event"},
			Headers: map[string]string{"Authorization": "Bearer x"}, RetrySchedule: []hookd.Duration{0, hookd.Duration(5 * time.Second)},
			Data: json.RawMessage(`{"ref": "{{ trigger.body.ref }}", "html": "<b>&</b>"}`), Timeout: hookd.Duration(10 * time.Second)}}
	must(t, is.CreateRule(ctx, r))
	if !strings.HasPrefix(r.ID, hookd.PrefixRule+"_") || r.CreatedAt.IsZero() || r.UpdatedAt.IsZero() {
		t.Fatalf("create did not set id and times: %+v", r)
	}
	wantCode(t, is.CreateRule(ctx, &hookd.Rule{TenantID: "acme", Name: "deploy", Action: hookd.Action{Type: hookd.ActionPublish}}), hookd.ECONFLICT)
	wantCode(t, is.CreateRule(ctx, &hookd.Rule{TenantID: "ghost", Name: "deploy", Action: hookd.Action{Type: hookd.ActionPublish}}), hookd.ENOTFOUND)
	betaRule := newRule(t, is, "beta", "deploy", true) // names are per tenant

	check := func(got *hookd.Rule) {
		t.Helper()
		if got.ID != r.ID || got.TenantID != "acme" || got.Name != "deploy" || got.Description != "ship it" || !got.Enabled ||
			got.Source != "github/acme" || got.Trigger != "" || got.Git == nil || *got.Git != *r.Git || !got.CreatedAt.Equal(r.CreatedAt) {
			t.Fatalf("rule round trip: %+v", got)
		}
		a := got.Action
		if a.Type != hookd.ActionForward || a.URL != r.Action.URL || !slices.Equal(a.ForwardHeaders, r.Action.ForwardHeaders) ||
			!reflect.DeepEqual(a.Headers, r.Action.Headers) || !slices.Equal(a.RetrySchedule, r.Action.RetrySchedule) || a.Timeout != r.Action.Timeout {
			t.Fatalf("action round trip: %+v", a)
		}
		sameJSON(t, "criteria", got.Criteria, r.Criteria)
		sameJSON(t, "action data", a.Data, r.Action.Data)
	}
	for _, key := range []string{r.ID, "deploy"} {
		got, err := is.FindRule(ctx, "acme", key)
		must(t, err)
		check(got)
	}
	_, err := is.FindRule(ctx, "beta", r.ID)
	wantCode(t, err, hookd.ENOTFOUND)
	got, err := is.FindRule(ctx, "beta", "deploy")
	must(t, err)
	if got.ID != betaRule.ID {
		t.Fatalf("beta's rule by name = %s, want %s", got.ID, betaRule.ID)
	}
	_, err = is.FindRule(ctx, "acme", "nope")
	wantCode(t, err, hookd.ENOTFOUND)

	// Update by name and by id.
	off, src, criteria := false, "/gitlab/", json.RawMessage(`{"trigger.git.branch": {"type": "eq", "pattern": "dev"}}`)
	var noGit *hookd.GitMatch
	up, err := is.UpdateRule(ctx, "acme", "deploy", hookd.RuleUpdate{Enabled: &off, Source: &src, Criteria: &criteria, Git: &noGit})
	must(t, err)
	if up.Enabled || up.Source != "gitlab" || up.Git != nil || up.Description != "ship it" || up.Action.URL != r.Action.URL {
		t.Fatalf("update = %+v", up)
	}
	cmd := hookd.Action{Type: hookd.ActionCommand, Command: []string{"make", "deploy"}, Env: map[string]string{"REF": "{{ trigger.git.ref }}"},
		Dir: "/srv", Concurrency: 2, Shell: false, Stdin: "{{ trigger.body }}"}
	trig := "deploy-now"
	_, err = is.UpdateRule(ctx, "acme", r.ID, hookd.RuleUpdate{Action: &cmd, Trigger: &trig})
	must(t, err)
	got, err = is.FindRule(ctx, "acme", r.ID)
	must(t, err)
	if got.Enabled || got.Source != "gitlab" || got.Trigger != "deploy-now" || got.Git != nil || got.Action.Type != hookd.ActionCommand ||
		!slices.Equal(got.Action.Command, cmd.Command) || !reflect.DeepEqual(got.Action.Env, cmd.Env) || got.Action.Dir != "/srv" ||
		got.Action.Concurrency != 2 || got.Action.Stdin != cmd.Stdin || got.Action.URL != "" || got.UpdatedAt.Before(got.CreatedAt) {
		t.Fatalf("after updates: %+v", got)
	}
	sameJSON(t, "updated criteria", got.Criteria, criteria)
	_, err = is.UpdateRule(ctx, "acme", "nope", hookd.RuleUpdate{Enabled: &off})
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = is.UpdateRule(ctx, "beta", r.ID, hookd.RuleUpdate{Enabled: &off})
	wantCode(t, err, hookd.ENOTFOUND)

	// Enabled rules of one tenant; lists in pages.
	on1 := newRule(t, is, "acme", "a", true)
	on2 := newRule(t, is, "acme", "b", true)
	newRule(t, is, "acme", "c", false)
	enabled, err := is.EnabledRules(ctx, "acme")
	must(t, err)
	wantIDs(t, "enabled rules", ids(enabled, ruleID), on1.ID, on2.ID)
	if enabled, err := is.EnabledRules(ctx, "ghost"); err != nil || len(enabled) != 0 {
		t.Fatalf("enabled rules of no tenant = %v, %v", enabled, err)
	}
	listed := allPages(t, func(p hookd.Page) ([]*hookd.Rule, string, error) { return is.FindRules(ctx, "acme", p) }, ruleID)
	if len(listed) != 4 || !slices.Contains(listed, r.ID) || slices.Contains(listed, betaRule.ID) {
		t.Fatalf("acme's rules = %v", listed)
	}

	// Delete by name and by id; runs outlive their rule.
	sr := newSource(t, is, "acme", "ci")
	tr := createTrigger(t, is, sourceTrigger(sr, "", inboundNow()), 0)
	run := runOf(on1)
	process(t, is, tr, inboundNow(), run)
	must(t, is.DeleteRule(ctx, "acme", "a"))
	must(t, is.DeleteRule(ctx, "acme", r.ID))
	wantCode(t, is.DeleteRule(ctx, "acme", "a"), hookd.ENOTFOUND)
	wantCode(t, is.DeleteRule(ctx, "acme", r.ID), hookd.ENOTFOUND)
	wantCode(t, is.DeleteRule(ctx, "acme", betaRule.ID), hookd.ENOTFOUND)
	_, err = is.FindRule(ctx, "acme", "deploy")
	wantCode(t, err, hookd.ENOTFOUND)
	enabled, err = is.EnabledRules(ctx, "acme")
	must(t, err)
	wantIDs(t, "enabled rules after delete", ids(enabled, ruleID), on2.ID)
	kept, err := is.FindRunByID(ctx, "acme", run.ID)
	must(t, err)
	if kept.RuleID != on1.ID || kept.RuleName != "a" {
		t.Fatalf("run of a deleted rule = %+v", kept)
	}
	// The name is free again.
	if again := newRule(t, is, "acme", "deploy", true); again.ID == r.ID {
		t.Fatal("a new rule reused the deleted one's id")
	}
}

func testRuns(t *testing.T, s hookd.Store) {
	is := inboundOf(t, s)
	tenant(t, s, "acme")
	tenant(t, s, "beta")
	src := newSource(t, is, "acme", "ci")
	build := newRule(t, is, "acme", "build", true)
	notify := newRule(t, is, "acme", "notify", true)
	base := inboundNow()
	tr1 := createTrigger(t, is, sourceTrigger(src, "", base), 0)
	process(t, is, tr1, base, runOf(build), runOf(notify), runOf(build))
	tr2 := createTrigger(t, is, sourceTrigger(src, "", base), 0)
	process(t, is, tr2, base, runOf(build))
	betaRule := newRule(t, is, "beta", "build", true)
	tb := createTrigger(t, is, genericTrigger("beta", "go", "", base), 0)
	process(t, is, tb, base.Add(time.Hour), runOf(betaRule)) // due later than everything below

	lease := 30 * time.Second
	claimR := func(owner string, at time.Time, limit int) []*hookd.Run {
		t.Helper()
		got, err := is.ClaimRuns(ctx, owner, at, lease, limit)
		must(t, err)
		return got
	}
	find := func(tenantID, id string) *hookd.Run {
		t.Helper()
		r, err := is.FindRunByID(ctx, tenantID, id)
		must(t, err)
		return r
	}
	// Not due before base.
	if got := claimR("n1", base.Add(-time.Second), 10); len(got) != 0 {
		t.Fatalf("claimed %d runs before they were due", len(got))
	}
	now := base.Add(time.Second)
	c1 := claimR("n1", now, 3)
	c2 := claimR("n2", now, 10)
	if len(c1) != 3 || len(c2) != 1 {
		t.Fatalf("claims = %d and %d runs, want 3 and 1", len(c1), len(c2))
	}
	for _, r := range append(slices.Clone(c1), c2...) {
		if r.Status != hookd.RunRunning || r.Attempts != 1 || r.StartedAt == nil || !r.StartedAt.Equal(now) || r.TenantID == "" ||
			r.RuleID == "" || r.TriggerID == "" || r.Action.Type != hookd.ActionPublish {
			t.Fatalf("claimed run = %+v", r)
		}
	}
	if got := claimR("n3", now.Add(lease-time.Second), 10); len(got) != 0 {
		t.Fatalf("claimed %d leased runs", len(got))
	}
	stored := find(c1[0].TenantID, c1[0].ID)
	if stored.Status != hookd.RunRunning || stored.LeaseOwner != "n1" || stored.Attempts != 1 {
		t.Fatalf("stored claimed run = %+v", stored)
	}

	// Outcomes: succeeded, re-queued with a time, failed; stale for a lost lease.
	done, retry, fail := c1[0], c1[1], c1[2]
	end := now.Add(2 * time.Second)
	exit := 3
	updates := []*hookd.RunUpdate{
		{ID: done.ID, Owner: "n1", Status: hookd.RunSucceeded, Result: &hookd.RunResult{EventID: "evt_1", DurationMS: 1.5}, At: end},
		{ID: retry.ID, Owner: "n1", Status: hookd.RunQueued, NextAt: now.Add(time.Minute), Result: &hookd.RunResult{StatusCode: 503, Error: "HTTP 503"}, At: end},
		{ID: fail.ID, Owner: "n1", Status: hookd.RunFailed, Result: &hookd.RunResult{ExitCode: &exit, Output: "boom"}, At: end},
		{ID: c2[0].ID, Owner: "n1", Status: hookd.RunSucceeded, At: end}, // n2 holds it
	}
	must(t, is.CompleteRuns(ctx, updates))
	for i, want := range []bool{false, false, false, true} {
		if updates[i].Stale != want {
			t.Fatalf("update %d Stale = %v, want %v", i, updates[i].Stale, want)
		}
	}
	if r := find(done.TenantID, done.ID); r.Status != hookd.RunSucceeded || r.EndedAt == nil || !r.EndedAt.Equal(end) || r.NextAt != nil ||
		r.Result == nil || r.Result.EventID != "evt_1" || r.Result.DurationMS != 1.5 || r.LeaseOwner != "" || r.Attempts != 1 {
		t.Fatalf("succeeded run = %+v", r)
	}
	if r := find(retry.TenantID, retry.ID); r.Status != hookd.RunQueued || r.EndedAt != nil || r.NextAt == nil || !r.NextAt.Equal(now.Add(time.Minute)) ||
		r.Result == nil || r.Result.StatusCode != 503 || r.LeaseOwner != "" {
		t.Fatalf("re-queued run = %+v", r)
	}
	if r := find(fail.TenantID, fail.ID); r.Status != hookd.RunFailed || r.EndedAt == nil || !r.EndedAt.Equal(end) ||
		r.Result == nil || r.Result.ExitCode == nil || *r.Result.ExitCode != 3 || r.Result.Output != "boom" {
		t.Fatalf("failed run = %+v", r)
	}
	if r := find(c2[0].TenantID, c2[0].ID); r.Status != hookd.RunRunning || r.LeaseOwner != "n2" || r.EndedAt != nil {
		t.Fatalf("a stale update changed the run: %+v", r)
	}
	// A finished run takes no further outcome.
	late := []*hookd.RunUpdate{{ID: done.ID, Owner: "n1", Status: hookd.RunFailed, At: end}, {ID: c2[0].ID, Owner: "n2", Status: hookd.RunFailed, At: end}}
	must(t, is.CompleteRuns(ctx, late))
	if !late[0].Stale || late[1].Stale {
		t.Fatalf("late updates stale = %v %v, want true false", late[0].Stale, late[1].Stale)
	}
	if r := find(done.TenantID, done.ID); r.Status != hookd.RunSucceeded {
		t.Fatalf("a finished run changed: %+v", r)
	}

	// The re-queued run is due at its time, not before; its start stays.
	if got := claimR("n3", now.Add(time.Minute-time.Second), 10); len(got) != 0 {
		t.Fatalf("claimed %d runs before the retry was due: %v", len(got), ids(got, runID))
	}
	again := claimR("n3", now.Add(time.Minute), 10)
	if len(again) != 1 || again[0].ID != retry.ID || again[0].Attempts != 2 || !again[0].StartedAt.Equal(now) {
		t.Fatalf("retry claim = %+v", again)
	}
	// Extended leases hold; a non-holder cannot extend; expired ones are claimable and count an attempt.
	at := now.Add(time.Minute)
	must(t, is.ExtendRuns(ctx, "n3", []string{retry.ID}, at.Add(5*time.Minute)))
	must(t, is.ExtendRuns(ctx, "n2", []string{retry.ID}, at.Add(time.Hour))) // not n2's: no effect
	if got := claimR("n4", at.Add(2*time.Minute), 10); len(got) != 0 {
		t.Fatalf("claim with an extended lease = %v, want none", ids(got, runID))
	}
	stolen := claimR("n5", at.Add(5*time.Minute), 10)
	wantIDs(t, "claim after the extension expired", ids(stolen, runID), retry.ID)
	if stolen[0].Attempts != 3 || stolen[0].Status != hookd.RunRunning {
		t.Fatalf("re-claimed run = %+v", stolen[0])
	}
	lost := []*hookd.RunUpdate{{ID: retry.ID, Owner: "n3", Status: hookd.RunSucceeded, At: at}}
	must(t, is.CompleteRuns(ctx, lost))
	if !lost[0].Stale {
		t.Fatal("the outcome of a lost lease was recorded")
	}
	must(t, is.CompleteRuns(ctx, nil))

	// Filters and pagination.
	list := func(f hookd.RunFilter) []string {
		t.Helper()
		return allPages(t, func(p hookd.Page) ([]*hookd.Run, string, error) {
			f.Page = p
			return is.FindRuns(ctx, f)
		}, runID)
	}
	all := list(hookd.RunFilter{TenantID: "acme"})
	if len(all) != 4 {
		t.Fatalf("acme's runs = %v", all)
	}
	wantIDs(t, "runs of trigger 2", list(hookd.RunFilter{TenantID: "acme", TriggerID: tr2.ID}), runsOf(t, is, tr2)...)
	if n := len(list(hookd.RunFilter{TenantID: "acme", TriggerID: tr1.ID})); n != 3 {
		t.Fatalf("runs of trigger 1 = %d, want 3", n)
	}
	if n := len(list(hookd.RunFilter{TenantID: "acme", RuleID: build.ID})); n != 3 {
		t.Fatalf("runs of rule build = %d, want 3", n)
	}
	if n := len(list(hookd.RunFilter{TenantID: "acme", RuleID: notify.ID, TriggerID: tr2.ID})); n != 0 {
		t.Fatalf("runs of rule notify and trigger 2 = %d, want 0", n)
	}
	wantIDs(t, "succeeded runs", list(hookd.RunFilter{TenantID: "acme", Status: hookd.RunSucceeded}), done.ID)
	wantIDs(t, "failed runs", list(hookd.RunFilter{TenantID: "acme", Status: hookd.RunFailed}), fail.ID, c2[0].ID)
	wantIDs(t, "running runs", list(hookd.RunFilter{TenantID: "acme", Status: hookd.RunRunning}), retry.ID)
	wantIDs(t, "beta's runs", list(hookd.RunFilter{TenantID: "beta"}), runsOf(t, is, tb)...)
	wantIDs(t, "beta's runs of acme's rule", list(hookd.RunFilter{TenantID: "beta", RuleID: build.ID}))
	_, err := is.FindRunByID(ctx, "beta", done.ID)
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = is.FindRunByID(ctx, "acme", "run_nope")
	wantCode(t, err, hookd.ENOTFOUND)
	_, _, err = is.FindRuns(ctx, hookd.RunFilter{TenantID: "acme", Page: hookd.Page{Cursor: "!!not a cursor!!"}})
	wantCode(t, err, hookd.EINVALID)
}

func runsOf(t *testing.T, is hookd.InboundStore, tr *hookd.Trigger) []string {
	t.Helper()
	list, _, err := is.FindRuns(ctx, hookd.RunFilter{TenantID: tr.TenantID, TriggerID: tr.ID, Page: hookd.Page{Limit: hookd.MaxPageSize}})
	must(t, err)
	return ids(list, runID)
}

func testSilentSources(t *testing.T, s hookd.Store) {
	is := inboundOf(t, s)
	tenant(t, s, "acme")
	tenant(t, s, "beta")
	base := inboundNow()
	heartbeat := func(tenantID, name string, every time.Duration) *hookd.Source {
		t.Helper()
		src := &hookd.Source{TenantID: tenantID, Name: name, Verifier: hookd.SourceVerifier{Type: "none"}, HeartbeatEvery: hookd.Duration(every)}
		src.SetDefaults()
		must(t, is.CreateSource(ctx, src))
		return src
	}
	often := heartbeat("acme", "often", 10*time.Minute)
	hourly := heartbeat("beta", "hourly", time.Hour)
	heartbeat("acme", "never", 0)
	silent := func(at time.Time, want ...*hookd.Source) {
		t.Helper()
		got, err := is.SilentSources(ctx, at)
		must(t, err)
		wantIDs(t, fmt.Sprintf("silent at +%s", at.Sub(base)), ids(got, sourceID), ids(want, sourceID)...)
	}
	silent(base)
	silent(base.Add(9 * time.Minute))
	silent(base.Add(11*time.Minute), often)
	silent(base.Add(2*time.Hour), often, hourly)
	// A request (accepted or refused) resets the clock.
	createTrigger(t, is, sourceTrigger(often, "", base.Add(time.Hour)), 0)
	silent(base.Add(time.Hour+5*time.Minute), hourly)
	silent(base.Add(time.Hour+11*time.Minute), often, hourly)
	must(t, is.RejectRequest(ctx, hourly.ID, base.Add(2*time.Hour)))
	silent(base.Add(2*time.Hour+30*time.Minute), often)
	// Turning the heartbeat off silences the alert; deleting the source too.
	zero := hookd.Duration(0)
	_, err := is.UpdateSource(ctx, "acme", often.ID, hookd.SourceUpdate{HeartbeatEvery: &zero})
	must(t, err)
	silent(base.Add(5*time.Hour), hourly)
	must(t, is.DeleteSource(ctx, "beta", hourly.ID))
	silent(base.Add(5 * time.Hour))
}

// testDeleteTenantInbound checks that a deleted tenant's sources, triggers,
// rules and runs are gone, leased work included, and others' stay.
func testDeleteTenantInbound(t *testing.T, s hookd.Store) {
	is := inboundOf(t, s)
	base := inboundNow()
	type world struct {
		src        *hookd.Source
		rule       *hookd.Rule
		done, open *hookd.Trigger
		run        *hookd.Run
	}
	build := func(id string) world {
		tenant(t, s, id)
		var w world
		w.src = heartbeatSource(t, is, id, id+"/hook")
		w.rule = newRule(t, is, id, "build", true)
		w.done = createTrigger(t, is, sourceTrigger(w.src, "d1", base), time.Hour)
		w.run = runOf(w.rule)
		process(t, is, w.done, base, w.run)
		return w
	}
	acme := build("acme")
	beta := build("beta")
	acme.open = createTrigger(t, is, genericTrigger("acme", "deploy", "g1", base), time.Hour)
	beta.open = createTrigger(t, is, genericTrigger("beta", "deploy", "g1", base), time.Hour)
	// acme's work is leased when the tenant goes away.
	at := base.Add(time.Second)
	leased, err := is.ClaimRuns(ctx, "n1", at, time.Minute, 10)
	must(t, err)
	if len(leased) != 2 {
		t.Fatalf("claimed %d runs, want 2", len(leased))
	}
	claimed, err := is.ClaimTriggers(ctx, "n1", at, time.Minute, 10)
	must(t, err)
	if len(claimed) != 2 {
		t.Fatalf("claimed %d triggers, want 2", len(claimed))
	}

	must(t, s.DeleteTenant(ctx, "acme"))

	wantCode(t, is.ProcessTrigger(ctx, acme.open.ID, "n1", []*hookd.Run{runOf(acme.rule)}, at), hookd.ECONFLICT)
	updates := []*hookd.RunUpdate{
		{ID: acme.run.ID, Owner: "n1", Status: hookd.RunSucceeded, At: at},
		{ID: beta.run.ID, Owner: "n1", Status: hookd.RunSucceeded, At: at},
	}
	must(t, is.CompleteRuns(ctx, updates))
	if !updates[0].Stale || updates[1].Stale {
		t.Fatalf("stale = %v %v, want true (acme's run is gone) false", updates[0].Stale, updates[1].Stale)
	}
	// Nothing of acme is claimable, even after the leases expire.
	later := at.Add(time.Hour)
	if got, err := is.ClaimTriggers(ctx, "n2", later, time.Minute, 10); err != nil || len(got) != 1 || got[0].ID != beta.open.ID {
		t.Fatalf("claimable triggers = %v, %v; want beta's", ids(got, triggerID), err)
	}
	must(t, is.ExtendRuns(ctx, "n1", []string{acme.run.ID}, later.Add(time.Hour)))
	if got, err := is.ClaimRuns(ctx, "n2", later, time.Minute, 10); err != nil || len(got) != 0 {
		t.Fatalf("claimable runs = %v, %v; want none", ids(got, runID), err)
	}
	silent, err := is.SilentSources(ctx, later.Add(24*time.Hour))
	must(t, err)
	wantIDs(t, "silent sources", ids(silent, sourceID), beta.src.ID)

	// A new tenant with the same id starts empty.
	tenant(t, s, "acme")
	_, err = is.FindSourceByName(ctx, "acme/hook")
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = is.FindSourceByID(ctx, "acme", acme.src.ID)
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = is.FindRule(ctx, "acme", "build")
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = is.FindTriggerByID(ctx, "acme", acme.done.ID)
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = is.FindRunByID(ctx, "acme", acme.run.ID)
	wantCode(t, err, hookd.ENOTFOUND)
	if list, _, err := is.FindSources(ctx, "acme", hookd.Page{}); err != nil || len(list) != 0 {
		t.Fatalf("sources = %d, %v", len(list), err)
	}
	if list, _, err := is.FindRules(ctx, "acme", hookd.Page{}); err != nil || len(list) != 0 {
		t.Fatalf("rules = %d, %v", len(list), err)
	}
	if list, _, err := is.FindTriggers(ctx, hookd.TriggerFilter{TenantID: "acme"}); err != nil || len(list) != 0 {
		t.Fatalf("triggers = %d, %v", len(list), err)
	}
	if list, _, err := is.FindRuns(ctx, hookd.RunFilter{TenantID: "acme"}); err != nil || len(list) != 0 {
		t.Fatalf("runs = %d, %v", len(list), err)
	}
	// The de-duplication memory went with the triggers; names are free.
	fresh := newSource(t, is, "acme", "acme/hook")
	if tr := createTrigger(t, is, sourceTrigger(fresh, "d1", base), time.Hour); tr.Duplicate {
		t.Fatal("a delivery id of the deleted tenant counted as a repeat")
	}
	if tr := createTrigger(t, is, genericTrigger("acme", "deploy", "g1", base), time.Hour); tr.Duplicate {
		t.Fatal("a generic delivery id of the deleted tenant counted as a repeat")
	}
	newRule(t, is, "acme", "build", true)

	// beta is untouched.
	if _, err := is.FindSourceByID(ctx, "beta", beta.src.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := is.FindRule(ctx, "beta", "build"); err != nil {
		t.Fatal(err)
	}
	if r, err := is.FindRunByID(ctx, "beta", beta.run.ID); err != nil || r.Status != hookd.RunSucceeded {
		t.Fatalf("beta's run = %+v, %v", r, err)
	}
	if got, err := is.FindTriggerByID(ctx, "beta", beta.done.ID); err != nil || got.Runs != 1 {
		t.Fatalf("beta's trigger = %+v, %v", got, err)
	}
}

func heartbeatSource(t *testing.T, is hookd.InboundStore, tenantID, name string) *hookd.Source {
	t.Helper()
	src := &hookd.Source{TenantID: tenantID, Name: name, Verifier: hookd.SourceVerifier{Type: "token", Secrets: []string{"t"}},
		HeartbeatEvery: hookd.Duration(time.Hour)}
	src.SetDefaults()
	must(t, is.CreateSource(ctx, src))
	return src
}

// testInboundAudit checks that source and rule changes made through the API
// are audited without secrets, and a trigger replay too.
func testInboundAudit(t *testing.T, s hookd.Store) {
	is := inboundOf(t, s)
	tenant(t, s, "acme")
	k := apiKey(t, s, "acme", hookd.RoleAdmin, "acme-key")
	ac := as(k)
	src := &hookd.Source{TenantID: "acme", Name: "ci", Verifier: hookd.SourceVerifier{Type: "hmac", Secrets: []string{"source-s3cret"}}}
	src.SetDefaults()
	must(t, is.CreateSource(ac, src))
	desc := "d"
	ver := hookd.SourceVerifier{Type: "hmac", Secrets: []string{"rotated-s3cret"}}
	_, err := is.UpdateSource(ac, "acme", src.ID, hookd.SourceUpdate{Description: &desc, Verifier: &ver})
	must(t, err)
	r := &hookd.Rule{TenantID: "acme", Name: "fwd", Enabled: true, Source: "ci",
		Action: hookd.Action{Type: hookd.ActionForward, URL: "https://example.com", Headers: map[string]string{"Authorization": "Bearer receiver-credential"}}}
	must(t, is.CreateRule(ac, r))
	off := false
	_, err = is.UpdateRule(ac, "acme", "fwd", hookd.RuleUpdate{Enabled: &off})
	must(t, err)
	tr := sourceTrigger(src, "", inboundNow())
	tr.Body = json.RawMessage(`{"payload":"trigger-body-marker"}`)
	createTrigger(t, is, tr, 0) // accepting requests is not audited
	process(t, is, tr, inboundNow())
	_, err = is.ReplayTrigger(ac, "acme", tr.ID)
	must(t, err)
	must(t, is.DeleteRule(ac, "acme", r.ID))
	must(t, is.DeleteSource(ac, "acme", src.ID))
	// Failed changes record nothing.
	wantCode(t, is.DeleteSource(ac, "acme", src.ID), hookd.ENOTFOUND)
	must(t, is.CreateRule(ctx, &hookd.Rule{TenantID: "acme", Name: "x", Action: hookd.Action{Type: hookd.ActionPublish}})) // not audited
	wantCode(t, is.CreateRule(ac, &hookd.Rule{TenantID: "acme", Name: "x", Action: hookd.Action{Type: hookd.ActionPublish}}), hookd.ECONFLICT)

	got := auditLog(t, s, hookd.AuditFilter{TenantID: "acme"})
	want := "source.delete rule.delete trigger.replay rule.update rule.create source.update source.create"
	if actions(got) != want {
		t.Fatalf("audit log:\n got %s\nwant %s", actions(got), want)
	}
	for _, e := range got {
		raw := fmt.Sprintf("%s %s", e.Before, e.After)
		for _, leak := range []string{"source-s3cret", "rotated-s3cret", "receiver-credential", "trigger-body-marker"} {
			if strings.Contains(raw, leak) {
				t.Fatalf("%s entry holds a secret: %s", e.Action, raw)
			}
		}
	}
	byAction := map[string]*hookd.AuditEntry{}
	for _, e := range got {
		byAction[e.Action] = e
	}
	for _, c := range []struct {
		action, typ, id string
		before, after   bool
	}{
		{"source.create", "source", src.ID, false, true},
		{"source.update", "source", src.ID, true, true},
		{"source.delete", "source", src.ID, true, false},
		{"rule.create", "rule", r.ID, false, true},
		{"rule.update", "rule", r.ID, true, true},
		{"rule.delete", "rule", r.ID, true, false},
		{"trigger.replay", "trigger", tr.ID, true, true},
	} {
		e := byAction[c.action]
		if e.ResourceType != c.typ || e.ResourceID != c.id || e.KeyID != k.ID || (len(e.Before) > 0) != c.before || (len(e.After) > 0) != c.after {
			t.Fatalf("%s entry = %+v before=%s after=%s", c.action, e, e.Before, e.After)
		}
	}
	var before, after map[string]any
	must(t, json.Unmarshal(byAction["rule.update"].Before, &before))
	must(t, json.Unmarshal(byAction["rule.update"].After, &after))
	if before["enabled"] != true || after["enabled"] != false {
		t.Fatalf("rule.update before %v after %v", before["enabled"], after["enabled"])
	}
}

// inboundTests are the InboundStore tests of the suite (see Run).
var inboundTests = []struct {
	name string
	fn   func(t *testing.T, s hookd.Store)
}{
	{"Sources", testSources},
	{"SourceCounters", testSourceCounters},
	{"Triggers", testTriggers},
	{"TriggerClaims", testTriggerClaims},
	{"Rules", testRules},
	{"Runs", testRuns},
	{"SilentSources", testSilentSources},
	{"DeleteTenantInbound", testDeleteTenantInbound},
	{"InboundAudit", testInboundAudit},
	{"FailedMatch", testFailedMatch},
	{"PurgeTriggers", testPurgeTriggers},
}

// A match whose action could not be prepared is stored failed at once,
// with its error, and never claimed.
func testFailedMatch(t *testing.T, s hookd.Store) {
	is := inboundOf(t, s)
	tenant(t, s, "acme")
	src := newSource(t, is, "acme", "ci", "s")
	r := newRule(t, is, "acme", "build", true)
	tr := createTrigger(t, is, sourceTrigger(src, "d1", inboundNow()), time.Hour)
	now := inboundNow()
	bad := runOf(r)
	bad.Status, bad.Result = hookd.RunFailed, &hookd.RunResult{Error: "action.data: trigger.body.x: template failed"}
	process(t, is, tr, now, bad, runOf(r))
	list, _, err := is.FindRuns(ctx, hookd.RunFilter{TenantID: "acme", Status: hookd.RunFailed})
	must(t, err)
	if len(list) != 1 || list[0].ID != bad.ID || list[0].Result == nil || list[0].Result.Error != bad.Result.Error ||
		list[0].EndedAt == nil || !list[0].EndedAt.Equal(now) || list[0].NextAt != nil {
		t.Fatalf("failed runs = %+v", list)
	}
	claimed, err := is.ClaimRuns(ctx, "n1", now.Add(time.Hour), time.Minute, 10)
	must(t, err)
	if len(claimed) != 1 || claimed[0].ID == bad.ID {
		t.Fatalf("claimed %+v, want only the queued run", claimed)
	}
}

// Old triggers go with their runs once they are done with; a trigger
// still being matched, or with a run not finished, stays.
func testPurgeTriggers(t *testing.T, s hookd.Store) {
	is := inboundOf(t, s)
	tenant(t, s, "acme")
	src := newSource(t, is, "acme", "ci", "s")
	r := newRule(t, is, "acme", "build", true)
	old := inboundNow().Add(-48 * time.Hour)
	done := createTrigger(t, is, sourceTrigger(src, "d1", old), time.Hour)
	process(t, is, done, old, runOf(r))
	runs, err := is.ClaimRuns(ctx, "n1", old, time.Minute, 10)
	must(t, err)
	must(t, is.CompleteRuns(ctx, []*hookd.RunUpdate{{ID: runs[0].ID, Owner: "n1", Status: hookd.RunSucceeded, At: old,
		Result: &hookd.RunResult{EventID: "evt_1"}}}))
	busy := createTrigger(t, is, sourceTrigger(src, "d2", old.Add(time.Second)), time.Hour)
	process(t, is, busy, old, runOf(r))                                                          // its run stays queued
	waiting := createTrigger(t, is, sourceTrigger(src, "d3", old.Add(2*time.Second)), time.Hour) // not matched yet
	recent := createTrigger(t, is, sourceTrigger(src, "d4", inboundNow()), time.Hour)

	before := inboundNow().Add(-time.Hour)
	triggers, nruns, err := is.PurgeTriggers(ctx, before, 100)
	must(t, err)
	if triggers != 1 || nruns != 1 {
		t.Fatalf("purged %d triggers and %d runs, want 1 and 1", triggers, nruns)
	}
	_, err = is.FindTriggerByID(ctx, "acme", done.ID)
	wantCode(t, err, hookd.ENOTFOUND)
	_, err = is.FindRunByID(ctx, "acme", runs[0].ID)
	wantCode(t, err, hookd.ENOTFOUND)
	for _, tr := range []*hookd.Trigger{busy, waiting, recent} {
		if _, err := is.FindTriggerByID(ctx, "acme", tr.ID); err != nil {
			t.Fatalf("trigger %s was purged: %v", tr.DeliveryID, err)
		}
	}
	if n, _, err := is.PurgeTriggers(ctx, before, 100); err != nil || n != 0 {
		t.Fatalf("a second pass purged %d (%v)", n, err)
	}
}
