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
	Channel     string // email, sms, whatsapp, telegram or passkey; "" before the identifier step
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
	// Sends is how many codes this flow has sent.
	Sends int
	// SourceState is what a remote identity source keeps between two steps
	// (sealed); CodeAttempts counts the tries of the code it sent last.
	SourceState  []byte
	CodeAttempts int
	// SecondFactor is what completed the authenticator step: "recovery_code"
	// for a recovery code, "" for the authenticator app.
	SecondFactor string
	// PasskeyUserVerified and PasskeyBackupEligible say what the passkey
	// that verified the flow (Channel "passkey") showed: whether the user was
	// verified (PIN, fingerprint, face), and whether the credential is synced
	// between devices (backup eligible) rather than bound to one. The
	// accept's amr and acr are made from them.
	PasskeyUserVerified, PasskeyBackupEligible bool
}

const flowColumns = `id::text, browser_hash, challenge, request_url, client_id, client_name, lang, remember,
	coalesce(channel, ''), coalesce(identifier, ''), coalesce(user_id::text, ''), last_sent_at, verified_at, completed_at, expires_at, needs_totp, totp_verified_at, coalesce(hydra_session_id, ''), sends, source_state, code_attempts, coalesce(second_factor, ''),
	coalesce(passkey_user_verified, false), coalesce(passkey_backup_eligible, false)`

func scanFlow(row pgx.Row) (Flow, error) {
	var f Flow
	err := row.Scan(&f.ID, &f.BrowserHash, &f.Challenge, &f.RequestURL, &f.ClientID, &f.ClientName, &f.Lang, &f.Remember,
		&f.Channel, &f.Identifier, &f.UserID, &f.LastSentAt, &f.VerifiedAt, &f.CompletedAt, &f.ExpiresAt, &f.NeedsTOTP, &f.TOTPVerifiedAt, &f.HydraSessionID, &f.Sends, &f.SourceState, &f.CodeAttempts, &f.SecondFactor,
		&f.PasskeyUserVerified, &f.PasskeyBackupEligible)
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
		WHERE id = $1::uuid AND browser_hash = $2 AND expires_at > now()`, uuidArg(id), browserHash))
}

// ErrFlowState means the flow is not at the step the request belongs to: a
// code sent to a flow that is already verified, a second factor before the
// first, a completion before every factor. Nothing was changed.
var ErrFlowState = errors.New("store: the sign-in flow is not at that step")

// LimitError says which limit refused a request and when to try again.
// Nothing was recorded or changed.
type LimitError struct {
	Bucket     string // e.g. "send-ip", "fail-identifier", "flow-cooldown", "flow-sends"
	RetryAfter time.Duration
}

func (e *LimitError) Error() string { return "store: limit " + e.Bucket + " reached" }

// LimitKey is one limit applied to one key (an IP network, an email, a user).
type LimitKey struct {
	Bucket, Key string
	Limit       Limit
}

// lockFlow locks the browser's open flow for the rest of the transaction, so
// two requests of one flow are two transitions one after the other.
func lockFlow(ctx context.Context, tx pgx.Tx, id string, browserHash []byte) (Flow, error) {
	return scanFlow(tx.QueryRow(ctx, `SELECT `+flowColumns+` FROM login_flows
		WHERE id = $1::uuid AND browser_hash = $2 AND expires_at > now() FOR UPDATE`, uuidArg(id), browserHash))
}

// ClearIdentifier returns a flow whose code is not yet verified to the
// identifier step ("use a different email or phone"). ErrFlowState when a
// factor was verified: its identity is frozen.
func (s *Store) ClearIdentifier(ctx context.Context, id string, browserHash []byte) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		f, err := lockFlow(ctx, tx, id, browserHash)
		if err != nil {
			return err
		}
		if f.VerifiedAt != nil || f.CompletedAt != nil {
			return ErrFlowState
		}
		if _, err := tx.Exec(ctx, `UPDATE login_flows SET channel = NULL, identifier = NULL, user_id = NULL, source_state = NULL
			WHERE id = $1::uuid AND verified_at IS NULL`, id); err != nil {
			return fmt.Errorf("store: unable to clear a login flow: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE login_codes SET superseded_at = now()
			WHERE flow_id = $1::uuid AND superseded_at IS NULL`, id); err != nil {
			return fmt.Errorf("store: unable to supersede codes: %w", err)
		}
		return nil
	})
}

