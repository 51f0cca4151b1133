package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// PasskeyUse is what a verified assertion showed, as the caller's Verify
// reads it from the authenticator data go-webauthn checked.
type PasskeyUse struct {
	SignCount    uint32
	UserVerified bool
	BackupState  bool
}

// PasskeySignIn is one "sign in with a passkey" of a flow.
type PasskeySignIn struct {
	FlowID      string
	BrowserHash []byte
	// NewBrowserHash replaces the browser binding when the passkey is good.
	NewBrowserHash []byte
	// CeremonyID is the sign-in ceremony begun for this flow.
	CeremonyID string
	// Remember is the page's "Remember me", kept on the flow as a code's is.
	Remember bool
	// CredentialID is the credential the browser answered with (its rawId):
	// its row decides the subject.
	CredentialID []byte
	// IPKey's failures count against PerIP ("fail-ip", as for codes), the
	// subject's against PerAccount ("fail-passkey").
	IPKey             string
	PerIP, PerAccount Limit
	// SecondStepKnown: the authenticator app of a two-step account is ours to
	// check (our users table), so a passkey without user verification can be
	// followed by the authenticator step. Without it (Blink core keeps the
	// authenticator, and only a code sign-in gives us the token to check
	// it), an assertion without user verification is refused
	// (PasskeyNeedsUserVerification).
	SecondStepKnown bool
	// Verify checks the assertion against the ceremony's session and the
	// stored passkey (go-webauthn; the user handle must be p's subject) and
	// says what it showed. Any error is a refused assertion.
	Verify func(session []byte, p Passkey) (PasskeyUse, error)
	// ClientID and ClientIP go in the audit event of a refusal.
	ClientID, ClientIP string
}

// PasskeyVerdict is the outcome of a passkey sign-in.
type PasskeyVerdict int

// The verdicts. Each refusal changes nothing but the spent ceremony, the
// failure counts and the audit trail.
const (
	PasskeyAccepted PasskeyVerdict = iota
	// PasskeyCeremonyGone: the ceremony is unknown, used, expired or another
	// flow's (a replayed challenge).
	PasskeyCeremonyGone
	// PasskeyUnknown: no passkey has that credential id.
	PasskeyUnknown
	// PasskeyInvalid: go-webauthn refused the assertion (signature, origin,
	// challenge, relying party, user handle, flags).
	PasskeyInvalid
	// PasskeyCounter: the sign counter did not go up (a cloned authenticator).
	PasskeyCounter
	// PasskeyDisabled: the subject is disabled, or has no account row here.
	PasskeyDisabled
	// PasskeyNeedsUserVerification: see PasskeySignIn.SecondStepKnown.
	PasskeyNeedsUserVerification
)

func (v PasskeyVerdict) String() string {
	return [...]string{"accepted", "ceremony_gone", "unknown_passkey", "invalid_passkey", "counter_went_back", "disabled", "no_user_verification"}[v]
}

// counterWentBack reports whether an assertion's sign counter got must be
// refused after stored: WebAuthn §7.2 step 21, a counter that is not above
// the stored one when either is non-zero (authenticators that keep no
// counter, synced passkeys among them, always say 0).
func counterWentBack(stored, got uint32) bool {
	return (stored != 0 || got != 0) && got <= stored
}

