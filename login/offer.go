package login

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/passkey"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/pages"
	"github.com/blinkbitcoin/blink-consent/views"
)

// The passkey offer after a code sign-in (issue 21). Once the code (and the
// authenticator code, when due) is right, a person without a passkey, on a
// device that said it can make one, is asked whether to add one before the
// sign-in finishes. Every answer — a passkey made, "Not now" (remembered on
// this device), "Continue", a failed or cancelled dialog — goes on to
// finish exactly as before: the offer never blocks a sign-in. The
// registration is bound to the flow's subject and this browser's cookie,
// and shown only while the flow is verified and not yet completed.
//
// For P1's passkey sign-in: next and the authenticator step call offer
// first; offer declines at once for a flow not signed in with a code.

// OfferPath is the offer's page and its form's action.
const OfferPath = "/login/passkey-offer"

// Cookies of the offer, per device. deviceCookie is written by
// views/static/passkey-register.js on the code page ("1": a platform
// authenticator with user verification is there); notNowCookie remembers
// "Not now" for a year.
const (
	deviceCookie = "blink_passkey_device"
	notNowCookie = "blink_passkey_not_now"
	notNowFor    = 365 * 24 * time.Hour
)

// OfferStore is what the offer reads and writes.
type OfferStore interface {
	passkey.Store
	Passkeys(ctx context.Context, subject string) ([]store.Passkey, error)
	UserByID(ctx context.Context, id string) (store.User, error)
}

// Offer is the passkey offer's dependencies; a nil *Offer makes none
// (PASSKEYS=off).
type Offer struct {
	// RP registers the passkey (*passkey.RP), the ceremony bound to the
	// flow's browser cookie.
	RP    passkey.Registrar
	Store OfferStore
	// Keys seal the notice telling the person a passkey was added;
	// CanNotify says which channels can carry it (nil: all).
	Keys      secret.Keys
	CanNotify identity.CanSend
}

// PasskeyHintCookie is the cookie the code page's script writes, by its
// name for this service's cookies ("" when passkeys are off).
func (d Deps) PasskeyHintCookie() string {
	if d.Offer == nil {
		return ""
	}
	return web.CookieName(deviceCookie, d.Settings.SecureCookies)
}

// codeSignIn reports whether the flow was verified with a one-time code:
// the offer is made after those only.
func codeSignIn(f store.Flow) bool {
	return f.Channel == "email" || f.Channel == "sms" || f.Channel == "whatsapp"
}

// offer sends the browser to the offer and returns true when it is due for
// the verified flow f; false, and nothing written, otherwise (the caller
// finishes). A store error only skips the offer.
func (d Deps) offer(w http.ResponseWriter, r *http.Request, f store.Flow) bool {
	if d.Offer == nil || !codeSignIn(f) || f.UserID == "" {
		return false
	}
	secure := d.Settings.SecureCookies
	if c, err := r.Cookie(web.CookieName(deviceCookie, secure)); err != nil || c.Value != "1" {
		return false
	}
	if _, err := r.Cookie(web.CookieName(notNowCookie, secure)); err == nil {
		return false
	}
	list, err := d.Offer.Store.Passkeys(r.Context(), f.UserID)
	if err != nil {
		slog.WarnContext(r.Context(), "passkey offer skipped", "flow", f.ID, "err", err)
		return false
	}
	if len(list) > 0 {
		return false
	}
	http.Redirect(w, r, OfferPath+"?flow="+f.ID, http.StatusSeeOther)
	return true
}

// offerable reports whether the flow stands where the offer is made:
// verified, no authenticator step due, an account known.
func offerable(f store.Flow) bool {
	return f.VerifiedAt != nil && !secondStepDue(f) && f.UserID != "" && codeSignIn(f)
}

