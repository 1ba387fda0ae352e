package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hookd/hookd"
)

var _ hookd.InboundStore = (*Store)(nil)

// Audit actions and resource types of the receiving side. TODO: move to
// hookd (audit.go) next to the others; the values are what the API shows.

// sealJSON encodes v as JSON and seals it with the cipher when one is set.
// Unsealed values are JSON lists, so like endpoint secrets a stored value
// is plain text exactly when it starts with '[' (see plainSecrets).
func (s *Store) sealJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	if s.cipher == nil {
		return string(b), nil
	}
	out, err := s.cipher.Seal(b)
	clear(b)
	return out, err
}

// openJSON decodes a value made by sealJSON into v.
func (s *Store) openJSON(stored string, v any) error {
	b := []byte(stored)
	if s.cipher != nil && !plainSecrets(stored) {
		var err error
		if b, err = s.cipher.Open(stored); err != nil {
			return err
		}
		defer clear(b)
	}
	return json.Unmarshal(b, v)
}

// marshalText encodes v as JSON without escaping HTML characters, so
// templates read back as written.
func marshalText(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return string(bytes.TrimRight(buf.Bytes(), "\n")), nil
}

// nullText is NULL for an empty string.
func nullText(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// Sources.

const sourceColumns = `id, tenant_id, name, description, verifier, secrets, content_types, max_body_bytes, response, rate_limit,
	dedup_window_ns, heartbeat_ns, accepted, rejected, last_request_at, created_at, updated_at`

type encodedSource struct {
	verifier, secrets, contentTypes string
	response                        any // NULL or JSON
}

func (s *Store) encodeSource(src *hookd.Source) (encodedSource, error) {
	var enc encodedSource
	var err error
	if enc.verifier, err = marshalText(src.Verifier); err != nil { // Secrets are not part of its JSON
		return enc, err
	}
	if enc.contentTypes, err = marshalText(orEmpty(src.ContentTypes)); err != nil {
		return enc, err
	}
	if src.Response != nil {
		if enc.response, err = marshalText(src.Response); err != nil {
			return enc, err
		}
	}
	enc.secrets, err = s.sealJSON(orEmpty(src.Verifier.Secrets))
	return enc, err
}

// storedSource is the encoded columns of a source and what they decode to.
type storedSource struct {
	verifier, secrets, contentTypes string
	response                        sql.NullString

	decoded hookd.SourceVerifier
	types   []string
	resp    *hookd.SourceResponse
}

// sourceLookup keeps FindSourceByName, called for every inbound request,
// from parsing its SQL and decoding (and opening) the same columns again:
// a prepared statement on the read pool, and the decoded columns of recent
// sources by id, used while the stored text is unchanged.
type sourceLookup struct {
	mu      sync.Mutex
	byName  *sql.Stmt
	decoded map[string]*storedSource
}

// maxDecodedSources bounds sourceLookup.decoded; it is emptied when full.
const maxDecodedSources = 1024

func (s *Store) scanSource(row interface{ Scan(...any) error }) (*hookd.Source, error) {
	var src hookd.Source
	var st storedSource
	var window, heartbeat, created, updated int64
	var last sql.NullInt64
	err := row.Scan(&src.ID, &src.TenantID, &src.Name, &src.Description, &st.verifier, &st.secrets, &st.contentTypes, &src.MaxBodyBytes,
		&st.response, &src.RateLimit, &window, &heartbeat, &src.Accepted, &src.Rejected, &last, &created, &updated)
	if err != nil {
		return nil, err
	}
	d, err := s.decodeSource(src.ID, &st)
	if err != nil {
		return nil, err
	}
	src.Verifier = d.decoded
	src.Verifier.Secrets = slices.Clone(d.decoded.Secrets)
	src.ContentTypes = slices.Clone(d.types)
	if d.resp != nil {
		r := *d.resp
		src.Response = &r
	}
	src.DedupWindow, src.HeartbeatEvery = hookd.Duration(window), hookd.Duration(heartbeat)
	src.LastRequestAt, src.CreatedAt, src.UpdatedAt = fromNullNS(last), fromNS(created), fromNS(updated)
	return &src, nil
}

// decodeSource returns the decoded columns of source id, reusing those of
// the last read while the stored text is the same. Callers copy what they
// hand out.
func (s *Store) decodeSource(id string, st *storedSource) (*storedSource, error) {
	l := &s.sources
	l.mu.Lock()
	d := l.decoded[id]
	l.mu.Unlock()
	if d != nil && d.verifier == st.verifier && d.secrets == st.secrets && d.contentTypes == st.contentTypes && d.response == st.response {
		return d, nil
	}
	if err := json.Unmarshal([]byte(st.verifier), &st.decoded); err != nil {
		return nil, fmt.Errorf("source %s: %w", id, err)
	}
	if err := json.Unmarshal([]byte(st.contentTypes), &st.types); err != nil {
		return nil, fmt.Errorf("source %s: %w", id, err)
	}
	if st.response.Valid {
		st.resp = new(hookd.SourceResponse)
		if err := json.Unmarshal([]byte(st.response.String), st.resp); err != nil {
			return nil, fmt.Errorf("source %s: %w", id, err)
		}
	}
	if err := s.openJSON(st.secrets, &st.decoded.Secrets); err != nil {
		return nil, fmt.Errorf("source %s secrets: %w", id, err)
	}
	l.mu.Lock()
	if l.decoded == nil || len(l.decoded) >= maxDecodedSources {
		l.decoded = map[string]*storedSource{}
	}
	l.decoded[id] = st
	l.mu.Unlock()
	return st, nil
}

// CreateSource stores src; ECONFLICT if its name is taken in any tenant,
// ENOTFOUND if the tenant does not exist.
func (s *Store) CreateSource(ctx context.Context, src *hookd.Source) error {
	c := *src
	if c.ID == "" {
		c.ID = hookd.NewID(hookd.PrefixSource)
	}
	now := s.now().UTC()
	c.CreatedAt, c.UpdatedAt = now, now
	c.Accepted, c.Rejected, c.LastRequestAt = 0, 0, nil
	enc, err := s.encodeSource(&c)
	if err != nil {
		return err
	}
	err = s.exec(ctx, func(w *writer) error {
		_, err := w.Exec(`INSERT INTO sources (id, tenant_id, name, description, verifier, secrets, content_types, max_body_bytes,
				response, rate_limit, dedup_window_ns, heartbeat_ns, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.TenantID, c.Name, c.Description, enc.verifier, enc.secrets, enc.contentTypes, c.MaxBodyBytes,
			enc.response, c.RateLimit, int64(c.DedupWindow), int64(c.HeartbeatEvery), ns(now), ns(now))
		if hookd.ErrorCode(translate(err)) == hookd.ECONFLICT {
			return hookd.Errorf(hookd.ECONFLICT, "A source named %q already exists.", c.Name)
		} else if err != nil {
			return err
		}
		return s.audit(ctx, w, c.TenantID, hookd.ActionSourceCreate, hookd.ResourceSource, c.ID, nil, hookd.Snapshot(ctx, &c))
	})
	if err != nil {
		return err
	}
	*src = c
	return nil
}

// FindSourceByID returns a source of the tenant; ENOTFOUND otherwise.
func (s *Store) FindSourceByID(ctx context.Context, tenantID, id string) (*hookd.Source, error) {
	return s.findSource(s.reader(ctx), tenantID, id)
}

func (s *Store) findSource(q queryer, tenantID, id string) (*hookd.Source, error) {
	src, err := s.scanSource(q.QueryRow(`SELECT `+sourceColumns+` FROM sources WHERE id = ? AND tenant_id = ?`, id, tenantID))
	return src, notFound(err, "Source")
}

// FindSourceByName returns the source of any tenant with the name
// (normalized); ENOTFOUND if none.
func (s *Store) FindSourceByName(ctx context.Context, name string) (*hookd.Source, error) {
	l := &s.sources
	l.mu.Lock()
	st := l.byName
	if st == nil {
		var err error
		if st, err = s.read.PrepareContext(ctx, `SELECT `+sourceColumns+` FROM sources WHERE name = ?`); err != nil {
			l.mu.Unlock()
			return nil, translate(err)
		}
		l.byName = st
	}
	l.mu.Unlock()
	src, err := s.scanSource(st.QueryRowContext(ctx, hookd.NormalizeSourceName(name)))
	return src, notFound(err, "Source")
}

// FindSources lists a tenant's sources, newest first.
func (s *Store) FindSources(ctx context.Context, tenantID string, p hookd.Page) ([]*hookd.Source, string, error) {
	cond, args, limit, err := page(p, "id")
	if err != nil {
		return nil, "", err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+sourceColumns+` FROM sources WHERE tenant_id = ? AND `+cond+` ORDER BY id DESC LIMIT ?`,
		append(append([]any{tenantID}, args...), limit)...)
	if err != nil {
		return nil, "", translate(err)
	}
	list, err := collect(rows, s.scanSource)
	if err != nil {
		return nil, "", err
	}
	list, next := nextCursor(list, p.Size(), func(src *hookd.Source) string { return src.ID })
	return list, next, nil
}

// UpdateSource applies upd and returns the source as stored.
func (s *Store) UpdateSource(ctx context.Context, tenantID, id string, upd hookd.SourceUpdate) (*hookd.Source, error) {
	var out *hookd.Source
	err := s.exec(ctx, func(w *writer) error {
		src, err := s.findSource(w, tenantID, id)
		if err != nil {
			return err
		}
		before := hookd.Snapshot(ctx, src)
		upd.Apply(src)
		now := s.now().UTC()
		src.UpdatedAt = now
		enc, err := s.encodeSource(src)
		if err != nil {
			return err
		}
		_, err = w.Exec(`UPDATE sources SET description = ?, verifier = ?, secrets = ?, content_types = ?, max_body_bytes = ?,
				response = ?, rate_limit = ?, dedup_window_ns = ?, heartbeat_ns = ?, updated_at = ?
			WHERE id = ?`,
			src.Description, enc.verifier, enc.secrets, enc.contentTypes, src.MaxBodyBytes,
			enc.response, src.RateLimit, int64(src.DedupWindow), int64(src.HeartbeatEvery), ns(now), id)
		if err != nil {
			return err
		}
		out = src
		return s.audit(ctx, w, tenantID, hookd.ActionSourceUpdate, hookd.ResourceSource, id, before, hookd.Snapshot(ctx, src))
	})
	return out, err
}

// DeleteSource removes the source; its triggers and runs stay, and its
// name is free again.
func (s *Store) DeleteSource(ctx context.Context, tenantID, id string) error {
	return s.exec(ctx, func(w *writer) error {
		var before json.RawMessage
		if hookd.Audited(ctx) {
			src, err := s.findSource(w, tenantID, id)
			if err != nil {
				return err
			}
			before = hookd.Snapshot(ctx, src)
		}
		res, err := w.Exec(`DELETE FROM sources WHERE id = ? AND tenant_id = ?`, id, tenantID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return hookd.Errorf(hookd.ENOTFOUND, "Source not found.")
		}
		return s.audit(ctx, w, tenantID, hookd.ActionSourceDelete, hookd.ResourceSource, id, before, nil)
	})
}

// RejectRequest counts a refused request of the source at at.
func (s *Store) RejectRequest(ctx context.Context, sourceID string, at time.Time) error {
	return s.exec(ctx, func(w *writer) error {
		res, err := w.Exec(`UPDATE sources SET rejected = rejected + 1, last_request_at = max(coalesce(last_request_at, ?), ?) WHERE id = ?`,
			ns(at), ns(at), sourceID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return hookd.Errorf(hookd.ENOTFOUND, "Source not found.")
		}
		return nil
	})
}

// SilentSources returns the sources with a heartbeat whose last request
// (or creation) is more than HeartbeatEvery before now.
func (s *Store) SilentSources(ctx context.Context, now time.Time) ([]*hookd.Source, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+sourceColumns+` FROM sources
		WHERE heartbeat_ns > 0 AND coalesce(last_request_at, created_at) + heartbeat_ns < ? ORDER BY id`, ns(now))
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, s.scanSource)
}

// Triggers.

// triggerColumns are read from triggers (also in RETURNING); the body is in
// trigger_bodies, so that rewriting a trigger's row (claims, processing)
// does not rewrite its body.
const triggerColumns = `id, tenant_id, source_id, source, name, received_at, method, headers, query, content_type,
	(SELECT b.body FROM trigger_bodies b WHERE b.trigger_id = triggers.id), body_sha256,
	delivery_id, git, processed_at, runs`

func scanTrigger(row interface{ Scan(...any) error }) (*hookd.Trigger, error) {
	r, err := scanTriggerRow(row)
	if err != nil {
		return nil, err
	}
	return r.decode()
}

// triggerRow is a trigger's columns as read. Claims decode them once the
// writer is free for the next request.
type triggerRow struct {
	t                                     hookd.Trigger
	sourceID, source, name, delivery, git sql.NullString
	headers, query                        string
	body                                  []byte
	received                              int64
	processed                             sql.NullInt64
}

func scanTriggerRow(row interface{ Scan(...any) error }) (*triggerRow, error) {
	var r triggerRow
	t := &r.t
	err := row.Scan(&t.ID, &t.TenantID, &r.sourceID, &r.source, &r.name, &r.received, &t.Method, &r.headers, &r.query, &t.ContentType,
		&r.body, &t.BodySHA256, &r.delivery, &r.git, &r.processed, &t.Runs)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func (r *triggerRow) decode() (*hookd.Trigger, error) {
	t := r.t
	t.SourceID, t.Source, t.Name, t.DeliveryID = r.sourceID.String, r.source.String, r.name.String, r.delivery.String
	if err := json.Unmarshal([]byte(r.headers), &t.Headers); err != nil {
		return nil, fmt.Errorf("trigger %s: %w", t.ID, err)
	}
	if err := json.Unmarshal([]byte(r.query), &t.Query); err != nil {
		return nil, fmt.Errorf("trigger %s: %w", t.ID, err)
	}
	if r.git.Valid {
		t.Git = new(hookd.Git)
		if err := json.Unmarshal([]byte(r.git.String), t.Git); err != nil {
			return nil, fmt.Errorf("trigger %s: %w", t.ID, err)
		}
	}
	body, err := decodeBody(r.body)
	if err != nil {
		return nil, fmt.Errorf("trigger %s: %w", t.ID, err)
	}
	if len(body) > 0 {
		t.Body = json.RawMessage(body)
	}
	t.ReceivedAt, t.Processed = fromNS(r.received), fromNullNS(r.processed)
	return &t, nil
}

// decodeAll decodes rows read by the writer.
func decodeAll[R interface{ decode() (T, error) }, T any](rows []R) ([]T, error) {
	out := make([]T, len(rows))
	for i, r := range rows {
		v, err := r.decode()
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// CreateTrigger stores t, counts it on its source and sets the source's
// last request time, in one transaction; a delivery id that repeats one of
// the same source (or tenant and generic name) received within window
// stores nothing and fills t from the first, marked Duplicate. ENOTFOUND if
// the tenant, or the source in that tenant, does not exist.
//
// The triggers of one commit group are stored together (storeTriggers);
// each request's outcome is the one it would have on its own.
func (s *Store) CreateTrigger(ctx context.Context, t *hookd.Trigger, window time.Duration) error {
	tw, err := newTriggerWrite(t, window, s.now())
	if err != nil {
		return err
	}
	err = s.submit(ctx, &writeReq{fn: tw.store, trigger: tw, done: make(chan error, 1)})
	if err != nil {
		return err
	}
	if tw.first != nil {
		*t = *tw.first
		t.Duplicate = true
		return nil
	}
	*t = tw.t
	return nil
}

// triggerWrite is one CreateTrigger on its way through the writer.
type triggerWrite struct {
	t              hookd.Trigger // as stored: ID and ReceivedAt set
	window         time.Duration
	headers, query string
	git            any            // NULL or JSON
	body           []byte         // as stored (encodeBody)
	first          *hookd.Trigger // set when t repeats a stored delivery id
}

func newTriggerWrite(t *hookd.Trigger, window time.Duration, now time.Time) (*triggerWrite, error) {
	tw := &triggerWrite{t: *t, window: window}
	c := &tw.t
	c.Duplicate, c.Processed, c.Runs = false, nil, 0
	if c.ReceivedAt.IsZero() {
		c.ReceivedAt = now
	}
	c.ReceivedAt = c.ReceivedAt.UTC()
	if c.ID == "" {
		c.ID = hookd.NewID(hookd.PrefixTrigger)
	}
	tw.headers, tw.query = stringMapJSON(c.Headers), stringListMapJSON(c.Query)
	var err error
	if c.Git != nil {
		if tw.git, err = marshalText(c.Git); err != nil {
			return nil, err
		}
	}
	tw.body = encodeBody(c.Body)
	if tw.body == nil {
		tw.body = []byte{}
	}
	return tw, nil
}

// store is tw as a request of its own (when its group's batch failed): a
// batch of one, whose failure is tw's.
func (tw *triggerWrite) store(w *writer) error {
	failed, err := storeTriggerBatch(w, []*triggerWrite{tw})
	if hookd.ErrorCode(translate(err)) == hookd.ECONFLICT {
		return hookd.Errorf(hookd.ECONFLICT, "Trigger %q already exists.", tw.t.ID)
	} else if err != nil {
		return err
	}
	return failed[0]
}

var errSourceNotFound = hookd.Errorf(hookd.ENOTFOUND, "Source not found.")

// repeated returns the first trigger stored within tw's window with its
// delivery id (of its source, or of its tenant and generic name); nil if
// none, or if tw has no delivery id or window.
func (tw *triggerWrite) repeated(w *writer) (*hookd.Trigger, error) {
	c := &tw.t
	if c.DeliveryID == "" || tw.window <= 0 {
		return nil, nil
	}
	var row *sql.Row
	since := ns(c.ReceivedAt.Add(-tw.window))
	if c.SourceID != "" {
		row = w.QueryRow(`SELECT `+triggerColumns+` FROM triggers
			WHERE source_id = ? AND delivery_id = ? AND received_at > ? ORDER BY received_at LIMIT 1`,
			c.SourceID, c.DeliveryID, since)
	} else {
		row = w.QueryRow(`SELECT `+triggerColumns+` FROM triggers
			WHERE tenant_id = ? AND name = ? AND source_id IS NULL AND delivery_id = ? AND received_at > ? ORDER BY received_at LIMIT 1`,
			c.TenantID, c.Name, c.DeliveryID, since)
	}
	f, err := scanTrigger(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if f.TenantID != c.TenantID {
		return nil, nil
	}
	return f, nil
}

// The columns a trigger is inserted with, and their placeholders.
const (
	triggerInsertColumns = `id, tenant_id, source_id, source, name, received_at, method, headers, query, content_type,
		body_sha256, delivery_id, git`
	triggerInsertValues = `?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?`
)

// insertArgs appends tw's values for triggerInsertColumns to args.
func (tw *triggerWrite) insertArgs(args []any) []any {
	c := &tw.t
	return append(args, c.ID, c.TenantID, nullText(c.SourceID), nullText(c.Source), nullText(c.Name), ns(c.ReceivedAt), c.Method,
		tw.headers, tw.query, c.ContentType, c.BodySHA256, nullText(c.DeliveryID), tw.git)
}

// FindTriggerByID returns a trigger of the tenant; ENOTFOUND otherwise.
func (s *Store) FindTriggerByID(ctx context.Context, tenantID, id string) (*hookd.Trigger, error) {
	return findTrigger(s.reader(ctx), tenantID, id)
}

func findTrigger(q queryer, tenantID, id string) (*hookd.Trigger, error) {
	t, err := scanTrigger(q.QueryRow(`SELECT `+triggerColumns+` FROM triggers WHERE id = ? AND tenant_id = ?`, id, tenantID))
	return t, notFound(err, "Trigger")
}

// FindTriggers lists a tenant's triggers, newest first.
func (s *Store) FindTriggers(ctx context.Context, f hookd.TriggerFilter) ([]*hookd.Trigger, string, error) {
	cond, args, limit, err := page(f.Page, "id")
	if err != nil {
		return nil, "", err
	}
	args = append([]any{f.TenantID}, args...)
	if f.SourceID != "" {
		cond += ` AND source_id = ?`
		args = append(args, f.SourceID)
	}
	if f.Name != "" {
		cond += ` AND name = ?`
		args = append(args, f.Name)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+triggerColumns+` FROM triggers WHERE tenant_id = ? AND `+cond+` ORDER BY id DESC LIMIT ?`,
		append(args, limit)...)
	if err != nil {
		return nil, "", translate(err)
	}
	list, err := collect(rows, scanTrigger)
	if err != nil {
		return nil, "", err
	}
	list, next := nextCursor(list, f.Size(), func(t *hookd.Trigger) string { return t.ID })
	return list, next, nil
}

// ClaimTriggers leases up to limit unprocessed triggers, oldest received
// first, to owner until now+lease.
func (s *Store) ClaimTriggers(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*hookd.Trigger, error) {
	if limit <= 0 {
		return nil, nil
	}
	var raw []*triggerRow
	err := s.exec(ctx, func(w *writer) error {
		rows, err := w.Query(`UPDATE triggers SET lease_owner = ?, lease_until = ?
			WHERE id IN (
				SELECT id FROM triggers
				WHERE processed_at IS NULL AND (lease_until IS NULL OR lease_until <= ?)
				ORDER BY received_at, id LIMIT ?)
			RETURNING `+triggerColumns,
			owner, ns(now.Add(lease)), ns(now), limit)
		if err != nil {
			return err
		}
		raw, err = collect(rows, scanTriggerRow)
		return err
	})
	if err != nil {
		return nil, err
	}
	out, err := decodeAll(raw)
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].ReceivedAt.Equal(out[j].ReceivedAt) {
			return out[i].ReceivedAt.Before(out[j].ReceivedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// ProcessTrigger stores runs, queued and due at now, and marks the trigger
// processed at now, if owner holds its lease; ECONFLICT otherwise.
func (s *Store) ProcessTrigger(ctx context.Context, triggerID, owner string, runs []*hookd.Run, now time.Time) error {
	p, err := prepareRuns(triggerID, runs, now)
	if err != nil {
		return err
	}
	err = s.exec(ctx, func(w *writer) error { return p.store(w, owner) })
	if err != nil {
		return err
	}
	p.copyBack(runs)
	return nil
}

// ProcessTriggers is ProcessTrigger for many triggers, whose runs are
// given by trigger id, in one transaction (as one batch, processBatch,
// or, if that fails as a whole, one by one). Each trigger is processed, or
// not, on its own: the returned map holds the error of each that was not
// (ECONFLICT when owner lost its lease). An error returned on its own
// means nothing was written.
func (s *Store) ProcessTriggers(ctx context.Context, owner string, runs map[string][]*hookd.Run, now time.Time) (map[string]error, error) {
	ids := slices.Sorted(maps.Keys(runs))
	failed := map[string]error{}
	prepared := make([]*processing, 0, len(ids))
	for _, id := range ids {
		p, err := prepareRuns(id, runs[id], now)
		if err != nil {
			failed[id] = err
			continue
		}
		prepared = append(prepared, p)
	}
	var lost map[string]error
	err := s.exec(ctx, func(w *writer) error {
		lost = map[string]error{}
		if done, err := processBatch(w, owner, prepared, lost); done || err != nil {
			return err
		}
		for _, p := range prepared {
			err, fatal := w.savepoint(func() error { return p.store(w, owner) })
			if fatal != nil {
				return fatal
			}
			if err != nil {
				lost[p.triggerID] = translate(err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, p := range prepared {
		if err := lost[p.triggerID]; err != nil {
			failed[p.triggerID] = err
			continue
		}
		p.copyBack(runs[p.triggerID])
	}
	return failed, nil
}

// processing is one trigger's runs as ProcessTrigger stores them.
type processing struct {
	triggerID string
	now       time.Time
	stored    []hookd.Run
	actions   []string
	results   []any // NULL or JSON
}

func prepareRuns(triggerID string, runs []*hookd.Run, now time.Time) (*processing, error) {
	now = now.UTC()
	p := &processing{triggerID: triggerID, now: now,
		stored: make([]hookd.Run, len(runs)), actions: make([]string, len(runs)), results: make([]any, len(runs))}
	for i, r := range runs {
		c := *r
		if c.ID == "" {
			c.ID = hookd.NewID(hookd.PrefixRun)
		}
		c.TriggerID, c.Attempts, c.LeaseOwner, c.StartedAt = triggerID, 0, "", nil
		c.CreatedAt, c.UpdatedAt = now, now
		if c.Status == hookd.RunFailed {
			// A match that could not become an action (a template failed):
			// recorded as failed at once, with its error.
			c.NextAt, c.EndedAt = nil, &now
			if c.Result == nil {
				c.Result = &hookd.RunResult{Error: "The rule's action could not be prepared."}
			}
		} else {
			c.Status, c.NextAt, c.EndedAt, c.Result = hookd.RunQueued, &now, nil, nil
		}
		var err error
		if p.actions[i], err = marshalText(c.Action); err != nil {
			return nil, err
		}
		if c.Result != nil {
			if p.results[i], err = marshalText(c.Result); err != nil {
				return nil, err
			}
		}
		p.stored[i] = c
	}
	return p, nil
}

// store marks the trigger processed and inserts its runs; ECONFLICT if
// owner does not hold its lease, or a run's id is taken. It is
// processRows for one trigger.
func (p *processing) store(w *writer, owner string) error {
	got, err := processRows(w, owner, []*processing{p})
	if hookd.ErrorCode(translate(err)) == hookd.ECONFLICT {
		return hookd.Errorf(hookd.ECONFLICT, "A run of trigger %q already exists.", p.triggerID)
	} else if err != nil {
		return err
	}
	if _, ok := got[p.triggerID]; !ok {
		return errLeaseLost
	}
	return nil
}

// The columns a run is inserted with, and their placeholders.
const (
	runInsertColumns = `id, tenant_id, rule_id, rule_name, trigger_id, status, done, action, result,
		next_attempt_at, ended_at, created_at, updated_at`
	runInsertValues = `?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?`
)

// insertArgs appends the values of run i for runInsertColumns to args.
func (p *processing) insertArgs(args []any, i int) []any {
	r := &p.stored[i]
	return append(args, r.ID, r.TenantID, r.RuleID, r.RuleName, r.TriggerID, r.Status, r.Status == hookd.RunFailed, p.actions[i],
		p.results[i], nsPtr(r.NextAt), nsPtr(r.EndedAt), ns(p.now), ns(p.now))
}

// copyBack sets the stored runs on the caller's.
func (p *processing) copyBack(runs []*hookd.Run) {
	for i, r := range runs {
		*r = p.stored[i]
	}
}

// ReplayTrigger marks a trigger unprocessed and frees its lease, so that
// the runner matches the rules anew.
func (s *Store) ReplayTrigger(ctx context.Context, tenantID, id string) (*hookd.Trigger, error) {
	var out *hookd.Trigger
	err := s.exec(ctx, func(w *writer) error {
		t, err := findTrigger(w, tenantID, id)
		if err != nil {
			return err
		}
		before := replaySnapshot(ctx, t)
		if _, err := w.Exec(`UPDATE triggers SET processed_at = NULL, lease_owner = NULL, lease_until = NULL WHERE id = ?`, id); err != nil {
			return err
		}
		t.Processed = nil
		out = t
		return s.audit(ctx, w, tenantID, hookd.ActionTriggerReplay, hookd.ResourceTrigger, id, before, replaySnapshot(ctx, t))
	})
	return out, err
}

// replaySnapshot is what the audit log keeps of a replayed trigger: its
// state, not the request (which may be large and hold personal data).
func replaySnapshot(ctx context.Context, t *hookd.Trigger) json.RawMessage {
	return hookd.Snapshot(ctx, struct {
		ID        string     `json:"id"`
		Processed *time.Time `json:"processed_at"`
		Runs      int        `json:"runs"`
	}{t.ID, t.Processed, t.Runs})
}

// Rules.

const ruleColumns = `id, tenant_id, name, description, enabled, source, trigger_name, git, criteria, action, created_at, updated_at`

func scanRule(row interface{ Scan(...any) error }) (*hookd.Rule, error) {
	var r hookd.Rule
	var git, criteria sql.NullString
	var action string
	var created, updated int64
	err := row.Scan(&r.ID, &r.TenantID, &r.Name, &r.Description, &r.Enabled, &r.Source, &r.Trigger, &git, &criteria, &action,
		&created, &updated)
	if err != nil {
		return nil, err
	}
	if git.Valid {
		r.Git = new(hookd.GitMatch)
		if err := json.Unmarshal([]byte(git.String), r.Git); err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.ID, err)
		}
	}
	if criteria.Valid {
		r.Criteria = json.RawMessage(criteria.String)
	}
	if err := json.Unmarshal([]byte(action), &r.Action); err != nil {
		return nil, fmt.Errorf("rule %s: %w", r.ID, err)
	}
	r.CreatedAt, r.UpdatedAt = fromNS(created), fromNS(updated)
	return &r, nil
}

type encodedRule struct {
	action        string
	git, criteria any // NULL or JSON
}

func encodeRule(r *hookd.Rule) (encodedRule, error) {
	var enc encodedRule
	var err error
	if enc.action, err = marshalText(r.Action); err != nil {
		return enc, err
	}
	if r.Git != nil {
		if enc.git, err = marshalText(r.Git); err != nil {
			return enc, err
		}
	}
	if len(r.Criteria) > 0 {
		enc.criteria = string(r.Criteria)
	}
	return enc, nil
}

// CreateRule stores r; ECONFLICT if the tenant has a rule of that name,
// ENOTFOUND if the tenant does not exist.
func (s *Store) CreateRule(ctx context.Context, r *hookd.Rule) error {
	c := *r
	if c.ID == "" {
		c.ID = hookd.NewID(hookd.PrefixRule)
	}
	now := s.now().UTC()
	c.CreatedAt, c.UpdatedAt = now, now
	enc, err := encodeRule(&c)
	if err != nil {
		return err
	}
	err = s.exec(ctx, func(w *writer) error {
		_, err := w.Exec(`INSERT INTO rules (id, tenant_id, name, description, enabled, source, trigger_name, git, criteria, action, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.TenantID, c.Name, c.Description, c.Enabled, c.Source, c.Trigger, enc.git, enc.criteria, enc.action, ns(now), ns(now))
		if hookd.ErrorCode(translate(err)) == hookd.ECONFLICT {
			return hookd.Errorf(hookd.ECONFLICT, "A rule named %q already exists.", c.Name)
		} else if err != nil {
			return err
		}
		return s.audit(ctx, w, c.TenantID, hookd.ActionRuleCreate, hookd.ResourceRule, c.ID, nil, hookd.Snapshot(ctx, &c))
	})
	if err != nil {
		return err
	}
	*r = c
	return nil
}

// FindRule returns the tenant's rule with the id or, failing that, the name.
func (s *Store) FindRule(ctx context.Context, tenantID, idOrName string) (*hookd.Rule, error) {
	return findRule(s.reader(ctx), tenantID, idOrName)
}

func findRule(q queryer, tenantID, idOrName string) (*hookd.Rule, error) {
	r, err := scanRule(q.QueryRow(`SELECT `+ruleColumns+` FROM rules WHERE tenant_id = ? AND (id = ? OR name = ?)
		ORDER BY id = ? DESC LIMIT 1`, tenantID, idOrName, idOrName, idOrName))
	return r, notFound(err, "Rule")
}

// FindRules lists a tenant's rules, newest first.
func (s *Store) FindRules(ctx context.Context, tenantID string, p hookd.Page) ([]*hookd.Rule, string, error) {
	cond, args, limit, err := page(p, "id")
	if err != nil {
		return nil, "", err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+ruleColumns+` FROM rules WHERE tenant_id = ? AND `+cond+` ORDER BY id DESC LIMIT ?`,
		append(append([]any{tenantID}, args...), limit)...)
	if err != nil {
		return nil, "", translate(err)
	}
	list, err := collect(rows, scanRule)
	if err != nil {
		return nil, "", err
	}
	list, next := nextCursor(list, p.Size(), func(r *hookd.Rule) string { return r.ID })
	return list, next, nil
}

// EnabledRules returns every enabled rule of the tenant, oldest first.
func (s *Store) EnabledRules(ctx context.Context, tenantID string) ([]*hookd.Rule, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+ruleColumns+` FROM rules WHERE tenant_id = ? AND enabled ORDER BY id`, tenantID)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, scanRule)
}

