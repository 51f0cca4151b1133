package blinkcore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/codes"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// Source signs people in through Blink core, exactly where apps/consent does:
// core sends and checks the codes and the authenticator codes, and its ids
// are the subjects. Our own defences stay on: the flow in PostgreSQL bound to
// the browser, its cooldown and caps, our limits as a second layer to core's.
// Core's emailLoginId and auth token never reach the browser: they are kept
// sealed in the flow row and forgotten when the step that needs them is done.
type Source struct {
	core      *Client
	store     *store.Store
	keys      secret.Keys
	limits    identity.Limits
	opts      Options
	countries *countryCache
}

// Options are the source's settings beyond the sign-in's.
type Options struct {
	// AccountClientID is the Hydra client of the account page
	// (ACCOUNT_CLIENT_ID): a sign-in for it keeps the user's core auth token,
	// sealed, under Hydra's login session id, for the account page's calls to
	// core. Empty: no token is ever kept.
	AccountClientID string
	// TokenTTL is how long such a token is kept; 0 is DefaultTokenTTL.
	TokenTTL time.Duration
	// Seal seals the users' notifications; nil is delivery.Seal.
	Seal identity.SealFunc
	// CanNotify says which channels notifications can go out on (a sender of
	// ours serves them); nil is all. Core sends the codes, so without SMTP or
	// SMS settings of our own, no notice is queued.
	CanNotify identity.CanSend
}

// DefaultTokenTTL is how long a core auth token is kept for the account page.
const DefaultTokenTTL = time.Hour

// NewSource is the Blink core identity source.
func NewSource(core *Client, st *store.Store, keys secret.Keys, limits identity.Limits, opts Options) Source {
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	return Source{core: core, store: st, keys: keys, limits: limits, opts: opts, countries: &countryCache{}}
}

var (
	_ identity.Source        = Source{}
	_ identity.BotChecker    = Source{}
	_ identity.TriesCounter  = Source{}
	_ identity.CountryLister = Source{}
	_ identity.TOTPManager   = Source{}
)

// NewBotCheck asks core for a Geetest challenge (/phone/captcha).
func (s Source) NewBotCheck(ctx context.Context, clientIP string) (identity.BotCheck, error) {
	c, err := s.core.PhoneCaptcha(ctx, clientIP)
	if err != nil {
		return identity.BotCheck{}, mapError(err)
	}
	return identity.BotCheck{ID: c.ID, Challenge: c.ChallengeCode, NewCaptcha: c.NewCaptcha, Offline: c.FailbackMode}, nil
}

// countriesFor is how long core's country list is used before it is asked
// again; after a failed ask, the last list is served for countriesRetry
// before core is asked again, so an outage of core's GraphQL does not make
// every phone page wait for it.
const (
	countriesFor   = 10 * time.Minute
	countriesRetry = 30 * time.Second
)

// countryCache keeps core's country list in memory: a copy of core's
// configuration, not state, so each replica may hold its own.
type countryCache struct {
	mu      sync.Mutex
	list    []identity.Country
	fetched time.Time
	failed  time.Time
}

// Countries is core's globals.supportedCountries with the channels a sign-in
// can use here: SMS, WhatsApp and Telegram Passport. When
// core cannot be asked, the last list it gave is used (stale); with no list
// yet, it is identity.ErrUnavailable, and the phone form says so while email
// sign-in goes on.
func (s Source) Countries(ctx context.Context) ([]identity.Country, error) {
	c := s.countries
	c.mu.Lock()
	list, fresh, failedLately := c.list, time.Since(c.fetched) < countriesFor, time.Since(c.failed) < countriesRetry
	c.mu.Unlock()
	if list != nil && (fresh || failedLately) {
		return list, nil
	}
	// Asked outside the lock: with no list yet, each page asks (bounded by
	// MeTimeout) rather than queueing behind another's wait.
	ctx, cancel := context.WithTimeout(ctx, MeTimeout)
	defer cancel()
	got, err := s.core.SupportedCountries(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.failed = time.Now()
		slog.WarnContext(ctx, "blink core: the country list is unavailable", "err", err, "stale", c.list != nil)
		if c.list != nil {
			return c.list, nil
		}
		return nil, mapError(err)
	}
	list = []identity.Country{}
	for _, country := range got {
		var channels []string
		for _, ch := range country.Channels {
			if ch == "sms" || ch == "whatsapp" || ch == "telegram" {
				channels = append(channels, ch)
			}
		}
		if len(channels) > 0 {
			list = append(list, identity.Country{ID: country.ID, Channels: channels})
		}
	}
	c.list, c.fetched, c.failed = list, time.Now(), time.Time{}
	return list, nil
}

