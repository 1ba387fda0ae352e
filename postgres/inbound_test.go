package postgres_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/postgres"
	"github.com/hookd/hookd/vault"
)

func mustSource(t testing.TB, s *postgres.Store, tenant, name string) *hookd.Source {
	t.Helper()
	src := &hookd.Source{TenantID: tenant, Name: name, Verifier: hookd.SourceVerifier{Type: "hmac", Secrets: []string{"shh-" + name}}}
	src.SetDefaults()
	if err := s.CreateSource(ctx, src); err != nil {
		t.Fatal(err)
	}
	return src
}

func newTrigger(src *hookd.Source, deliveryID string, at time.Time) *hookd.Trigger {
	return &hookd.Trigger{
		TenantID: src.TenantID, SourceID: src.ID, Source: src.Name, ReceivedAt: at, Method: "POST",
		Headers: map[string]string{"X-Delivery": deliveryID}, Query: map[string][]string{"a": {"1"}},
		ContentType: hookd.ContentJSON, Body: json.RawMessage(`{"n":1}`), DeliveryID: deliveryID,
	}
}

// nodes opens n stores on one fresh schema: n nodes with their own pools.
func nodes(t *testing.T, n int) []*postgres.Store {
	t.Helper()
	dsn, schema := freshSchema(t)
	out := make([]*postgres.Store, n)
	for i := range out {
		out[i] = openAt(t, dsn, schema, postgres.Options{})
	}
	return out
}

// Many nodes receiving the same provider delivery at once store one
// trigger; every other call is told it is a duplicate of that one, and the
// source counts one accepted request.
func TestConcurrentDuplicateTriggersStoreOne(t *testing.T) {
	t.Parallel()
	stores := nodes(t, 4)
	mustTenant(t, stores[0], "acme")
	src := mustSource(t, stores[0], "acme", "github")
	at := time.Now().UTC().Truncate(time.Microsecond)

	const rounds, callers = 20, 8
	for round := range rounds {
		deliveryID := fmt.Sprintf("d-%d", round)
		start := make(chan struct{})
		got := make([]*hookd.Trigger, callers)
		errs := make([]error, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tr := newTrigger(src, deliveryID, at.Add(time.Duration(i)*time.Millisecond))
				<-start
				errs[i] = stores[i%len(stores)].CreateTrigger(ctx, tr, time.Hour)
				got[i] = tr
			}()
		}
		close(start)
		wg.Wait()
		stored := map[string]int{}
		fresh := 0
		for i, tr := range got {
			if errs[i] != nil {
				t.Fatalf("round %d: %v", round, errs[i])
			}
			stored[tr.ID]++
			if !tr.Duplicate {
				fresh++
			}
		}
		if fresh != 1 || len(stored) != 1 {
			t.Fatalf("round %d: %d calls stored a trigger, ids %v; want one", round, fresh, stored)
		}
	}
	list, _, err := stores[0].FindTriggers(ctx, hookd.TriggerFilter{TenantID: "acme", Page: hookd.Page{Limit: 500}})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != rounds {
		t.Fatalf("%d triggers stored, want %d", len(list), rounds)
	}
	cur, err := stores[0].FindSourceByID(ctx, "acme", src.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Accepted != rounds {
		t.Fatalf("source accepted %d, want %d", cur.Accepted, rounds)
	}
}

// The window is measured from the first trigger's receipt: a delivery id
// seen longer ago than the window is stored again, and later repeats are
// duplicates of the new one. Generic triggers are keyed by tenant and name.
func TestTriggerDedupWindow(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	mustTenant(t, s, "acme")
	mustTenant(t, s, "other")
	src := mustSource(t, s, "acme", "ci")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	create := func(tr *hookd.Trigger, window time.Duration) *hookd.Trigger {
		t.Helper()
		if err := s.CreateTrigger(ctx, tr, window); err != nil {
			t.Fatal(err)
		}
		return tr
	}
	first := create(newTrigger(src, "x", t0), time.Hour)
	if dup := create(newTrigger(src, "x", t0.Add(59*time.Minute)), time.Hour); !dup.Duplicate || dup.ID != first.ID {
		t.Fatalf("repeat within the window: duplicate %v id %s, want a duplicate of %s", dup.Duplicate, dup.ID, first.ID)
	}
	second := create(newTrigger(src, "x", t0.Add(time.Hour)), time.Hour)
	if second.Duplicate || second.ID == first.ID {
		t.Fatal("a repeat after the window was not stored")
	}
	if dup := create(newTrigger(src, "x", t0.Add(90*time.Minute)), time.Hour); !dup.Duplicate || dup.ID != second.ID {
		t.Fatalf("got duplicate %v of %s, want a duplicate of %s", dup.Duplicate, dup.ID, second.ID)
	}
	if tr := create(newTrigger(src, "x", t0.Add(91*time.Minute)), 0); tr.Duplicate {
		t.Fatal("a zero window de-duplicated")
	}

	generic := func(tenant, name string) *hookd.Trigger {
		return &hookd.Trigger{TenantID: tenant, Name: name, ReceivedAt: t0, Method: "POST", DeliveryID: "g", Body: json.RawMessage(`{}`)}
	}
	a := create(generic("acme", "deploy"), time.Hour)
	for _, tr := range []*hookd.Trigger{generic("acme", "build"), generic("other", "deploy")} {
		if create(tr, time.Hour).Duplicate {
			t.Fatalf("trigger %s of %s taken for a duplicate of %s", tr.Name, tr.TenantID, a.ID)
		}
	}
	if !create(generic("acme", "deploy"), time.Hour).Duplicate {
		t.Fatal("generic repeat not de-duplicated")
	}
}

