package postgres_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/postgres"
)

// An endpoint's rate limit is one budget for the whole cluster: three nodes
// claiming at once lease no more than rate × elapsed + one second's burst,
// and publishers never lease its deliveries past the budget (handoff skips
// rate-limited endpoints). Time is simulated through Claim.Now.
func TestRateLimitHoldsAcrossNodes(t *testing.T) {
	t.Parallel()
	dsn, schema := freshSchema(t)
	base := openAt(t, dsn, schema, postgres.Options{})
	mustTenant(t, base, "acme")
	ep := mustEndpoint(t, base, "acme", 1000)
	const rate = 10.0
	r := rate
	if _, err := base.UpdateEndpoint(ctx, "acme", ep.ID, hookd.EndpointUpdate{RateLimit: &r}); err != nil {
		t.Fatal(err)
	}
	got, err := base.PublishEvents(ctx, "acme", events(300), hookd.MatchSubscribed,
		&hookd.Handoff{Owner: "publisher", Until: time.Now().Add(time.Minute), Max: 500})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("publish leased %d deliveries of a rate-limited endpoint", len(got))
	}

	nodes := []*postgres.Store{base, openAt(t, dsn, schema, postgres.Options{}), openAt(t, dsn, schema, postgres.Options{})}
	start := time.Now().Add(time.Second)
	const rounds, step = 30, 100 * time.Millisecond
	total := 0
	var mu sync.Mutex
	for i := range rounds {
		now := start.Add(time.Duration(i) * step)
		var wg sync.WaitGroup
		errs := make(chan error, len(nodes))
		for n, s := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := s.ClaimDeliveries(ctx, hookd.Claim{Owner: fmt.Sprintf("n%d", n), Now: now, Limit: 64, Lease: time.Hour})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				total += len(got)
				mu.Unlock()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		elapsed := time.Duration(i) * step
		if limit := int(rate*elapsed.Seconds()) + int(rate); total > limit {
			t.Fatalf("after %s: %d leased, the budget allows %d", elapsed, total, limit)
		}
	}
	// 2.9 s of budget plus the initial second's worth, less rounding.
	if total < 30 {
		t.Fatalf("only %d leased in 2.9 s at %v/s: the limit starves the endpoint", total, rate)
	}
	t.Logf("%d leased over %s at %v/s by %d nodes", total, time.Duration(rounds-1)*step, rate, len(nodes))
}