// ErrChallengeUsed means the flow's Hydra challenge was already answered
// (another request of it won); nothing was changed.
var ErrChallengeUsed = errors.New("store: the challenge was already answered")

// CompleteFlow is a sign-in's last transition, in one statement: once every
// factor the flow needs is verified, it claims the flow's Hydra challenge
// (single-use: of two concurrent callers exactly one wins) and marks the
// flow done, returning the account it signs in — the one the verifying code
// was issued to (our own codes), or the one a remote source proved (written
// once, frozen). done is false when that account is disabled: the claim
// stays, for the caller to reject the login at Hydra. ErrFlowState when a
// factor is missing or the flow is already complete, ErrChallengeUsed when
// the challenge was answered, ErrNotFound when the account is gone; nothing
// changes then.
func (s *Store) CompleteFlow(ctx context.Context, id, challenge string) (u User, done bool, err error) {
	row := s.pool.QueryRow(ctx, `
		WITH flow AS (
			SELECT f.verified_at IS NOT NULL AND (NOT f.needs_totp OR f.totp_verified_at IS NOT NULL) AS ready,
				f.completed_at IS NULL AS open, coalesce(c.user_id, f.user_id) AS user_id
			FROM login_flows f LEFT JOIN login_codes c ON c.id = f.verified_code_id
			WHERE f.id = $1::uuid
		), account AS (
			SELECT users.* FROM users JOIN flow ON users.id = flow.user_id
		), claim AS (
			INSERT INTO used_challenges (hash)
			SELECT $2 FROM flow WHERE ready AND open AND EXISTS (SELECT 1 FROM account)
			ON CONFLICT DO NOTHING
			RETURNING 1
		), done AS (
			UPDATE login_flows SET completed_at = now(), source_state = NULL
			WHERE id = $1::uuid AND verified_at IS NOT NULL AND completed_at IS NULL
				AND (NOT needs_totp OR totp_verified_at IS NOT NULL)
				AND EXISTS (SELECT 1 FROM claim)
				AND EXISTS (SELECT 1 FROM account WHERE disabled_at IS NULL)
			RETURNING 1
		)
		SELECT coalesce((SELECT ready AND open FROM flow), false), EXISTS (SELECT 1 FROM claim), EXISTS (SELECT 1 FROM done),
			a.id::text, coalesce(a.email, ''), a.email_verified,
			coalesce(a.phone, ''), a.phone_verified, a.created_at, a.disabled_at
		FROM (SELECT 1) AS one LEFT JOIN account a ON true`, uuidArg(id), challengeHash(challenge))
	var ready, claimed bool
	var uid *string
	var emailVerified, phoneVerified *bool
	var createdAt *time.Time
	if err := row.Scan(&ready, &claimed, &done, &uid, &u.Email, &emailVerified, &u.Phone, &phoneVerified, &createdAt, &u.DisabledAt); err != nil {
		return User{}, false, fmt.Errorf("store: unable to complete a login flow: %w", err)
	}
	switch {
	case !ready:
		return User{}, false, ErrFlowState
	case uid == nil:
		return User{}, false, ErrNotFound
	case !claimed:
		return User{}, false, ErrChallengeUsed
	}
	u.ID, u.EmailVerified, u.PhoneVerified, u.CreatedAt = *uid, *emailVerified, *phoneVerified, *createdAt
	return u, done, nil
}

