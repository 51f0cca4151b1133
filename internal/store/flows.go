package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Flow is one browser's sign-in for one Hydra login challenge.
type Flow struct {
	ID          string
	BrowserHash []byte
	Challenge   string
	RequestURL  string
	ClientID    string
	ClientName  string
	Lang        string
	Remember    bool
	Channel     string // email, sms or whatsapp; "" before the identifier step
	Identifier  string // normalised email or E.164 number
	UserID      string // "" when no account matches (yet)
	LastSentAt  *time.Time
	VerifiedAt  *time.Time
	CompletedAt *time.Time
	ExpiresAt   time.Time
	// NeedsTOTP: the account has an authenticator app, so a second step is due.
	NeedsTOTP      bool
	TOTPVerifiedAt *time.Time
	// HydraSessionID is Hydra's login session id for this challenge.
	HydraSessionID string
}

const flowColumns = `id::text, browser_hash, challenge, request_url, client_id, client_name, lang, remember,
	coalesce(channel, ''), coalesce(identifier, ''), coalesce(user_id::text, ''), last_sent_at, verified_at, completed_at, expires_at, needs_totp, totp_verified_at, coalesce(hydra_session_id, '')`

func scanFlow(row pgx.Row) (Flow, error) {
	var f Flow
	err := row.Scan(&f.ID, &f.BrowserHash, &f.Challenge, &f.RequestURL, &f.ClientID, &f.ClientName, &f.Lang, &f.Remember,
		&f.Channel, &f.Identifier, &f.UserID, &f.LastSentAt, &f.VerifiedAt, &f.CompletedAt, &f.ExpiresAt, &f.NeedsTOTP, &f.TOTPVerifiedAt, &f.HydraSessionID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Flow{}, ErrNotFound
	}
	if err != nil {
		return Flow{}, fmt.Errorf("store: unable to read a login flow: %w", err)
	}
	return f, nil
}

// StartFlow returns the browser's open flow for this challenge (a reload), or
// creates one that lives ttl.
func (s *Store) StartFlow(ctx context.Context, f Flow, ttl time.Duration) (Flow, error) {
	existing, err := scanFlow(s.pool.QueryRow(ctx, `SELECT `+flowColumns+` FROM login_flows
		WHERE browser_hash = $1 AND challenge_hash = $2 AND completed_at IS NULL AND expires_at > now()
		ORDER BY created_at DESC LIMIT 1`, f.BrowserHash, challengeHash(f.Challenge)))
	if err == nil {
		return existing, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return Flow{}, err
	}
	return scanFlow(s.pool.QueryRow(ctx, `INSERT INTO login_flows
		(browser_hash, challenge, challenge_hash, request_url, client_id, client_name, lang, expires_at, hydra_session_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, now() + $8::interval, nullif($9, ''))
		RETURNING `+flowColumns,
		f.BrowserHash, f.Challenge, challengeHash(f.Challenge), f.RequestURL, f.ClientID, f.ClientName, f.Lang, ttl, f.HydraSessionID))
}

// FlowForBrowser returns the open flow id if it belongs to the browser whose
// cookie hashes to browserHash; anything else is ErrNotFound.
func (s *Store) FlowForBrowser(ctx context.Context, id string, browserHash []byte) (Flow, error) {
	return scanFlow(s.pool.QueryRow(ctx, `SELECT `+flowColumns+` FROM login_flows
		WHERE id::text = $1 AND browser_hash = $2 AND expires_at > now()`, id, browserHash))
}

// RebindFlow gives the flow a new browser cookie hash (after a completed factor).
func (s *Store) RebindFlow(ctx context.Context, id string, browserHash []byte) error {
	_, err := s.pool.Exec(ctx, `UPDATE login_flows SET browser_hash = $2 WHERE id::text = $1`, id, browserHash)
	if err != nil {
		return fmt.Errorf("store: unable to rebind a login flow: %w", err)
	}
	return nil
}

