package blinkcore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blinkbitcoin/blink-consent/internal/ids"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// The source's own state in PostgreSQL, and every statement that touches it:
// the users table's cache of core's accounts (under core's ids) and the core
// auth tokens kept for the account page (core_tokens). The store runs these
// in its own transactions through store.Querier and knows neither.

// Claims are an account core proved: they are kept in the users table (a
// cache of the accounts that signed in, under core's id) so remembered
// sign-ins and consents can still carry them.
type Claims struct {
	ID            string
	Email         string
	EmailVerified bool
	Phone         string
	PhoneVerified bool
	// Partial: core could not give the claims (its GraphQL down), only the
	// id; the row keeps the email and phone it knows, and the identifier the
	// flow proved is added.
	Partial bool
}

// KeptToken is a sealed core auth token for a Hydra login session.
type KeptToken struct {
	SessionID string
	Sealed    []byte
	ExpiresAt time.Time
}

// SignedIn is what a sign-in core proved: the account's claims and, for a
// sign-in to the account page, its sealed auth token.
type SignedIn struct {
	Claims Claims
	Token  *KeptToken
}

// Keep is the store.RemoteVerdict's Keep of a sign-in core proved: in the
// step's transaction it caches the claims in the users table and keeps the
// token, if any, then returns the account's id.
func (s SignedIn) Keep(ctx context.Context, q store.Querier, f store.Flow) (string, error) {
	id, err := keepAccount(ctx, q, s.Claims, f)
	if err != nil {
		return "", err
	}
	return id, keepToken(ctx, q, s.Token, id)
}

