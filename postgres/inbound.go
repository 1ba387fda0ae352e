package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hookd/hookd"
)

var _ hookd.InboundStore = (*Store)(nil)

// dedupLockClass is the first key of the transaction-scoped advisory lock
// CreateTrigger takes on a (source or generic name, delivery id) pair; the
// second is the pair's hash. A hash collision only makes two unrelated
// requests wait for each other.
const dedupLockClass = 0x686b6432 // "hkd2"

// Wake-ups: CreateTrigger, ProcessTrigger (with queued runs),
// ReplayTrigger and CompleteRuns (a run queued again) ask for the same
// NOTIFY as deliveries (wantNotify), so every node's Wakeups channel fires;
// serve fans it out to the dispatcher and the rule runner. The hint does
// not say which kind of work is new; both poll as well.

// sealSourceSecrets is the at-rest form of a verifier's secrets: a JSON list
// of strings, sealed as a whole when a cipher is set (as endpoint secrets).
func (s *Store) sealSourceSecrets(secrets []string) (string, error) {
	b, err := json.Marshal(orEmpty(secrets))
	if err != nil {
		return "", err
	}
	if s.cipher == nil {
		return string(b), nil
	}
	return s.cipher.Seal(b)
}

func (s *Store) openSourceSecrets(v string) ([]string, error) {
	b := []byte(v)
	if len(v) > 0 && v[0] != '[' {
		if s.cipher == nil {
			return nil, fmt.Errorf("source secrets are sealed and no cipher is configured")
		}
		var err error
		if b, err = s.cipher.Open(v); err != nil {
			return nil, fmt.Errorf("source secrets: %w", err)
		}
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("source secrets: %w", err)
	}
	if len(list) == 0 {
		return nil, nil
	}
	return list, nil
}

