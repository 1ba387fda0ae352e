package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
)

// PurgeTriggers deletes old triggers that are done with, and their runs.
// Rows other nodes hold locks on (a trigger being processed, a replay) are
// skipped, to be taken by a later pass.
func (s *Store) PurgeTriggers(ctx context.Context, before time.Time, limit int) (int, int, error) {
	if limit <= 0 {
		limit = hookd.DefaultPurgeLimit
	}
	if s.closed.Load() {
		return 0, 0, errClosed
	}
	var triggers, runs int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `DELETE FROM triggers WHERE id IN (
				SELECT t.id FROM triggers t
				WHERE t.received_at < $1 AND t.processed_at IS NOT NULL
				  AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.trigger_id = t.id AND r.status IN ('queued', 'running'))
				ORDER BY t.received_at LIMIT $2 FOR UPDATE SKIP LOCKED)
			RETURNING id`, micro(before), limit)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		triggers = len(ids)
		if triggers == 0 {
			runs = 0
			return nil
		}
		tag, err := tx.Exec(ctx, `DELETE FROM runs WHERE trigger_id = ANY($1)`, ids)
		runs = int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return 0, 0, s.fail(err)
	}
	return triggers, runs, nil
}