// ClearIdentifier returns the flow to the identifier step ("use a different email or phone").
func (s *Store) ClearIdentifier(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `
		WITH f AS (UPDATE login_flows SET channel = NULL, identifier = NULL, user_id = NULL
			WHERE id::text = $1 AND verified_at IS NULL RETURNING id)
		UPDATE login_codes SET superseded_at = now() WHERE flow_id IN (SELECT id FROM f) AND superseded_at IS NULL`, id)
	if err != nil {
		return fmt.Errorf("store: unable to clear a login flow: %w", err)
	}
	return nil
}

// CompleteFlow marks a verified flow complete. ok is false when it was not
// verified or already complete: of two concurrent callers exactly one wins.
func (s *Store) CompleteFlow(ctx context.Context, id string) (ok bool, err error) {
	tag, err := s.pool.Exec(ctx, `UPDATE login_flows SET completed_at = now()
		WHERE id::text = $1 AND verified_at IS NOT NULL AND completed_at IS NULL`, id)
	if err != nil {
		return false, fmt.Errorf("store: unable to complete a login flow: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReopenFlow undoes CompleteFlow when Hydra could not be told.
func (s *Store) ReopenFlow(ctx context.Context, id string) error {
	_, err := s.pool.Exec(context.WithoutCancel(ctx), `UPDATE login_flows SET completed_at = NULL WHERE id::text = $1`, id)
	if err != nil {
		return fmt.Errorf("store: unable to reopen a login flow: %w", err)
	}
	return nil
}

// Message is an outgoing message; Sealed holds its encrypted body.
type Message struct {
	Channel     string
	Destination string
	Sealed      []byte
	NotAfter    time.Time
}

// CodeIssue is a new code for a flow: its MAC, lifetime and (unless the
// identifier has no account and must not learn that) the message carrying it.
type CodeIssue struct {
	FlowID     string
	Channel    string
	Identifier string
	UserID     string // "" when no account matches
	Remember   bool
	MAC        []byte
	TTL        time.Duration
	Message    *Message
}

// IssueCode supersedes the flow's earlier codes, stores the new one, records
// the identifier on the flow and queues the message, in one transaction.
func (s *Store) IssueCode(ctx context.Context, c CodeIssue) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE login_codes SET superseded_at = now()
			WHERE flow_id::text = $1 AND superseded_at IS NULL`, c.FlowID); err != nil {
			return fmt.Errorf("store: unable to supersede codes: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO login_codes (flow_id, identifier, code_hmac, expires_at)
			VALUES ($1::uuid, $2, $3, now() + $4::interval)`, c.FlowID, c.Identifier, c.MAC, c.TTL); err != nil {
			return fmt.Errorf("store: unable to store a code: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE login_flows SET channel = $2, identifier = $3, user_id = nullif($4, '')::uuid,
			remember = $5, last_sent_at = now() WHERE id::text = $1`, c.FlowID, c.Channel, c.Identifier, c.UserID, c.Remember); err != nil {
			return fmt.Errorf("store: unable to update a login flow: %w", err)
		}
		if c.Message != nil {
			if err := queueMessage(ctx, tx, *c.Message); err != nil {
				return err
			}
		}
		return nil
	})
}

// Verdict is the outcome of a code check. Every failure looks the same to the
// user; the kinds exist for the audit log and the tests.
type Verdict int

// The verdicts.
const (
	CodeAccepted Verdict = iota
	CodeWrong
	CodeExpired
	CodeUsed       // no live code: used, superseded or never sent
	CodeLocked     // this code had its tries
	IdentityLocked // too many consecutive failures for this identity
)

func (v Verdict) String() string {
	return [...]string{"accepted", "wrong", "expired", "used", "locked", "identity-locked"}[v]
}

// CodeLimits are the per-code and per-identity failure limits.
type CodeLimits struct {
	TriesPerCode        int // 5: the sixth try fails even with the right code
	FailuresPerIdentity int // ≤100 consecutive failures across flows and codes
}

// VerifyCode checks a submitted code against the flow's live code. The try is
// counted before comparing; a match consumes the code (once: concurrent right
// answers get exactly one CodeAccepted), marks the flow verified, clears the
// identity's failures and marks the identifier verified on the account.
func (s *Store) VerifyCode(ctx context.Context, flowID string, limits CodeLimits, match func(identifier string, mac []byte) bool) (Verdict, error) {
	var verdict Verdict
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var codeID int64
		var identifier string
		var mac []byte
		var attempts int
		var expired bool
		err := tx.QueryRow(ctx, `SELECT id, identifier, code_hmac, attempts, expires_at <= now() FROM login_codes
			WHERE flow_id::text = $1 AND superseded_at IS NULL AND used_at IS NULL
			ORDER BY id DESC LIMIT 1 FOR UPDATE`, flowID).Scan(&codeID, &identifier, &mac, &attempts, &expired)
		if errors.Is(err, pgx.ErrNoRows) {
			verdict = CodeUsed
			return nil
		}
		if err != nil {
			return fmt.Errorf("store: unable to read a code: %w", err)
		}
		var failures int
		if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT failures FROM identity_failures WHERE identifier = $1), 0)`, identifier).Scan(&failures); err != nil {
			return fmt.Errorf("store: unable to read failures: %w", err)
		}
		attempts++
		if _, err := tx.Exec(ctx, `UPDATE login_codes SET attempts = $2 WHERE id = $1`, codeID, attempts); err != nil {
			return fmt.Errorf("store: unable to count a try: %w", err)
		}
		switch {
		case failures >= limits.FailuresPerIdentity:
			verdict = IdentityLocked
		case attempts > limits.TriesPerCode:
			verdict = CodeLocked
		case expired:
			verdict = CodeExpired
		case !match(identifier, mac):
			verdict = CodeWrong
		default:
			verdict = CodeAccepted
		}
		if verdict != CodeAccepted {
			_, err := tx.Exec(ctx, `INSERT INTO identity_failures (identifier, failures) VALUES ($1, 1)
				ON CONFLICT (identifier) DO UPDATE SET failures = identity_failures.failures + 1, updated_at = now()`, identifier)
			if err != nil {
				return fmt.Errorf("store: unable to count a failure: %w", err)
			}
			return nil
		}
		tag, err := tx.Exec(ctx, `UPDATE login_codes SET used_at = now() WHERE id = $1 AND used_at IS NULL`, codeID)
		if err != nil {
			return fmt.Errorf("store: unable to use a code: %w", err)
		}
		if tag.RowsAffected() != 1 {
			verdict = CodeUsed
			return nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM identity_failures WHERE identifier = $1`, identifier); err != nil {
			return fmt.Errorf("store: unable to clear failures: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE login_flows SET verified_at = now() WHERE id::text = $1`, flowID); err != nil {
			return fmt.Errorf("store: unable to verify a login flow: %w", err)
		}
		return nil
	})
	if err != nil {
		// A failure must still be counted: the transaction rolled back, so say so.
		return CodeWrong, err
	}
	return verdict, nil
}