// CoreTriesPerHour is core's default cap on logins per phone number and on
// authenticator codes per sign-in (loginAttemptPerLoginIdentifier): our own
// caps per code and per sign-in are set to it in blink mode.
const CoreTriesPerHour = 8

// coreBlock is the wait shown when core refuses with a limit and says no
// more: its block durations are an hour by default.
const coreBlock = time.Hour

// StateAD binds a flow's sealed state (core's emailLoginId or auth token) to
// the flow: a sealed state copied to another flow does not open.
func StateAD(flowID string) []byte {
	return []byte("blinkcore " + flowID)
}

func (s Source) seal(flowID string, state []byte) ([]byte, error) {
	return s.keys.Seal(state, StateAD(flowID))
}

func (s Source) open(f store.Flow) (string, error) {
	if len(f.SourceState) == 0 {
		return "", identity.ErrStartAgain
	}
	b, err := s.keys.Open(f.SourceState, StateAD(f.ID))
	if err != nil {
		return "", fmt.Errorf("blinkcore: the flow's state cannot be opened: %w", err)
	}
	return string(b), nil
}

// SendCode asks core to send the code: /email/code (keeping the emailLoginId
// it answers, sealed) or /phone/code with the page's Geetest answer.
func (s Source) SendCode(ctx context.Context, req identity.SendRequest) (identity.SendResult, error) {
	perIdentifier, bucket := s.limits.SendPerEmail, "send-email"
	if req.Channel != "email" {
		perIdentifier, bucket = s.limits.SendPerPhone, "send-phone"
	}
	f := req.Flow
	err := s.store.SendRemote(ctx, store.RemoteSend{
		FlowID: f.ID, BrowserHash: f.BrowserHash, Channel: req.Channel, Identifier: req.Identifier, Remember: req.Remember,
		Cooldown: s.limits.Cooldown, MaxSends: s.limits.MaxSends,
		Limits: []store.LimitKey{
			{Bucket: "send-ip", Key: req.IPKey, Limit: s.limits.SendPerIP},
			{Bucket: bucket, Key: req.Identifier, Limit: perIdentifier},
		},
		Send: func(ctx context.Context) ([]byte, error) {
			if req.Channel == "telegram" {
				return s.telegramRequest(ctx, f.ID, req.ClientIP, req.Identifier)
			}
			if req.Channel == "email" {
				id, err := s.core.EmailCode(ctx, req.ClientIP, req.Identifier)
				if err != nil {
					return nil, mapError(err)
				}
				return s.seal(f.ID, []byte(id))
			}
			g := GeetestResult{Challenge: req.BotCheck["geetest_challenge"], Validate: req.BotCheck["geetest_validate"], Seccode: req.BotCheck["geetest_seccode"]}
			if g.Challenge == "" || g.Validate == "" || g.Seccode == "" {
				return nil, identity.ErrBotCheck
			}
			return nil, mapError(s.core.PhoneCode(ctx, req.ClientIP, req.Identifier, req.Channel, g))
		},
	})
	// Core does not say whether an email has an account (it answers the
	// same for both); what it sends is its business.
	return identity.SendResult{Queued: err == nil}, err
}

// TriesLeft is how many more wrong codes the flow may get
// (identity.TriesCounter): the tries we allow each code core sent, and our
// failure limits when an operator set them. A Telegram flow has no code to
// type, so no warning.
func (s Source) TriesLeft(ctx context.Context, f store.Flow, ipKey string) (int, bool, error) {
	if f.Channel == "telegram" {
		return 0, false, nil
	}
	return s.store.TriesLeft(ctx, f.ID, []store.LimitKey{
		{Bucket: "fail-ip", Key: ipKey, Limit: s.limits.FailPerIP},
		{Bucket: "fail-identifier", Key: f.Identifier, Limit: s.limits.FailPerIdentifier},
	}, s.limits.Code.TriesPerCode)
}

