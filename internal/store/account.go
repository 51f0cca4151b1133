package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AccountSession is a signed-in account page.
type AccountSession struct {
	Subject   string
	SID       string
	AuthTime  time.Time
	IDToken   string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// StartAccountSession stores a new session under its cookie's hash, lasting
// ttl, and ends the session it replaces (replacedHash, may be nil) in the
// same transaction.
func (s *Store) StartAccountSession(ctx context.Context, tokenHash, replacedHash []byte, a AccountSession, ttl time.Duration) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if replacedHash != nil {
			if _, err := tx.Exec(ctx, `DELETE FROM account_sessions WHERE token_hash = $1`, replacedHash); err != nil {
				return fmt.Errorf("store: unable to end an account session: %w", err)
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO account_sessions (token_hash, subject, sid, auth_time, id_token, expires_at)
			VALUES ($1, $2, $3, $4, $5, now() + $6::interval)`, tokenHash, a.Subject, a.SID, a.AuthTime, a.IDToken, ttl)
		if err != nil {
			return fmt.Errorf("store: unable to start an account session: %w", err)
		}
		return nil
	})
}

// AccountSession returns the unexpired session of this cookie hash, or ErrNotFound.
func (s *Store) AccountSession(ctx context.Context, tokenHash []byte) (AccountSession, error) {
	var a AccountSession
	err := s.pool.QueryRow(ctx, `SELECT subject, sid, auth_time, id_token, created_at, expires_at
		FROM account_sessions WHERE token_hash = $1 AND expires_at > now()`, tokenHash).
		Scan(&a.Subject, &a.SID, &a.AuthTime, &a.IDToken, &a.CreatedAt, &a.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return AccountSession{}, ErrNotFound
	}
	if err != nil {
		return AccountSession{}, fmt.Errorf("store: unable to read an account session: %w", err)
	}
	return a, nil
}

// EndAccountSession deletes the session of this cookie hash and returns it;
// ErrNotFound when there was none.
func (s *Store) EndAccountSession(ctx context.Context, tokenHash []byte) (AccountSession, error) {
	var a AccountSession
	err := s.pool.QueryRow(ctx, `DELETE FROM account_sessions WHERE token_hash = $1
		RETURNING subject, sid, auth_time, id_token, created_at, expires_at`, tokenHash).
		Scan(&a.Subject, &a.SID, &a.AuthTime, &a.IDToken, &a.CreatedAt, &a.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return AccountSession{}, ErrNotFound
	}
	if err != nil {
		return AccountSession{}, fmt.Errorf("store: unable to end an account session: %w", err)
	}
	return a, nil
}

// EndLoginSession ends everything the account page keeps for Hydra login
// session sid: its account sessions and, in the same transaction, what the
// identity source keeps for it (WithSessionState). Called when that login
// session ends (a logout, Hydra's back-channel logout); it returns how many
// account sessions ended.
func (s *Store) EndLoginSession(ctx context.Context, sid string) (int64, error) {
	if sid == "" {
		return 0, nil
	}
	var ended int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM account_sessions WHERE sid = $1`, sid)
		if err != nil {
			return fmt.Errorf("store: unable to end the account sessions of a login session: %w", err)
		}
		ended = tag.RowsAffected()
		return s.forgetSessionState(ctx, tx, sid)
	})
	return ended, err
}

// ForgetSessionState deletes what the identity source keeps for Hydra login
// session sid (WithSessionState), if anything: the account session that
// could use it has ended.
func (s *Store) ForgetSessionState(ctx context.Context, sid string) error {
	return s.forgetSessionState(ctx, s.pool, sid)
}

func (s *Store) forgetSessionState(ctx context.Context, q Querier, sid string) error {
	if s.sessionState == nil || sid == "" {
		return nil
	}
	if err := s.sessionState(ctx, q, sid); err != nil {
		return fmt.Errorf("store: unable to forget the identity source's state of a login session: %w", err)
	}
	return nil
}
