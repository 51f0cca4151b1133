package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// TOTP is a user's authenticator-app credential, still sealed.
type TOTP struct {
	Sealed   []byte
	LastStep *int64
}

// TOTPFor returns the user's credential, or ErrNotFound when they have none.
func (s *Store) TOTPFor(ctx context.Context, userID string) (TOTP, error) {
	var c TOTP
	err := s.pool.QueryRow(ctx, `SELECT sealed, last_step FROM totp_credentials WHERE user_id::text = $1`, userID).Scan(&c.Sealed, &c.LastStep)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("store: unable to read a TOTP credential: %w", err)
	}
	return c, nil
}

// SaveTOTP stores (or replaces) a user's credential, records who did it and
// queues the user's notification, in one transaction. lastStep, when set, is
// the step of the code that confirmed the enrolment, so it cannot sign in.
func (s *Store) SaveTOTP(ctx context.Context, userID string, sealed []byte, lastStep *int64, action, actor string, notify *Message) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO totp_credentials (user_id, sealed, last_step) VALUES ($1::uuid, $2, $3)
			ON CONFLICT (user_id) DO UPDATE SET sealed = excluded.sealed, last_step = excluded.last_step, created_at = now()`,
			userID, sealed, lastStep); err != nil {
			return fmt.Errorf("store: unable to save a TOTP credential: %w", err)
		}
		return audit(ctx, tx, userID, action, actor, notify)
	})
}

// RemoveTOTP deletes a user's credential (audited, notified). ErrNotFound when there was none.
func (s *Store) RemoveTOTP(ctx context.Context, userID, actor string, notify *Message) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM totp_credentials WHERE user_id::text = $1`, userID)
		if err != nil {
			return fmt.Errorf("store: unable to remove a TOTP credential: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return audit(ctx, tx, userID, "totp removed", actor, notify)
	})
}

func audit(ctx context.Context, tx pgx.Tx, userID, action, actor string, notify *Message) error {
	if _, err := tx.Exec(ctx, `INSERT INTO audit_events (user_id, action, actor) VALUES ($1::uuid, $2, $3)`, userID, action, actor); err != nil {
		return fmt.Errorf("store: unable to audit: %w", err)
	}
	if notify != nil {
		return queueMessage(ctx, tx, *notify)
	}
	return nil
}

// UseTOTPStep records step as the credential's last accepted step. It is
// refused (false) when that step or a later one was already used: the same
// code never signs in twice, even from two flows at once.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE totp_credentials SET last_step = $2
		WHERE user_id::text = $1 AND (last_step IS NULL OR last_step < $2)`, userID, step)
	if err != nil {
		return false, fmt.Errorf("store: unable to use a TOTP step: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// RequireTOTP marks a verified flow as waiting for the authenticator code.
func (s *Store) RequireTOTP(ctx context.Context, flowID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE login_flows SET needs_totp = true WHERE id::text = $1 AND verified_at IS NOT NULL`, flowID)
	if err != nil {
		return fmt.Errorf("store: unable to update a login flow: %w", err)
	}
	return nil
}

// CountTOTPTry adds one try to the flow's TOTP step and returns the count.
func (s *Store) CountTOTPTry(ctx context.Context, flowID string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `UPDATE login_flows SET totp_attempts = totp_attempts + 1 WHERE id::text = $1 RETURNING totp_attempts`, flowID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: unable to count a TOTP try: %w", err)
	}
	return n, nil
}

// VerifyTOTPFlow records that the flow's second step is done.
func (s *Store) VerifyTOTPFlow(ctx context.Context, flowID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE login_flows SET totp_verified_at = now() WHERE id::text = $1 AND verified_at IS NOT NULL`, flowID)
	if err != nil {
		return fmt.Errorf("store: unable to update a login flow: %w", err)
	}
	return nil
}

// AuditEvents lists a user's audited changes, newest first.
func (s *Store) AuditEvents(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT action || ' by ' || actor FROM audit_events WHERE user_id::text = $1 ORDER BY id DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: unable to read audit events: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
