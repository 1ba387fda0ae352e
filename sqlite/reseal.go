package sqlite

import (
	"context"

	"github.com/hookd/hookd"
)

// sealedTables are the tables with a sealed secrets column, and what
// their rows are called in errors.
var sealedTables = []struct{ table, what string }{{"endpoints", "Endpoint"}, {"sources", "Source"}}

// ResealSecrets re-encrypts the secrets of every endpoint (deleted ones
// included) and every source from old to to in one transaction. While it
// runs, SQLite's secure_delete is on, so the replaced values are zeroed in
// the file rather than left in free space.
func (s *Store) ResealSecrets(ctx context.Context, old, to hookd.Cipher) (int, error) {
	if to == nil {
		return 0, hookd.Errorf(hookd.EINVALID, "A new master key is required.")
	}
	var n int
	err := s.exec(ctx, func(w *writer) error {
		n = 0
		if _, err := w.Exec(`PRAGMA secure_delete = ON`); err != nil {
			return err
		}
		defer w.Exec(`PRAGMA secure_delete = OFF`)
		for _, t := range sealedTables {
			k, err := resealTable(w, t.table, t.what, old, to)
			if err != nil {
				return err
			}
			n += k
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// resealTable reseals the secrets column of every row of table.
func resealTable(w *writer, table, what string, old, to hookd.Cipher) (int, error) {
	rows, err := w.Query(`SELECT id, secrets FROM ` + table + ` ORDER BY id`)
	if err != nil {
		return 0, err
	}
	type row struct{ id, secrets string }
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.secrets); err != nil {
			rows.Close()
			return 0, err
		}
		all = append(all, r)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	n := 0
	for _, r := range all {
		out, changed, err := hookd.Reseal(r.secrets, plainSecrets(r.secrets), old, to)
		if err != nil {
			return 0, hookd.Errorf(hookd.ErrorCode(err), "%s %s: %s Nothing was changed.", what, r.id, hookd.ErrorMessage(err))
		}
		if !changed {
			continue
		}
		if _, err := w.Exec(`UPDATE `+table+` SET secrets = ? WHERE id = ?`, out, r.id); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// plainSecrets reports whether a stored secrets value is the unsealed JSON list.
func plainSecrets(v string) bool { return len(v) > 0 && v[0] == '[' }