// UpdateRule applies upd to the rule with the id or name and returns it as stored.
func (s *Store) UpdateRule(ctx context.Context, tenantID, idOrName string, upd hookd.RuleUpdate) (*hookd.Rule, error) {
	var out *hookd.Rule
	err := s.exec(ctx, func(w *writer) error {
		r, err := findRule(w, tenantID, idOrName)
		if err != nil {
			return err
		}
		before := hookd.Snapshot(ctx, r)
		upd.Apply(r)
		now := s.now().UTC()
		r.UpdatedAt = now
		enc, err := encodeRule(r)
		if err != nil {
			return err
		}
		_, err = w.Exec(`UPDATE rules SET description = ?, enabled = ?, source = ?, trigger_name = ?, git = ?, criteria = ?, action = ?,
				updated_at = ?
			WHERE id = ?`,
			r.Description, r.Enabled, r.Source, r.Trigger, enc.git, enc.criteria, enc.action, ns(now), r.ID)
		if err != nil {
			return err
		}
		out = r
		return s.audit(ctx, w, tenantID, hookd.ActionRuleUpdate, hookd.ResourceRule, r.ID, before, hookd.Snapshot(ctx, r))
	})
	return out, err
}

// DeleteRule removes the rule with the id or name; its runs stay.
func (s *Store) DeleteRule(ctx context.Context, tenantID, idOrName string) error {
	return s.exec(ctx, func(w *writer) error {
		r, err := findRule(w, tenantID, idOrName)
		if err != nil {
			return err
		}
		if _, err := w.Exec(`DELETE FROM rules WHERE id = ?`, r.ID); err != nil {
			return err
		}
		return s.audit(ctx, w, tenantID, hookd.ActionRuleDelete, hookd.ResourceRule, r.ID, hookd.Snapshot(ctx, r), nil)
	})
}

