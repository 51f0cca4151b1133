package blinkcore

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"
)

// The kinds of answer a caller turns into its own messages. Core's own text is
// never part of Error(): it is English, sometimes "Unknown error", and on some
// routes it echoes what the user typed.
var (
	// ErrWrongCode: the one-time or authenticator code is not the right one
	// (or is not six digits).
	ErrWrongCode = errors.New("blinkcore: wrong code")
	// ErrCodeExpired: the code can no longer be used (expired, already used,
	// or its verification unknown to core's SMS provider); a new one must be
	// requested. See mapEmailLogin for why core's 400 "Unknown error" lands
	// here, and PhoneLogin for "Invalid or incorrect phone entered.".
	ErrCodeExpired = errors.New("blinkcore: code expired")
	// ErrCaptchaFailed: Geetest did not accept the captcha result.
	ErrCaptchaFailed = errors.New("blinkcore: captcha failed")
	// ErrCaptchaUnavailable: core could not ask Geetest about the result
	// (UnknownCaptchaError); trying the check again may pass.
	ErrCaptchaUnavailable = errors.New("blinkcore: captcha could not be checked")
	// ErrNotAllowedToRegister: core refuses to create an account for this
	// phone number.
	ErrNotAllowedToRegister = errors.New("blinkcore: not allowed to register")
	// ErrNetworkNotAllowedToRegister: core refuses to create accounts from
	// this client IP address.
	ErrNetworkNotAllowedToRegister = errors.New("blinkcore: not allowed to register from this network")
	// ErrInvalidPhone: core or its SMS provider says the number is not a
	// valid phone number.
	ErrInvalidPhone = errors.New("blinkcore: not a valid phone number")
	// ErrNotMobile: the provider refuses the number's type (landline,
	// VoIP, disposable): a mobile number is needed.
	ErrNotMobile = errors.New("blinkcore: not a mobile number")
	// ErrRegionRestricted: the provider does not send to the number's region.
	ErrRegionRestricted = errors.New("blinkcore: region not served")
	// ErrOptedOut: the number has opted out of the provider's messages.
	ErrOptedOut = errors.New("blinkcore: number opted out of messages")
	// ErrPhoneCheck: core or its provider could not check the number
	// (its type, its metadata for a new account, a fraud block).
	ErrPhoneCheck = errors.New("blinkcore: the number could not be checked")
	// ErrProviderUnavailable: core answers, but its SMS provider is
	// unreachable or failed.
	ErrProviderUnavailable = errors.New("blinkcore: SMS provider unavailable")
	// ErrInvalidChannel: the delivery channel is unknown, Telegram, or not
	// offered for the phone number's country.
	ErrInvalidChannel = errors.New("blinkcore: channel not available")
	// ErrInvalidInput: core refused the input itself (missing field, malformed
	// email or phone number).
	ErrInvalidInput = errors.New("blinkcore: invalid input")
	// ErrSessionRejected: core does not accept the auth token (unknown,
	// expired, or still waiting for its second factor). Start again.
	ErrSessionRejected = errors.New("blinkcore: session rejected")
	// ErrUnavailable: core could not be reached, timed out, redirected, failed,
	// or answered something this client does not know.
	ErrUnavailable = errors.New("blinkcore: core unavailable")
)

// What a LimitError counts.
const (
	LimitIP         = "ip"         // attempts from this client IP
	LimitIdentifier = "identifier" // attempts for this email or phone number
	LimitTOTP       = "totp"       // authenticator attempts for this sign-in
	LimitProvider   = "provider"   // the SMS provider's own limit for this number
	LimitUnknown    = ""           // core's answer does not say which limit
)

// LimitError is core's answer that a rate limit is exceeded.
type LimitError struct {
	What string
	// RetryAfter is the wait core announced in a Retry-After header; 0 when
	// unknown. Core sends none today; its block durations are configuration
	// (docs/blink-core.md has the defaults).
	RetryAfter time.Duration
	// Block is how long core blocks after this limit by its defaults (an
	// hour; 4 hours for failed logins per IP): what to tell the user when
	// core announces nothing.
	Block time.Duration

	detail
}

func (e *LimitError) Error() string {
	what := e.What
	if what == LimitUnknown {
		what = "unspecified"
	}
	return fmt.Sprintf("blinkcore: %s: %d: rate limit exceeded (%s)", e.Route, e.Status, what)
}

// LogValue gives slog the route, status and core's (scrubbed) text.
func (e *LimitError) LogValue() slog.Value { return e.detail.logValue(e.Error()) }

// Error is every other typed answer: errors.Is(err, ErrWrongCode) and so on.
type Error struct {
	Kind error
	detail
	cause error
}

func (e *Error) Error() string {
	s := e.Kind.Error()
	if e.Route != "" {
		s += fmt.Sprintf(" (%s", e.Route)
		if e.Status != 0 {
			s += fmt.Sprintf(": %d", e.Status)
		}
		s += ")"
	}
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

func (e *Error) Unwrap() []error {
	if e.cause != nil {
		return []error{e.Kind, e.cause}
	}
	return []error{e.Kind}
}

// LogValue gives slog the route, status and core's (scrubbed) text.
func (e *Error) LogValue() slog.Value { return e.detail.logValue(e.Error()) }

// detail is what the logs may see: core's text with every secret of the call
// removed.
type detail struct {
	Route  string
	Status int
	core   string
}

func (d detail) logValue(msg string) slog.Value {
	attrs := []slog.Attr{slog.String("error", msg), slog.String("route", d.Route)}
	if d.Status != 0 {
		attrs = append(attrs, slog.Int("status", d.Status))
	}
	if d.core != "" {
		attrs = append(attrs, slog.String("core", d.core))
	}
	return slog.GroupValue(attrs...)
}

// CoreText is core's own text for this answer, scrubbed of codes and tokens,
// for logs only: never show it to a user.
func CoreText(err error) string {
	var le *LimitError
	if errors.As(err, &le) {
		return le.core
	}
	var e *Error
	if errors.As(err, &e) {
		return e.core
	}
	return ""
}

var tokenPattern = regexp.MustCompile(`ory_st_[A-Za-z0-9]*`)

// scrub removes the call's secrets (codes, tokens) from core's text: some
// routes echo their input in errors (/totp/validate answers a wrong-length
// code with the code itself).
func scrub(text string, secrets ...string) string {
	for _, s := range secrets {
		if s != "" {
			text = strings.ReplaceAll(text, s, "[redacted]")
		}
	}
	text = tokenPattern.ReplaceAllString(text, "[redacted]")
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	return strings.ToValidUTF8(text, "")
}