// HandleOfferPage answers GET /login/passkey-offer?flow=…: a registration
// ceremony bound to this browser and the flow's account, and the page.
// When anything fails the sign-in finishes instead.
func HandleOfferPage(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, r, ok := d.loadFlow(w, r)
		if !ok {
			return
		}
		if d.Offer == nil || !offerable(f) {
			pages.ProblemStartAgain(w, r, http.StatusGone, "flow", f.RequestURL)
			return
		}
		u, _, err := d.offerUser(r.Context(), f)
		if err == nil && len(u.Passkeys) > 0 {
			d.finish(w, r, f)
			return
		}
		var begun passkey.Begun
		if err == nil {
			begun, err = d.Offer.RP.BeginRegistration(r.Context(), d.Offer.Store, u, browserHash(r, d.Settings.SecureCookies))
		}
		if err != nil {
			slog.WarnContext(r.Context(), "passkey offer skipped", "flow", f.ID, "err", err)
			d.finish(w, r, f)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		pages.Render(w, r, http.StatusOK, views.LoginPasskeyOffer(views.PasskeyCreateView{
			Action: OfferPath, FlowID: f.ID, Ceremony: begun.Ceremony, Options: string(begun.PublicKey),
		}))
	})
}

// offerUser is the flow's account as WebAuthn sees it (named as on the
// account page: the email, or the masked phone number), and its row.
func (d Deps) offerUser(ctx context.Context, f store.Flow) (passkey.User, store.User, error) {
	row, err := d.Offer.Store.UserByID(ctx, f.UserID)
	if err != nil {
		return passkey.User{}, row, err
	}
	list, err := d.Offer.Store.Passkeys(ctx, f.UserID)
	return passkey.User{Subject: f.UserID, Name: identity.TOTPAccountName(row), Passkeys: list}, row, err
}

// HandleOffer answers POST /login/passkey-offer: action=create adds the
// passkey the browser made (ceremony, credential); not_now and skip
// ("Continue without a passkey") are a person's no, remembered on this
// device so it is offered once; failed (the dialog failed or was not
// possible: the script posts it) just goes on, to be offered again. Each
// then finishes the sign-in.
func HandleOffer(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, r, ok := d.loadFlow(w, r)
		if !ok {
			return
		}
		if d.Offer == nil || !offerable(f) {
			pages.ProblemStartAgain(w, r, http.StatusGone, "flow", f.RequestURL)
			return
		}
		switch r.PostFormValue("action") {
		case "create":
			d.addOffered(r, f)
		case "not_now", "skip":
			web.SetCookie(w, notNowCookie, "1", notNowFor, d.Settings.SecureCookies)
		}
		d.finish(w, r, f)
	})
}

// addOffered registers the passkey the browser made on the offer, audited
// and notified as on the account page. A refusal is logged only: the
// sign-in goes on.
func (d Deps) addOffered(r *http.Request, f store.Flow) {
	ctx := r.Context()
	u, row, err := d.offerUser(ctx, f)
	var notify *store.Message
	if err == nil {
		notify, err = identity.PasskeyNotice(d.Offer.Keys, row, i18n.FromContext(ctx), "notify.passkey.added", d.Offer.CanNotify)
	}
	if err == nil {
		name := i18n.T(ctx, "account.passkeys.default_name", len(u.Passkeys)+1)
		audit := &store.AuditEvent{UserID: f.UserID, Action: store.ActionPasskeyAdded, Actor: "user", ClientID: f.ClientID,
			IP: web.ClientIP(r, d.Settings.TrustedProxies), Method: "sign-in offer", Result: "ok"}
		var p store.Passkey
		p, err = d.Offer.RP.FinishRegistrationNotified(ctx, d.Offer.Store, u, browserHash(r, d.Settings.SecureCookies),
			r.PostFormValue("ceremony"), []byte(r.PostFormValue("credential")), name, audit, notify)
		if err == nil {
			slog.InfoContext(ctx, "passkey added on the offer", "flow", f.ID, "subject", f.UserID, "passkey", p.ID)
			return
		}
	}
	slog.WarnContext(ctx, "passkey not added on the offer; the sign-in goes on", "flow", f.ID, "err", err)
}
