package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Two-step sign-in from the account page: pending enrolments, the change
// itself (audited, the user told, in one transaction).

// ErrTOTPExists means the account already has an authenticator app.
var ErrTOTPExists = errors.New("store: the account already has an authenticator app")

// SavePendingTOTP keeps a secret shown to its user until a code confirms it,
// or until expiresAt.
func (s *Store) SavePendingTOTP(ctx context.Context, id, userID string, sealed []byte, expiresAt time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO totp_enrollments (id, user_id, sealed, expires_at) VALUES ($1::uuid, $2::uuid, $3, $4)`,
		uuidArg(id), uuidArg(userID), sealed, expiresAt)
	if err != nil {
		return fmt.Errorf("store: unable to keep a pending enrolment: %w", err)
	}
	return nil
}

// TOTPConfirmation is one code typed to confirm a pending enrolment.
type TOTPConfirmation struct {
	EnrollmentID, UserID string
	// MaxTries wrong codes end the enrolment.
	MaxTries int
	// Match opens the pending secret and checks the code. When it matches it
	// returns the credential to save (sealed for the user) and the code's
	// time step, so that code cannot also sign in.
	Match func(pending []byte) (credential []byte, step int64, ok bool, err error)
	// Audit and Notify are written with the credential.
	Audit  AuditEvent
	Notify *Message
	// RecoveryHashes, when not empty, become the account's recovery codes
	// (SHA-256 of each) with the credential.
	RecoveryHashes [][]byte
}

// ConfirmTOTP is the confirmation of a pending enrolment, in one
// transaction: the enrolment (this user's, not expired) is locked, else
// ErrNotFound; a wrong code only counts a try (the last try ends the
// enrolment) and saves nothing; a right one saves the credential (and the
// recovery codes, when given) — refused
// with ErrTOTPExists when the account has one — deletes the user's pending
// enrolments, audits and queues the user's notification.
func (s *Store) ConfirmTOTP(ctx context.Context, c TOTPConfirmation) (ok bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		ok = false
		var pending []byte
		var tries int
		err := tx.QueryRow(ctx, `SELECT sealed, tries FROM totp_enrollments
			WHERE id = $1::uuid AND user_id = $2::uuid AND expires_at > now() FOR UPDATE`,
			uuidArg(c.EnrollmentID), uuidArg(c.UserID)).Scan(&pending, &tries)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("store: unable to read a pending enrolment: %w", err)
		}
		credential, step, matched, err := c.Match(pending)
		if err != nil {
			return err
		}
		if !matched {
			sql := `UPDATE totp_enrollments SET tries = tries + 1 WHERE id = $1::uuid`
			if tries+1 >= c.MaxTries {
				sql = `DELETE FROM totp_enrollments WHERE id = $1::uuid`
			}
			if _, err := tx.Exec(ctx, sql, c.EnrollmentID); err != nil {
				return fmt.Errorf("store: unable to count a try: %w", err)
			}
			return nil
		}
		tag, err := tx.Exec(ctx, `INSERT INTO totp_credentials (user_id, sealed, last_step) VALUES ($1::uuid, $2, $3)
			ON CONFLICT (user_id) DO NOTHING`, c.UserID, credential, step)
		if err != nil {
			return fmt.Errorf("store: unable to save a TOTP credential: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrTOTPExists
		}
		if _, err := tx.Exec(ctx, `DELETE FROM totp_enrollments WHERE user_id = $1::uuid`, c.UserID); err != nil {
			return fmt.Errorf("store: unable to end an enrolment: %w", err)
		}
		if len(c.RecoveryHashes) > 0 {
			if err := replaceRecoveryCodes(ctx, tx, c.UserID, c.RecoveryHashes); err != nil {
				return err
			}
		}
		ok = true
		return auditAndNotify(ctx, tx, c.Audit, c.Notify)
	})
	return ok, err
}

// RecordTOTPChange audits a change an identity source made elsewhere (a
// remote source) and queues the user's notification, in one transaction.
func (s *Store) RecordTOTPChange(ctx context.Context, e AuditEvent, notify *Message) error {
	return s.inTx(ctx, func(tx pgx.Tx) error { return auditAndNotify(ctx, tx, e, notify) })
}

func auditAndNotify(ctx context.Context, tx pgx.Tx, e AuditEvent, notify *Message) error {
	if err := insertAudit(ctx, tx, e); err != nil {
		return err
	}
	if notify != nil {
		return queueMessage(ctx, tx, *notify)
	}
	return nil
}
