// Package postgres is the identity source of our own users table: codes are
// made, sealed into the outbox and checked here, and each step of the flow is
// one transaction of internal/store that locks the flow and checks the state
// it starts from.
package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/codes"
	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// Source signs people in against the users table.
type Source struct {
	Store  *store.Store
	Keys   secret.Keys
	Limits identity.Limits
	// CodeTTL is a code's lifetime (10 minutes).
	CodeTTL time.Duration
	// Domain is this service's host, for the SMS autofill line.
	Domain string
	// CreatePhoneUsers: an unknown number becomes an account on its first verified code.
	CreatePhoneUsers bool
	// Clock is the time authenticator codes are checked against; nil is time.Now.
	Clock func() time.Time
	// EnrollmentTTL is how long a secret shown to its user waits for its
	// confirming code; 0 is DefaultEnrollmentTTL.
	EnrollmentTTL time.Duration
	// Seal seals the users' notifications; nil is delivery.Seal.
	Seal identity.SealFunc
	// CanNotify says which channels notifications can go out on; nil is all.
	CanNotify identity.CanSend
}

var (
	_ identity.Source       = Source{}
	_ identity.TOTPManager  = Source{}
	_ identity.TriesCounter = Source{}
)

// SendCode makes a code, seals its message and stores both in one
// transaction with the flow's step. An email with no account (or a number
// that may not become one) does the very same work: its sealed message is
// stored as a decoy that is never sent, and the code stored is one nobody
// knows.
func (s Source) SendCode(ctx context.Context, req identity.SendRequest) (identity.SendResult, error) {
	perIdentifier, bucket := s.Limits.SendPerEmail, "send-email"
	if req.Channel != "email" {
		perIdentifier, bucket = s.Limits.SendPerPhone, "send-phone"
	}
	code, err := codes.Generate()
	if err != nil {
		return identity.SendResult{}, err
	}
	decoy, err := codes.Generate()
	if err != nil {
		return identity.SendResult{}, err
	}
	env := delivery.CodeEnvelope(req.Lang, req.Channel, req.Identifier, code, s.CodeTTL, s.Domain)
	msg, err := delivery.Seal(s.Keys, env, time.Now().Add(s.CodeTTL))
	if err != nil {
		return identity.SendResult{}, err
	}
	key := s.Keys.Derive("code")
	f := req.Flow
	res, err := s.Store.SendCode(ctx, store.SendRequest{
		FlowID: f.ID, BrowserHash: f.BrowserHash, Channel: req.Channel, Identifier: req.Identifier, Remember: req.Remember,
		MAC: codes.MAC(key, f.ID, req.Identifier, code),
		// Not a code anyone can type: codes are digits.
		DecoyMAC: codes.MAC(key, f.ID, req.Identifier, decoy+"x"),
		Message:  *msg, TTL: s.CodeTTL,
		Cooldown: s.Limits.Cooldown, MaxSends: s.Limits.MaxSends,
		Limits: []store.LimitKey{
			{Bucket: "send-ip", Key: req.IPKey, Limit: s.Limits.SendPerIP},
			{Bucket: bucket, Key: req.Identifier, Limit: perIdentifier},
		},
		CreatePhoneUsers: s.CreatePhoneUsers,
	})
	return identity.SendResult{Queued: res.Queued}, err
}

// VerifyCode checks the code against the flow's live code (HMAC, constant
// time, under every active key) in the flow's transaction.
func (s Source) VerifyCode(ctx context.Context, req identity.VerifyRequest) (store.Verdict, store.Flow, error) {
	code, wellFormed := codes.Normalize(req.Code)
	keys := s.Keys.DeriveAll("code")
	f := req.Flow
	return s.Store.VerifyCode(ctx, store.VerifyRequest{
		FlowID: f.ID, BrowserHash: f.BrowserHash, NewBrowserHash: req.NewBrowserHash,
		IPKey: req.IPKey, PerIP: s.Limits.FailPerIP, PerIdentifier: s.Limits.FailPerIdentifier,
		Limits: s.Limits.Code, CreatePhoneUsers: s.CreatePhoneUsers, ClientIP: req.ClientIP,
		Match: func(identifier string, mac []byte) bool {
			// A malformed code is still a try: it is counted, then fails.
			return wellFormed && codes.Match(keys, f.ID, identifier, code, mac)
		},
	})
}