// Several nodes claiming triggers and runs at once never get the same one,
// and together they get every one.
func TestConcurrentTriggerAndRunClaimsAreDisjoint(t *testing.T) {
	t.Parallel()
	stores := nodes(t, 4)
	mustTenant(t, stores[0], "acme")
	src := mustSource(t, stores[0], "acme", "hooks")
	now := time.Now().UTC()
	const total = 300
	for i := range total {
		if err := stores[0].CreateTrigger(ctx, newTrigger(src, "", now.Add(-time.Duration(total-i)*time.Millisecond)), time.Hour); err != nil {
			t.Fatal(err)
		}
	}

	// Each node claims triggers, processes each into two runs, and goes on
	// until no trigger is left (or, should claims never run dry, until the
	// deadline).
	deadline := time.Now().Add(20 * time.Second)
	var mu sync.Mutex
	triggerOwner, runOwner := map[string]string{}, map[string]string{}
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	for n, s := range stores {
		owner := fmt.Sprintf("n%d", n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for empty := 0; empty < 3 && time.Now().Before(deadline); {
				got, err := s.ClaimTriggers(ctx, owner, now, time.Minute, 5+n*3)
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					empty++
					continue
				}
				empty = 0
				var dup error
				mu.Lock()
				for _, tr := range got {
					if prev, ok := triggerOwner[tr.ID]; ok && dup == nil {
						dup = fmt.Errorf("trigger %s claimed by %s and %s", tr.ID, prev, owner)
					}
					triggerOwner[tr.ID] = owner
				}
				mu.Unlock()
				if dup != nil {
					errs <- dup
					return
				}
				for _, tr := range got {
					runs := []*hookd.Run{
						{RuleID: "rul_a", RuleName: "a", Action: hookd.Action{Type: hookd.ActionPublish, EventType: "x"}},
						{RuleID: "rul_b", RuleName: "b", Action: hookd.Action{Type: hookd.ActionCommand, Command: []string{"true"}}},
					}
					if err := s.ProcessTrigger(ctx, tr.ID, owner, runs, now); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(triggerOwner) != total {
		t.Fatalf("claimed %d triggers, want %d", len(triggerOwner), total)
	}

	later := now.Add(time.Second)
	for n, s := range stores {
		owner := fmt.Sprintf("n%d", n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for empty := 0; empty < 3 && time.Now().Before(deadline); {
				got, err := s.ClaimRuns(ctx, owner, later, time.Minute, 7+n*4)
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					empty++
					continue
				}
				empty = 0
				var dup error
				mu.Lock()
				for _, r := range got {
					if prev, ok := runOwner[r.ID]; ok && dup == nil {
						dup = fmt.Errorf("run %s claimed by %s and %s", r.ID, prev, owner)
					}
					runOwner[r.ID] = owner
				}
				mu.Unlock()
				if dup != nil {
					errs <- dup
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(runOwner) != 2*total {
		t.Fatalf("claimed %d runs, want %d", len(runOwner), 2*total)
	}
	perNode := map[string]int{}
	for _, o := range runOwner {
		perNode[o]++
	}
	t.Logf("runs per node: %v", perNode)
}

// A lease that expired is claimable by another node; the node that lost
// it can no longer process the trigger or complete the run.
func TestInboundLeaseLostAcrossNodes(t *testing.T) {
	t.Parallel()
	stores := nodes(t, 2)
	a, b := stores[0], stores[1]
	mustTenant(t, a, "acme")
	src := mustSource(t, a, "acme", "hooks")
	now := time.Now().UTC()
	tr := newTrigger(src, "", now)
	if err := a.CreateTrigger(ctx, tr, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := a.ClaimTriggers(ctx, "a", now, time.Minute, 10); err != nil || len(got) != 1 {
		t.Fatalf("claim: %v, %v", got, err)
	}
	if got, _ := b.ClaimTriggers(ctx, "b", now.Add(59*time.Second), time.Minute, 10); len(got) != 0 {
		t.Fatal("a leased trigger was claimed again before its lease expired")
	}
	if got, err := b.ClaimTriggers(ctx, "b", now.Add(time.Minute), time.Minute, 10); err != nil || len(got) != 1 {
		t.Fatalf("claim after expiry: %v, %v", got, err)
	}
	run := &hookd.Run{RuleID: "rul_a", RuleName: "a", Action: hookd.Action{Type: hookd.ActionPublish}}
	if err := a.ProcessTrigger(ctx, tr.ID, "a", []*hookd.Run{run}, now); hookd.ErrorCode(err) != hookd.ECONFLICT {
		t.Fatalf("process by the node that lost the lease: %v, want ECONFLICT", err)
	}
	if list, _, _ := a.FindRuns(ctx, hookd.RunFilter{TenantID: "acme"}); len(list) != 0 {
		t.Fatalf("a refused ProcessTrigger stored %d runs", len(list))
	}
	if err := b.ProcessTrigger(ctx, tr.ID, "b", []*hookd.Run{run}, now); err != nil {
		t.Fatal(err)
	}

	if got, err := a.ClaimRuns(ctx, "a", now, time.Minute, 10); err != nil || len(got) != 1 {
		t.Fatalf("claim run: %v, %v", got, err)
	}
	got, err := b.ClaimRuns(ctx, "b", now.Add(time.Minute), time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].Attempts != 2 {
		t.Fatalf("claim of an expired run lease: %v, %v", got, err)
	}
	stale := &hookd.RunUpdate{ID: run.ID, Owner: "a", Status: hookd.RunSucceeded, At: now}
	fresh := &hookd.RunUpdate{ID: run.ID, Owner: "b", Status: hookd.RunFailed, At: now, Result: &hookd.RunResult{Error: "boom"}}
	if err := a.CompleteRuns(ctx, []*hookd.RunUpdate{stale}); err != nil || !stale.Stale {
		t.Fatalf("late result of the old owner: %v, stale %v", err, stale.Stale)
	}
	if err := b.CompleteRuns(ctx, []*hookd.RunUpdate{fresh}); err != nil || fresh.Stale {
		t.Fatalf("result of the owner: %v, stale %v", err, fresh.Stale)
	}
	r, err := a.FindRunByID(ctx, "acme", run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != hookd.RunFailed || r.Result == nil || r.Result.Error != "boom" {
		t.Fatalf("run after completion: %+v", r)
	}
}

// Verifier secrets are sealed at rest like endpoint secrets and read back
// in the clear; other verifier settings stay readable.
func TestSourceSecretsSealed(t *testing.T) {
	t.Parallel()
	k, err := vault.ParseKey(vault.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(k)
	if err != nil {
		t.Fatal(err)
	}
	dsn, schema := freshSchema(t)
	s := openAt(t, dsn, schema, postgres.Options{Cipher: v})
	mustTenant(t, s, "acme")
	src := &hookd.Source{TenantID: "acme", Name: "/gh/", Verifier: hookd.SourceVerifier{Type: "github", Secrets: []string{"topsecret-1", "topsecret-2"}}}
	src.SetDefaults()
	if err := s.CreateSource(ctx, src); err != nil {
		t.Fatal(err)
	}
	var secrets, verifier string
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SELECT secrets, verifier::text FROM sources WHERE id = $1`, src.ID).Scan(&secrets, &verifier); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(secrets, "topsecret") || strings.Contains(verifier, "topsecret") {
		t.Fatalf("secrets stored in the clear: %q %q", secrets, verifier)
	}
	got, err := s.FindSourceByName(ctx, "gh")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Verifier.Secrets, ",") != "topsecret-1,topsecret-2" || got.Verifier.Type != "github" {
		t.Fatalf("verifier read back as %+v", got.Verifier)
	}
	plain := openAt(t, dsn, schema, postgres.Options{})
	if _, err := plain.FindSourceByID(ctx, "acme", src.ID); err == nil {
		t.Fatal("sealed secrets opened without a cipher")
	}
}

// Source names are unique across tenants, also when two tenants create the
// same name at once.
func TestSourceNamesUniqueAcrossTenants(t *testing.T) {
	t.Parallel()
	stores := nodes(t, 2)
	const tenants = 6
	for i := range tenants {
		mustTenant(t, stores[0], fmt.Sprintf("t%d", i))
	}
	errs := make([]error, tenants)
	var wg sync.WaitGroup
	for i := range tenants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := &hookd.Source{TenantID: fmt.Sprintf("t%d", i), Name: "shared", Verifier: hookd.SourceVerifier{Type: "none"}}
			src.SetDefaults()
			errs[i] = stores[i%2].CreateSource(ctx, src)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch hookd.ErrorCode(err) {
		case "":
			ok++
		case hookd.ECONFLICT:
		default:
			t.Fatal(err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d tenants got the name, want 1", ok)
	}
}

// DeleteTenant racing a request being accepted and a trigger being
// processed leaves nothing of the tenant behind: CreateTrigger holds the
// tenant row, and DeleteTenant deletes triggers (waiting for a
// ProcessTrigger that holds one) before runs.
func TestDeleteTenantRacingInboundWork(t *testing.T) {
	t.Parallel()
	dsn, schema := freshSchema(t)
	a := openAt(t, dsn, schema, postgres.Options{})
	b := openAt(t, dsn, schema, postgres.Options{})
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	now := time.Now().UTC()
	for i := range 40 {
		tenant := fmt.Sprintf("t%d", i)
		mustTenant(t, a, tenant)
		src := mustSource(t, a, tenant, tenant)
		tr := newTrigger(src, "", now)
		if err := a.CreateTrigger(ctx, tr, time.Hour); err != nil {
			t.Fatal(err)
		}
		if got, err := a.ClaimTriggers(ctx, tenant, now, time.Minute, 10); err != nil || len(got) != 1 {
			t.Fatalf("claim: %v, %v", got, err)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(3)
		go func() {
			defer wg.Done()
			<-start
			runs := []*hookd.Run{{RuleID: "rul_x", RuleName: "x", Action: hookd.Action{Type: hookd.ActionPublish}}}
			_ = a.ProcessTrigger(ctx, tr.ID, tenant, runs, now) // ECONFLICT when the tenant went first
		}()
		go func() {
			defer wg.Done()
			<-start
			g := &hookd.Trigger{TenantID: tenant, Name: "deploy", ReceivedAt: now, Method: "POST", Body: json.RawMessage(`{}`)}
			_ = a.CreateTrigger(ctx, g, time.Hour) // ENOTFOUND when the tenant went first
		}()
		go func() {
			defer wg.Done()
			<-start
			if err := b.DeleteTenant(ctx, tenant); err != nil {
				t.Error(err)
			}
		}()
		close(start)
		wg.Wait()
		var triggers, runs int
		if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM triggers WHERE tenant_id = $1), (SELECT count(*) FROM runs WHERE tenant_id = $1)`,
			tenant).Scan(&triggers, &runs); err != nil {
			t.Fatal(err)
		}
		if triggers != 0 || runs != 0 {
			t.Fatalf("round %d: %d triggers and %d runs of the deleted tenant left", i, triggers, runs)
		}
	}
}

// Accepted requests of one source, counted concurrently from two nodes in
// the source's count shards, add up exactly; the latest request time is
// the source's; deleting the source deletes its shards.
func TestSourceCountShards(t *testing.T) {
	stores := nodes(t, 2)
	if err := stores[0].CreateTenant(ctx, &hookd.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	src := mustSource(t, stores[0], "acme", "busy")
	base := time.Now().UTC().Truncate(time.Millisecond)
	const n = 120
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			tr := newTrigger(src, fmt.Sprintf("d-%d", i), base.Add(time.Duration(i)*time.Millisecond))
			if err := stores[i%2].CreateTrigger(ctx, tr, time.Hour); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := stores[1].RejectRequest(ctx, src.ID, base); err != nil {
		t.Fatal(err)
	}
	got, err := stores[1].FindSourceByID(ctx, "acme", src.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := base.Add((n - 1) * time.Millisecond)
	if got.Accepted != n || got.Rejected != 1 || got.LastRequestAt == nil || !got.LastRequestAt.Equal(last) {
		t.Fatalf("accepted %d rejected %d last %v, want %d, 1, %v", got.Accepted, got.Rejected, got.LastRequestAt, n, last)
	}
	list, _, err := stores[0].FindSources(ctx, "acme", hookd.Page{})
	if err != nil || len(list) != 1 || list[0].Accepted != n {
		t.Fatalf("listed %+v, %v; want the source with %d accepted", list, err, n)
	}
	if err := stores[0].DeleteSource(ctx, "acme", src.ID); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := stores[0].Pool().QueryRow(ctx, `SELECT count(*) FROM source_counts`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d count rows left after the source was deleted", left)
	}
}
