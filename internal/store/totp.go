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
	err := s.pool.QueryRow(ctx, `SELECT sealed, last_step FROM totp_credentials WHERE user_id = $1::uuid`, uuidArg(userID)).Scan(&c.Sealed, &c.LastStep)
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
// Replacing a credential deletes the recovery codes made for the old one: an
// operator replaces an authenticator because it (or its codes) leaked, and
// the old codes must not go on standing in for the new one.
func (s *Store) SaveTOTP(ctx context.Context, userID string, sealed []byte, lastStep *int64, action AuditAction, actor string, notify *Message) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO totp_credentials (user_id, sealed, last_step) VALUES ($1::uuid, $2, $3)
			ON CONFLICT (user_id) DO UPDATE SET sealed = excluded.sealed, last_step = excluded.last_step, created_at = now()`,
			userID, sealed, lastStep); err != nil {
			return fmt.Errorf("store: unable to save a TOTP credential: %w", err)
		}
		if err := replaceRecoveryCodes(ctx, tx, userID, nil); err != nil {
			return err
		}
		return audit(ctx, tx, userID, action, actor, notify)
	})
}

// RemoveTOTP deletes the credential of e's user, with its pending
// enrolments and recovery codes, and writes e and queues notify in the same transaction.
// ErrNotFound when there was none.
func (s *Store) RemoveTOTP(ctx context.Context, e AuditEvent, notify *Message) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM totp_credentials WHERE user_id = $1::uuid`, uuidArg(e.UserID))
		if err != nil {
			return fmt.Errorf("store: unable to remove a TOTP credential: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM totp_enrollments WHERE user_id = $1::uuid`, e.UserID); err != nil {
			return fmt.Errorf("store: unable to remove pending enrolments: %w", err)
		}
		// Recovery codes stand in for the app; without it they mean nothing.
		if err := replaceRecoveryCodes(ctx, tx, e.UserID, nil); err != nil {
			return err
		}
		return auditAndNotify(ctx, tx, e, notify)
	})
}

func audit(ctx context.Context, tx pgx.Tx, userID string, action AuditAction, actor string, notify *Message) error {
	if err := insertAudit(ctx, tx, AuditEvent{UserID: userID, Action: action, Actor: actor, Method: "totp", Result: "ok"}); err != nil {
		return err
	}
	if notify != nil {
		return queueMessage(ctx, tx, *notify)
	}
	return nil
}

// TOTPRequest is one authenticator-code check of a flow.
type TOTPRequest struct {
	FlowID      string
	BrowserHash []byte
	// NewBrowserHash replaces the browser binding when the code is right.
	NewBrowserHash []byte
	// IPKey is the client's limit key; a failure counts against PerIP for it
	// and against PerUser for the account.
	IPKey          string
	PerIP, PerUser Limit
	TriesPerFlow   int
	// Match opens the account's sealed secret and checks the code, returning
	// the RFC 6238 time step it matched.
	Match func(userID string, sealed []byte) (step int64, ok bool, err error)
	// RecoveryHash, when set, is the SHA-256 of a recovery code typed instead
	// of an authenticator code: it is matched against the account's unused
	// recovery codes (Match is not called), under the same limits and tries.
	// A code that matches is used up, and Recovered is audited and its
	// notice queued, in the same transaction.
	RecoveryHash []byte
	Recovered    RecoveryUse
}

// RecoveryUse is what a used recovery code writes besides the flow.
type RecoveryUse struct {
	Audit  AuditEvent
	Notify *Message
}

// TOTPVerdict is the outcome of an authenticator-code check; every failure
// looks the same to the user.
type TOTPVerdict string

// The verdicts.
const (
	TOTPAccepted TOTPVerdict = "accepted"
	TOTPWrong    TOTPVerdict = "wrong"
	TOTPReplayed TOTPVerdict = "replayed" // right code, step already used
	TOTPLocked   TOTPVerdict = "locked"   // this flow had its tries
)

// CheckTOTP is the "check the authenticator code" transition. In one
// transaction: the flow is locked and must be waiting for its second factor
// (else ErrFlowState); the failure limits are checked (a *LimitError records
// nothing); the try is counted; the code is matched and its time step claimed
// (the same code never signs in twice, even from two flows at once); a
// failure is recorded against every limit; a success refunds the account's
// failures and marks the factor done with the new browser binding. A
// recovery code (req.RecoveryHash) takes the code's place in the same
// transaction: used once, audited and notified with the factor.
func (s *Store) CheckTOTP(ctx context.Context, req TOTPRequest) (TOTPVerdict, Flow, error) {
	verdict := TOTPWrong
	var flow Flow
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		f, failures, tries, err := startTOTPCheck(ctx, tx, req.FlowID, req.BrowserHash, req.IPKey, req.PerIP, req.PerUser)
		flow = f
		if err != nil {
			return err
		}
		factor := "totp"
		if req.RecoveryHash != nil {
			factor = "recovery_code"
			verdict, err = claimRecoveryCode(ctx, tx, req, f.UserID, tries)
		} else {
			verdict, err = claimTOTP(ctx, tx, req, f.UserID, tries)
		}
		if err != nil {
			return err
		}
		if verdict != TOTPAccepted {
			return recordEvents(ctx, tx, failures)
		}
		if err := forgetTOTPFailures(ctx, tx, f); err != nil {
			return err
		}
		if factor == "recovery_code" {
			if err := auditAndNotify(ctx, tx, req.Recovered.Audit, req.Recovered.Notify); err != nil {
				return err
			}
		}
		flow, err = scanFlow(tx.QueryRow(ctx, `UPDATE login_flows SET totp_verified_at = now(), browser_hash = $2, second_factor = $3
			WHERE id = $1::uuid RETURNING `+flowColumns, req.FlowID, req.NewBrowserHash, factor))
		return err
	})
	if err != nil {
		return TOTPWrong, Flow{}, err
	}
	return verdict, flow, nil
}

func claimTOTP(ctx context.Context, tx pgx.Tx, req TOTPRequest, userID string, tries int) (TOTPVerdict, error) {
	if tries > req.TriesPerFlow {
		return TOTPLocked, nil
	}
	var sealed []byte
	var lastStep *int64
	err := tx.QueryRow(ctx, `SELECT sealed, last_step FROM totp_credentials WHERE user_id = $1::uuid FOR UPDATE`, userID).Scan(&sealed, &lastStep)
	if err != nil {
		// The credential was removed mid-flow: no code can match.
		if errors.Is(err, pgx.ErrNoRows) {
			return TOTPWrong, nil
		}
		return TOTPWrong, fmt.Errorf("store: unable to read a TOTP credential: %w", err)
	}
	step, ok, err := req.Match(userID, sealed)
	if err != nil {
		return TOTPWrong, err
	}
	if !ok {
		return TOTPWrong, nil
	}
	if lastStep != nil && *lastStep >= step {
		return TOTPReplayed, nil
	}
	if _, err := tx.Exec(ctx, `UPDATE totp_credentials SET last_step = $2 WHERE user_id = $1::uuid`, userID, step); err != nil {
		return TOTPWrong, fmt.Errorf("store: unable to use a TOTP step: %w", err)
	}
	return TOTPAccepted, nil
}

// AuditEvents lists a user's audited changes, newest first.
func (s *Store) AuditEvents(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT action || ' by ' || actor FROM audit_events WHERE user_id = $1::uuid ORDER BY id DESC`, uuidArg(userID))
	if err != nil {
		return nil, fmt.Errorf("store: unable to read audit events: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