// SignInWithPasskey is the passkey transition of the sign-in flow, in one
// transaction: it locks the flow, which must be at the identifier or the
// code-sent step (else ErrFlowState, nothing changed); checks the failure
// limit of the client's IP; uses the ceremony (single-use, bound to this
// flow); finds the passkey by its credential id (its row decides the
// subject) and locks it; checks the subject's failure limit (a *LimitError
// changes nothing); verifies the assertion (req.Verify, go-webauthn); checks
// that the sign counter went up; refuses a subject that is disabled or has no
// users row. A refusal is recorded against the limits (not a disabled
// subject's) and audited (sign-in failed, method "passkey") with the
// ceremony spent. An accepted passkey stores its counter, backup state and
// last use, refunds the subject's failures, and verifies the flow: channel
// "passkey", the subject, what the assertion showed, the new browser binding,
// and needs_totp when the user was not verified and the account has an
// authenticator app. The returned flow is the verified one.
func (s *Store) SignInWithPasskey(ctx context.Context, req PasskeySignIn) (PasskeyVerdict, Flow, error) {
	var verdict PasskeyVerdict
	var flow Flow
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		f, err := lockFlow(ctx, tx, req.FlowID, req.BrowserHash)
		if err != nil {
			return err
		}
		flow = f
		if f.VerifiedAt != nil || f.CompletedAt != nil {
			return ErrFlowState
		}
		failures := []LimitKey{{"fail-ip", req.IPKey, req.PerIP}}
		if err := checkLimits(ctx, tx, failures); err != nil {
			return err
		}
		refuse := func(v PasskeyVerdict, subject string, count []LimitKey) error {
			verdict = v
			if err := recordEvents(ctx, tx, count); err != nil {
				return err
			}
			return insertAudit(ctx, tx, AuditEvent{UserID: subject, Action: ActionSignInFailed, Actor: "user",
				ClientID: req.ClientID, IP: req.ClientIP, Method: "passkey", Result: v.String()})
		}
		session, err := useCeremony(ctx, tx, Ceremony{ID: req.CeremonyID, Purpose: CeremonySignIn, FlowID: f.ID})
		if errors.Is(err, ErrCeremony) {
			return refuse(PasskeyCeremonyGone, "", failures)
		}
		if err != nil {
			return err
		}
		p, err := scanPasskey(tx.QueryRow(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = $1 FOR UPDATE`, req.CredentialID))
		if errors.Is(err, ErrNotFound) {
			return refuse(PasskeyUnknown, "", failures)
		}
		if err != nil {
			return err
		}
		failures = append(failures, LimitKey{"fail-passkey", p.Subject, req.PerAccount})
		if err := checkLimits(ctx, tx, failures[1:]); err != nil {
			return err
		}
		use, err := req.Verify(session, p)
		if err != nil {
			return refuse(PasskeyInvalid, p.Subject, failures)
		}
		if counterWentBack(p.SignCount, use.SignCount) {
			return refuse(PasskeyCounter, p.Subject, failures)
		}
		var disabled bool
		err = tx.QueryRow(ctx, `SELECT disabled_at IS NOT NULL FROM users WHERE id = $1::uuid`, p.Subject).Scan(&disabled)
		if errors.Is(err, pgx.ErrNoRows) {
			// With Blink core: the subject's cached row went when its email
			// and phone moved to another subject; its passkeys stay (no
			// cascade), and work again once a code sign-in caches it.
			disabled = true
		} else if err != nil {
			return fmt.Errorf("store: unable to read user: %w", err)
		}
		if disabled {
			return refuse(PasskeyDisabled, p.Subject, nil)
		}
		if !use.UserVerified && !req.SecondStepKnown {
			return refuse(PasskeyNeedsUserVerification, p.Subject, nil)
		}
		if _, err := tx.Exec(ctx, `UPDATE passkeys SET sign_count = $2, backup_state = $3, last_used_at = now() WHERE id = $1::uuid`,
			p.ID, int64(use.SignCount), use.BackupState); err != nil {
			return fmt.Errorf("store: unable to update a passkey: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM rate_events WHERE bucket = 'fail-passkey' AND key = $1`, p.Subject); err != nil {
			return fmt.Errorf("store: unable to clear failures: %w", err)
		}
		flow, err = scanFlow(tx.QueryRow(ctx, `UPDATE login_flows SET verified_at = now(), channel = 'passkey', identifier = NULL,
			user_id = $2::uuid, source_state = NULL, browser_hash = $3,
			passkey_user_verified = $4, passkey_backup_eligible = $5, remember = $6,
			needs_totp = NOT $4 AND EXISTS (SELECT 1 FROM totp_credentials WHERE user_id = $2::uuid)
			WHERE id = $1::uuid AND verified_at IS NULL AND completed_at IS NULL RETURNING `+flowColumns,
			f.ID, p.Subject, req.NewBrowserHash, use.UserVerified, p.BackupEligible, req.Remember))
		if errors.Is(err, ErrNotFound) {
			return ErrFlowState
		}
		if err != nil {
			return err
		}
		// The flow's codes can no longer be used: it is verified another way.
		if _, err := tx.Exec(ctx, `UPDATE login_codes SET superseded_at = now() WHERE flow_id = $1::uuid AND superseded_at IS NULL`, f.ID); err != nil {
			return fmt.Errorf("store: unable to supersede codes: %w", err)
		}
		verdict = PasskeyAccepted
		return nil
	})
	if err != nil {
		return PasskeyInvalid, Flow{}, err
	}
	return verdict, flow, nil
}
