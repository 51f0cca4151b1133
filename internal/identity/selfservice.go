package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/contact"
	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// TOTPManager is a source whose users turn two-step sign-in with an
// authenticator app on and off themselves (the account page). Turning it on
// takes two calls: BeginTOTP makes a secret and saves nothing as active;
// ConfirmTOTP saves it only when a current code of it matches. Each change
// is audited and the user is told by email or SMS through the outbox.
type TOTPManager interface {
	// TOTPStatus reports whether the account has an authenticator app.
	TOTPStatus(ctx context.Context, who Who) (enabled bool, err error)
	// BeginTOTP makes a new secret for the account; ErrTOTPOn when it has one.
	BeginTOTP(ctx context.Context, who Who) (Enrollment, error)
	// ConfirmTOTP turns two-step sign-in on with the enrolment's secret when
	// code is a current code of it: ErrWrongCode (nothing saved) otherwise,
	// ErrEnrollmentGone when the enrolment expired, is unknown or is another
	// account's.
	ConfirmTOTP(ctx context.Context, who Who, enrollmentID, code string) error
	// RemoveTOTP turns two-step sign-in off; ErrTOTPOff when it was off.
	RemoveTOTP(ctx context.Context, who Who) error
}

// Who is the signed-in person a self-service change is for, as the account
// session knows them from the ID token.
type Who struct {
	// Subject is the account's id (the ID token's sub).
	Subject string
	// SessionID is Hydra's login session id (the ID token's sid). The Blink
	// source finds the user's core auth token under it (kept, sealed, when
	// that sign-in was to the account client); the postgres source ignores it.
	SessionID string
	// IP is the client's address, for the audit trail.
	IP string
	// Actor is who makes the change, for the audit trail: "" means "user";
	// the command line says "cli".
	Actor string
	// Lang is the language of the page the change was made on: the notice
	// says it in that language first ("" is English).
	Lang i18n.Lang
}

// ActorName is the audit trail's actor for who.
func (w Who) ActorName() string {
	if w.Actor == "" {
		return "user"
	}
	return w.Actor
}

// Enrollment is a secret shown to its user and not yet confirmed.
type Enrollment struct {
	// ID names the enrolment in ConfirmTOTP. It opens nothing by itself: it
	// works only for the account that began it.
	ID string
	// Secret is the key in base32, as authenticator apps show it.
	Secret string
	// URI is the otpauth://totp/… URI a QR code carries; show it as text too.
	URI string
	// ExpiresAt is when the enrolment stops working; zero when the source
	// does not say (Blink core).
	ExpiresAt time.Time
}

// The errors of TOTPManager besides ErrNotFound and ErrUnavailable.
var (
	// ErrFreshSignIn: the change needs a new sign-in to the account page
	// (with Blink core: no core token is kept for this session, it expired,
	// or core no longer takes it).
	ErrFreshSignIn = errors.New("accounts: a fresh sign-in is needed")
	// ErrWrongCode: the confirming code is not a current code of the secret.
	ErrWrongCode = errors.New("accounts: that code is not right")
	// ErrEnrollmentGone: the enrolment expired, had its tries, or is not this account's.
	ErrEnrollmentGone = errors.New("accounts: the enrolment is no longer valid")
	// ErrTOTPOn: the account already has an authenticator app.
	ErrTOTPOn = errors.New("accounts: two-step sign-in is already on")
	// ErrTOTPOff: the account has no authenticator app.
	ErrTOTPOff = errors.New("accounts: two-step sign-in is off")
)

// SealFunc seals a message for the outbox (delivery.Seal).
type SealFunc func(keys secret.Keys, e delivery.Envelope, notAfter time.Time) (*store.Message, error)

// CanSend reports whether a message can go out on channel ("email", "sms"):
// whether a sender of ours serves it. Nil means every channel can.
type CanSend func(channel string) bool