// resealSources re-encrypts every source's verifier secrets from old to to
// in tx, locking the rows, and returns how many values it changed; values
// already sealed with to stay as they are (see hookd.Reseal). ResealSecrets
// calls it in the transaction that reseals endpoint secrets, so a rotation
// is all or nothing.
func resealSources(ctx context.Context, tx pgx.Tx, old, to hookd.Cipher) (int, error) {
	rows, err := tx.Query(ctx, `SELECT id, secrets FROM sources ORDER BY id FOR UPDATE`)
	if err != nil {
		return 0, err
	}
	type row struct{ id, secrets string }
	all, err := collect(rows, func(r pgx.Row) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.secrets)
	})
	if err != nil {
		return 0, err
	}
	var ids, values []string
	for _, r := range all {
		out, changed, err := hookd.Reseal(r.secrets, len(r.secrets) > 0 && r.secrets[0] == '[', old, to)
		if err != nil {
			return 0, hookd.Errorf(hookd.ErrorCode(err), "Source %s: %s Nothing was changed.", r.id, hookd.ErrorMessage(err))
		}
		if changed {
			ids, values = append(ids, r.id), append(values, out)
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	tag, err := tx.Exec(ctx, `UPDATE sources s SET secrets = x.secrets
		FROM unnest($1::text[], $2::text[]) AS x(id, secrets) WHERE s.id = x.id`, ids, values)
	return int(tag.RowsAffected()), err
}

// uniqueViolation reports whether err is a unique violation of constraint.
func uniqueViolation(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == constraint
}

// jsonText marshals v for a text or jsonb column; NULL for a nil pointer.
func jsonText(v any) (*string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if string(b) == "null" {
		return nil, nil
	}
	t := string(b)
	return &t, nil
}

// CreateSource stores src (ID, normalized name and times set); ECONFLICT if
// the name is taken in any tenant, ENOTFOUND if the tenant does not exist.
// The verifier's secrets are sealed with the store's cipher.
func (s *Store) CreateSource(ctx context.Context, src *hookd.Source) error {
	id := src.ID
	if id == "" {
		id = hookd.NewID(hookd.PrefixSource)
	}
	name := hookd.NormalizeSourceName(src.Name)
	secrets, err := s.sealSourceSecrets(src.Verifier.Secrets)
	if err != nil {
		return err
	}
	response, err := jsonText(src.Response)
	if err != nil {
		return err
	}
	now := s.clock()
	err = s.change(ctx, func(q querier, a *auditLog) error {
		_, err := q.Exec(ctx, `INSERT INTO sources (id, tenant_id, name, description, verifier, secrets, content_types,
				max_body_bytes, response, rate_limit, dedup_window_ns, heartbeat_every_ns, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)`,
			id, src.TenantID, name, src.Description, src.Verifier, secrets, orEmpty(src.ContentTypes), src.MaxBodyBytes,
			response, src.RateLimit, int64(src.DedupWindow), int64(src.HeartbeatEvery), now)
		switch {
		case uniqueViolation(err, "sources_name"):
			return hookd.Errorf(hookd.ECONFLICT, "A source named %q exists.", name)
		case uniqueViolation(err, "sources_pkey"):
			return hookd.Errorf(hookd.ECONFLICT, "Source %q already exists.", id)
		case err != nil:
			return err
		}
		c := *src
		c.ID, c.Name, c.CreatedAt, c.UpdatedAt = id, name, now, now
		c.LastRequestAt, c.Accepted, c.Rejected = nil, 0, 0
		a.record(src.TenantID, hookd.ActionSourceCreate, hookd.ResourceSource, id, nil, a.snapshot(&c))
		return nil
	})
	if err != nil {
		return err
	}
	src.ID, src.Name, src.CreatedAt, src.UpdatedAt = id, name, now, now
	src.LastRequestAt, src.Accepted, src.Rejected = nil, 0, 0
	return nil
}

const sourceColumns = `id, tenant_id, name, description, verifier, content_types, max_body_bytes, response, rate_limit,
	dedup_window_ns, heartbeat_every_ns, created_at, updated_at, ` + sourceLastRequest + `,
	accepted + coalesce((SELECT sum(c.accepted) FROM source_counts c WHERE c.source_id = sources.id), 0)::bigint,
	rejected, secrets`

// sourceLastRequest is a source's last request time: the later of its own
// column (refusals) and its count shards' (accepted requests).
const sourceLastRequest = `greatest(last_request_at,
	(SELECT max(c.last_request_at) FROM source_counts c WHERE c.source_id = sources.id))`

// sourceCountShards is how many rows count a source's accepted requests;
// concurrent requests of one source wait for each other only when they
// pick the same one.
const sourceCountShards = 32

func (s *Store) scanSource(row pgx.Row) (*hookd.Source, error) {
	var src hookd.Source
	var verifier, response []byte
	var dedup, heartbeat int64
	var secrets string
	if err := row.Scan(&src.ID, &src.TenantID, &src.Name, &src.Description, &verifier, &src.ContentTypes, &src.MaxBodyBytes,
		&response, &src.RateLimit, &dedup, &heartbeat, &src.CreatedAt, &src.UpdatedAt, &src.LastRequestAt, &src.Accepted,
		&src.Rejected, &secrets); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(verifier, &src.Verifier); err != nil {
		return nil, fmt.Errorf("source verifier: %w", err)
	}
	var err error
	if src.Verifier.Secrets, err = s.openSourceSecrets(secrets); err != nil {
		return nil, err
	}
	if response != nil {
		src.Response = &hookd.SourceResponse{}
		if err := json.Unmarshal(response, src.Response); err != nil {
			return nil, fmt.Errorf("source response: %w", err)
		}
	}
	src.DedupWindow, src.HeartbeatEvery = hookd.Duration(dedup), hookd.Duration(heartbeat)
	src.CreatedAt, src.UpdatedAt, src.LastRequestAt = src.CreatedAt.UTC(), src.UpdatedAt.UTC(), utcPtr(src.LastRequestAt)
	return &src, nil
}

// FindSourceByID returns a source of the tenant; ENOTFOUND otherwise.
func (s *Store) FindSourceByID(ctx context.Context, tenantID, id string) (*hookd.Source, error) {
	src, err := s.scanSource(s.pool.QueryRow(ctx, `SELECT `+sourceColumns+` FROM sources WHERE id = $1 AND tenant_id = $2`,
		id, tenantID))
	return src, s.notFound(err, "Source")
}

// FindSourceByName finds a source of any tenant by name (normalized here
// too); ENOTFOUND if none.
func (s *Store) FindSourceByName(ctx context.Context, name string) (*hookd.Source, error) {
	src, err := s.scanSource(s.pool.QueryRow(ctx, `SELECT `+sourceColumns+` FROM sources WHERE name = $1`,
		hookd.NormalizeSourceName(name)))
	return src, s.notFound(err, "Source")
}

// FindSources lists a tenant's sources by id, descending.
func (s *Store) FindSources(ctx context.Context, tenantID string, p hookd.Page) ([]*hookd.Source, string, error) {
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+sourceColumns+` FROM sources
		WHERE tenant_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3`, tenantID, after, p.Size()+1)
	if err != nil {
		return nil, "", s.fail(err)
	}
	list, err := collect(rows, s.scanSource)
	if err != nil {
		return nil, "", s.fail(err)
	}
	list, next := nextCursor(list, p.Size(), func(src *hookd.Source) string { return src.ID })
	return list, next, nil
}

