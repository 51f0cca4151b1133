// Package accounts is the seam between the sign-in flow and where accounts
// live. An identity source sends a one-time code to an email or phone, checks
// it, asks for a second factor when the account has one, and looks accounts
// up by id (the OAuth subject). The flow itself — its row in PostgreSQL, the
// browser binding, our own limits, the single-use challenge — is ours in every
// mode; a source applies our limits as a second layer to its own.
//
// Sources: identity/postgres (our users table) and identity/blinkcore (Blink
// core's auth API; the users table then only keeps the claims of accounts
// that signed in, under core's ids). One conformance suite,
// identity/identitytest, runs against each, so a new source is a suite run
// away from done.
package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// Account is an account as the flows see it. ID is the OAuth subject.
type Account struct {
	ID            string
	Email         string
	EmailVerified bool
	Phone         string
	PhoneVerified bool
	Disabled      bool
}

// Active reports whether the account may sign in.
func (a Account) Active() bool { return !a.Disabled }

// FromUser is the account of a row of our users table.
func FromUser(u store.User) Account {
	return Account{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Phone: u.Phone, PhoneVerified: u.PhoneVerified, Disabled: !u.Active()}
}

// Limits are our own abuse limits, which every source applies.
type Limits struct {
	SendPerEmail, SendPerPhone, SendPerIP store.Limit
	FailPerIdentifier, FailPerIP          store.Limit
	Code                                  store.CodeLimits
	// TOTPTriesPerFlow is how many authenticator codes one sign-in may try.
	TOTPTriesPerFlow int
	// Cooldown is the wait between two codes of one flow, MaxSends their number.
	Cooldown time.Duration
	MaxSends int
}

// SendRequest asks for a code to Identifier (a normalised email or E.164
// number) on Channel ("email", "sms" or "whatsapp") for the browser's flow.
type SendRequest struct {
	Flow       store.Flow
	Channel    string
	Identifier string
	Remember   bool
	Lang       i18n.Lang
	// ClientIP is the client's address as computed from TRUSTED_PROXIES;
	// IPKey is its per-IP limit key (an IPv6 client's /64).
	ClientIP, IPKey string
	// BotCheck is the answer the page posted to a source whose bot check is
	// its own (Blink core's Geetest: geetest_challenge, geetest_validate,
	// geetest_seccode); nil otherwise.
	BotCheck map[string]string
}

// SendResult says whether a message went out: false for an email with no
// account (the same page, the same work, no message).
type SendResult struct {
	Queued bool
}

// VerifyRequest is a code typed on the code page.
type VerifyRequest struct {
	Flow            store.Flow
	Code            string
	ClientIP, IPKey string
	// NewBrowserHash is the browser binding the flow takes when the code is right.
	NewBrowserHash []byte
}

// TOTPRequest is an authenticator code typed on the second step.
type TOTPRequest struct {
	Flow            store.Flow
	Code            string
	ClientIP, IPKey string
	NewBrowserHash  []byte
}

// Source is an identity source. Each method is one step of the sign-in flow
// (store.Flow): it refuses a flow that is not at that step with
// store.ErrFlowState, a limit with *store.LimitError, and changes nothing then.
type Source interface {
	// SendCode sends a code for the flow (identifier → code sent).
	SendCode(ctx context.Context, req SendRequest) (SendResult, error)
	// VerifyCode checks the code (code sent → verified, or a failure); a
	// flow already verified comes back as it is with store.CodeUsed.
	VerifyCode(ctx context.Context, req VerifyRequest) (store.Verdict, store.Flow, error)
	// CheckTOTP checks the authenticator code of a flow whose account has one.
	CheckTOTP(ctx context.Context, req TOTPRequest) (store.TOTPVerdict, store.Flow, error)
	// Account returns the account whose id is the subject; ErrNotFound when none.
	Account(ctx context.Context, id string) (Account, error)
}

// The errors a source returns besides the store's flow-level ones.
var (
	// ErrNotFound: no such account.
	ErrNotFound = errors.New("accounts: no such account")
	// ErrUnavailable: the source cannot answer now (a 503 page).
	ErrUnavailable = errors.New("accounts: the identity source is unavailable")
	// ErrBotCheck: the source's own bot check was not passed.
	ErrBotCheck = errors.New("accounts: the bot check was not passed")
	// ErrRegistrationRefused: this number may not become an account.
	ErrRegistrationRefused = errors.New("accounts: registration refused")
	// ErrRefused: the source refused the email, number or channel itself.
	ErrRefused = errors.New("accounts: the identity source refused the input")
	// ErrStartAgain: what the source gave this sign-in is no longer valid.
	ErrStartAgain = errors.New("accounts: the sign-in must start again")
	// ErrDelivery: the source answers, but what sends its codes (an SMS
	// provider) cannot now; trying later, or email, may work.
	ErrDelivery = errors.New("accounts: the code cannot be sent or checked now")
)

// Refusal is a source's refusal that the page explains in its own words:
// errors.Is matches Kind (ErrRefused, ErrRegistrationRefused, ErrBotCheck
// or ErrDelivery) and the source's own error.
type Refusal struct {
	Kind error
	// Reason names the message: the catalog's login.error.<Reason>, and for a
	// registration refusal also the error page error.<Reason>.*.
	Reason string
	Err    error
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("%v: %s: %v", r.Kind, r.Reason, r.Err)
}

func (r *Refusal) Unwrap() []error { return []error{r.Kind, r.Err} }

// ReasonOf is the Reason of a *Refusal in err's chain, or def.
func ReasonOf(err error, def string) string {
	var r *Refusal
	if errors.As(err, &r) && r.Reason != "" {
		return r.Reason
	}
	return def
}

// BotChecker is a source whose bot check before a code goes to a phone is its
// own (Blink core's Geetest): the phone form asks it for a challenge, and
// posts the answer back in SendRequest.BotCheck.
type BotChecker interface {
	NewBotCheck(ctx context.Context, clientIP string) (BotCheck, error)
}

// BotCheck is one Geetest v3 challenge.
type BotCheck struct {
	ID, Challenge       string
	NewCaptcha, Offline bool
}

// TriesCounter is a source that can say how many more wrong codes a flow may
// get before a limit stops them, so the code page warns in time. Left is
// the fewest of the limits that count (0 when none does: no warning);
// OfCode says the fewest are the live code's own tries (a new code gets new
// ones), not the identifier's or the connection's, which pause sign-in.
type TriesCounter interface {
	TriesLeft(ctx context.Context, f store.Flow, ipKey string) (left int, ofCode bool, err error)
}

// CountryLister is a source that decides which countries' numbers may get
// codes, and by which channels ("sms", "whatsapp").
type CountryLister interface {
	Countries(ctx context.Context) ([]Country, error)
}

// Country is an ISO country code and the channels its numbers may use.
type Country struct {
	ID       string
	Channels []string
}