// NoticeChannel is where u's notices go: their email when email can go out,
// else their phone by SMS when SMS can; "" when neither can. With
// IDENTITY_SOURCE=blink and no SMTP or SMS settings (core sends the codes) no
// notice goes anywhere, rather than waiting in the outbox for a sender that
// does not exist and failing there.
func NoticeChannel(u store.User, can CanSend) (channel, to string) {
	if can == nil {
		can = func(string) bool { return true }
	}
	switch {
	case u.Email != "" && can("email"):
		return "email", u.Email
	case u.Phone != "" && can("sms"):
		return "sms", u.Phone
	}
	return "", ""
}

// TOTPNotice is the message telling u that two-step sign-in changed (key:
// "notify.totp.added", "notify.totp.removed", "notify.recovery.used" or
// "notify.recovery.new"): Notice under the subject "notify.totp.subject".
func TOTPNotice(keys secret.Keys, u store.User, lang i18n.Lang, key string, seal SealFunc, can CanSend) (*store.Message, error) {
	return Notice(keys, u, lang, "notify.totp.subject", key, seal, can)
}

// Notice is the message telling u of a security change to their account
// (key, e.g. "notify.totp.added", "notify.passkey.removed"; subjectKey the
// email's subject) on NoticeChannel: by email in lang (the language of the
// page the change was made on) and then in the other language (the account
// keeps no language of its own), or by SMS in lang alone ("sms." in place of
// "notify."), in one GSM-7 segment. When the account has no email or phone,
// or the notice cannot be sealed, the caller changes nothing: a change the
// user could be told of is not made untold. When no sender serves the
// account's email or phone it is nil: the change is made (and audited)
// without a notice, and the account page says nothing was sent. seal nil is
// delivery.Seal.
func Notice(keys secret.Keys, u store.User, lang i18n.Lang, subjectKey, key string, seal SealFunc, can CanSend) (*store.Message, error) {
	if seal == nil {
		seal = delivery.Seal
	}
	if u.Email == "" && u.Phone == "" {
		return nil, errors.New("the account has no email or phone number to tell, so nothing was changed")
	}
	channel, to := NoticeChannel(u, can)
	if channel == "" {
		return nil, nil
	}
	first, second := i18n.English, i18n.Spanish
	if lang == i18n.Spanish {
		first, second = i18n.Spanish, i18n.English
	}
	// One GSM-7 segment in the person's language (i18n's
	// TestSMSBodiesFitOneGSM7Segment): "notify.x.y" is "sms.x.y".
	e := delivery.Envelope{Channel: "sms", To: to, Text: first.T("sms." + strings.TrimPrefix(key, "notify."))}
	if channel == "email" {
		e = delivery.Envelope{Channel: "email", To: to, Subject: first.T(subjectKey) + " / " + second.T(subjectKey),
			Text: first.T(key) + "\n\n" + second.T(key)}
	}
	m, err := seal(keys, e, time.Now().Add(24*time.Hour))
	if err != nil {
		return nil, fmt.Errorf("the notification to the user could not be sealed, so nothing was changed: %w", err)
	}
	return m, nil
}

// PasskeyNotice is the message telling u that a passkey was added, renamed
// or removed (key "notify.passkey.added", "…renamed", "…removed"): Notice
// under "notify.passkey.subject", and nil when u has neither email nor phone
// (with Blink core, an account whose cached row has none): the change is
// made and audited, and the page says nobody was told.
func PasskeyNotice(keys secret.Keys, u store.User, lang i18n.Lang, key string, can CanSend) (*store.Message, error) {
	if u.Email == "" && u.Phone == "" {
		return nil, nil
	}
	return Notice(keys, u, lang, "notify.passkey.subject", key, nil, can)
}

// TOTPAccountName is what the authenticator app lists: the email, or the
// masked phone number.
func TOTPAccountName(u store.User) string {
	if u.Email != "" {
		return u.Email
	}
	return contact.MaskPhone(u.Phone)
}
