package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Recovery codes: ten single-use codes an account with an authenticator app
// can type on the authenticator step instead, when the app is lost. Only
// their SHA-256 is stored (recovery_codes).

// replaceRecoveryCodes deletes the user's codes, used or not, and stores
// hashes as the new set, in tx.
func replaceRecoveryCodes(ctx context.Context, tx pgx.Tx, userID string, hashes [][]byte) error {
	if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1::uuid`, uuidArg(userID)); err != nil {
		return fmt.Errorf("store: unable to remove recovery codes: %w", err)
	}
	if len(hashes) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO recovery_codes (user_id, code_hash) SELECT $1::uuid, unnest($2::bytea[])`,
		uuidArg(userID), hashes); err != nil {
		return fmt.Errorf("store: unable to save recovery codes: %w", err)
	}
	return nil
}

// ReplaceRecoveryCodes makes hashes the user's recovery codes (the old ones,
// used or not, stop working), audits e and queues notify, in one
// transaction. ErrNotFound when the user has no authenticator app: codes
// that stand in for one mean nothing without it.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, hashes [][]byte, e AuditEvent, notify *Message) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM totp_credentials WHERE user_id = $1::uuid FOR UPDATE`, uuidArg(e.UserID)).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("store: unable to read a TOTP credential: %w", err)
		}
		if err := replaceRecoveryCodes(ctx, tx, e.UserID, hashes); err != nil {
			return err
		}
		return auditAndNotify(ctx, tx, e, notify)
	})
}

// RecoveryCode is one row of a user's recovery codes; the code itself is
// never stored.
type RecoveryCode struct {
	CreatedAt time.Time
	// UsedAt and UsedFlow say when, and for which sign-in, it was used.
	UsedAt   *time.Time
	UsedFlow string
}

// RecoveryCodes lists the user's recovery codes, used or not.
func (s *Store) RecoveryCodes(ctx context.Context, userID string) ([]RecoveryCode, error) {
	rows, err := s.pool.Query(ctx, `SELECT created_at, used_at, coalesce(used_flow::text, '') FROM recovery_codes
		WHERE user_id = $1::uuid ORDER BY created_at, code_hash`, uuidArg(userID))
	if err != nil {
		return nil, fmt.Errorf("store: unable to read recovery codes: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (RecoveryCode, error) {
		var c RecoveryCode
		err := row.Scan(&c.CreatedAt, &c.UsedAt, &c.UsedFlow)
		return c, err
	})
}

// claimRecoveryCode uses one unused code of the user for flowID: the UPDATE
// takes the row's lock and re-checks used_at after a concurrent use, so of
// two flows typing the same code at once exactly one wins.
func claimRecoveryCode(ctx context.Context, tx pgx.Tx, req TOTPRequest, userID string, tries int) (TOTPVerdict, error) {
	if tries > req.TriesPerFlow {
		return TOTPLocked, nil
	}
	tag, err := tx.Exec(ctx, `UPDATE recovery_codes SET used_at = now(), used_flow = $3::uuid
		WHERE user_id = $1::uuid AND code_hash = $2 AND used_at IS NULL
		AND EXISTS (SELECT 1 FROM totp_credentials WHERE user_id = $1::uuid)`,
		uuidArg(userID), req.RecoveryHash, req.FlowID)
	if err != nil {
		return TOTPWrong, fmt.Errorf("store: unable to use a recovery code: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return TOTPWrong, nil
	}
	return TOTPAccepted, nil
}