// UpdateSource applies upd and returns the source as stored; ENOTFOUND if
// the tenant has no such source. A new verifier replaces the secrets too.
func (s *Store) UpdateSource(ctx context.Context, tenantID, id string, upd hookd.SourceUpdate) (*hookd.Source, error) {
	var out *hookd.Source
	err := s.changeTx(ctx, func(tx pgx.Tx, a *auditLog) error {
		src, err := s.scanSource(tx.QueryRow(ctx, `SELECT `+sourceColumns+` FROM sources
			WHERE id = $1 AND tenant_id = $2 FOR NO KEY UPDATE`, id, tenantID))
		if err != nil {
			return s.notFound(err, "Source")
		}
		snap := a.snapshot(src)
		upd.Apply(src)
		src.UpdatedAt = s.clock()
		secrets, err := s.sealSourceSecrets(src.Verifier.Secrets)
		if err != nil {
			return err
		}
		response, err := jsonText(src.Response)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE sources SET description = $2, verifier = $3, secrets = $4, content_types = $5,
				max_body_bytes = $6, response = $7, rate_limit = $8, dedup_window_ns = $9, heartbeat_every_ns = $10, updated_at = $11
			WHERE id = $1`,
			id, src.Description, src.Verifier, secrets, orEmpty(src.ContentTypes), src.MaxBodyBytes, response, src.RateLimit,
			int64(src.DedupWindow), int64(src.HeartbeatEvery), src.UpdatedAt)
		if err != nil {
			return err
		}
		out = src
		a.record(tenantID, hookd.ActionSourceUpdate, hookd.ResourceSource, id, snap, a.snapshot(src))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteSource removes the source, freeing its name; its triggers and runs
// stay. ENOTFOUND if the tenant has no such source.
func (s *Store) DeleteSource(ctx context.Context, tenantID, id string) error {
	return s.change(ctx, func(q querier, a *auditLog) error {
		src, err := s.scanSource(q.QueryRow(ctx, `DELETE FROM sources WHERE id = $1 AND tenant_id = $2 RETURNING `+sourceColumns,
			id, tenantID))
		if err != nil {
			return s.notFound(err, "Source")
		}
		a.record(tenantID, hookd.ActionSourceDelete, hookd.ResourceSource, id, a.snapshot(src), nil)
		return nil
	})
}

// RejectRequest counts a refused request of the source and moves its last
// request time to at (never back); ENOTFOUND if there is no such source.
func (s *Store) RejectRequest(ctx context.Context, sourceID string, at time.Time) error {
	if s.closed.Load() {
		return errClosed
	}
	tag, err := s.pool.Exec(ctx, `UPDATE sources SET rejected = rejected + 1,
			last_request_at = greatest(last_request_at, $2)
		WHERE id = $1`, sourceID, micro(at))
	if err != nil {
		return s.fail(err)
	}
	if tag.RowsAffected() == 0 {
		return hookd.Errorf(hookd.ENOTFOUND, "Source not found.")
	}
	return nil
}

// SilentSources returns the sources with a heartbeat whose last request
// (or, if none came, creation) is older than their HeartbeatEvery at now,
// by id.
func (s *Store) SilentSources(ctx context.Context, now time.Time) ([]*hookd.Source, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sourceColumns+` FROM sources
		WHERE heartbeat_every_ns > 0
		  AND coalesce(`+sourceLastRequest+`, created_at) + make_interval(secs => heartbeat_every_ns / 1e9) < $1
		ORDER BY id`, micro(now))
	if err != nil {
		return nil, s.fail(err)
	}
	list, err := collect(rows, s.scanSource)
	if err != nil {
		return nil, s.fail(err)
	}
	return list, nil
}

const triggerColumns = `id, tenant_id, source_id, source, name, received_at, method, headers, query, content_type, body,
	body_sha256, delivery_id, git, processed_at, runs`

func scanTrigger(row pgx.Row) (*hookd.Trigger, error) {
	var t hookd.Trigger
	var headers, query string
	var git *string
	var body []byte
	if err := row.Scan(&t.ID, &t.TenantID, &t.SourceID, &t.Source, &t.Name, &t.ReceivedAt, &t.Method, &headers, &query,
		&t.ContentType, &body, &t.BodySHA256, &t.DeliveryID, &git, &t.Processed, &t.Runs); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(headers), &t.Headers); err != nil {
		return nil, fmt.Errorf("trigger headers: %w", err)
	}
	if err := json.Unmarshal([]byte(query), &t.Query); err != nil {
		return nil, fmt.Errorf("trigger query: %w", err)
	}
	if git != nil {
		t.Git = &hookd.Git{}
		if err := json.Unmarshal([]byte(*git), t.Git); err != nil {
			return nil, fmt.Errorf("trigger git: %w", err)
		}
	}
	if len(body) > 0 {
		t.Body = json.RawMessage(body)
	}
	t.ReceivedAt, t.Processed = t.ReceivedAt.UTC(), utcPtr(t.Processed)
	return &t, nil
}

// triggerRow is a trigger's JSON columns as written.
type triggerRow struct {
	headers, query string
	git            *string
}

func newTriggerRow(t *hookd.Trigger) (triggerRow, error) {
	var r triggerRow
	headers, err := json.Marshal(headersOrEmpty(t.Headers))
	if err != nil {
		return r, err
	}
	query := t.Query
	if query == nil {
		query = map[string][]string{}
	}
	q, err := json.Marshal(query)
	if err != nil {
		return r, err
	}
	r.headers, r.query = string(headers), string(q)
	if t.Git != nil {
		if r.git, err = jsonText(t.Git); err != nil {
			return r, err
		}
	}
	return r, nil
}

// CreateTrigger stores t (ID set; ReceivedAt, when zero, set to the store's
// clock), counts it on its source and moves the source's last request time
// to t.ReceivedAt, in one transaction; ENOTFOUND if the tenant, or the
// tenant's source t.SourceID, does not exist.
//
// With a delivery id and a positive window it first takes a
// transaction-scoped advisory lock on (source or generic name, delivery id)
// and then, in a statement of its own (so its snapshot includes every
// trigger committed by the lock's previous holder), looks for a trigger of
// that key received within window before t.ReceivedAt. If there is one,
// nothing is written and t is filled from it and marked Duplicate. Two
// nodes receiving one provider delivery at once thus store it once. A
// source's triggers are keyed by source id; generic ones by tenant and name.
func (s *Store) CreateTrigger(ctx context.Context, t *hookd.Trigger, window time.Duration) error {
	if s.closed.Load() {
		return errClosed
	}
	id := t.ID
	if id == "" {
		id = hookd.NewID(hookd.PrefixTrigger)
	}
	received := micro(t.ReceivedAt)
	if t.ReceivedAt.IsZero() {
		received = s.clock()
	}
	row, err := newTriggerRow(t)
	if err != nil {
		return err
	}
	source, name, deliveryID := cleanText(t.Source), cleanText(t.Name), cleanText(t.DeliveryID)
	dedup := deliveryID != "" && window > 0
	var first *hookd.Trigger
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		first = nil
		var found bool
		b := &pgx.Batch{}
		// Holding the tenant row makes DeleteTenant wait for this trigger,
		// so it is deleted with the tenant rather than left behind.
		b.Queue(`SELECT true FROM tenants WHERE id = $1 FOR KEY SHARE`, t.TenantID).QueryRow(func(r pgx.Row) error {
			err := r.Scan(&found)
			if err == pgx.ErrNoRows {
				return nil
			}
			return err
		})
		if dedup {
			key := strings.Join([]string{t.TenantID, t.SourceID, name, deliveryID}, "\n")
			b.Queue(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, dedupLockClass, key)
			b.Queue(`SELECT `+triggerColumns+` FROM triggers
				WHERE source_id = $1 AND tenant_id = $2 AND name = $3 AND delivery_id = $4 AND delivery_id <> ''
				  AND received_at > $5
				ORDER BY received_at, id LIMIT 1`,
				t.SourceID, t.TenantID, name, deliveryID, received.Add(-window)).QueryRow(func(r pgx.Row) error {
				var err error
				first, err = scanTrigger(r)
				if err == pgx.ErrNoRows {
					return nil
				}
				return err
			})
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if !found {
			return hookd.Errorf(hookd.ENOTFOUND, "Tenant not found.")
		}
		if first != nil {
			return nil
		}
		b = &pgx.Batch{}
		b.Queue(`INSERT INTO triggers (id, tenant_id, source_id, source, name, received_at, method, headers, query, content_type,
				body, body_sha256, delivery_id, git)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			id, t.TenantID, t.SourceID, source, name, received, cleanText(t.Method), row.headers, row.query,
			cleanText(t.ContentType), []byte(t.Body), cleanText(t.BodySHA256), deliveryID, row.git)
		var counted int64 = 1
		if t.SourceID != "" {
			// Last, so the count row is held only until the commit. It
			// is one of the source's shards, so that concurrent requests
			// of a source seldom wait for each other.
			b.Queue(`INSERT INTO source_counts (source_id, shard, accepted, last_request_at)
				SELECT id, $3, 1, $4 FROM sources WHERE id = $1 AND tenant_id = $2
				ON CONFLICT (source_id, shard) DO UPDATE SET accepted = source_counts.accepted + 1,
					last_request_at = greatest(source_counts.last_request_at, excluded.last_request_at)`,
				t.SourceID, t.TenantID, rand.IntN(sourceCountShards), received).Exec(func(tag pgconn.CommandTag) error {
				counted = tag.RowsAffected()
				return nil
			})
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			if uniqueViolation(err, "triggers_pkey") {
				return hookd.Errorf(hookd.ECONFLICT, "Trigger %q already exists.", id)
			}
			return err
		}
		if counted == 0 {
			return hookd.Errorf(hookd.ENOTFOUND, "Source not found.")
		}
		return nil
	})
	if err != nil {
		return err
	}
	if first != nil {
		*t = *first
		t.Duplicate = true
		return nil
	}
	t.ID, t.ReceivedAt, t.Processed, t.Runs, t.Duplicate = id, received, nil, 0, false
	t.Source, t.Name, t.DeliveryID = source, name, deliveryID
	s.wantNotify()
	return nil
}

