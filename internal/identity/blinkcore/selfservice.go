package blinkcore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/codes"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/ids"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// Two-step sign-in from the account page: core keeps the authenticator, so
// every change is a GraphQL call with the user's own core auth token, kept
// sealed server-side from their sign-in to the account page.

// TokenAD binds a kept token to its subject and login session: a sealed
// token copied to another row does not open.
func TokenAD(subject, sessionID string) []byte {
	return []byte("core token " + subject + " " + sessionID)
}

// keepToken is the token to keep for f's login session when f is a sign-in
// to the account page, sealed; nil for any other client.
func (s Source) keepToken(f store.Flow, subject, token string) (*KeptToken, error) {
	if s.opts.AccountClientID == "" || f.ClientID != s.opts.AccountClientID || f.HydraSessionID == "" {
		return nil, nil
	}
	sealed, err := s.keys.Seal([]byte(token), TokenAD(subject, f.HydraSessionID))
	if err != nil {
		return nil, err
	}
	return &KeptToken{SessionID: f.HydraSessionID, Sealed: sealed, ExpiresAt: time.Now().Add(s.opts.TokenTTL)}, nil
}

// token opens the core auth token kept for who's login session;
// ErrFreshSignIn when there is none (a remembered sign-in, another client,
// expired).
func (s Source) token(ctx context.Context, who identity.Who) (string, error) {
	if !ids.IsUUID(who.Subject) || who.SessionID == "" {
		return "", identity.ErrFreshSignIn
	}
	sealed, err := SealedToken(ctx, s.store.Conn(), who.Subject, who.SessionID)
	if errors.Is(err, store.ErrNotFound) {
		return "", identity.ErrFreshSignIn
	}
	if err != nil {
		return "", err
	}
	b, err := s.keys.Open(sealed, TokenAD(who.Subject, who.SessionID))
	if err != nil {
		// Sealed under a key no longer given: a new sign-in keeps a new one.
		return "", fmt.Errorf("%w (the kept token cannot be opened)", identity.ErrFreshSignIn)
	}
	return string(b), nil
}

// selfServiceError maps core's answers for the account page.
func selfServiceError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrSessionRejected):
		return fmt.Errorf("%w (%w)", identity.ErrFreshSignIn, err)
	case errors.Is(err, ErrWrongCode):
		return identity.ErrWrongCode
	case errors.Is(err, ErrTOTPExists):
		return identity.ErrTOTPOn
	case errors.Is(err, ErrRegistrationGone):
		return identity.ErrEnrollmentGone
	}
	return fmt.Errorf("%w (%w)", identity.ErrUnavailable, err)
}

// TOTPStatus is core's me.totpEnabled.
func (s Source) TOTPStatus(ctx context.Context, who identity.Who) (bool, error) {
	token, err := s.token(ctx, who)
	if err != nil {
		return false, err
	}
	on, err := s.core.TOTPEnabled(ctx, token)
	return on, selfServiceError(err)
}

// BeginTOTP asks core for a secret (userTotpRegistrationInitiate); core
// keeps the pending registration, and saves nothing as active.
func (s Source) BeginTOTP(ctx context.Context, who identity.Who) (identity.Enrollment, error) {
	u, err := s.user(ctx, who)
	if err != nil {
		return identity.Enrollment{}, err
	}
	token, err := s.token(ctx, who)
	if err != nil {
		return identity.Enrollment{}, err
	}
	r, err := s.core.TOTPRegistrationInitiate(ctx, token)
	if err != nil {
		return identity.Enrollment{}, selfServiceError(err)
	}
	return identity.Enrollment{ID: r.ID, Secret: totp.Base32(r.Secret), URI: totp.URI(r.Secret, identity.TOTPAccountName(u))}, nil
}

// ConfirmTOTP sends the code to core (userTotpRegistrationValidate), which
// saves the authenticator only when the code is right; then the change is
// audited and the user told. The notice is sealed before core is asked, so a
// change the user cannot be told of is not made.
func (s Source) ConfirmTOTP(ctx context.Context, who identity.Who, enrollmentID, code string) error {
	u, err := s.user(ctx, who)
	if err != nil {
		return err
	}
	token, err := s.token(ctx, who)
	if err != nil {
		return err
	}
	if !ids.IsUUID(enrollmentID) {
		return identity.ErrEnrollmentGone
	}
	c, ok := codes.Normalize(code)
	if !ok {
		// Not six digits: wrong, without asking core.
		return identity.ErrWrongCode
	}
	notice, err := identity.TOTPNotice(s.keys, u, who.Lang, "notify.totp.added", s.opts.Seal, s.opts.CanNotify)
	if err != nil {
		return err
	}
	if err := s.core.TOTPRegistrationValidate(ctx, token, enrollmentID, c); err != nil {
		return selfServiceError(err)
	}
	return s.store.RecordTOTPChange(ctx, store.AuditEvent{UserID: u.ID, Action: store.ActionTOTPEnrolled, Actor: who.ActorName(), IP: who.IP, Method: "totp", Result: "ok"}, notice)
}

// RemoveTOTP asks core to delete the authenticator (userTotpDelete), then
// audits the change and tells the user.
func (s Source) RemoveTOTP(ctx context.Context, who identity.Who) error {
	u, err := s.user(ctx, who)
	if err != nil {
		return err
	}
	on, err := s.TOTPStatus(ctx, who)
	if err != nil {
		return err
	}
	if !on {
		return identity.ErrTOTPOff
	}
	notice, err := identity.TOTPNotice(s.keys, u, who.Lang, "notify.totp.removed", s.opts.Seal, s.opts.CanNotify)
	if err != nil {
		return err
	}
	token, err := s.token(ctx, who)
	if err != nil {
		return err
	}
	if err := s.core.TOTPDelete(ctx, token); err != nil {
		return selfServiceError(err)
	}
	return s.store.RecordTOTPChange(ctx, store.AuditEvent{UserID: u.ID, Action: store.ActionTOTPRemoved, Actor: who.ActorName(), IP: who.IP, Method: "totp", Result: "ok"}, notice)
}

// user is the account's claims kept at sign-in: where its notices go.
func (s Source) user(ctx context.Context, who identity.Who) (store.User, error) {
	u, err := s.store.UserByID(ctx, who.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return u, identity.ErrNotFound
	}
	return u, err
}
