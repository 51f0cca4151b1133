package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SetUserDisabled disables (disabled_at = now, kept when already set) or
// enables the user, audited in the same transaction. ErrNotFound when there
// is no such user. Enabling a row kept only for its disable (a remote
// source's subject whose email and phone moved to another account) deletes it: the
// subject's next sign-in caches it again.
func (s *Store) SetUserDisabled(ctx context.Context, userID string, disabled bool, actor string) error {
	set, action := `disabled_at = coalesce(disabled_at, now())`, ActionUserDisabled
	if !disabled {
		set, action = `disabled_at = NULL`, ActionUserEnabled
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

// Unlocked says what Unlock cleared for an identifier.
type Unlocked struct {
	Failures     int // consecutive failed codes (and the lock they led to), from identity_failures
	FailureLimit int // failed codes counted by the fail-identifier limit
	SendLimit    int // codes sent counted by the send-email or send-phone limit
}

// Any reports whether anything was cleared.
func (u Unlocked) Any() bool { return u.Failures+u.FailureLimit+u.SendLimit > 0 }

// Unlock clears what keeps an identifier from signing in: its consecutive
// failures (and lock), the failures counted against it by the
// fail-identifier limit, and the codes counted by its send limit (send-email
// or send-phone), so it can ask for a code and use it at once. The per-IP
// limits are left alone: they protect everyone behind that address. The
// identifier is stored as the sign-in stores it (a lower-case email, an
// E.164 number). The audit row names the account the identifier belongs to,
// when there is one, and what was cleared.
func (s *Store) Unlock(ctx context.Context, identifier, actor string) (Unlocked, error) {
	var u Unlocked
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		u = Unlocked{}
		err := tx.QueryRow(ctx, `WITH gone AS (DELETE FROM identity_failures WHERE identifier = $1 RETURNING failures)
			SELECT coalesce(sum(failures), 0) FROM gone`, identifier).Scan(&u.Failures)
		if err != nil {
			return fmt.Errorf("store: unable to clear failures: %w", err)
		}
		err = tx.QueryRow(ctx, `WITH gone AS (DELETE FROM rate_events
				WHERE bucket IN ('fail-identifier', 'send-email', 'send-phone') AND key = $1 RETURNING bucket)
			SELECT count(*) FILTER (WHERE bucket = 'fail-identifier'), count(*) FILTER (WHERE bucket <> 'fail-identifier') FROM gone`,
			identifier).Scan(&u.FailureLimit, &u.SendLimit)
		if err != nil {
			return fmt.Errorf("store: unable to clear limits: %w", err)
		}
		result := "cleared"
		if !u.Any() {
			result = "nothing to clear"
		}
		_, err = tx.Exec(ctx, `INSERT INTO audit_events (user_id, action, actor, result, details)
			VALUES ((SELECT id FROM users WHERE email = $1 OR phone = $1 LIMIT 1), $8, $2, $3,
				jsonb_build_object('identifier', $4::text, 'failures', $5::int, 'failure_limit', $6::int, 'send_limit', $7::int))`,
			identifier, actor, result, maskIdentifier(identifier), u.Failures, u.FailureLimit, u.SendLimit, ActionIdentifierUnlocked)
		if err != nil {
			return fmt.Errorf("store: unable to audit: %w", err)
		}
		return nil
	})
	return u, err
}