// FindTriggerByID returns a trigger of the tenant; ENOTFOUND otherwise.
func (s *Store) FindTriggerByID(ctx context.Context, tenantID, id string) (*hookd.Trigger, error) {
	t, err := scanTrigger(s.pool.QueryRow(ctx, `SELECT `+triggerColumns+` FROM triggers WHERE id = $1 AND tenant_id = $2`,
		id, tenantID))
	return t, s.notFound(err, "Trigger")
}

// where builds the conditions of a list query from the filters that are
// set, so the planner sees only what is asked for; "?" in a condition is
// its argument.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, v any) {
	w.args = append(w.args, v)
	w.conds = append(w.conds, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(w.args))))
}

func (w *where) addIf(ok bool, cond string, v any) {
	if ok {
		w.add(cond, v)
	}
}

// page finishes a list query ordered by id, descending, one row more than
// size.
func (w *where) page(size int) string {
	w.args = append(w.args, size+1)
	return ` WHERE ` + strings.Join(w.conds, ` AND `) + fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(w.args))
}

// FindTriggers lists a tenant's triggers, newest first; f.SourceID and
// f.Name (a generic trigger's name) narrow it.
func (s *Store) FindTriggers(ctx context.Context, f hookd.TriggerFilter) ([]*hookd.Trigger, string, error) {
	after, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	w := &where{}
	w.add(`tenant_id = ?`, f.TenantID)
	w.addIf(after != "", `id < ?`, after)
	w.addIf(f.SourceID != "", `source_id = ?`, f.SourceID)
	w.addIf(f.Name != "", `name = ?`, f.Name)
	rows, err := s.pool.Query(ctx, `SELECT `+triggerColumns+` FROM triggers`+w.page(f.Size()), w.args...)
	if err != nil {
		return nil, "", s.fail(err)
	}
	list, err := collect(rows, scanTrigger)
	if err != nil {
		return nil, "", s.fail(err)
	}
	list, next := nextCursor(list, f.Size(), func(t *hookd.Trigger) string { return t.ID })
	return list, next, nil
}

