package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"
)

// SignInKind is what a sign-in really was: its amr and acr, and whether the
// person asked to be remembered.
type SignInKind struct {
	AMR      []string
	ACR      string
	Remember bool
}

// RecordLoginSession keeps what the sign-in that opened a Hydra login session was.
func (s *Store) RecordLoginSession(ctx context.Context, sessionID, userID string, k SignInKind) error {
	if sessionID == "" {
		return nil
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO login_sessions (session_id, user_id, amr, acr, remember) VALUES ($1, $2::uuid, $3, $4, $5)
		ON CONFLICT (session_id) DO UPDATE SET user_id = excluded.user_id, amr = excluded.amr, acr = excluded.acr, remember = excluded.remember, created_at = now()`,
		sessionID, userID, k.AMR, k.ACR, k.Remember)
	if err != nil {
		return fmt.Errorf("store: unable to record a login session: %w", err)
	}
	return nil
}

// UseRememberedLogin is UseChallengeForUser for a skip=true login, also reading
// what the session's first sign-in was (zero when unknown) — one round trip.
func (s *Store) UseRememberedLogin(ctx context.Context, challenge, subject, sessionID string) (u User, kind SignInKind, first bool, err error) {
	row := s.pool.QueryRow(ctx, `
		WITH mark AS (
			INSERT INTO used_challenges (hash) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM mark), u.*, ls.amr, coalesce(ls.acr, '')
		FROM (SELECT 1) AS one
		LEFT JOIN LATERAL (SELECT `+userColumns+` FROM users WHERE id = $2::uuid) AS u ON true
		LEFT JOIN login_sessions ls ON ls.session_id = $3 AND ls.user_id = $2::uuid`,
		challengeHash(challenge), uuidArg(subject), sessionID)
	// pgtype's nullable types, not pointers to pointers: pgx plans a scan
	// into **string or **time.Time by reflection on every query, which was
	// 10-35% of this statement's CPU in profiles under load (docs/performance.md,
	// "The CPU floor, again"); these have their codecs' direct plans.
	var id, email, phone pgtype.Text
	var emailVerified, phoneVerified pgtype.Bool
	var createdAt, disabledAt pgtype.Timestamptz
	var amr pgtype.FlatArray[string]
	err = row.Scan(&first, &id, &email, &emailVerified, &phone, &phoneVerified, &createdAt, &disabledAt, &amr, &kind.ACR)
	if err != nil {
		return User{}, kind, false, fmt.Errorf("store: unable to read a remembered login: %w", err)
	}
	if amr != nil {
		kind.AMR = []string(amr)
	}
	if !id.Valid {
		return User{}, kind, first, ErrNotFound
	}
	u = User{ID: id.String, Email: email.String, EmailVerified: emailVerified.Bool, Phone: phone.String,
		PhoneVerified: phoneVerified.Bool, CreatedAt: createdAt.Time}
	if disabledAt.Valid {
		u.DisabledAt = &disabledAt.Time
	}
	return u, kind, first, nil
}

// SignIn is a sign-in Hydra accepted, to record.
type SignIn struct {
	// SessionID is Hydra's login session id ("" keeps no session row).
	SessionID string
	Kind      SignInKind
	Event     AuditEvent
	// Challenge is the login challenge accepted, RedirectTo where Hydra's
	// answer sent the browser (a double submit goes there too).
	Challenge, RedirectTo string
}

// RecordSignIn records a sign-in Hydra accepted, in one statement: its audit
// event, what the login session's sign-in was (its amr and acr, said again
// when Hydra skips the next one) and where the challenge's answer went.
func (s *Store) RecordSignIn(ctx context.Context, in SignIn) error {
	e, k := in.Event, in.Kind
	var details any
	if len(e.Details) > 0 {
		details = e.Details
	}
	_, err := s.pool.Exec(ctx, `
		WITH audit AS (
			INSERT INTO audit_events (user_id, action, actor, client_id, ip, method, result, details)
			VALUES ($1::uuid, $2, $3, nullif($4, ''), nullif($5, ''), nullif($6, ''), nullif($7, ''), $8)
		), redirect AS (
			UPDATE used_challenges SET redirect_to = $14 WHERE hash = $13
		)
		INSERT INTO login_sessions (session_id, user_id, amr, acr, remember)
		SELECT $9, $1::uuid, $10, $11, $12 WHERE $9 <> ''
		ON CONFLICT (session_id) DO UPDATE SET user_id = excluded.user_id, amr = excluded.amr, acr = excluded.acr, remember = excluded.remember, created_at = now()`,
		uuidArg(e.UserID), e.Action, e.Actor, e.ClientID, e.IP, e.Method, e.Result, details, in.SessionID, k.AMR, k.ACR, k.Remember,
		challengeHash(in.Challenge), in.RedirectTo)
	if err != nil {
		return fmt.Errorf("store: unable to record a sign-in: %w", err)
	}
	return nil
}

// LoginSessionRemembered reports whether the sign-in that opened Hydra login
// session sessionID was remembered ("Remember me"); false when unknown.
func (s *Store) LoginSessionRemembered(ctx context.Context, sessionID string) (bool, error) {
	var remember bool
	err := s.pool.QueryRow(ctx, `SELECT coalesce((SELECT remember FROM login_sessions WHERE session_id = $1), false)`, sessionID).Scan(&remember)
	if err != nil {
		return false, fmt.Errorf("store: unable to read a login session: %w", err)
	}
	return remember, nil
}
