package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/postgres"
)

func events(n int) []*hookd.Event {
	evs := make([]*hookd.Event, n)
	for i := range evs {
		evs[i] = &hookd.Event{Type: "order.created", Payload: []byte(`{"id":"ord_123","amount":4200,"currency":"eur","items":[{"sku":"a","qty":1}]}`)}
	}
	return evs
}

// BenchmarkPublish measures one PublishEvents of n events fanned out to 10
// endpoints (10n deliveries) per op; with handoff, up to 512 of them are
// leased to the publishing node in the same transaction.
func BenchmarkPublish(b *testing.B) {
	for _, bc := range []struct {
		n       int
		handoff bool
	}{{100, false}, {1000, false}, {100, true}} {
		name := fmt.Sprintf("events=%dx10", bc.n)
		if bc.handoff {
			name += "/handoff"
		}
		b.Run(name, func(b *testing.B) {
			s := openStore(b)
			mustTenant(b, s, "acme")
			for range 10 {
				mustEndpoint(b, s, "acme", 1000)
			}
			b.ResetTimer()
			for range b.N {
				var h *hookd.Handoff
				if bc.handoff {
					h = &hookd.Handoff{Owner: "n1", Until: time.Now().Add(time.Minute), Max: 512}
				}
				leased, err := s.PublishEvents(ctx, "acme", events(bc.n), hookd.MatchSubscribed, h)
				if err != nil {
					b.Fatal(err)
				}
				if bc.handoff {
					// Free the leases so the next op can lease again.
					b.StopTimer()
					if err := s.ExtendLeases(ctx, "n1", nil, time.Now().Add(-time.Hour)); err != nil {
						b.Fatal(err)
					}
					if len(leased) == 0 {
						b.Fatal("nothing leased")
					}
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(bc.n*b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(10*bc.n*b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkClaimComplete measures claiming and completing 256 deliveries
// per op (16 endpoints x 16 events, published outside the timer) with
// claims of the given batch size, each claim completed in one call.
func BenchmarkClaimComplete(b *testing.B) {
	for _, batch := range []int{64, 256, 1024} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := openStore(b)
			mustTenant(b, s, "acme")
			for range 16 {
				mustEndpoint(b, s, "acme", 1000)
			}
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				if _, err := s.PublishEvents(ctx, "acme", events(16), hookd.MatchSubscribed, nil); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for done := 0; done < 256; {
					n := claimAndComplete(b, s, batch)
					if n == 0 {
						b.Fatalf("claimed %d of 256", done)
					}
					done += n
				}
			}
			b.ReportMetric(float64(256*b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

func claimAndComplete(b *testing.B, s *postgres.Store, limit int) int {
	now := time.Now()
	got, err := s.ClaimDeliveries(ctx, hookd.Claim{Owner: "n1", Now: now, Limit: limit, Lease: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	results := make([]*hookd.DeliveryResult, len(got))
	for i, cd := range got {
		results[i] = &hookd.DeliveryResult{DeliveryID: cd.ID, TenantID: cd.TenantID, EndpointID: cd.EndpointID, Owner: "n1",
			State: hookd.DeliverySucceeded, Attempt: hookd.Attempt{Trigger: hookd.TriggerScheduled, URL: "https://example.com/hook",
				StartedAt: now, DurationMS: 3.2, StatusCode: 200, ResponseBody: "ok"}}
	}
	if err := s.CompleteDeliveries(ctx, results); err != nil {
		b.Fatal(err)
	}
	return len(got)
}

// BenchmarkClaimBehindCappedBacklog measures a claim of 64 deliveries of a
// healthy endpoint when the head of the queue is a backlog of 50,000
// deliveries of an endpoint whose max_in_flight is used up (a slow
// receiver): the claim walks past the backlog.
func BenchmarkClaimBehindCappedBacklog(b *testing.B) {
	s := openStore(b)
	mustTenant(b, s, "slow")
	mustTenant(b, s, "acme")
	mustEndpoint(b, s, "slow", 16)
	mustEndpoint(b, s, "acme", 1000)
	for range 50 {
		if _, err := s.PublishEvents(ctx, "slow", events(1000), hookd.MatchSubscribed, nil); err != nil {
			b.Fatal(err)
		}
	}
	held, err := s.ClaimDeliveries(ctx, hookd.Claim{Owner: "slow-node", Now: time.Now(), Limit: 16, Lease: time.Hour})
	if err != nil || len(held) != 16 {
		b.Fatalf("leasing the slow endpoint's slots: %d, %v", len(held), err)
	}
	if _, err := s.Pool().Exec(ctx, "VACUUM ANALYZE"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if _, err := s.PublishEvents(ctx, "acme", events(64), hookd.MatchSubscribed, nil); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if n := claimAndComplete(b, s, 64); n != 64 {
			b.Fatalf("claimed %d behind the backlog, want 64", n)
		}
	}
}

// BenchmarkClaimBatch measures one claim (and its completion) of the given
// size from a large due backlog, per delivery.
func BenchmarkClaimBatch(b *testing.B) {
	for _, batch := range []int{64, 256, 1024} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := openStore(b)
			mustTenant(b, s, "acme")
			for range 16 {
				mustEndpoint(b, s, "acme", 1000)
			}
			var claimTime time.Duration
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				if _, err := s.PublishEvents(ctx, "acme", events(batch/16), hookd.MatchSubscribed, nil); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				t0 := time.Now()
				got, err := s.ClaimDeliveries(ctx, hookd.Claim{Owner: "n1", Now: time.Now(), Limit: batch, Lease: time.Minute})
				claimTime += time.Since(t0)
				if err != nil || len(got) != batch {
					b.Fatalf("claimed %d, %v", len(got), err)
				}
				b.StopTimer()
				complete(b, s, got)
				b.StartTimer()
			}
			b.ReportMetric(float64(claimTime.Microseconds())/float64(b.N*batch), "µs/claimed")
			b.ReportMetric(float64(claimTime.Milliseconds())/float64(b.N), "ms/claim")
		})
	}
}

func complete(b *testing.B, s *postgres.Store, got []*hookd.ClaimedDelivery) {
	results := make([]*hookd.DeliveryResult, len(got))
	for i, cd := range got {
		results[i] = &hookd.DeliveryResult{DeliveryID: cd.ID, TenantID: cd.TenantID, EndpointID: cd.EndpointID, Owner: cd.LeaseOwner,
			State: hookd.DeliverySucceeded, Attempt: hookd.Attempt{Trigger: hookd.TriggerScheduled, StartedAt: time.Now(), StatusCode: 200}}
	}
	if err := s.CompleteDeliveries(ctx, results); err != nil {
		b.Fatal(err)
	}
}