// VerifyCode checks the code with /email/login or /phone/login (an unknown
// phone becomes a new Blink account there, as with apps/consent), or — for a
// Telegram flow — asks /telegram-passport/login whether Telegram confirmed
// (store.CodePending until it has). Without an authenticator, the subject is
// the id core's login answer names and `me` gives the claims (claims); the
// auth token is then dropped. With one, the token is kept sealed for the
// authenticator step.
func (s Source) VerifyCode(ctx context.Context, req identity.VerifyRequest) (store.Verdict, store.Flow, error) {
	f := req.Flow
	tries := s.limits.Code.TriesPerCode
	if f.Channel == "telegram" {
		tries = TelegramChecks
	}
	return s.store.VerifyRemote(ctx, store.RemoteVerify{
		FlowID: f.ID, BrowserHash: f.BrowserHash, NewBrowserHash: req.NewBrowserHash,
		IPKey: req.IPKey, PerIP: s.limits.FailPerIP, PerIdentifier: s.limits.FailPerIdentifier,
		Tries: tries,
		Check: func(ctx context.Context, f store.Flow) (store.RemoteVerdict, error) {
			var login Login
			var err error
			code, ok := codes.Normalize(req.Code)
			switch {
			case f.Channel == "telegram":
				// No code: Telegram Passport confirms the phone, or not yet.
				var pending bool
				if login, pending, err = s.telegramLogin(ctx, f, req.ClientIP); pending {
					return store.RemoteVerdict{Pending: true}, nil
				}
			case !ok:
				// Not six digits: a wrong code, counted, without asking core.
				return store.RemoteVerdict{Wrong: true}, nil
			case f.Channel == "email":
				var id string
				if id, err = s.open(f); err != nil {
					return store.RemoteVerdict{}, err
				}
				login, err = s.core.EmailLogin(ctx, req.ClientIP, id, code)
			default:
				login, err = s.core.PhoneLogin(ctx, req.ClientIP, f.Identifier, code)
			}
			if errors.Is(err, ErrWrongCode) {
				return store.RemoteVerdict{Wrong: true}, nil
			}
			if errors.Is(err, ErrCodeExpired) {
				// Core's verification is gone (expired, used, unknown): the
				// page says so and offers a new code.
				return store.RemoteVerdict{Wrong: true, Gone: true}, nil
			}
			if err != nil {
				return store.RemoteVerdict{}, mapError(err)
			}
			if login.TOTPRequired {
				state, err := s.seal(f.ID, []byte(login.AuthToken))
				return store.RemoteVerdict{SecondFactor: true, State: state}, err
			}
			a := s.claims(ctx, login.ID, login.AuthToken)
			kept, err := s.keepToken(f, a.ID, login.AuthToken)
			return store.RemoteVerdict{Keep: SignedIn{Claims: a, Token: kept}.Keep}, err
		},
	})
}

// CheckTOTP checks the authenticator code with /totp/validate and the kept
// auth token, then reads the account with `me`.
func (s Source) CheckTOTP(ctx context.Context, req identity.TOTPRequest) (store.TOTPVerdict, store.Flow, error) {
	f := req.Flow
	return s.store.VerifyRemoteTOTP(ctx, store.RemoteVerify{
		FlowID: f.ID, BrowserHash: f.BrowserHash, NewBrowserHash: req.NewBrowserHash,
		IPKey: req.IPKey, PerIP: s.limits.FailPerIP, PerIdentifier: s.limits.FailPerIdentifier,
		Tries: s.limits.TOTPTriesPerFlow,
		Check: func(ctx context.Context, f store.Flow) (store.RemoteVerdict, error) {
			code, ok := codes.Normalize(req.Code)
			if !ok {
				return store.RemoteVerdict{Wrong: true}, nil
			}
			token, err := s.open(f)
			if err != nil {
				return store.RemoteVerdict{}, err
			}
			err = s.core.TOTPValidate(ctx, req.ClientIP, token, code)
			if errors.Is(err, ErrWrongCode) {
				return store.RemoteVerdict{Wrong: true}, nil
			}
			if err != nil {
				return store.RemoteVerdict{}, mapError(err)
			}
			a, err := s.account(ctx, token)
			if err != nil {
				return store.RemoteVerdict{}, err
			}
			kept, err := s.keepToken(f, a.ID, token)
			return store.RemoteVerdict{Keep: SignedIn{Claims: a, Token: kept}.Keep}, err
		},
	})
}

