package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SetUserDisabled disables (disabled_at = now, kept when already set) or
// enables the user, audited in the same transaction. ErrNotFound when there
// is no such user. Enabling a row kept only for its disable (Blink core's
// subject whose email and phone moved to another account) deletes it: the
// subject's next sign-in caches it again.
func (s *Store) SetUserDisabled(ctx context.Context, userID string, disabled bool, actor string) error {
	set, action := `disabled_at = coalesce(disabled_at, now())`, "user disabled"
	if !disabled {
		set, action = `disabled_at = NULL`, "user enabled"
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if !disabled {
			tag, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1::uuid AND email IS NULL AND phone IS NULL`, uuidArg(userID))
			if err != nil {
				return fmt.Errorf("store: unable to change a user: %w", err)
			}
			if tag.RowsAffected() == 1 {
				return insertAudit(ctx, tx, AuditEvent{UserID: userID, Action: action, Actor: actor, Result: "ok"})
			}
		}
		tag, err := tx.Exec(ctx, `UPDATE users SET `+set+` WHERE id = $1::uuid`, uuidArg(userID))
		if err != nil {
			return fmt.Errorf("store: unable to change a user: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return insertAudit(ctx, tx, AuditEvent{UserID: userID, Action: action, Actor: actor, Result: "ok"})
	})
}

// Unlock clears an identifier's lockout: its consecutive failures and the
// failures counted against it by the fail-identifier limit. The identifier is
// stored as the sign-in stores it (a lower-case email, an E.164 number). It
// reports whether there was anything to clear; the audit row names the
// account the identifier belongs to, when there is one.
func (s *Store) Unlock(ctx context.Context, identifier, actor string) (cleared bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		a, err := tx.Exec(ctx, `DELETE FROM identity_failures WHERE identifier = $1`, identifier)
		if err != nil {
			return fmt.Errorf("store: unable to clear failures: %w", err)
		}
		b, err := tx.Exec(ctx, `DELETE FROM rate_events WHERE bucket = 'fail-identifier' AND key = $1`, identifier)
		if err != nil {
			return fmt.Errorf("store: unable to clear failures: %w", err)
		}
		cleared = a.RowsAffected()+b.RowsAffected() > 0
		result := "cleared"
		if !cleared {
			result = "nothing to clear"
		}
		_, err = tx.Exec(ctx, `INSERT INTO audit_events (user_id, action, actor, result, details)
			VALUES ((SELECT id FROM users WHERE email = $1 OR phone = $1 LIMIT 1), 'identifier unlocked', $2, $3, jsonb_build_object('identifier', $4::text))`,
			identifier, actor, result, maskIdentifier(identifier))
		if err != nil {
			return fmt.Errorf("store: unable to audit: %w", err)
		}
		return nil
	})
	return cleared, err
}