// ClaimTriggers leases up to limit unprocessed triggers that no one holds
// (or whose lease expired at now) to owner until now+lease, oldest received
// first, in one statement: rows another claim has locked are skipped, and a
// row claimed by a transaction that committed meanwhile fails the lease
// test on its new version, so claims of different nodes are disjoint.
func (s *Store) ClaimTriggers(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*hookd.Trigger, error) {
	if limit <= 0 {
		return nil, nil
	}
	if s.closed.Load() {
		return nil, errClosed
	}
	now = micro(now)
	rows, err := s.pool.Query(ctx, `WITH picked AS (
			SELECT id FROM triggers
			WHERE processed_at IS NULL AND (lease_until IS NULL OR lease_until <= $1)
			ORDER BY received_at, id
			LIMIT $4
			FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE triggers t SET lease_owner = $2, lease_until = $3
			FROM picked WHERE t.id = picked.id
			RETURNING t.*
		)
		SELECT `+triggerColumns+` FROM claimed ORDER BY received_at, id`, now, owner, micro(now.Add(lease)), limit)
	if err != nil {
		return nil, s.fail(err)
	}
	list, err := collect(rows, scanTrigger)
	if err != nil {
		return nil, s.fail(err)
	}
	return list, nil
}

// ProcessTrigger, in one statement, marks the trigger processed at now,
// adds len(runs) to its run count, ends its lease and inserts runs — only
// if owner still holds the lease on the unprocessed trigger; otherwise
// nothing is written: ECONFLICT. A run is stored queued and due at now,
// unless it comes with Status RunFailed (a match whose action could not be
// prepared): then it is stored failed, ended at now, with its Result (a
// generic error when nil). ID, TenantID, TriggerID, Status, NextAt,
// EndedAt, Result, Attempts and times are set on the caller's runs.
func (s *Store) ProcessTrigger(ctx context.Context, triggerID, owner string, runs []*hookd.Run, now time.Time) error {
	if s.closed.Load() {
		return errClosed
	}
	now = micro(now)
	n := len(runs)
	stored := make([]hookd.Run, n)
	ids, rules, names, actions, statuses := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	results, dues := make([]*string, n), make([]pgtype.Timestamptz, n)
	queued := false
	for i, r := range runs {
		c := *r
		if c.ID == "" {
			c.ID = hookd.NewID(hookd.PrefixRun)
		}
		c.TriggerID, c.Attempts, c.LeaseOwner, c.StartedAt = triggerID, 0, "", nil
		c.CreatedAt, c.UpdatedAt = now, now
		if c.Status == hookd.RunFailed {
			c.NextAt, c.EndedAt = nil, &now
			if c.Result == nil {
				c.Result = &hookd.RunResult{Error: "The rule's action could not be prepared."}
			}
		} else {
			c.Status, c.NextAt, c.EndedAt, c.Result = hookd.RunQueued, &now, nil, nil
			dues[i] = pgtype.Timestamptz{Time: now, Valid: true}
			queued = true
		}
		a, err := json.Marshal(c.Action)
		if err != nil {
			return err
		}
		if results[i], err = jsonText(c.Result); err != nil {
			return err
		}
		ids[i], rules[i], names[i], actions[i], statuses[i] = c.ID, c.RuleID, c.RuleName, string(a), c.Status
		stored[i] = c
	}
	var tenantID string
	err := s.pool.QueryRow(ctx, `WITH t AS (
			UPDATE triggers SET processed_at = $3, runs = runs + cardinality($4::text[]), lease_owner = NULL, lease_until = NULL
			WHERE id = $1 AND lease_owner = $2 AND processed_at IS NULL
			RETURNING tenant_id
		), ins AS (
			INSERT INTO runs (id, tenant_id, rule_id, rule_name, trigger_id, status, action, due_at, result, ended_at,
				created_at, updated_at)
			SELECT x.id, t.tenant_id, x.rule_id, x.rule_name, $1, x.status, x.action, x.due, x.result,
				CASE WHEN x.status = 'failed' THEN $3::timestamptz END, $3, $3
			FROM t CROSS JOIN unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::text[])
				AS x(id, rule_id, rule_name, action, status, due, result)
		)
		SELECT tenant_id FROM t`, triggerID, owner, now, ids, rules, names, actions, statuses, dues, results).Scan(&tenantID)
	switch {
	case err == pgx.ErrNoRows:
		return hookd.Errorf(hookd.ECONFLICT, "The trigger's lease was lost; it will be processed again.")
	case uniqueViolation(err, "runs_pkey"):
		return hookd.Errorf(hookd.ECONFLICT, "A run of that id already exists.")
	case err != nil:
		return s.fail(err)
	}
	for i, r := range runs {
		*r = stored[i]
		r.TenantID = tenantID
	}
	if queued {
		s.wantNotify()
	}
	return nil
}

