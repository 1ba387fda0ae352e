package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/hookd/hookd"
)

// storedSecret is the at-rest form of one endpoint secret.
type storedSecret struct {
	Value     string `json:"v"`
	CreatedAt int64  `json:"c"`
	ExpiresAt *int64 `json:"e,omitempty"`
}

// sealSecrets encodes secrets as JSON, sealed with the cipher when one is set.
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
	if s.cipher != nil && len(v) > 0 && v[0] != '[' {
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
		out[i] = hookd.Secret{Value: sec.Value, CreatedAt: fromNS(sec.CreatedAt)}
		if sec.ExpiresAt != nil {
			t := fromNS(*sec.ExpiresAt)
			out[i].ExpiresAt = &t
		}
	}
	return out, nil
}

// CreateEndpoint stores e; ENOTFOUND if the tenant does not exist.
func (s *Store) CreateEndpoint(ctx context.Context, e *hookd.Endpoint) error {
	if e.ID == "" {
		e.ID = hookd.NewID(hookd.PrefixEndpoint)
	}
	now := s.now().UTC()
	e.CreatedAt, e.UpdatedAt = now, now
	if e.State == "" {
		e.State = hookd.EndpointEnabled
	}
	enc, err := s.encodeEndpoint(e)
	if err != nil {
		return err
	}
	return s.exec(ctx, func(w *writer) error {
		_, err := w.Exec(`INSERT INTO endpoints (id, tenant_id, name, description, url, events, headers, signatures, secrets,
				state, state_reason, state_changed_at, timeout_ns, retry_schedule, max_in_flight, rate_limit, mode, last_test, filter, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.TenantID, e.Name, e.Description, e.URL, enc.events, enc.headers, enc.signatures, enc.secrets,
			string(e.State), e.StateReason, nsPtr(e.StateChanged), int64(e.Timeout), enc.retry, e.MaxInFlight, e.RateLimit,
			string(e.Mode), enc.lastTest, enc.filter, ns(now), ns(now))
		if hookd.ErrorCode(translate(err)) == hookd.ECONFLICT {
			return hookd.Errorf(hookd.ECONFLICT, "Endpoint %q already exists.", e.ID)
		} else if err != nil {
			return err
		}
		return s.audit(ctx, w, e.TenantID, hookd.ActionEndpointCreate, hookd.ResourceEndpoint, e.ID, nil, hookd.Snapshot(ctx, e))
	})
}

type encodedEndpoint struct {
	events, headers, signatures, secrets, retry string
	lastTest, filter                            any // NULL or JSON
}

func (s *Store) encodeEndpoint(e *hookd.Endpoint) (encodedEndpoint, error) {
	var enc encodedEndpoint
	var err error
	marshal := func(v any) string {
		b, merr := json.Marshal(v)
		if merr != nil && err == nil {
			err = merr
		}
		return string(b)
	}
	enc.events = marshal(orEmpty(e.Events))
	enc.headers = marshal(orEmptyMap(e.Headers))
	enc.signatures = marshal(orEmpty(e.Signatures))
	enc.retry = marshal(orEmpty(e.RetrySchedule))
	if e.LastTest != nil {
		enc.lastTest = marshal(e.LastTest)
	}
	if len(e.Filter) > 0 {
		enc.filter = string(e.Filter)
	}
	if err != nil {
		return enc, err
	}
	enc.secrets, err = s.sealSecrets(e.Secrets)
	return enc, err
}

func orEmpty[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func orEmptyMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

const endpointColumns = `id, tenant_id, name, description, url, events, headers, signatures, secrets, state, state_reason,
	state_changed_at, timeout_ns, retry_schedule, max_in_flight, rate_limit, created_at, updated_at, last_delivery_at, last_status, consecutive_failures,
	mode, failing_since, last_test, filter`

func (s *Store) scanEndpoint(row interface{ Scan(...any) error }) (*hookd.Endpoint, error) {
	var e hookd.Endpoint
	var events, headers, signatures, secrets, state, retry string
	var changed, last, failing sql.NullInt64
	var timeout, created, updated int64
	var mode string
	var lastTest, filter sql.NullString
	err := row.Scan(&e.ID, &e.TenantID, &e.Name, &e.Description, &e.URL, &events, &headers, &signatures, &secrets, &state,
		&e.StateReason, &changed, &timeout, &retry, &e.MaxInFlight, &e.RateLimit, &created, &updated, &last, &e.LastStatus, &e.ConsecutiveFailures,
		&mode, &failing, &lastTest, &filter)
	if err != nil {
		return nil, err
	}
	if lastTest.Valid {
		e.LastTest = new(hookd.TestResult)
		if err := json.Unmarshal([]byte(lastTest.String), e.LastTest); err != nil {
			return nil, fmt.Errorf("endpoint %s: %w", e.ID, err)
		}
	}
	if filter.Valid {
		e.Filter = json.RawMessage(filter.String)
	}
	e.Mode, e.FailingSince = hookd.DeliveryMode(mode), fromNullNS(failing)
	for _, f := range []struct {
		src string
		dst any
	}{{events, &e.Events}, {headers, &e.Headers}, {signatures, &e.Signatures}, {retry, &e.RetrySchedule}} {
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return nil, fmt.Errorf("endpoint %s: %w", e.ID, err)
		}
	}
	if e.Secrets, err = s.openSecrets(secrets); err != nil {
		return nil, err
	}
	e.State, e.Timeout = hookd.EndpointState(state), hookd.Duration(timeout)
	e.StateChanged, e.LastDeliveryAt = fromNullNS(changed), fromNullNS(last)
	e.CreatedAt, e.UpdatedAt = fromNS(created), fromNS(updated)
	return &e, nil
}

// FindEndpointByID returns a live endpoint of the tenant; ENOTFOUND otherwise.
func (s *Store) FindEndpointByID(ctx context.Context, tenantID, id string) (*hookd.Endpoint, error) {
	return s.findEndpoint(s.reader(ctx), tenantID, id)
}

func (s *Store) findEndpoint(q queryer, tenantID, id string) (*hookd.Endpoint, error) {
	e, err := s.scanEndpoint(q.QueryRow(`SELECT `+endpointColumns+` FROM endpoints WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL`, id, tenantID))
	return e, notFound(err, "Endpoint")
}

// FindEndpoints lists a tenant's live endpoints, newest first.
func (s *Store) FindEndpoints(ctx context.Context, f hookd.EndpointFilter) ([]*hookd.Endpoint, string, error) {
	cond, args, limit, err := page(f.Page, "id")
	if err != nil {
		return nil, "", err
	}
	args = append([]any{f.TenantID}, args...)
	if f.State != nil {
		cond += ` AND state = ?`
		args = append(args, string(*f.State))
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+endpointColumns+` FROM endpoints WHERE tenant_id = ? AND deleted_at IS NULL AND `+cond+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, "", translate(err)
	}
	list, err := collect(rows, s.scanEndpoint)
	if err != nil {
		return nil, "", err
	}
	list, next := nextCursor(list, f.Size(), func(e *hookd.Endpoint) string { return e.ID })
	return list, next, nil
}

// UpdateEndpoint applies upd and returns the endpoint as stored.
func (s *Store) UpdateEndpoint(ctx context.Context, tenantID, id string, upd hookd.EndpointUpdate) (*hookd.Endpoint, error) {
	var out *hookd.Endpoint
	err := s.exec(ctx, func(w *writer) error {
		e, err := s.findEndpoint(w, tenantID, id)
		if err != nil {
			return err
		}
		before := e.State
		snap := hookd.Snapshot(ctx, e)
		upd.Apply(e)
		now := s.now().UTC()
		e.UpdatedAt = now
		if e.State != before {
			e.StateChanged = &now
			if upd.StateReason == nil {
				e.StateReason = ""
			}
			if e.State == hookd.EndpointEnabled {
				e.ConsecutiveFailures, e.FailingSince = 0, nil
			}
		}
		enc, err := s.encodeEndpoint(e)
		if err != nil {
			return err
		}
		_, err = w.Exec(`UPDATE endpoints SET name = ?, description = ?, url = ?, events = ?, headers = ?, signatures = ?, secrets = ?,
				state = ?, state_reason = ?, state_changed_at = ?, timeout_ns = ?, retry_schedule = ?, max_in_flight = ?, rate_limit = ?,
				mode = ?, last_test = ?, consecutive_failures = ?, failing_since = ?, filter = ?, updated_at = ?
			WHERE id = ?`,
			e.Name, e.Description, e.URL, enc.events, enc.headers, enc.signatures, enc.secrets,
			string(e.State), e.StateReason, nsPtr(e.StateChanged), int64(e.Timeout), enc.retry, e.MaxInFlight, e.RateLimit,
			string(e.Mode), enc.lastTest, e.ConsecutiveFailures, nsPtr(e.FailingSince), enc.filter, ns(now), id)
		if err != nil {
			return err
		}
		out = e
		return s.audit(ctx, w, tenantID, hookd.ActionEndpointUpdate, hookd.ResourceEndpoint, id, snap, hookd.Snapshot(ctx, e))
	})
	return out, err
}

// DeleteEndpoint soft-deletes the endpoint and cancels its unfinished
// deliveries; history stays readable.
func (s *Store) DeleteEndpoint(ctx context.Context, tenantID, id string) error {
	now := s.now().UTC()
	return s.exec(ctx, func(w *writer) error {
		var before json.RawMessage
		if hookd.Audited(ctx) {
			e, err := s.findEndpoint(w, tenantID, id)
			if err != nil {
				return err
			}
			before = hookd.Snapshot(ctx, e)
		}
		res, err := w.Exec(`UPDATE endpoints SET deleted_at = ?, updated_at = ? WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL`, ns(now), ns(now), id, tenantID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return hookd.Errorf(hookd.ENOTFOUND, "Endpoint not found.")
		}
		_, err = w.Exec(`UPDATE deliveries SET state = 'cancelled', done = 1, next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL,
				updated_at = ?
			WHERE endpoint_id = ? AND state IN ('pending', 'failed', 'delivering')`, ns(now), id)
		if err != nil {
			return err
		}
		return s.audit(ctx, w, tenantID, hookd.ActionEndpointDelete, hookd.ResourceEndpoint, id, before, nil)
	})
}

// liveEndpoints loads the tenant's endpoints that may get new deliveries.
func (s *Store) liveEndpoints(q queryer, tenantID string) ([]*hookd.Endpoint, error) {
	rows, err := q.Query(`SELECT `+endpointColumns+` FROM endpoints WHERE tenant_id = ? AND deleted_at IS NULL AND state != 'disabled'`, tenantID)
	if err != nil {
		return nil, err
	}
	return collect(rows, s.scanEndpoint)
}
