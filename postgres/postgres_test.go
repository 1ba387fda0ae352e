package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/pgtest"
	"github.com/hookd/hookd/postgres"
	"github.com/hookd/hookd/storetest"
)

var ctx = context.Background()

// freshSchema returns a DSN for an empty schema of the test's own, and the
// schema's name (see pgtest).
func freshSchema(t testing.TB) (string, string) { return pgtest.Schema(t) }

// openStore opens a migrated store in a fresh schema, closed on cleanup.
func openStore(t testing.TB) *postgres.Store {
	t.Helper()
	dsn, schema := freshSchema(t)
	return openAt(t, dsn, schema, postgres.Options{})
}

func openAt(t testing.TB, dsn, schema string, opts postgres.Options) *postgres.Store {
	t.Helper()
	opts.Migrate = true
	if opts.MaxConns == 0 {
		opts.MaxConns = 6
	}
	opts.Channel = "hookd_" + schema // wake-ups of parallel tests stay apart
	s, err := postgres.Open(ctx, dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) hookd.Store { return openStore(t) })
}

func TestCipherConformance(t *testing.T) {
	storetest.RunCipher(t, func(t *testing.T) storetest.Reopener {
		dsn, schema := freshSchema(t)
		return func(c hookd.Cipher) hookd.Store {
			return openAt(t, dsn, schema, postgres.Options{Cipher: c, MaxConns: 2})
		}
	})
}

func TestOpenUnreachableIsUnavailable(t *testing.T) {
	t.Parallel()
	_, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", postgres.Options{})
	if hookd.ErrorCode(err) != hookd.EUNAVAILABLE {
		t.Fatalf("open of an unreachable database: %v, want EUNAVAILABLE", err)
	}
	_, err = postgres.Open(ctx, "postgres://%zz", postgres.Options{})
	if hookd.ErrorCode(err) != hookd.EINVALID {
		t.Fatalf("open of a malformed DSN: %v, want EINVALID", err)
	}
}

func TestClosedStoreIsUnavailable(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	s.Close()
	if err := s.CreateTenant(ctx, &hookd.Tenant{ID: "acme"}); hookd.ErrorCode(err) != hookd.EUNAVAILABLE {
		t.Fatalf("write after close: %v", err)
	}
	if _, err := s.FindTenant(ctx, "acme"); hookd.ErrorCode(err) != hookd.EUNAVAILABLE {
		t.Fatalf("read after close: %v", err)
	}
	if _, err := s.ClaimDeliveries(ctx, hookd.Claim{Owner: "n", Now: time.Now(), Limit: 1, Lease: time.Second}); hookd.ErrorCode(err) != hookd.EUNAVAILABLE {
		t.Fatalf("claim after close: %v", err)
	}
}