// ReplayTrigger marks a trigger unprocessed again and ends any lease on it
// (a runner holding it gets ECONFLICT from ProcessTrigger), so the rules
// are matched anew, and returns it; ENOTFOUND if the tenant has no such
// trigger. The audit entry keeps the trigger's state, not the request.
func (s *Store) ReplayTrigger(ctx context.Context, tenantID, id string) (*hookd.Trigger, error) {
	var out *hookd.Trigger
	err := s.change(ctx, func(q querier, a *auditLog) error {
		var before json.RawMessage
		if a.on {
			t, err := scanTrigger(q.QueryRow(ctx, `SELECT `+triggerColumns+` FROM triggers
				WHERE id = $1 AND tenant_id = $2 FOR NO KEY UPDATE`, id, tenantID))
			if err != nil {
				return s.notFound(err, "Trigger")
			}
			before = replaySnapshot(a, t)
		}
		t, err := scanTrigger(q.QueryRow(ctx, `UPDATE triggers SET processed_at = NULL, lease_owner = NULL, lease_until = NULL
			WHERE id = $1 AND tenant_id = $2 RETURNING `+triggerColumns, id, tenantID))
		if err != nil {
			return s.notFound(err, "Trigger")
		}
		out = t
		a.record(tenantID, hookd.ActionTriggerReplay, hookd.ResourceTrigger, id, before, replaySnapshot(a, t))
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.wantNotify()
	return out, nil
}

// replaySnapshot is what the audit log keeps of a replayed trigger: its
// state, not the request (which may be large and hold personal data).
func replaySnapshot(a *auditLog, t *hookd.Trigger) json.RawMessage {
	return a.snapshot(struct {
		ID        string     `json:"id"`
		Processed *time.Time `json:"processed_at"`
		Runs      int        `json:"runs"`
	}{t.ID, t.Processed, t.Runs})
}

const ruleColumns = `id, tenant_id, name, description, enabled, source, trigger, git, criteria, action, created_at, updated_at`

func scanRule(row pgx.Row) (*hookd.Rule, error) {
	var r hookd.Rule
	var git []byte
	var criteria *string
	var action string
	if err := row.Scan(&r.ID, &r.TenantID, &r.Name, &r.Description, &r.Enabled, &r.Source, &r.Trigger, &git, &criteria,
		&action, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return nil, err
	}
	if git != nil {
		r.Git = &hookd.GitMatch{}
		if err := json.Unmarshal(git, r.Git); err != nil {
			return nil, fmt.Errorf("rule git: %w", err)
		}
	}
	if criteria != nil {
		r.Criteria = json.RawMessage(*criteria)
	}
	if err := json.Unmarshal([]byte(action), &r.Action); err != nil {
		return nil, fmt.Errorf("rule action: %w", err)
	}
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return &r, nil
}

// ruleRow is a rule's JSON columns as written.
type ruleRow struct {
	git, criteria *string
	action        string
}

func newRuleRow(r *hookd.Rule) (ruleRow, error) {
	var out ruleRow
	var err error
	if r.Git != nil {
		if out.git, err = jsonText(r.Git); err != nil {
			return out, err
		}
	}
	if len(r.Criteria) > 0 {
		c := string(r.Criteria)
		out.criteria = &c
	}
	a, err := json.Marshal(r.Action)
	if err != nil {
		return out, err
	}
	out.action = string(a)
	return out, nil
}

// CreateRule stores r (ID and times set, Source normalized); ECONFLICT if
// the tenant has a rule of that name, ENOTFOUND if the tenant does not
// exist.
func (s *Store) CreateRule(ctx context.Context, r *hookd.Rule) error {
	id := r.ID
	if id == "" {
		id = hookd.NewID(hookd.PrefixRule)
	}
	c := *r
	c.ID, c.Source = id, hookd.NormalizeSourceName(r.Source)
	row, err := newRuleRow(&c)
	if err != nil {
		return err
	}
	now := s.clock()
	c.CreatedAt, c.UpdatedAt = now, now
	err = s.change(ctx, func(q querier, a *auditLog) error {
		_, err := q.Exec(ctx, `INSERT INTO rules (id, tenant_id, name, description, enabled, source, trigger, git, criteria, action,
				created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)`,
			id, c.TenantID, c.Name, c.Description, c.Enabled, c.Source, c.Trigger, row.git, row.criteria, row.action, now)
		switch {
		case uniqueViolation(err, "rules_name"):
			return hookd.Errorf(hookd.ECONFLICT, "A rule named %q exists.", c.Name)
		case uniqueViolation(err, "rules_pkey"):
			return hookd.Errorf(hookd.ECONFLICT, "Rule %q already exists.", id)
		case err != nil:
			return err
		}
		a.record(c.TenantID, hookd.ActionRuleCreate, hookd.ResourceRule, id, nil, a.snapshot(&c))
		return nil
	})
	if err != nil {
		return err
	}
	*r = c
	return nil
}

// ruleByIDOrName selects a tenant's rule ($1) by id or name ($2); an id
// wins over another rule's equal name.
const ruleByIDOrName = `tenant_id = $1 AND (id = $2 OR name = $2) ORDER BY id = $2 DESC LIMIT 1`

// FindRule finds a rule of the tenant by id or by name; ENOTFOUND if none.
func (s *Store) FindRule(ctx context.Context, tenantID, idOrName string) (*hookd.Rule, error) {
	r, err := scanRule(s.pool.QueryRow(ctx, `SELECT `+ruleColumns+` FROM rules WHERE `+ruleByIDOrName, tenantID, idOrName))
	return r, s.notFound(err, "Rule")
}

// FindRules lists a tenant's rules by id, descending.
func (s *Store) FindRules(ctx context.Context, tenantID string, p hookd.Page) ([]*hookd.Rule, string, error) {
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+ruleColumns+` FROM rules
		WHERE tenant_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3`, tenantID, after, p.Size()+1)
	if err != nil {
		return nil, "", s.fail(err)
	}
	list, err := collect(rows, scanRule)
	if err != nil {
		return nil, "", s.fail(err)
	}
	list, next := nextCursor(list, p.Size(), func(r *hookd.Rule) string { return r.ID })
	return list, next, nil
}

// EnabledRules returns every enabled rule of the tenant, oldest first.
func (s *Store) EnabledRules(ctx context.Context, tenantID string) ([]*hookd.Rule, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+ruleColumns+` FROM rules WHERE tenant_id = $1 AND enabled ORDER BY id`, tenantID)
	if err != nil {
		return nil, s.fail(err)
	}
	list, err := collect(rows, scanRule)
	if err != nil {
		return nil, s.fail(err)
	}
	return list, nil
}

