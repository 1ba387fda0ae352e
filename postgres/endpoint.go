package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
)

// storedSecret is the at-rest form of one endpoint secret. All of an
// endpoint's secrets are one JSON list in one column, sealed as a whole
// when a cipher is set.
type storedSecret struct {
	Value     string `json:"v"`
	CreatedAt int64  `json:"c"`
	ExpiresAt *int64 `json:"e,omitempty"`
}

func (s *Store) sealSecrets(secrets []hookd.Secret) (string, error) {
	list := make([]storedSecret, len(secrets))
	for i, sec := range secrets {
		list[i] = storedSecret{Value: sec.Value, CreatedAt: sec.CreatedAt.UnixNano()}
		if sec.ExpiresAt != nil {
			e := sec.ExpiresAt.UnixNano()
			list[i].ExpiresAt = &e
		}
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", err
	}
	if s.cipher == nil {
		return string(b), nil
	}
	return s.cipher.Seal(b)
}

func (s *Store) openSecrets(v string) ([]hookd.Secret, error) {
	b := []byte(v)
	if len(v) > 0 && v[0] != '[' {
		if s.cipher == nil {
			return nil, fmt.Errorf("endpoint secrets are sealed and no cipher is configured")
		}
		var err error
		if b, err = s.cipher.Open(v); err != nil {
			return nil, fmt.Errorf("endpoint secrets: %w", err)
		}
	}
	var list []storedSecret
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("endpoint secrets: %w", err)
	}
	out := make([]hookd.Secret, len(list))
	for i, sec := range list {
		out[i] = hookd.Secret{Value: sec.Value, CreatedAt: time.Unix(0, sec.CreatedAt).UTC()}
		if sec.ExpiresAt != nil {
			t := time.Unix(0, *sec.ExpiresAt).UTC()
			out[i].ExpiresAt = &t
		}
	}
	return out, nil
}

// CreateEndpoint stores e (ID and times set); ENOTFOUND if the tenant does
// not exist, ECONFLICT if the id does.
func (s *Store) CreateEndpoint(ctx context.Context, e *hookd.Endpoint) error {
	id := e.ID
	if id == "" {
		id = hookd.NewID(hookd.PrefixEndpoint)
	}
	state := e.State
	if state == "" {
		state = hookd.EndpointEnabled
	}
	mode := e.Mode
	if mode == "" {
		mode = hookd.ModeAtLeastOnce
	}
	secrets, err := s.sealSecrets(e.Secrets)
	if err != nil {
		return err
	}
	now := s.clock()
	err = s.change(ctx, func(q querier, a *auditLog) error {
		_, err := q.Exec(ctx, `INSERT INTO endpoints (id, tenant_id, name, description, url, events, headers, signatures, secrets,
				state, state_reason, state_changed_at, timeout_ns, retry_schedule, max_in_flight, rate_limit, mode, last_test,
				filter, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $17, $18, $19, $20, $16, $16)`,
			id, e.TenantID, e.Name, e.Description, e.URL, orEmpty(e.Events), headersOrEmpty(e.Headers), orEmpty(e.Signatures), secrets,
			string(state), e.StateReason, microPtr(e.StateChanged), int64(e.Timeout), orEmpty(e.RetrySchedule), e.MaxInFlight, now, e.RateLimit,
			string(mode), e.LastTest, filterText(e.Filter))
		if err != nil {
			return err
		}
		c := *e
		c.ID, c.State, c.Mode, c.CreatedAt, c.UpdatedAt = id, state, mode, now, now
		a.record(e.TenantID, hookd.ActionEndpointCreate, hookd.ResourceEndpoint, id, nil, a.snapshot(&c))
		return nil
	})
	if hookd.ErrorCode(err) == hookd.ECONFLICT {
		return hookd.Errorf(hookd.ECONFLICT, "Endpoint %q already exists.", id)
	} else if err != nil {
		return err
	}
	e.ID, e.State, e.Mode, e.CreatedAt, e.UpdatedAt = id, state, mode, now, now
	return nil
}

func headersOrEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// endpointColumns are read by every endpoint query; secrets come last so
// publishing can leave them out (matching needs no secrets).
const endpointColumns = `id, tenant_id, name, description, url, events, headers, signatures, state, state_reason,
	state_changed_at, timeout_ns, retry_schedule, max_in_flight, rate_limit, created_at, updated_at, last_delivery_at, last_status,
	consecutive_failures, mode, failing_since, last_test, filter`

// scanEndpoint reads endpointColumns, then secrets when withSecrets.
func (s *Store) scanEndpoint(row pgx.Row, withSecrets bool) (*hookd.Endpoint, error) {
	var e hookd.Endpoint
	var state, mode, secrets string
	var filter *string
	var timeout int64
	dest := []any{&e.ID, &e.TenantID, &e.Name, &e.Description, &e.URL, &e.Events, &e.Headers, &e.Signatures, &state,
		&e.StateReason, &e.StateChanged, &timeout, &e.RetrySchedule, &e.MaxInFlight, &e.RateLimit, &e.CreatedAt, &e.UpdatedAt,
		&e.LastDeliveryAt, &e.LastStatus, &e.ConsecutiveFailures, &mode, &e.FailingSince, &e.LastTest, &filter}
	if withSecrets {
		dest = append(dest, &secrets)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if withSecrets {
		var err error
		if e.Secrets, err = s.openSecrets(secrets); err != nil {
			return nil, err
		}
	}
	if filter != nil {
		e.Filter = json.RawMessage(*filter)
	}
	e.State, e.Mode, e.Timeout = hookd.EndpointState(state), hookd.DeliveryMode(mode), hookd.Duration(timeout)
	e.StateChanged, e.LastDeliveryAt, e.FailingSince = utcPtr(e.StateChanged), utcPtr(e.LastDeliveryAt), utcPtr(e.FailingSince)
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return &e, nil
}

// FindEndpointByID returns a live endpoint of the tenant; ENOTFOUND otherwise.
func (s *Store) FindEndpointByID(ctx context.Context, tenantID, id string) (*hookd.Endpoint, error) {
	e, err := s.scanEndpoint(s.pool.QueryRow(ctx, `SELECT `+endpointColumns+`, secrets FROM endpoints
		WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL`, id, tenantID), true)
	return e, s.notFound(err, "Endpoint")
}

// FindEndpoints lists a tenant's live endpoints by id, descending.
func (s *Store) FindEndpoints(ctx context.Context, f hookd.EndpointFilter) ([]*hookd.Endpoint, string, error) {
	after, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	var state *string
	if f.State != nil {
		v := string(*f.State)
		state = &v
	}
	rows, err := s.pool.Query(ctx, `SELECT `+endpointColumns+`, secrets FROM endpoints
		WHERE tenant_id = $1 AND deleted_at IS NULL AND ($2 = '' OR id < $2) AND ($3::text IS NULL OR state = $3)
		ORDER BY id DESC LIMIT $4`, f.TenantID, after, state, f.Size()+1)
	if err != nil {
		return nil, "", s.fail(err)
	}
	list, err := collect(rows, func(r pgx.Row) (*hookd.Endpoint, error) { return s.scanEndpoint(r, true) })
	if err != nil {
		return nil, "", s.fail(err)
	}
	list, next := nextCursor(list, f.Size(), func(e *hookd.Endpoint) string { return e.ID })
	return list, next, nil
}

// UpdateEndpoint applies upd and returns the endpoint as stored; ENOTFOUND
// if it does not exist. A state change sets state_changed_at and clears the
// reason unless upd gives one; a change to enabled also resets the failure
// count and failing_since (the run of failures starts afresh).
func (s *Store) UpdateEndpoint(ctx context.Context, tenantID, id string, upd hookd.EndpointUpdate) (*hookd.Endpoint, error) {
	var out *hookd.Endpoint
	var resumed bool
	err := s.changeTx(ctx, func(tx pgx.Tx, a *auditLog) error {
		e, err := s.scanEndpoint(tx.QueryRow(ctx, `SELECT `+endpointColumns+`, secrets FROM endpoints
			WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL FOR NO KEY UPDATE`, id, tenantID), true)
		if err != nil {
			return s.notFound(err, "Endpoint")
		}
		snap := a.snapshot(e)
		before := e.State
		upd.Apply(e)
		now := s.clock()
		e.UpdatedAt = now
		if e.State != before {
			e.StateChanged = &now
			if upd.StateReason == nil {
				e.StateReason = ""
			}
			resumed = e.State == hookd.EndpointEnabled
			if resumed {
				e.ConsecutiveFailures, e.FailingSince = 0, nil
			}
		}
		secrets, err := s.sealSecrets(e.Secrets)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE endpoints SET name = $2, description = $3, url = $4, events = $5, headers = $6,
				signatures = $7, secrets = $8, state = $9, state_reason = $10, state_changed_at = $11, timeout_ns = $12,
				retry_schedule = $13, max_in_flight = $14, updated_at = $15, rate_limit = $16, mode = $17, last_test = $18,
				consecutive_failures = $19, failing_since = $20, filter = $21
			WHERE id = $1`,
			id, e.Name, e.Description, e.URL, orEmpty(e.Events), headersOrEmpty(e.Headers), orEmpty(e.Signatures), secrets,
			string(e.State), e.StateReason, microPtr(e.StateChanged), int64(e.Timeout), orEmpty(e.RetrySchedule), e.MaxInFlight, now, e.RateLimit,
			string(e.Mode), e.LastTest, e.ConsecutiveFailures, microPtr(e.FailingSince), filterText(e.Filter))
		if err != nil {
			return err
		}
		out = e
		a.record(tenantID, hookd.ActionEndpointUpdate, hookd.ResourceEndpoint, id, snap, a.snapshot(e))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if resumed {
		s.wantNotify() // its backlog is claimable again
	}
	return out, nil
}

// DeleteEndpoint soft-deletes the endpoint and cancels its unfinished
// deliveries; their history stays readable. It waits for publishes to the
// tenant in progress (they hold the tenant row), so none of them can add a
// delivery for the endpoint after it is gone.
func (s *Store) DeleteEndpoint(ctx context.Context, tenantID, id string) error {
	now := s.clock()
	return s.changeTx(ctx, func(tx pgx.Tx, a *auditLog) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE`, tenantID); err != nil {
			return err
		}
		var before *hookd.Endpoint
		if a.on {
			var err error
			before, err = s.scanEndpoint(tx.QueryRow(ctx, `SELECT `+endpointColumns+` FROM endpoints
				WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL`, id, tenantID), false)
			if err != nil {
				return s.notFound(err, "Endpoint")
			}
		}
		tag, err := tx.Exec(ctx, `UPDATE endpoints SET deleted_at = $3, updated_at = $3
			WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL`, id, tenantID, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return hookd.Errorf(hookd.ENOTFOUND, "Endpoint not found.")
		}
		_, err = tx.Exec(ctx, `UPDATE deliveries SET state = 'cancelled', next_attempt_at = NULL, lease_owner = NULL, updated_at = $2
			WHERE endpoint_id = $1 AND state IN ('pending', 'failed', 'delivering')`, id, now)
		if err != nil {
			return err
		}
		a.record(tenantID, hookd.ActionEndpointDelete, hookd.ResourceEndpoint, id, a.snapshot(before), nil)
		return nil
	})
}

// filterText stores an endpoint's filter as written, NULL when none.
func filterText(f json.RawMessage) *string {
	if len(f) == 0 {
		return nil
	}
	v := string(f)
	return &v
}
