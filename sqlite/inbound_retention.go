package sqlite

import (
	"context"
	"time"

	"github.com/hookd/hookd"
)

// PurgeTriggers deletes old triggers that are done with, and their runs.
func (s *Store) PurgeTriggers(ctx context.Context, before time.Time, limit int) (int, int, error) {
	if limit <= 0 {
		limit = hookd.DefaultPurgeLimit
	}
	var triggers, runs int
	err := s.exec(ctx, func(w *writer) error {
		triggers, runs = 0, 0
		// The candidates are re-checked by the deletes' own conditions.
		const done = `received_at < ?1 AND processed_at IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.trigger_id = triggers.id AND r.done = 0)`
		rows, err := w.Query(`SELECT id FROM triggers WHERE `+done+` ORDER BY received_at LIMIT ?2`, ns(before), limit)
		if err != nil {
			return err
		}
		var ids []any
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, id := range ids {
			res, err := w.Exec(`DELETE FROM runs WHERE trigger_id = ?`, id)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			runs += int(n)
			if res, err = w.Exec(`DELETE FROM triggers WHERE id = ?`, id); err != nil {
				return err
			}
			n, _ = res.RowsAffected()
			triggers += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return triggers, runs, nil
}
