package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// batchFixture is a store with tenants acme and other, a source of each,
// and one trigger of acme's source stored before (delivery "old").
type batchFixture struct {
	s          *Store
	src, other *hookd.Source
	old        *hookd.Trigger
}

func newBatchFixture(t *testing.T) *batchFixture {
	t.Helper()
	s := openStore(t)
	ctx := context.Background()
	f := &batchFixture{s: s}
	for _, id := range []string{"acme", "other"} {
		if err := s.CreateTenant(ctx, &hookd.Tenant{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	f.src = &hookd.Source{TenantID: "acme", Name: "gh", Verifier: hookd.SourceVerifier{Type: "none"}}
	f.other = &hookd.Source{TenantID: "other", Name: "gh-other", Verifier: hookd.SourceVerifier{Type: "none"}}
	for _, src := range []*hookd.Source{f.src, f.other} {
		if err := s.CreateSource(ctx, src); err != nil {
			t.Fatal(err)
		}
	}
	f.old = f.trigger("old")
	if err := s.CreateTrigger(ctx, f.old, time.Hour); err != nil {
		t.Fatal(err)
	}
	// Received before the hour the tests' windows cover.
	expired := f.trigger("expired")
	expired.ReceivedAt = time.Now().Add(-2 * time.Hour)
	if err := s.CreateTrigger(ctx, expired, time.Hour); err != nil {
		t.Fatal(err)
	}
	return f
}

// trigger returns a trigger of acme's source with a body naming delivery.
func (f *batchFixture) trigger(delivery string) *hookd.Trigger {
	return &hookd.Trigger{TenantID: "acme", SourceID: f.src.ID, Source: f.src.Name, Method: "POST",
		Headers: map[string]string{"X-Delivery": delivery}, ContentType: "application/json",
		Body: []byte(`{"delivery":"` + delivery + `"}`), BodySHA256: "sum", DeliveryID: delivery}
}

// createInOneGroup creates every trigger concurrently while the writer is
// held, so that they are committed in one group, and returns each error.
func (f *batchFixture) createInOneGroup(t *testing.T, triggers []*hookd.Trigger) []error {
	t.Helper()
	ctx := context.Background()
	release := holdWriter(f.s)
	groups := f.s.Stats().Groups
	errs := make([]error, len(triggers))
	var wg sync.WaitGroup
	for i, tr := range triggers {
		wg.Go(func() { errs[i] = f.s.CreateTrigger(ctx, tr, time.Hour) })
	}
	waitQueued(t, f.s.reqs, len(triggers))
	release()
	wg.Wait()
	// The held group, then one with them all.
	if got := f.s.Stats().Groups - groups; got != 2 {
		t.Fatalf("%d groups committed, want 2 (the held one and the triggers')", got)
	}
	return errs
}

// accepted returns the counter and last request time of a source.
func (f *batchFixture) accepted(t *testing.T, id string) (int, int64) {
	t.Helper()
	var n int
	var last int64
	if err := f.s.read.QueryRow(`SELECT accepted, coalesce(last_request_at, 0) FROM sources WHERE id = ?`, id).Scan(&n, &last); err != nil {
		t.Fatal(err)
	}
	return n, last
}

// One group of triggers gets, request by request, the outcome each would
// have on its own: repeats of a delivery id (stored before within the
// window, or earlier in the group) answer with the first trigger, a missing source fails only
// its own, generic triggers de-duplicate by name, and every stored trigger
// is counted on its source and kept byte-exact, over several statements'
// worth of rows.
func TestTriggerBatchOutcomes(t *testing.T) {
	f := newBatchFixture(t)
	ctx := context.Background()
	repeat := f.trigger("d1")
	missing := f.trigger("m")
	missing.SourceID = "src_missing"
	wrongTenant := f.trigger("w")
	wrongTenant.SourceID = f.other.ID // acme's trigger naming other's source
	generic := &hookd.Trigger{TenantID: "acme", Name: "deploy", Method: "POST", Body: []byte(`{}`), DeliveryID: "g"}
	genericRepeat := &hookd.Trigger{TenantID: "acme", Name: "deploy", Method: "POST", Body: []byte(`{"again":1}`), DeliveryID: "g"}
	otherName := &hookd.Trigger{TenantID: "acme", Name: "build", Method: "POST", Body: []byte(`{}`), DeliveryID: "g"}
	noDelivery := f.trigger("")
	expired := f.trigger("expired")
	list := []*hookd.Trigger{f.trigger("d1"), repeat, missing, wrongTenant, f.trigger("old"), generic, genericRepeat, otherName, noDelivery, expired}
	for i := range 70 { // 64 + 4 + 2 rows in the inserts
		list = append(list, f.trigger(fmt.Sprintf("n%d", i)))
	}
	before, _ := f.accepted(t, f.src.ID)
	errs := f.createInOneGroup(t, list)

	want := map[*hookd.Trigger]string{missing: hookd.ENOTFOUND, wrongTenant: hookd.ENOTFOUND}
	for i, tr := range list {
		if code := hookd.ErrorCode(errs[i]); code != want[tr] || (code == "" && errs[i] != nil) {
			t.Errorf("request %d (%s): error %v, want code %q", i, tr.DeliveryID, errs[i], want[tr])
		}
	}
	// The two "d1" requests: one stored, the other answered with it.
	first, second := list[0], repeat
	if first.Duplicate == second.Duplicate || first.ID != second.ID {
		t.Errorf("d1 requests: duplicate %t/%t, ids %s/%s; want one stored and one answered with its id",
			first.Duplicate, second.Duplicate, first.ID, second.ID)
	}
	if tr := list[4]; !tr.Duplicate || tr.ID != f.old.ID {
		t.Errorf("repeat of a stored delivery: duplicate %t id %s, want the stored %s", tr.Duplicate, tr.ID, f.old.ID)
	}
	if generic.Duplicate == genericRepeat.Duplicate || generic.ID != genericRepeat.ID {
		t.Errorf("generic repeats: duplicate %t/%t ids %s/%s", generic.Duplicate, genericRepeat.Duplicate, generic.ID, genericRepeat.ID)
	}
	if expired.Duplicate {
		t.Errorf("a delivery id last seen before the window was taken for a repeat")
	}
	if otherName.Duplicate || otherName.ID == generic.ID {
		t.Errorf("a delivery id of another generic name was taken for a repeat")
	}

	stored := 0
	var latest time.Time
	for i, tr := range list {
		if errs[i] != nil || tr.Duplicate {
			continue
		}
		got, err := f.s.FindTriggerByID(ctx, "acme", tr.ID)
		if err != nil {
			t.Fatalf("stored trigger %s: %v", tr.ID, err)
		}
		if !bytes.Equal(got.Body, tr.Body) || got.DeliveryID != tr.DeliveryID || got.Headers["X-Delivery"] != tr.Headers["X-Delivery"] {
			t.Errorf("trigger %s read back as delivery %q body %s", tr.ID, got.DeliveryID, got.Body)
		}
		if tr.SourceID != "" {
			stored++
			if tr.ReceivedAt.After(latest) {
				latest = tr.ReceivedAt
			}
		}
	}
	if stored != 73 { // d1, no delivery id, expired, n0..n69
		t.Errorf("%d triggers of the source stored, want 73", stored)
	}
	n, last := f.accepted(t, f.src.ID)
	if n != before+stored || last != latest.UnixNano() {
		t.Errorf("source counted %d (last %d), want %d (last %d)", n, last, before+stored, latest.UnixNano())
	}
	if n, _ := f.accepted(t, f.other.ID); n != 0 {
		t.Errorf("the other tenant's source counted %d requests, want 0", n)
	}
	var rows, bodies int
	f.s.read.QueryRow(`SELECT count(*) FROM triggers`).Scan(&rows)
	f.s.read.QueryRow(`SELECT count(*) FROM trigger_bodies`).Scan(&bodies)
	if rows != 2+stored+2 || bodies != rows { // old and expired, the source's, deploy and build
		t.Errorf("%d triggers and %d bodies stored, want %d of each", rows, bodies, 2+stored+2)
	}
}

// When the batch fails as a whole (here an id given by the caller that is
// taken, and a generic trigger of a tenant that does not exist), its
// requests run one by one: each gets its own outcome and the rest are
// stored and counted once.
func TestTriggerBatchFallsBackOneByOne(t *testing.T) {
	f := newBatchFixture(t)
	ctx := context.Background()
	taken := f.trigger("t")
	taken.ID = f.old.ID
	noTenant := &hookd.Trigger{TenantID: "nobody", Name: "deploy", Method: "POST", Body: []byte(`{}`)}
	// What each gets on its own, for comparison.
	alone := []error{
		f.s.CreateTrigger(ctx, &hookd.Trigger{ID: f.old.ID, TenantID: "acme", SourceID: f.src.ID, Method: "POST", Body: []byte(`{}`)}, 0),
		f.s.CreateTrigger(ctx, &hookd.Trigger{TenantID: "nobody", Name: "deploy", Method: "POST", Body: []byte(`{}`)}, 0),
	}
	if hookd.ErrorCode(alone[0]) != hookd.ECONFLICT || alone[1] == nil {
		t.Fatalf("alone: %v, %v; want a conflict and an error", alone[0], alone[1])
	}
	before, _ := f.accepted(t, f.src.ID)
	list := []*hookd.Trigger{f.trigger("a"), taken, f.trigger("b"), noTenant, f.trigger("a")}
	errs := f.createInOneGroup(t, list)
	if hookd.ErrorCode(errs[1]) != hookd.ErrorCode(alone[0]) || hookd.ErrorCode(errs[3]) != hookd.ErrorCode(alone[1]) {
		t.Errorf("in a group: %v, %v; want as alone: %v, %v", errs[1], errs[3], alone[0], alone[1])
	}
	for _, i := range []int{0, 2, 4} {
		if errs[i] != nil {
			t.Errorf("request %d: %v", i, errs[i])
		}
	}
	if list[0].Duplicate == list[4].Duplicate || list[4].ID != list[0].ID {
		t.Errorf("repeat of a in the group: duplicate %t/%t", list[0].Duplicate, list[4].Duplicate)
	}
	if n, _ := f.accepted(t, f.src.ID); n != before+2 {
		t.Errorf("source counted %d, want %d", n, before+2)
	}
	if _, err := f.s.FindTriggerByID(ctx, "acme", list[2].ID); err != nil {
		t.Errorf("b: %v", err)
	}
}