// UpdateRule applies upd to the rule named by id or name and returns it as
// stored; ENOTFOUND if the tenant has no such rule.
func (s *Store) UpdateRule(ctx context.Context, tenantID, idOrName string, upd hookd.RuleUpdate) (*hookd.Rule, error) {
	var out *hookd.Rule
	err := s.changeTx(ctx, func(tx pgx.Tx, a *auditLog) error {
		r, err := scanRule(tx.QueryRow(ctx, `SELECT `+ruleColumns+` FROM rules WHERE `+ruleByIDOrName+` FOR NO KEY UPDATE`,
			tenantID, idOrName))
		if err != nil {
			return s.notFound(err, "Rule")
		}
		snap := a.snapshot(r)
		upd.Apply(r)
		r.UpdatedAt = s.clock()
		row, err := newRuleRow(r)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE rules SET description = $2, enabled = $3, source = $4, trigger = $5, git = $6,
				criteria = $7, action = $8, updated_at = $9
			WHERE id = $1`, r.ID, r.Description, r.Enabled, r.Source, r.Trigger, row.git, row.criteria, row.action, r.UpdatedAt)
		if err != nil {
			return err
		}
		out = r
		a.record(tenantID, hookd.ActionRuleUpdate, hookd.ResourceRule, r.ID, snap, a.snapshot(r))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteRule removes the rule named by id or name; its runs stay.
// ENOTFOUND if the tenant has no such rule.
func (s *Store) DeleteRule(ctx context.Context, tenantID, idOrName string) error {
	return s.change(ctx, func(q querier, a *auditLog) error {
		r, err := scanRule(q.QueryRow(ctx, `DELETE FROM rules WHERE id = (SELECT id FROM rules WHERE `+ruleByIDOrName+`)
			RETURNING `+ruleColumns, tenantID, idOrName))
		if err != nil {
			return s.notFound(err, "Rule")
		}
		a.record(tenantID, hookd.ActionRuleDelete, hookd.ResourceRule, r.ID, a.snapshot(r), nil)
		return nil
	})
}

const runColumns = `id, tenant_id, rule_id, rule_name, trigger_id, status, action, attempts, due_at, lease_owner, started_at,
	ended_at, result, created_at, updated_at`

// scanRun reads runColumns. NextAt is shown only for a queued run (while
// running, due_at holds the lease expiry) and LeaseOwner only for a
// running one.
func scanRun(row pgx.Row) (*hookd.Run, error) {
	var r hookd.Run
	var action string
	var due *time.Time
	var owner, result *string
	if err := row.Scan(&r.ID, &r.TenantID, &r.RuleID, &r.RuleName, &r.TriggerID, &r.Status, &action, &r.Attempts, &due,
		&owner, &r.StartedAt, &r.EndedAt, &result, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(action), &r.Action); err != nil {
		return nil, fmt.Errorf("run action: %w", err)
	}
	if result != nil {
		r.Result = &hookd.RunResult{}
		if err := json.Unmarshal([]byte(*result), r.Result); err != nil {
			return nil, fmt.Errorf("run result: %w", err)
		}
	}
	if r.Status == hookd.RunQueued {
		r.NextAt = utcPtr(due)
	}
	if owner != nil && r.Status == hookd.RunRunning {
		r.LeaseOwner = *owner
	}
	r.StartedAt, r.EndedAt = utcPtr(r.StartedAt), utcPtr(r.EndedAt)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return &r, nil
}

// ClaimRuns leases up to limit runs that are queued and due at now, or
// running with a lease expired at now, to owner until now+lease, oldest due
// first: they become running, their attempt count grows by one and
// StartedAt is set on the first claim. Claims of different nodes are
// disjoint (FOR UPDATE SKIP LOCKED, see ClaimTriggers).
func (s *Store) ClaimRuns(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*hookd.Run, error) {
	if limit <= 0 {
		return nil, nil
	}
	if s.closed.Load() {
		return nil, errClosed
	}
	now = micro(now)
	rows, err := s.pool.Query(ctx, `WITH picked AS (
			SELECT id, due_at FROM runs
			WHERE status IN ('queued', 'running') AND due_at <= $1
			ORDER BY due_at, id
			LIMIT $4
			FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE runs r SET status = 'running', lease_owner = $2, due_at = $3, attempts = r.attempts + 1,
				started_at = coalesce(r.started_at, $1), updated_at = $1
			FROM picked WHERE r.id = picked.id
			RETURNING r.*, picked.due_at AS was_due
		)
		SELECT `+runColumns+` FROM claimed ORDER BY was_due, id`, now, owner, micro(now.Add(lease)), limit)
	if err != nil {
		return nil, s.fail(err)
	}
	list, err := collect(rows, scanRun)
	if err != nil {
		return nil, s.fail(err)
	}
	return list, nil
}

// ExtendRuns renews the leases owner still holds on ids until until; runs
// it no longer holds are left alone.
func (s *Store) ExtendRuns(ctx context.Context, owner string, ids []string, until time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if s.closed.Load() {
		return errClosed
	}
	_, err := s.pool.Exec(ctx, `UPDATE runs SET due_at = $3
		WHERE id = ANY($1) AND status = 'running' AND lease_owner = $2`, ids, owner, micro(until))
	return s.fail(err)
}

// CompleteRuns records outcomes in one statement. An update applies only
// while its run is running and leased to u.Owner; otherwise (and for a
// repeat of an id earlier in updates) it is marked Stale and nothing of it
// is written. An applied update sets the status, the result and ends the
// lease; succeeded and failed runs end at u.At, a run queued again is due
// at u.NextAt (u.At when zero). EINVALID, with nothing written, if a status
// is none of those three.
func (s *Store) CompleteRuns(ctx context.Context, updates []*hookd.RunUpdate) error {
	if len(updates) == 0 {
		return nil
	}
	if s.closed.Load() {
		return errClosed
	}
	n := len(updates)
	ids, owners, statuses, results := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]*string, 0, n)
	nexts, ats := make([]pgtype.Timestamptz, 0, n), make([]time.Time, 0, n)
	first := map[string]int{}
	now := s.clock()
	for i, u := range updates {
		switch u.Status {
		case hookd.RunSucceeded, hookd.RunFailed, hookd.RunQueued:
		default:
			return hookd.Errorf(hookd.EINVALID, "A run ends succeeded, failed or queued again, not %q.", u.Status)
		}
		if _, dup := first[u.ID]; dup {
			continue
		}
		first[u.ID] = i
		at := micro(u.At)
		if u.At.IsZero() {
			at = now
		}
		next := pgtype.Timestamptz{}
		if u.Status == hookd.RunQueued {
			next = pgtype.Timestamptz{Time: at, Valid: true}
			if !u.NextAt.IsZero() {
				next.Time = micro(u.NextAt)
			}
		}
		result, err := jsonText(u.Result)
		if err != nil {
			return err
		}
		ids, owners, statuses, results = append(ids, u.ID), append(owners, u.Owner), append(statuses, u.Status), append(results, result)
		nexts, ats = append(nexts, next), append(ats, at)
	}
	rows, err := s.pool.Query(ctx, `UPDATE runs r SET status = x.status, due_at = x.next, lease_owner = NULL, result = x.result,
			ended_at = CASE WHEN x.status IN ('succeeded', 'failed') THEN x.at END, updated_at = x.at
		FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::timestamptz[])
			AS x(id, owner, status, next, result, at)
		WHERE r.id = x.id AND r.status = 'running' AND r.lease_owner = x.owner
		RETURNING r.id, r.status`, ids, owners, statuses, nexts, results, ats)
	if err != nil {
		return s.fail(err)
	}
	type row struct{ id, status string }
	done, err := collect(rows, func(r pgx.Row) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.status)
	})
	if err != nil {
		return s.fail(err)
	}
	applied := make(map[string]bool, len(done))
	requeued := false
	for _, d := range done {
		applied[d.id] = true
		requeued = requeued || d.status == hookd.RunQueued
	}
	for i, u := range updates {
		u.Stale = !applied[u.ID] || first[u.ID] != i
	}
	if requeued {
		s.wantNotify()
	}
	return nil
}

// FindRunByID returns a run of the tenant; ENOTFOUND otherwise.
func (s *Store) FindRunByID(ctx context.Context, tenantID, id string) (*hookd.Run, error) {
	r, err := scanRun(s.pool.QueryRow(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1 AND tenant_id = $2`, id, tenantID))
	return r, s.notFound(err, "Run")
}

// FindRuns lists a tenant's runs, newest first; the rule, trigger and
// status of f narrow it.
func (s *Store) FindRuns(ctx context.Context, f hookd.RunFilter) ([]*hookd.Run, string, error) {
	after, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	w := &where{}
	w.add(`tenant_id = ?`, f.TenantID)
	w.addIf(after != "", `id < ?`, after)
	w.addIf(f.RuleID != "", `rule_id = ?`, f.RuleID)
	w.addIf(f.TriggerID != "", `trigger_id = ?`, f.TriggerID)
	w.addIf(f.Status != "", `status = ?`, f.Status)
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+` FROM runs`+w.page(f.Size()), w.args...)
	if err != nil {
		return nil, "", s.fail(err)
	}
	list, err := collect(rows, scanRun)
	if err != nil {
		return nil, "", s.fail(err)
	}
	list, next := nextCursor(list, f.Size(), func(r *hookd.Run) string { return r.ID })
	return list, next, nil
}