// TriesLeft is how many more wrong codes the flow may get (identity.TriesCounter).
func (s Source) TriesLeft(ctx context.Context, f store.Flow, ipKey string) (int, bool, error) {
	return s.Store.TriesLeft(ctx, f.ID, []store.LimitKey{
		{Bucket: "fail-ip", Key: ipKey, Limit: s.Limits.FailPerIP},
		{Bucket: "fail-identifier", Key: f.Identifier, Limit: s.Limits.FailPerIdentifier},
	}, s.Limits.Code.TriesPerCode)
}

// CheckTOTP opens the account's sealed secret and checks the code for the
// current time step ±1, claiming the step so it never signs in twice.
func (s Source) CheckTOTP(ctx context.Context, req identity.TOTPRequest) (store.TOTPVerdict, store.Flow, error) {
	now := time.Now
	if s.Clock != nil {
		now = s.Clock
	}
	f := req.Flow
	return s.Store.CheckTOTP(ctx, store.TOTPRequest{
		FlowID: f.ID, BrowserHash: f.BrowserHash, NewBrowserHash: req.NewBrowserHash,
		IPKey: req.IPKey, PerIP: s.Limits.FailPerIP, PerUser: s.Limits.FailPerIdentifier,
		TriesPerFlow: s.Limits.TOTPTriesPerFlow,
		Match: func(userID string, sealed []byte) (int64, bool, error) {
			secret, err := s.Keys.Open(sealed, []byte(userID))
			if err != nil {
				return 0, false, err
			}
			step, ok := totp.Match(secret, req.Code, now())
			return step, ok, nil
		},
	})
}

// CheckRecoveryCode is the authenticator step with a recovery code: the
// store's CheckTOTP transition with the code's hash instead of a TOTP match,
// so the same limits, tries and state checks hold, and the code is used up,
// audited and its notice queued in that one transaction.
func (s Source) CheckRecoveryCode(ctx context.Context, req identity.TOTPRequest) (store.TOTPVerdict, store.Flow, error) {
	f := req.Flow
	u, err := s.Store.UserByID(ctx, f.UserID)
	if err != nil {
		return store.TOTPWrong, store.Flow{}, err
	}
	notice, err := identity.TOTPNotice(s.Keys, u, i18n.Lang(f.Lang), "notify.recovery.used", s.Seal, s.CanNotify)
	if err != nil {
		return store.TOTPWrong, store.Flow{}, err
	}
	return s.Store.CheckTOTP(ctx, store.TOTPRequest{
		FlowID: f.ID, BrowserHash: f.BrowserHash, NewBrowserHash: req.NewBrowserHash,
		IPKey: req.IPKey, PerIP: s.Limits.FailPerIP, PerUser: s.Limits.FailPerIdentifier,
		TriesPerFlow: s.Limits.TOTPTriesPerFlow,
		RecoveryHash: identity.RecoveryCodeHash(req.Code),
		Recovered: store.RecoveryUse{
			Audit: store.AuditEvent{UserID: u.ID, Action: store.ActionRecoveryCodeUsed, Actor: "user", ClientID: f.ClientID,
				IP: req.ClientIP, Method: "recovery_code", Result: "ok"},
			Notify: notice,
		},
	})
}

// Account reads the users table.
func (s Source) Account(ctx context.Context, id string) (identity.Account, error) {
	u, err := s.Store.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return identity.Account{}, identity.ErrNotFound
	}
	return identity.FromUser(u), err
}
