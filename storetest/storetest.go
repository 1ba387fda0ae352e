// Package storetest is the conformance suite every hookd.Store passes. It
// uses only the Store interface and explicit times, so the same tests run
// against SQLite and PostgreSQL.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

// Opener returns a fresh, empty store for one test.
type Opener func(t *testing.T) hookd.Store

// Run runs the whole suite against the stores open makes.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s hookd.Store)
	}{
		{"Tenants", testTenants},
		{"APIKeys", testAPIKeys},
		{"APIKeyByID", testAPIKeyByID},
		{"Tokens", testTokens},
		{"Audit", testAudit},
		{"DeleteTenantRemovesAll", testDeleteTenantRemovesAll},
		{"EventTypes", testEventTypes},
		{"Catalog", testCatalog},
		{"Endpoints", testEndpoints},
		{"EndpointPagination", testEndpointPagination},
		{"PublishFanOut", testPublishFanOut},
		{"PublishIdempotency", testPublishIdempotency},
		{"PublishAllOrNothing", testPublishAllOrNothing},
		{"PayloadByteExact", testPayloadByteExact},
		{"ClaimAndComplete", testClaimAndComplete},
		{"ClaimRespectsDueTimeAndExclude", testClaimDueAndExclude},
		{"LeaseExpiryAndStaleResults", testLeaseExpiry},
		{"ReleaseAndExtend", testReleaseAndExtend},
		{"DisableEndpoint", testDisableEndpoint},
		{"PausedEndpointsHold", testPaused},
		{"RetryDelivery", testRetry},
		{"DeleteEndpointCancels", testDeleteEndpoint},
		{"DeleteTenant", testDeleteTenant},
		{"DeliveryFilters", testDeliveryFilters},
		{"Handoff", testHandoff},
		{"Purge", testPurge},
		{"PurgeBatches", testPurgeBatches},
		{"PurgeRacesRetry", testPurgeRacesRetry},
		{"EndpointOpsFields", testEndpointOpsFields},
		{"StatsAndFailing", testStatsAndFailing},
		{"DisableFailing", testDisableFailing},
		{"RecoverReplay", testRecoverReplay},
		{"PurgeLateDeliveries", testPurgeLateDeliveries},
		{"AlertsAndUsage", testAlertsAndUsage},
	}
	tests = append(tests, inboundTests...)
	tests = append(tests, managedTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			tt.fn(t, s)
		})
	}
}

var ctx = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := hookd.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func tenant(t *testing.T, s hookd.Store, id string) {
	t.Helper()
	must(t, s.CreateTenant(ctx, &hookd.Tenant{ID: id, Name: id}))
}

func endpoint(t *testing.T, s hookd.Store, tenantID string, events ...string) *hookd.Endpoint {
	t.Helper()
	e := &hookd.Endpoint{TenantID: tenantID, URL: "https://example.com/hook", Events: events,
		Secrets: []hookd.Secret{{Value: hookd.NewEndpointSecret(), CreatedAt: time.Now().UTC()}}}
	e.SetDefaults()
	must(t, s.CreateEndpoint(ctx, e))
	return e
}

func publish(t *testing.T, s hookd.Store, tenantID string, types ...string) []*hookd.Event {
	t.Helper()
	evs := make([]*hookd.Event, len(types))
	for i, typ := range types {
		evs[i] = &hookd.Event{Type: typ, Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
	}
	must(t, publishErr(s.PublishEvents(ctx, tenantID, evs, hookd.MatchSubscribed, nil)))
	return evs
}

// future is a claim time after everything published "now" is due.
func future() time.Time { return time.Now().Add(time.Second) }

func claim(t *testing.T, s hookd.Store, owner string, at time.Time, limit int, exclude ...string) []*hookd.ClaimedDelivery {
	t.Helper()
	got, err := s.ClaimDeliveries(ctx, hookd.Claim{Owner: owner, Now: at, Limit: limit, Lease: 30 * time.Second, Exclude: exclude})
	must(t, err)
	return got
}

func result(cd *hookd.ClaimedDelivery, owner string, state hookd.DeliveryState, status int, at time.Time) *hookd.DeliveryResult {
	r := &hookd.DeliveryResult{DeliveryID: cd.ID, TenantID: cd.TenantID, EndpointID: cd.EndpointID, Owner: owner, State: state,
		Attempt: hookd.Attempt{Number: cd.Attempts + 1, Trigger: hookd.TriggerScheduled, URL: "https://example.com/hook",
			StartedAt: at, DurationMS: 12.5, StatusCode: status, ResponseBody: "ok", ResponseHeaders: map[string]string{"X-Test": "1"}}}
	if state != hookd.DeliverySucceeded {
		r.Attempt.Error, r.Attempt.ErrorClass = fmt.Sprintf("HTTP %d", status), hookd.ErrClassHTTP
	}
	if state == hookd.DeliveryFailed {
		r.NextAt = at.Add(time.Minute)
	}
	return r
}

// publishErr drops the leased deliveries of a PublishEvents without handoff.
func publishErr(_ []*hookd.ClaimedDelivery, err error) error { return err }