// Two nodes starting at once apply each migration exactly once.
func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	dsn, _ := freshSchema(t)
	const nodes = 4
	errs := make(chan error, nodes)
	for range nodes {
		go func() {
			s, err := postgres.Open(ctx, dsn, postgres.Options{Migrate: true, MaxConns: 2})
			if err == nil {
				err = s.Migrate(ctx) // again: idempotent
				s.Close()
			}
			errs <- err
		}()
	}
	for range nodes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var rows, distinct int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT name) FROM schema_migrations`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows == 0 || rows != distinct {
		t.Fatalf("schema_migrations has %d rows for %d migrations", rows, distinct)
	}
}

// Payloads survive byte for byte, whatever JSON would normalise.
func TestPayloadByteExactness(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	mustTenant(t, s, "acme")
	mustEndpoint(t, s, "acme", 16)
	payloads := []string{
		"{\"b\":1,\"a\":2}",
		"{\n\t\"z\" :  [1.0, 1e2, -0, 0.10],\r\n \"a\":\"\\u00e9\\ud83d\\ude00\\/\"}",
		`{"dup":1,"dup":2}`,
		`"just a string"`,
		`  [ ]  `,
		"{\"big\": 123456789012345678901234567890, \"utf8\": \"é😀\"}",
		`{"nul":"\u0000"}`,
	}
	evs := make([]*hookd.Event, len(payloads))
	for i, p := range payloads {
		evs[i] = &hookd.Event{Type: "a", Payload: []byte(p)}
	}
	if _, err := s.PublishEvents(ctx, "acme", evs, hookd.MatchSubscribed, nil); err != nil {
		t.Fatal(err)
	}
	for i, ev := range evs {
		got, err := s.FindEventByID(ctx, "acme", ev.ID)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Payload) != payloads[i] {
			t.Errorf("payload %d stored as %q, want %q", i, got.Payload, payloads[i])
		}
	}
	claimed, err := s.ClaimDeliveries(ctx, hookd.Claim{Owner: "n1", Now: time.Now().Add(time.Second), Limit: 100, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	byEvent := map[string]string{}
	for _, cd := range claimed {
		byEvent[cd.EventID] = string(cd.Payload)
	}
	for i, ev := range evs {
		if byEvent[ev.ID] != payloads[i] {
			t.Errorf("claimed payload %d = %q, want %q", i, byEvent[ev.ID], payloads[i])
		}
	}
}

// Attempt bodies and headers with bytes a text column refuses are stored.
func TestAttemptWithOddBytes(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	mustTenant(t, s, "acme")
	mustEndpoint(t, s, "acme", 16)
	publishN(t, s, "acme", 1)
	now := time.Now().Add(time.Second)
	cd := claimAll(t, s, "n1", now)[0]
	body := "bad \xff\xfe utf8 and a \x00 nul, cut mid-rune \xe2\x82"
	r := &hookd.DeliveryResult{DeliveryID: cd.ID, TenantID: "acme", EndpointID: cd.EndpointID, Owner: "n1", State: hookd.DeliveryFailed,
		NextAt: now.Add(time.Minute), Attempt: hookd.Attempt{Number: 1, Trigger: hookd.TriggerScheduled, URL: "https://x/\xff",
			StartedAt: now, StatusCode: 500, ResponseBody: body, ResponseHeaders: map[string]string{"X-Bin": "\xff"},
			Error: "HTTP 500 \x00", ErrorClass: hookd.ErrClassHTTP}}
	if err := s.CompleteDeliveries(ctx, []*hookd.DeliveryResult{r}); err != nil {
		t.Fatal(err)
	}
	d, err := s.FindDeliveryByID(ctx, "acme", cd.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.AttemptLog) != 1 || d.AttemptLog[0].ResponseBody != body {
		t.Fatalf("attempt log = %+v", d.AttemptLog)
	}
}

func TestCursorsAndFilters(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	mustTenant(t, s, "acme")
	a := mustEndpoint(t, s, "acme", 16)
	mustEndpoint(t, s, "acme", 16)
	evs := publishN(t, s, "acme", 30) // 60 deliveries
	seen := map[string]bool{}
	var last int64 = 1 << 62
	p := hookd.Page{Limit: 7}
	for {
		list, next, err := s.FindDeliveries(ctx, hookd.DeliveryFilter{TenantID: "acme", Page: p})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range list {
			if seen[d.ID] || d.Seq >= last {
				t.Fatalf("delivery %s (seq %d) out of order or repeated", d.ID, d.Seq)
			}
			seen[d.ID], last = true, d.Seq
		}
		if next == "" {
			break
		}
		p.Cursor = next
	}
	if len(seen) != 60 {
		t.Fatalf("pages held %d deliveries, want 60", len(seen))
	}
	for _, ev := range evs {
		list, _, err := s.FindDeliveries(ctx, hookd.DeliveryFilter{TenantID: "acme", EventID: ev.ID})
		if err != nil || len(list) != 2 {
			t.Fatalf("deliveries of %s = %d, %v; want 2", ev.ID, len(list), err)
		}
		list, _, err = s.FindDeliveries(ctx, hookd.DeliveryFilter{TenantID: "acme", EventID: ev.ID, EndpointID: a.ID})
		if err != nil || len(list) != 1 || list[0].EndpointID != a.ID {
			t.Fatalf("deliveries of %s to %s = %+v, %v", ev.ID, a.ID, list, err)
		}
	}
	if _, _, err := s.FindDeliveries(ctx, hookd.DeliveryFilter{TenantID: "acme", Page: hookd.Page{Cursor: "bm90LWEtbnVtYmVy"}}); hookd.ErrorCode(err) != hookd.EINVALID {
		t.Fatalf("bad cursor: %v", err)
	}
	if list, _, err := s.FindDeliveries(ctx, hookd.DeliveryFilter{TenantID: "acme", EventID: "evt_nope"}); err != nil || len(list) != 0 {
		t.Fatalf("unknown event: %d, %v", len(list), err)
	}
}

// helpers

func mustTenant(t testing.TB, s hookd.Store, id string) {
	t.Helper()
	if err := s.CreateTenant(ctx, &hookd.Tenant{ID: id, Name: id}); err != nil {
		t.Fatal(err)
	}
}

func mustEndpoint(t testing.TB, s hookd.Store, tenant string, maxInFlight int) *hookd.Endpoint {
	t.Helper()
	e := &hookd.Endpoint{TenantID: tenant, URL: "https://example.com/hook", Events: []string{"*"}, MaxInFlight: maxInFlight,
		Secrets: []hookd.Secret{{Value: hookd.NewEndpointSecret(), CreatedAt: time.Now()}}}
	e.SetDefaults()
	if err := s.CreateEndpoint(ctx, e); err != nil {
		t.Fatal(err)
	}
	return e
}

func publishN(t testing.TB, s hookd.Store, tenant string, n int) []*hookd.Event {
	t.Helper()
	evs := make([]*hookd.Event, n)
	for i := range evs {
		evs[i] = &hookd.Event{Type: "order.created", Payload: []byte(`{"n":` + strings.Repeat("1", 1+i%5) + `}`)}
	}
	if _, err := s.PublishEvents(ctx, tenant, evs, hookd.MatchSubscribed, nil); err != nil {
		t.Fatal(err)
	}
	return evs
}

func claimAll(t testing.TB, s hookd.Store, owner string, now time.Time) []*hookd.ClaimedDelivery {
	t.Helper()
	got, err := s.ClaimDeliveries(ctx, hookd.Claim{Owner: owner, Now: now, Limit: 1000, Lease: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return got
}
