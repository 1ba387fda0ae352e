package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
)

// ResealSecrets re-encrypts the signing secrets of every endpoint
// (deleted ones included) and the verifier secrets of every source from
// old to to in one transaction. The rows are
// locked while it runs. Replaced values stay in dead row versions until
// PostgreSQL vacuums the table.
func (s *Store) ResealSecrets(ctx context.Context, old, to hookd.Cipher) (int, error) {
	if to == nil {
		return 0, hookd.Errorf(hookd.EINVALID, "A new master key is required.")
	}
	var n int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		n = 0
		rows, err := tx.Query(ctx, `SELECT id, secrets FROM endpoints ORDER BY id FOR UPDATE`)
		if err != nil {
			return err
		}
		type row struct{ id, secrets string }
		all, err := collect(rows, func(r pgx.Row) (row, error) {
			var x row
			return x, r.Scan(&x.id, &x.secrets)
		})
		if err != nil {
			return err
		}
		var ids, values []string
		for _, r := range all {
			out, changed, err := hookd.Reseal(r.secrets, len(r.secrets) > 0 && r.secrets[0] == '[', old, to)
			if err != nil {
				return hookd.Errorf(hookd.ErrorCode(err), "Endpoint %s: %s Nothing was changed.", r.id, hookd.ErrorMessage(err))
			}
			if changed {
				ids, values = append(ids, r.id), append(values, out)
			}
		}
		if len(ids) > 0 {
			tag, err := tx.Exec(ctx, `UPDATE endpoints e SET secrets = x.secrets
				FROM unnest($1::text[], $2::text[]) AS x(id, secrets) WHERE e.id = x.id`, ids, values)
			if err != nil {
				return err
			}
			n = int(tag.RowsAffected())
		}
		k, err := resealSources(ctx, tx, old, to)
		n += k
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