// keepAccount writes an account's claims into the users table under core's
// id and returns the id. The identifier the flow just proved is verified
// whatever core says. An email or phone that moved to this account is taken
// from the one that had it: an active row left with neither is deleted (a
// cache entry of nothing), but a disabled row stays, its identifiers cleared,
// since its disabled_at is the only record of the disable — a sign-in of
// another subject never erases it.
func keepAccount(ctx context.Context, q store.Querier, a Claims, f store.Flow) (string, error) {
	if !ids.IsUUID(a.ID) {
		return "", fmt.Errorf("blinkcore: core returned an account id that is not a UUID")
	}
	a.Email = strings.ToLower(a.Email)
	switch f.Channel {
	case "email":
		a.Email, a.EmailVerified = f.Identifier, true
	case "sms", "whatsapp", "telegram":
		a.Phone, a.PhoneVerified = f.Identifier, true
	}
	if _, err := q.Exec(ctx, `DELETE FROM users WHERE id <> $1::uuid AND disabled_at IS NULL AND (email = $2 OR phone = $3)
		AND (email IS NULL OR email = $2) AND (phone IS NULL OR phone = $3)`, a.ID, nullIfEmpty(a.Email), nullIfEmpty(a.Phone)); err != nil {
		return "", fmt.Errorf("blinkcore: unable to keep an account: %w", err)
	}
	if _, err := q.Exec(ctx, `UPDATE users SET email = NULL WHERE id <> $1::uuid AND email = $2`, a.ID, nullIfEmpty(a.Email)); err != nil {
		return "", fmt.Errorf("blinkcore: unable to keep an account: %w", err)
	}
	if _, err := q.Exec(ctx, `UPDATE users SET phone = NULL WHERE id <> $1::uuid AND phone = $2`, a.ID, nullIfEmpty(a.Phone)); err != nil {
		return "", fmt.Errorf("blinkcore: unable to keep an account: %w", err)
	}
	// A partial account ($6) overwrites only what it carries.
	_, err := q.Exec(ctx, `INSERT INTO users (id, email, email_verified, phone, phone_verified)
		VALUES ($1::uuid, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET
			email = CASE WHEN $6 AND excluded.email IS NULL THEN users.email ELSE excluded.email END,
			email_verified = CASE WHEN $6 AND excluded.email IS NULL THEN users.email_verified ELSE excluded.email_verified END,
			phone = CASE WHEN $6 AND excluded.phone IS NULL THEN users.phone ELSE excluded.phone END,
			phone_verified = CASE WHEN $6 AND excluded.phone IS NULL THEN users.phone_verified ELSE excluded.phone_verified END`,
		a.ID, nullIfEmpty(a.Email), a.EmailVerified, nullIfEmpty(a.Phone), a.PhoneVerified, a.Partial)
	if err != nil {
		return "", fmt.Errorf("blinkcore: unable to keep an account: %w", err)
	}
	return a.ID, nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// keepToken keeps t, if any, for the account just kept — unless the account
// is disabled here: its sign-in is refused at completion, so the token would
// serve nothing. A later sign-in of the same login session replaces it.
func keepToken(ctx context.Context, q store.Querier, t *KeptToken, userID string) error {
	if t == nil {
		return nil
	}
	var disabled bool
	if err := q.QueryRow(ctx, `SELECT disabled_at IS NOT NULL FROM users WHERE id = $1::uuid`, userID).Scan(&disabled); err != nil {
		return fmt.Errorf("blinkcore: unable to read an account: %w", err)
	}
	if disabled {
		return nil
	}
	_, err := q.Exec(ctx, `INSERT INTO core_tokens (session_id, user_id, sealed, expires_at) VALUES ($1, $2::uuid, $3, $4)
		ON CONFLICT (session_id) DO UPDATE SET user_id = excluded.user_id, sealed = excluded.sealed,
			created_at = now(), expires_at = excluded.expires_at`,
		t.SessionID, userID, t.Sealed, t.ExpiresAt)
	if err != nil {
		return fmt.Errorf("blinkcore: unable to keep a core token: %w", err)
	}
	return nil
}

// SealedToken is the sealed core auth token kept for this subject's login
// session (the ID token's sub and sid); store.ErrNotFound when there is none,
// it belongs to another subject, or it expired.
func SealedToken(ctx context.Context, q store.Querier, subject, sessionID string) ([]byte, error) {
	if !ids.IsUUID(subject) {
		return nil, store.ErrNotFound
	}
	var sealed []byte
	err := q.QueryRow(ctx, `SELECT sealed FROM core_tokens WHERE session_id = $1 AND user_id = $2::uuid AND expires_at > now()`,
		sessionID, subject).Scan(&sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("blinkcore: unable to read a core token: %w", err)
	}
	return sealed, nil
}

// ForgetToken deletes the token kept for Hydra login session sid: the
// store.SessionState of this source (store.WithSessionState), run when that
// login session or the account session that could use the token ends.
func ForgetToken(ctx context.Context, q store.Querier, sid string) error {
	if _, err := q.Exec(ctx, `DELETE FROM core_tokens WHERE session_id = $1`, sid); err != nil {
		return fmt.Errorf("blinkcore: unable to forget a core token: %w", err)
	}
	return nil
}

var _ store.SessionState = ForgetToken

// ExpiringTables are this source's tables of secrets waiting to be used,
// which the retention purge empties of expired rows (store.Retention.SourceTables).
var ExpiringTables = []string{"core_tokens"}

// sealedTokens walks the kept tokens by login session, for keys rotate.
var sealedTokens = store.SealedTable{First: "",
	Next: `SELECT session_id AS k FROM core_tokens WHERE session_id > $1 ORDER BY session_id LIMIT $2`,
	Lock: `SELECT session_id, sealed, user_id::text, '', '' FROM core_tokens WHERE session_id = ANY($1::text[]) FOR UPDATE`,
	Save: `UPDATE core_tokens SET sealed = $2 WHERE session_id = $1`}

// ResealTokens re-seals every kept core auth token (store.Store.Reseal);
// each is bound to its owner and login session (TokenAD of the Sealed's
// UserID and Key).
func ResealTokens(ctx context.Context, db *store.Store, reseal store.Reseal) (store.ResealCounts, error) {
	return db.Reseal(ctx, reseal, sealedTokens)
}