// Runs.

const runColumns = `id, tenant_id, rule_id, rule_name, trigger_id, status, action, attempts, next_attempt_at, started_at, ended_at,
	result, lease_owner, created_at, updated_at`

func scanRun(row interface{ Scan(...any) error }) (*hookd.Run, error) {
	r, err := scanRunRow(row)
	if err != nil {
		return nil, err
	}
	return r.decode()
}

// runRow is a run's columns as read. Claims decode them once the writer
// is free for the next request.
type runRow struct {
	r                    hookd.Run
	action               string
	result, owner        sql.NullString
	next, started, ended sql.NullInt64
	created, updated     int64
}

func scanRunRow(row interface{ Scan(...any) error }) (*runRow, error) {
	var rr runRow
	r := &rr.r
	err := row.Scan(&r.ID, &r.TenantID, &r.RuleID, &r.RuleName, &r.TriggerID, &r.Status, &rr.action, &r.Attempts, &rr.next, &rr.started,
		&rr.ended, &rr.result, &rr.owner, &rr.created, &rr.updated)
	if err != nil {
		return nil, err
	}
	return &rr, nil
}

func (rr *runRow) decode() (*hookd.Run, error) {
	r := rr.r
	if err := json.Unmarshal([]byte(rr.action), &r.Action); err != nil {
		return nil, fmt.Errorf("run %s: %w", r.ID, err)
	}
	if rr.result.Valid {
		r.Result = new(hookd.RunResult)
		if err := json.Unmarshal([]byte(rr.result.String), r.Result); err != nil {
			return nil, fmt.Errorf("run %s: %w", r.ID, err)
		}
	}
	r.LeaseOwner = rr.owner.String
	r.NextAt, r.StartedAt, r.EndedAt = fromNullNS(rr.next), fromNullNS(rr.started), fromNullNS(rr.ended)
	r.CreatedAt, r.UpdatedAt = fromNS(rr.created), fromNS(rr.updated)
	return &r, nil
}

