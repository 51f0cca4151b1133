package login

import (
	"context"
	"net/netip"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/captcha"
	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
)

// Hydra is the part of Hydra's admin API the login flow uses.
type Hydra interface {
	Login(ctx context.Context, challenge string) (hydra.LoginRequest, error)
	AcceptLogin(ctx context.Context, challenge string, a hydra.AcceptLogin) (string, error)
	RejectLogin(ctx context.Context, challenge string, rj hydra.Rejection) (string, error)
}

// Store is the state the login flow keeps, all of it in PostgreSQL. A sign-in
// is a state machine (identifier → code sent → verified → second factor →
// done); each request is one of its transitions, checked and applied in one
// transaction.
type Store interface {
	web.ChallengeStore
	UseRememberedLogin(ctx context.Context, challenge, subject, sessionID string) (store.User, store.SignInKind, bool, error)
	RecordLoginSession(ctx context.Context, sessionID, userID string, k store.SignInKind) error
	StartFlow(ctx context.Context, f store.Flow, ttl time.Duration) (store.Flow, error)
	FlowForBrowser(ctx context.Context, id string, browserHash []byte) (store.Flow, error)
	ClearIdentifier(ctx context.Context, id string, browserHash []byte) error
	SendCode(ctx context.Context, req store.SendRequest) (store.SendResult, error)
	VerifyCode(ctx context.Context, req store.VerifyRequest) (store.Verdict, store.Flow, error)
	CheckTOTP(ctx context.Context, req store.TOTPRequest) (store.TOTPVerdict, store.Flow, error)
	CompleteFlow(ctx context.Context, id string) (store.User, bool, error)
	ReopenFlow(ctx context.Context, id string) error
}

// Limits are the abuse limits, shared by every replica through the store.
type Limits struct {
	SendPerEmail, SendPerPhone, SendPerIP store.Limit
	FailPerIdentifier, FailPerIP          store.Limit
	Code                                  store.CodeLimits
}

// Settings are the login flow's knobs.
type Settings struct {
	// RememberFor is how long Hydra remembers a "Remember me" sign-in.
	RememberFor time.Duration
	// CodeTTL is a code's lifetime (10 minutes).
	CodeTTL time.Duration
	// FlowTTL is how long a sign-in page stays usable (Hydra's request TTL, 30 minutes).
	FlowTTL time.Duration
	// ResendAfter is the cooldown between two codes of one flow, whichever
	// page asks (the identifier page again, or "Send a new code").
	ResendAfter time.Duration
	// MaxSends is how many codes one flow may send (5).
	MaxSends int
	// Email, SMS and WhatsApp say which channels can deliver codes.
	Email, SMS, WhatsApp bool
	// SMSCountries are the ISO regions whose numbers may get codes.
	SMSCountries []string
	// CreatePhoneUsers: an unknown number becomes an account on its first verified code.
	CreatePhoneUsers bool
	// Domain is this service's host, for the SMS autofill line.
	Domain string
	// SecureCookies sets the __Host- prefix and Secure (https PUBLIC_URL).
	SecureCookies  bool
	TrustedProxies []netip.Prefix
}

// Deps is everything the login handlers stand on.
type Deps struct {
	Hydra    Hydra
	Store    Store
	Keys     secret.Keys
	Captcha  captcha.Checker
	Limits   Limits
	Settings Settings
	// Clock is the time authenticator codes are checked against; nil is time.Now.
	Clock func() time.Time
}