// SignInUser returns the account a verified flow signs in, creating it for a
// new phone number when allowed, and marks the identifier verified.
func (s *Store) SignInUser(ctx context.Context, f Flow, createPhoneUsers bool) (User, error) {
	if f.UserID != "" {
		col := "email_verified"
		if f.Channel != "email" {
			col = "phone_verified"
		}
		return scanUser(s.pool.QueryRow(ctx, `UPDATE users SET `+col+` = true WHERE id::text = $1 RETURNING `+userColumns, f.UserID))
	}
	if f.Channel == "email" || !createPhoneUsers {
		return User{}, ErrNotFound
	}
	// A new number: create the account, or take the one created meanwhile.
	u, err := scanUser(s.pool.QueryRow(ctx, `INSERT INTO users (phone, phone_verified) VALUES ($1, true)
		ON CONFLICT (phone) DO UPDATE SET phone_verified = true RETURNING `+userColumns, f.Identifier))
	if err != nil {
		return User{}, fmt.Errorf("store: unable to create a user: %w", err)
	}
	return u, nil
}

// UserByEmail and UserByPhone find an account by identifier.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	return s.userWhere(ctx, `email = $1`, email)
}

// UserByPhone finds an account by E.164 number.
func (s *Store) UserByPhone(ctx context.Context, phone string) (User, error) {
	return s.userWhere(ctx, `phone = $1`, phone)
}

func (s *Store) userWhere(ctx context.Context, where string, arg any) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE `+where, arg))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return User{}, fmt.Errorf("store: unable to read user: %w", err)
	}
	return u, err
}
