package login

import (
	"context"
	"net/netip"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/captcha"
	"github.com/blinkbitcoin/blink-consent/internal/challenges"
	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/metrics"
	"github.com/blinkbitcoin/blink-consent/internal/passkey"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// Hydra is the part of Hydra's admin API the login flow uses.
type Hydra interface {
	Login(ctx context.Context, challenge string) (hydra.LoginRequest, error)
	AcceptLogin(ctx context.Context, challenge string, a hydra.AcceptLogin) (string, error)
	RejectLogin(ctx context.Context, challenge string, rj hydra.Rejection) (string, error)
}

// Store is the flow state the login pages keep in PostgreSQL, whichever
// identity source signs people in. A sign-in is a state machine (identifier
// → code sent → verified → second factor → done); the steps that prove an
// identity are the source's (identity.Source), each one transaction.
type Store interface {
	challenges.Store
	UseRememberedLogin(ctx context.Context, challenge, subject, sessionID string) (store.User, store.SignInKind, bool, error)
	CompleteFlow(ctx context.Context, id, challenge string) (store.User, bool, error)
	RecordSignIn(ctx context.Context, in store.SignIn) error
	Audit(ctx context.Context, e store.AuditEvent) error
	StartFlow(ctx context.Context, f store.Flow, ttl time.Duration) (store.Flow, error)
	FlowForBrowser(ctx context.Context, id string, browserHash []byte) (store.Flow, error)
	ClearIdentifier(ctx context.Context, id string, browserHash []byte) error
	ReopenFlow(ctx context.Context, id, challenge string) error
	ForgetFlowState(ctx context.Context, id string) error
	// SaveCeremony and SignInWithPasskey are the passkey sign-in: a
	// ceremony bound to the flow, then the flow's passkey transition.
	SaveCeremony(ctx context.Context, c store.Ceremony, ttl time.Duration) (string, error)
	SignInWithPasskey(ctx context.Context, req store.PasskeySignIn) (store.PasskeyVerdict, store.Flow, error)
}

// Settings are the login flow's knobs.
type Settings struct {
	// RememberFor is how long Hydra remembers a "Remember me" sign-in.
	RememberFor time.Duration
	// FlowTTL is how long a sign-in page stays usable (Hydra's request TTL, 30 minutes).
	FlowTTL time.Duration
	// ResendAfter is the cooldown between two codes of one flow, shown as a
	// countdown (the source enforces it).
	ResendAfter time.Duration
	// Email, SMS and WhatsApp say which channels can deliver codes.
	Email, SMS, WhatsApp bool
	// SMSCountries are the ISO regions whose numbers may get codes (a source
	// that keeps its own list, Blink core, decides instead).
	SMSCountries []string
	// GeetestScriptURL is Geetest's gt.js, and GeetestOrigins what the CSP
	// of a page carrying it allows, when the source's bot check is Geetest.
	GeetestScriptURL string
	GeetestOrigins   []string
	// TelegramScriptURL is Telegram's Passport script, loaded by the
	// Telegram page when the source offers Telegram Passport; empty: the
	// "telegram" channel is not offered.
	TelegramScriptURL string
	// SecureCookies sets the __Host- prefix and Secure (https PUBLIC_URL).
	SecureCookies bool
	// AccountsElsewhere: the identity source keeps the accounts (Blink core),
	// so a remembered subject this service has not seen is accepted as Hydra
	// remembers it; only accounts disabled here are refused.
	AccountsElsewhere bool
	TrustedProxies    []netip.Prefix
	// PasskeyFailPerIP and PasskeyFailPerAccount are the failure limits of
	// passkey sign-ins (RATE_FAIL_IP and RATE_FAIL_IDENTIFIER, counted per
	// client network and per account), applied in both identity modes.
	PasskeyFailPerIP, PasskeyFailPerAccount store.Limit
}

// Deps is everything the login handlers stand on.
type Deps struct {
	Hydra    Hydra
	Store    Store
	Accounts identity.Source
	// Offer is the passkey offer after a code sign-in (offer.go); nil: none.
	Offer    *Offer
	Captcha  captcha.Checker
	Settings Settings
	// Metrics counts sign-ins, codes and limit refusals; nil counts nothing.
	Metrics *metrics.Metrics
	// Passkeys is the WebAuthn relying party; nil when PASSKEYS=off (no
	// button, no autofill, the passkey endpoints answer 404).
	Passkeys *passkey.RP
}