// ClaimRuns leases up to limit runs that are queued and due at now, or
// running with an expired lease, to owner until now+lease: each is running,
// its attempt counted, its start set the first time. Oldest due first.
func (s *Store) ClaimRuns(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*hookd.Run, error) {
	if limit <= 0 {
		return nil, nil
	}
	var raw []*runRow
	err := s.exec(ctx, func(w *writer) error {
		// Running rows stay in the due index (keyed on done) and are
		// skipped while their lease holds.
		rows, err := w.Query(`UPDATE runs SET status = 'running', lease_owner = ?, lease_until = ?, attempts = attempts + 1,
				started_at = coalesce(started_at, ?), updated_at = ?
			WHERE id IN (
				SELECT id FROM runs
				WHERE done = 0 AND next_attempt_at <= ? AND (status = 'queued' OR lease_until <= ?)
				ORDER BY next_attempt_at LIMIT ?)
			RETURNING `+runColumns,
			owner, ns(now.Add(lease)), ns(now), ns(now), ns(now), ns(now), limit)
		if err != nil {
			return err
		}
		raw, err = collect(rows, scanRunRow)
		return err
	})
	if err != nil {
		return nil, err
	}
	out, err := decodeAll(raw)
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := out[i].NextAt, out[j].NextAt; a != nil && b != nil && !a.Equal(*b) {
			return a.Before(*b)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// ExtendRuns moves the lease expiry of the runs owner holds to until.
func (s *Store) ExtendRuns(ctx context.Context, owner string, ids []string, until time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	return s.exec(ctx, func(w *writer) error {
		_, err := w.Exec(`UPDATE runs SET lease_until = ?
			WHERE id IN (SELECT value FROM json_each(?)) AND status = 'running' AND lease_owner = ?`,
			ns(until), string(list), owner)
		return err
	})
}

// runCompletion is one run's outcome, as CompleteRuns sends it to SQLite.
type runCompletion struct {
	ID     string  `json:"i"`
	Owner  string  `json:"o"`
	Status string  `json:"s"`
	Next   *int64  `json:"n"`
	Ended  *int64  `json:"e"`
	At     int64   `json:"a"`
	Result *string `json:"r"`
	Done   int     `json:"d"`
}

// CompleteRuns records outcomes in one statement; an update whose owner no
// longer holds the run's lease is marked Stale and writes nothing.
func (s *Store) CompleteRuns(ctx context.Context, updates []*hookd.RunUpdate) error {
	if len(updates) == 0 {
		return nil
	}
	rows := make([]runCompletion, len(updates))
	for i, u := range updates {
		at := u.At
		if at.IsZero() {
			at = s.now()
		}
		c := runCompletion{ID: u.ID, Owner: u.Owner, Status: u.Status, At: ns(at)}
		switch u.Status {
		case hookd.RunSucceeded, hookd.RunFailed:
			c.Ended, c.Done = &c.At, 1
		case hookd.RunQueued:
			next := at
			if !u.NextAt.IsZero() {
				next = u.NextAt
			}
			n := ns(next)
			c.Next = &n
		default:
			return hookd.Errorf(hookd.EINVALID, "A run ends succeeded or failed, or is queued again; not %q.", u.Status)
		}
		if u.Result != nil {
			r, err := marshalText(u.Result)
			if err != nil {
				return err
			}
			c.Result = &r
		}
		rows[i] = c
	}
	list, err := json.Marshal(rows)
	if err != nil {
		return err
	}
	applied := map[string]bool{}
	err = s.exec(ctx, func(w *writer) error {
		clear(applied)
		q, err := w.Query(`UPDATE runs SET status = json_extract(j.value, '$.s'), done = json_extract(j.value, '$.d'),
				next_attempt_at = json_extract(j.value, '$.n'), ended_at = json_extract(j.value, '$.e'),
				result = json_extract(j.value, '$.r'), lease_owner = NULL, lease_until = NULL,
				updated_at = json_extract(j.value, '$.a')
			FROM json_each(?) j
			WHERE runs.id = json_extract(j.value, '$.i') AND runs.status = 'running'
			  AND runs.lease_owner = json_extract(j.value, '$.o')
			RETURNING runs.id`, string(list))
		if err != nil {
			return err
		}
		defer q.Close()
		for q.Next() {
			var id string
			if err := q.Scan(&id); err != nil {
				return err
			}
			applied[id] = true
		}
		return q.Err()
	})
	if err != nil {
		return err
	}
	for _, u := range updates {
		u.Stale = !applied[u.ID]
	}
	return nil
}

// FindRunByID returns a run of the tenant; ENOTFOUND otherwise.
func (s *Store) FindRunByID(ctx context.Context, tenantID, id string) (*hookd.Run, error) {
	r, err := scanRun(s.read.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ? AND tenant_id = ?`, id, tenantID))
	return r, notFound(err, "Run")
}

// FindRuns lists a tenant's runs, newest first.
func (s *Store) FindRuns(ctx context.Context, f hookd.RunFilter) ([]*hookd.Run, string, error) {
	cond, args, limit, err := page(f.Page, "id")
	if err != nil {
		return nil, "", err
	}
	args = append([]any{f.TenantID}, args...)
	for _, c := range []struct{ column, value string }{{"rule_id", f.RuleID}, {"trigger_id", f.TriggerID}, {"status", f.Status}} {
		if c.value != "" {
			cond += ` AND ` + c.column + ` = ?`
			args = append(args, c.value)
		}
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE tenant_id = ? AND `+cond+` ORDER BY id DESC LIMIT ?`,
		append(args, limit)...)
	if err != nil {
		return nil, "", translate(err)
	}
	list, err := collect(rows, scanRun)
	if err != nil {
		return nil, "", err
	}
	list, next := nextCursor(list, f.Size(), func(r *hookd.Run) string { return r.ID })
	return list, next, nil
}
