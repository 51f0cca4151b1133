package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AccountLogin is one sign-in to the account page in flight: what the
// callback needs to finish the authorization-code flow, kept server-side.
type AccountLogin struct {
	StateHash    []byte
	BrowserHash  []byte
	Nonce        string
	CodeVerifier string
	// Fresh: the sign-in was asked for with prompt=login and max_age=0, for
	// a security change; ReturnTo is where the callback sends the browser.
	Fresh    bool
	ReturnTo string
}

// AccountSession is a signed-in account page.
type AccountSession struct {
	Subject   string
	SID       string
	AuthTime  time.Time
	IDToken   string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// StartAccountLogin keeps a sign-in in flight until ttl passes.
func (s *Store) StartAccountLogin(ctx context.Context, l AccountLogin, ttl time.Duration) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO account_logins (state_hash, browser_hash, nonce, code_verifier, fresh, return_to, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, now() + $7::interval)`,
		l.StateHash, l.BrowserHash, l.Nonce, l.CodeVerifier, l.Fresh, l.ReturnTo, ttl)
	if err != nil {
		return fmt.Errorf("store: unable to start an account sign-in: %w", err)
	}
	return nil
}

// TakeAccountLogin deletes and returns the sign-in of this state started by
// this browser; ErrNotFound when there is none (used, expired, or another
// browser's).
func (s *Store) TakeAccountLogin(ctx context.Context, stateHash, browserHash []byte) (AccountLogin, error) {
	l := AccountLogin{StateHash: stateHash, BrowserHash: browserHash}
	err := s.pool.QueryRow(ctx, `DELETE FROM account_logins WHERE state_hash = $1 AND browser_hash = $2 AND expires_at > now()
		RETURNING nonce, code_verifier, fresh, return_to`, stateHash, browserHash).Scan(&l.Nonce, &l.CodeVerifier, &l.Fresh, &l.ReturnTo)
	if errors.Is(err, pgx.ErrNoRows) {
		return AccountLogin{}, ErrNotFound
	}
	if err != nil {
		return AccountLogin{}, fmt.Errorf("store: unable to read an account sign-in: %w", err)
	}
	return l, nil
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
