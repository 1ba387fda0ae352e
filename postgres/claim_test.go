package postgres_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/postgres"
)

// Several nodes claiming at once never get the same delivery, and together
// they get every one.
func TestConcurrentClaimsAreDisjoint(t *testing.T) {
	t.Parallel()
	dsn, schema := freshSchema(t)
	first := openAt(t, dsn, schema, postgres.Options{})
	mustTenant(t, first, "acme")
	for range 5 {
		mustEndpoint(t, first, "acme", 1000)
	}
	publishN(t, first, "acme", 200) // 1000 deliveries
	now := time.Now().Add(time.Second)

	const nodes = 4
	var mu sync.Mutex
	owner := map[string]string{}
	var total atomic.Int64
	deadline := time.Now().Add(20 * time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, nodes)
	for n := range nodes {
		s := first
		if n > 0 {
			s = openAt(t, dsn, schema, postgres.Options{}) // another node: its own pool
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("n%d", n)
			// A claim may come back short while other nodes hold the
			// endpoints' claim locks: go on until everything is claimed.
			for total.Load() < 1000 && time.Now().Before(deadline) {
				got, err := s.ClaimDeliveries(ctx, hookd.Claim{Owner: name, Now: now, Limit: 7 + n*5, Lease: time.Minute})
				if err != nil {
					errs <- err
					return
				}
				total.Add(int64(len(got)))
				mu.Lock()
				for _, cd := range got {
					if prev, ok := owner[cd.ID]; ok {
						errs <- fmt.Errorf("delivery %s claimed by %s and %s", cd.ID, prev, name)
					}
					owner[cd.ID] = name
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(owner) != 1000 {
		t.Fatalf("claimed %d deliveries in all, want 1000", len(owner))
	}
	perNode := map[string]int{}
	for _, n := range owner {
		perNode[n]++
	}
	t.Logf("claims per node: %v", perNode)
}

// max_in_flight counts every node's unexpired leases, including deliveries
// leased by publishers (handoff), while claimers, publishers and
// completers race.
func TestMaxInFlightHoldsAcrossNodes(t *testing.T) {
	t.Parallel()
	dsn, schema := freshSchema(t)
	const limit = 5
	base := openAt(t, dsn, schema, postgres.Options{})
	mustTenant(t, base, "acme")
	ep := mustEndpoint(t, base, "acme", limit)
	other := mustEndpoint(t, base, "acme", 1000) // work of another endpoint flows past the capped one
	publishN(t, base, "acme", 150)

	// inflight counts leases after their claim committed and until before
	// their completion commits, so it never exceeds the true number.
	var inflight, peak atomic.Int64
	var sent, otherSent atomic.Int64
	note := func(d int64) {
		v := inflight.Add(d)
		for {
			p := peak.Load()
			if v <= p || peak.CompareAndSwap(p, v) {
				break
			}
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	deadline := time.Now().Add(4 * time.Second)
	complete := func(s *postgres.Store, owner string, list []*hookd.ClaimedDelivery) error {
		var results []*hookd.DeliveryResult
		for _, cd := range list {
			if cd.EndpointID == ep.ID {
				note(-1)
				sent.Add(1)
			} else {
				otherSent.Add(1)
			}
			results = append(results, &hookd.DeliveryResult{DeliveryID: cd.ID, TenantID: cd.TenantID, EndpointID: cd.EndpointID,
				Owner: owner, State: hookd.DeliverySucceeded, Attempt: hookd.Attempt{Trigger: hookd.TriggerScheduled, StartedAt: time.Now(), StatusCode: 200}})
		}
		return s.CompleteDeliveries(ctx, results)
	}
	work := func(s *postgres.Store, owner string, publisher bool) {
		defer wg.Done()
		for time.Now().Before(deadline) {
			var got []*hookd.ClaimedDelivery
			var err error
			if publisher {
				got, err = s.PublishEvents(ctx, "acme", []*hookd.Event{{Type: "x", Payload: []byte(`{}`)}, {Type: "y", Payload: []byte(`{}`)}},
					hookd.MatchSubscribed, &hookd.Handoff{Owner: owner, Until: time.Now().Add(time.Minute), Max: 4})
			} else {
				got, err = s.ClaimDeliveries(ctx, hookd.Claim{Owner: owner, Now: time.Now(), Limit: 1 + rand.IntN(8), Lease: time.Minute})
			}
			if err != nil {
				errs <- err
				return
			}
			for _, cd := range got {
				if cd.EndpointID == ep.ID {
					note(1)
				}
			}
			if p := peak.Load(); p > limit {
				errs <- fmt.Errorf("%d deliveries of the endpoint in flight, max_in_flight is %d", p, limit)
				return
			}
			time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond) // "sending"
			if err := complete(s, owner, got); err != nil {
				errs <- err
				return
			}
		}
	}
	for n := range 6 {
		s := openAt(t, dsn, schema, postgres.Options{MaxConns: 2})
		wg.Add(1)
		go work(s, fmt.Sprintf("node%d", n), n >= 4)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if sent.Load() == 0 || peak.Load() == 0 {
		t.Fatal("nothing of the capped endpoint was delivered: the test proved nothing")
	}
	if otherSent.Load() == 0 {
		t.Fatalf("the capped endpoint held up endpoint %s", other.ID)
	}
	t.Logf("capped endpoint: %d sent, peak in flight %d of %d; other endpoint: %d sent", sent.Load(), peak.Load(), limit, otherSent.Load())
}

// An expired lease frees its slot and hands the delivery to another node;
// the first owner's late result is stale.
func TestLeaseExpiryAcrossNodes(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	mustTenant(t, s, "acme")
	mustEndpoint(t, s, "acme", 2)
	publishN(t, s, "acme", 2)
	t0 := time.Now().Add(time.Second)
	first := claimAll(t, s, "n1", t0)
	if len(first) != 2 {
		t.Fatalf("n1 claimed %d, want max_in_flight 2", len(first))
	}
	if got := claimAll(t, s, "n2", t0.Add(10*time.Second)); len(got) != 0 {
		t.Fatalf("n2 claimed %d while n1's leases hold the endpoint's slots", len(got))
	}
	// n1 renews one lease; the other expires.
	if err := s.ExtendLeases(ctx, "n1", []string{first[0].ID}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	second := claimAll(t, s, "n2", t0.Add(31*time.Second))
	if len(second) != 1 || second[0].ID != first[1].ID {
		t.Fatalf("after expiry n2 claimed %v, want exactly n1's expired lease (the renewed one holds its slot)", ids(second))
	}
	late := &hookd.DeliveryResult{DeliveryID: first[1].ID, TenantID: "acme", EndpointID: first[1].EndpointID, Owner: "n1",
		State: hookd.DeliverySucceeded, Attempt: hookd.Attempt{StartedAt: t0, StatusCode: 200, Trigger: hookd.TriggerScheduled}}
	mine := &hookd.DeliveryResult{DeliveryID: first[0].ID, TenantID: "acme", EndpointID: first[0].EndpointID, Owner: "n1",
		State: hookd.DeliverySucceeded, Attempt: hookd.Attempt{StartedAt: t0, StatusCode: 200, Trigger: hookd.TriggerScheduled}}
	if err := s.CompleteDeliveries(ctx, []*hookd.DeliveryResult{late, mine}); err != nil {
		t.Fatal(err)
	}
	if !late.Stale || mine.Stale {
		t.Fatalf("stale flags: lost lease %v (want true), held lease %v (want false)", late.Stale, mine.Stale)
	}
	d, err := s.FindDeliveryByID(ctx, "acme", first[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.State != hookd.DeliveryDelivering || d.LeaseOwner != "n2" || len(d.AttemptLog) != 0 {
		t.Fatalf("delivery taken over by n2 = %+v", d)
	}
}

func ids(list []*hookd.ClaimedDelivery) []string {
	out := make([]string, len(list))
	for i, cd := range list {
		out[i] = cd.ID
	}
	return out
}