// MeTimeout bounds the GraphQL calls of a sign-in (`me`, the country list):
// core's GraphQL (behind its router and Oathkeeper) is a dependency
// apps/consent does not have for email and phone sign-ins, so a slow one must
// not hold the sign-in (and the flow's transaction) for the client's full 10 s.
const MeTimeout = 3 * time.Second

// account reads the account an elevated token belongs to (after the
// authenticator step, where core's login answer names no one): `me` is the
// only source of the subject then, as with apps/consent.
func (s Source) account(ctx context.Context, token string) (Claims, error) {
	ctx, cancel := context.WithTimeout(ctx, MeTimeout)
	defer cancel()
	me, err := s.core.Me(ctx, token)
	if err != nil {
		return Claims{}, mapError(err)
	}
	return Claims{ID: me.ID, Email: me.Email, EmailVerified: me.EmailVerified, Phone: me.Phone, PhoneVerified: me.PhoneVerified}, nil
}

// claims is the account core's login answer named (id, the subject, as
// apps/consent takes it), with the claims `me` gives. When `me` fails (the
// GraphQL router down or slow) or names someone else, the sign-in goes on
// with the identifier the flow just proved, and the account's row keeps the
// email or phone it already knows (Partial): a GraphQL outage never takes
// sign-in down, and never blanks a claim.
func (s Source) claims(ctx context.Context, id, token string) Claims {
	a, err := s.account(ctx, token)
	if err == nil && a.ID != id {
		err = fmt.Errorf("%w: me names another account than the login answer", identity.ErrUnavailable)
	}
	if err != nil {
		slog.WarnContext(ctx, "blink core: me unavailable, signing in with the verified identifier only", "err", err)
		return Claims{ID: id, Partial: true}
	}
	return a
}

// Account reads the claims kept when the account last signed in: core has no
// lookup by id without the user's token.
func (s Source) Account(ctx context.Context, id string) (identity.Account, error) {
	u, err := s.store.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return identity.Account{}, identity.ErrNotFound
	}
	return identity.FromUser(u), err
}

// mapError turns core's answers into the seam's errors; the page for each is
// the login package's. A limit keeps which one, for the log, and core's
// block for the page; every refusal of core's keeps its own message.
func mapError(err error) error {
	var limited *LimitError
	switch {
	case err == nil:
		return nil
	case mapTelegram(err) != nil:
		return mapTelegram(err)
	case errors.As(err, &limited):
		retry := limited.RetryAfter
		if retry <= 0 {
			retry = limited.Block
		}
		if retry <= 0 {
			retry = coreBlock
		}
		return &store.LimitError{Bucket: "core-" + orUnknown(limited.What), RetryAfter: retry}
	case errors.Is(err, ErrSessionRejected):
		return fmt.Errorf("%w (%w)", identity.ErrStartAgain, err)
	}
	for _, r := range refusals {
		if errors.Is(err, r.core) {
			return &identity.Refusal{Kind: r.kind, Reason: r.reason, Err: err}
		}
	}
	return fmt.Errorf("%w (%w)", identity.ErrUnavailable, err)
}

// refusals are core's refusals and their messages (login.error.<reason>).
var refusals = []struct {
	core, kind error
	reason     string
}{
	{ErrCaptchaFailed, identity.ErrBotCheck, "captcha"},
	{ErrCaptchaUnavailable, identity.ErrBotCheck, "captcha_unchecked"},
	{ErrNotAllowedToRegister, identity.ErrRegistrationRefused, "registration"},
	{ErrNetworkNotAllowedToRegister, identity.ErrRegistrationRefused, "registration_network"},
	{ErrInvalidChannel, identity.ErrRefused, "refused.phone"},
	{ErrInvalidPhone, identity.ErrRefused, "phone_invalid"},
	{ErrNotMobile, identity.ErrRefused, "mobile"},
	{ErrRegionRestricted, identity.ErrRefused, "country"},
	{ErrOptedOut, identity.ErrRefused, "opted_out"},
	{ErrPhoneCheck, identity.ErrDelivery, "phone_check"},
	{ErrProviderUnavailable, identity.ErrDelivery, "provider"},
	{ErrInvalidInput, identity.ErrRefused, ""},
}

func orUnknown(what string) string {
	if what == "" {
		return "limit"
	}
	return what
}