// ReopenFlow undoes CompleteFlow when Hydra could not be told (or the
// sign-in not recorded), in one statement: the flow is open again and its
// challenge unclaimed, so the person can try the same step again.
func (s *Store) ReopenFlow(ctx context.Context, id, challenge string) error {
	_, err := s.pool.Exec(context.WithoutCancel(ctx), `
		WITH unclaim AS (DELETE FROM used_challenges WHERE hash = $2)
		UPDATE login_flows SET completed_at = NULL WHERE id = $1::uuid`, uuidArg(id), challengeHash(challenge))
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

// SendRequest is one "send me a code" of a flow: from the identifier page or
// "Send a new code". Both paths do the same work whether or not the
// identifier has an account: the message is always sealed and stored, and
// only the store decides whether it is queued or kept as a never-sent decoy.
type SendRequest struct {
	FlowID      string
	BrowserHash []byte
	Channel     string
	Identifier  string
	Remember    bool
	// MAC is the HMAC of the code in Message; DecoyMAC of a code nobody knows,
	// stored instead when no message may go.
	MAC, DecoyMAC []byte
	Message       Message
	TTL           time.Duration
	// Cooldown is the wait between two sends of one flow; MaxSends their number.
	Cooldown time.Duration
	MaxSends int
	// Limits are the shared send limits (per IP network, per email or phone).
	Limits []LimitKey
	// CreatePhoneUsers: a number with no account gets a code (it becomes one).
	CreatePhoneUsers bool
}

// SendResult says whether a message was queued (false: a decoy, no account).
type SendResult struct {
	Queued bool
}

// SendCode is the "send a code" transition, allowed only before a code is
// verified. In one transaction it checks the flow's cooldown and send count
// and the shared limits (each refusal a *LimitError, recording nothing),
// supersedes the flow's codes, stores the new one bound to the account the
// identifier has now, and queues the message (or stores the decoy).
func (s *Store) SendCode(ctx context.Context, req SendRequest) (SendResult, error) {
	var res SendResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := startSend(ctx, tx, req.FlowID, req.BrowserHash, req.Cooldown, req.MaxSends, req.Limits); err != nil {
			return err
		}
		if err := recordEvents(ctx, tx, req.Limits); err != nil {
			return err
		}

		var userID *string
		var active bool
		col := "email"
		if req.Channel != "email" {
			col = "phone"
		}
		err := tx.QueryRow(ctx, `SELECT id::text, disabled_at IS NULL FROM users WHERE `+col+` = $1`, req.Identifier).Scan(&userID, &active)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("store: unable to read user: %w", err)
		}
		// An email with no account gets no message, and a number only when it
		// may become an account.
		res.Queued = (userID != nil && active) || (userID == nil && req.Channel != "email" && req.CreatePhoneUsers)
		mac, status := req.MAC, "queued"
		if !res.Queued {
			mac, status = req.DecoyMAC, "decoy"
		}

		if _, err := tx.Exec(ctx, `UPDATE login_codes SET superseded_at = now()
			WHERE flow_id = $1::uuid AND superseded_at IS NULL`, req.FlowID); err != nil {
			return fmt.Errorf("store: unable to supersede codes: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO login_codes (flow_id, channel, identifier, user_id, code_hmac, expires_at)
			VALUES ($1::uuid, $2, $3, $4::uuid, $5, now() + $6::interval)`,
			req.FlowID, req.Channel, req.Identifier, userID, mac, req.TTL); err != nil {
			return fmt.Errorf("store: unable to store a code: %w", err)
		}
		tag, err := tx.Exec(ctx, `UPDATE login_flows SET channel = $2, identifier = $3, user_id = NULL,
			remember = $4, last_sent_at = now(), sends = sends + 1
			WHERE id = $1::uuid AND verified_at IS NULL AND completed_at IS NULL`,
			req.FlowID, req.Channel, req.Identifier, req.Remember)
		if err != nil {
			return fmt.Errorf("store: unable to update a login flow: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return ErrFlowState
		}
		return insertMessage(ctx, tx, req.Message, status)
	})
	return res, err
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
	// CodeGone: a remote source says the code can no longer be checked
	// (expired, used, or unknown to it); unlike our own failures, the page
	// says so, since only a new code can help.
	CodeGone
	// CodePending: a remote source has no answer yet (Telegram has not
	// confirmed); the check is counted against the flow's tries, not as a failure.
	CodePending
)

func (v Verdict) String() string {
	return [...]string{"accepted", "wrong", "expired", "used", "locked", "identity-locked", "gone", "pending"}[v]
}

// CodeLimits are the per-code and per-identity failure limits.
type CodeLimits struct {
	TriesPerCode        int // 5: the sixth try fails even with the right code
	FailuresPerIdentity int // ≤100 consecutive failures across flows and codes…
	// Lockout is how long an identity stays locked once it reached
	// FailuresPerIdentity; then its count starts again.
	Lockout time.Duration
}

// VerifyRequest is one code check of a flow.
type VerifyRequest struct {
	FlowID      string
	BrowserHash []byte
	// NewBrowserHash replaces the browser binding when the code is right.
	NewBrowserHash []byte
	// IPKey is the client's limit key; a failure counts against PerIP for it
	// and against PerIdentifier for the flow's identifier.
	IPKey                string
	PerIP, PerIdentifier Limit
	Limits               CodeLimits
	// ClientIP goes in the audit event of a lockout.
	ClientIP         string
	CreatePhoneUsers bool
	Match            func(identifier string, mac []byte) bool
}

// VerifyCode is the "check the code" transition. In one transaction: the
// flow is locked and must be waiting for a code (a flow already verified is
// returned as it is, with CodeUsed, for the caller to finish: a double
// submit); the failure limits are checked (a *LimitError records nothing);
// the try is counted before comparing; a failure is recorded against every
// limit at once; a match consumes the code, clears the identity's failures,
// binds the code to its account (creating it for a new phone number when
// allowed), and marks the flow verified, frozen to that code's identity, with
// the new browser binding and whether a second factor is due.
func (s *Store) VerifyCode(ctx context.Context, req VerifyRequest) (Verdict, Flow, error) {
	verdict := CodeWrong
	var flow Flow
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		f, failures, verified, err := startCodeCheck(ctx, tx, req.FlowID, req.BrowserHash, req.IPKey, req.PerIP, req.PerIdentifier)
		flow = f
		if err != nil || verified {
			verdict = CodeUsed
			return err
		}
		verdict, err = checkCode(ctx, tx, req, f)
		if err != nil {
			return err
		}
		if verdict != CodeAccepted {
			return recordEvents(ctx, tx, failures)
		}
		flow, err = scanFlow(tx.QueryRow(ctx, `UPDATE login_flows SET browser_hash = $2 WHERE id = $1::uuid
			RETURNING `+flowColumns, req.FlowID, req.NewBrowserHash))
		return err
	})
	if err != nil {
		return CodeWrong, Flow{}, err
	}
	return verdict, flow, nil
}

// checkCode compares the submitted code with the flow's live code and, when it
// matches, signs the flow's identity in (see VerifyCode).
func checkCode(ctx context.Context, tx pgx.Tx, req VerifyRequest, f Flow) (Verdict, error) {
	var codeID int64
	var identifier, channel string
	var userID *string
	var mac []byte
	var attempts int
	var expired bool
	err := tx.QueryRow(ctx, `SELECT id, identifier, coalesce(channel, $2), user_id::text, code_hmac, attempts, expires_at <= now()
		FROM login_codes WHERE flow_id = $1::uuid AND superseded_at IS NULL AND used_at IS NULL
		ORDER BY id DESC LIMIT 1 FOR UPDATE`, req.FlowID, f.Channel).
		Scan(&codeID, &identifier, &channel, &userID, &mac, &attempts, &expired)
	if errors.Is(err, pgx.ErrNoRows) {
		return CodeUsed, nil
	}
	if err != nil {
		return CodeWrong, fmt.Errorf("store: unable to read a code: %w", err)
	}
	// A lock that has run its time is over: the count starts again.
	if _, err := tx.Exec(ctx, `DELETE FROM identity_failures WHERE identifier = $1 AND locked_until <= now()`, identifier); err != nil {
		return CodeWrong, fmt.Errorf("store: unable to end a lock: %w", err)
	}
	var failures int
	if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT failures FROM identity_failures WHERE identifier = $1 FOR UPDATE), 0)`,
		identifier).Scan(&failures); err != nil {
		return CodeWrong, fmt.Errorf("store: unable to read failures: %w", err)
	}
	attempts++
	if _, err := tx.Exec(ctx, `UPDATE login_codes SET attempts = $2 WHERE id = $1`, codeID, attempts); err != nil {
		return CodeWrong, fmt.Errorf("store: unable to count a try: %w", err)
	}
	verdict := CodeAccepted
	switch {
	case failures >= req.Limits.FailuresPerIdentity:
		verdict = IdentityLocked
	case attempts > req.Limits.TriesPerCode:
		verdict = CodeLocked
	case expired:
		verdict = CodeExpired
	case !req.Match(identifier, mac):
		verdict = CodeWrong
	}
	if verdict != CodeAccepted {
		var failuresNow int
		err := tx.QueryRow(ctx, `INSERT INTO identity_failures (identifier, failures) VALUES ($1, 1)
			ON CONFLICT (identifier) DO UPDATE SET failures = identity_failures.failures + 1, updated_at = now(),
				locked_until = CASE WHEN identity_failures.failures + 1 >= $2 AND identity_failures.locked_until IS NULL
					THEN now() + $3::interval ELSE identity_failures.locked_until END
			RETURNING failures`,
			identifier, req.Limits.FailuresPerIdentity, req.Limits.Lockout).Scan(&failuresNow)
		if err != nil {
			return CodeWrong, fmt.Errorf("store: unable to count a failure: %w", err)
		}
		// Audited in this transaction, which knows the account the code was
		// sent for; the failure that reaches the limit locks the identifier,
		// audited once.
		uid := ""
		if userID != nil {
			uid = *userID
		}
		masked := maskIdentifier(identifier)
		if err := insertAudit(ctx, tx, AuditEvent{UserID: uid, Action: ActionSignInFailed, Actor: "user", ClientID: f.ClientID,
			IP: req.ClientIP, Method: channel, Result: verdict.String(), Details: map[string]any{"identifier": masked}}); err != nil {
			return CodeWrong, err
		}
		if failuresNow == req.Limits.FailuresPerIdentity {
			if err := insertAudit(ctx, tx, AuditEvent{UserID: uid, Action: ActionIdentifierLocked, Actor: "system", ClientID: f.ClientID,
				IP: req.ClientIP, Method: channel, Result: "locked", Details: map[string]any{"identifier": masked, "for": req.Limits.Lockout.String()}}); err != nil {
				return CodeWrong, err
			}
		}
		return verdict, nil
	}

	if userID == nil && channel != "email" && req.CreatePhoneUsers {
		// A new number: create the account, or take the one created meanwhile.
		if err := tx.QueryRow(ctx, `INSERT INTO users (phone, phone_verified) VALUES ($1, true)
			ON CONFLICT (phone) DO UPDATE SET phone_verified = true RETURNING id::text`, identifier).Scan(&userID); err != nil {
			return CodeWrong, fmt.Errorf("store: unable to create a user: %w", err)
		}
	}
	if userID == nil {
		// A code that matched with no account to sign in cannot happen: no
		// message is sent for one. Refuse rather than guess.
		return CodeWrong, errors.New("store: a verified code has no account")
	}
	col := "email"
	if channel != "email" {
		col = "phone"
	}
	if _, err := tx.Exec(ctx, `UPDATE users SET `+col+`_verified = true WHERE id = $1::uuid AND `+col+` = $2`, *userID, identifier); err != nil {
		return CodeWrong, fmt.Errorf("store: unable to mark an identifier verified: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE login_codes SET used_at = now(), user_id = $2::uuid WHERE id = $1`, codeID, *userID); err != nil {
		return CodeWrong, fmt.Errorf("store: unable to use a code: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM identity_failures WHERE identifier = $1`, identifier); err != nil {
		return CodeWrong, fmt.Errorf("store: unable to clear failures: %w", err)
	}
	// The failures an identifier proved it is owned by are refunded; the IP's are not.
	if _, err := tx.Exec(ctx, `DELETE FROM rate_events WHERE bucket = 'fail-identifier' AND key = $1`, identifier); err != nil {
		return CodeWrong, fmt.Errorf("store: unable to clear failures: %w", err)
	}
	tag, err := tx.Exec(ctx, `UPDATE login_flows SET verified_at = now(), verified_code_id = $2,
		channel = $3, identifier = $4, user_id = $5::uuid,
		needs_totp = EXISTS (SELECT 1 FROM totp_credentials WHERE user_id = $5::uuid)
		WHERE id = $1::uuid AND verified_at IS NULL AND completed_at IS NULL`,
		req.FlowID, codeID, channel, identifier, *userID)
	if err != nil {
		return CodeWrong, fmt.Errorf("store: unable to verify a login flow: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return CodeWrong, ErrFlowState
	}
	return CodeAccepted, nil
}

// UserByEmail finds an account by email address.
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
