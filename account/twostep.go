package account

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/pages"
	"github.com/blinkbitcoin/blink-consent/views"
)

// Two-step sign-in from the account page. The identity source's TOTPManager
// does the work (secrets, codes, core tokens, audit, notice); these handlers
// only ask for the fresh sign-in, show its pages and name its errors.

const (
	twoStepAction = "/account/two-step"
	twoStepOnURL  = "/account/two-step/on"
	twoStepOffURL = "/account/two-step/off"
	recoveryURL   = "/account/two-step/recovery"
)

func (d Deps) who(r *http.Request, s Session) identity.Who {
	return identity.Who{Subject: s.Subject, SessionID: s.SID, IP: web.ClientIP(r, d.Settings.TrustedProxies), Lang: i18n.FromContext(r.Context())}
}

// twoStep is the two-step section of the account page. With Blink core the
// answer needs the core token of a sign-in to this page: without one the
// section offers that sign-in rather than failing the page.
func (d Deps) twoStep(r *http.Request, s Session) *views.TwoStepView {
	if d.TOTP == nil {
		return nil
	}
	on, err := d.TOTP.TOTPStatus(r.Context(), d.who(r, s))
	switch {
	case err == nil:
		v := &views.TwoStepView{On: on}
		if rc, ok := d.TOTP.(identity.RecoveryCodes); ok && on {
			if left, err := rc.RecoveryCodesLeft(r.Context(), d.who(r, s)); err == nil {
				v.Recovery, v.RecoveryLeft = true, left
			}
		}
		return v
	case errors.Is(err, identity.ErrFreshSignIn):
		return &views.TwoStepView{NeedsSignIn: true}
	}
	slog.WarnContext(r.Context(), "two-step sign-in status unknown", "subject", s.Subject, "err", err)
	return &views.TwoStepView{Unavailable: true}
}

// HandleTwoStep answers POST /account/two-step: enable_totp begins an
// enrolment and shows it, confirm_totp turns it on with a current code,
// remove_totp turns it off, each after a fresh sign-in; sign_in_again is
// that sign-in, asked for by the page when the source needs it to tell.
func HandleTwoStep(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			pages.Problem(w, r, http.StatusBadRequest, "badrequest")
			return
		}
		s, ok := d.RequireSession(w, r)
		if !ok {
			return
		}
		if d.TOTP == nil {
			pages.Problem(w, r, http.StatusNotFound, "notfound")
			return
		}
		ctx := r.Context()
		switch r.PostFormValue("action") {
		case "sign_in_again":
			d.startSignIn(w, r, true, "/account")
		case "enable_totp":
			if !d.RequireFresh(w, r, s, twoStepOnURL) {
				return
			}
			e, err := d.TOTP.BeginTOTP(ctx, d.who(r, s))
			if err != nil {
				d.twoStepFailed(w, r, err, twoStepOnURL, startPage(err))
				return
			}
			v := views.TOTPEnrolView{Action: twoStepAction, BackURL: "/account", EnrollmentID: e.ID, Secret: e.Secret, URI: e.URI}
			if !e.ExpiresAt.IsZero() {
				v.ExpiresInMinutes = int(time.Until(e.ExpiresAt).Round(time.Minute) / time.Minute)
			}
			renderEnrol(w, r, http.StatusOK, v)
		case "confirm_totp":
			if !d.RequireFresh(w, r, s, twoStepOnURL) {
				return
			}
			var codes []string
			var err error
			if rc, ok := d.TOTP.(identity.RecoveryCodes); ok {
				codes, err = rc.ConfirmTOTPWithRecoveryCodes(ctx, d.who(r, s), r.PostFormValue("enrollment"), r.PostFormValue("code"))
			} else {
				err = d.TOTP.ConfirmTOTP(ctx, d.who(r, s), r.PostFormValue("enrollment"), r.PostFormValue("code"))
			}
			if err == nil && len(codes) > 0 {
				// The only time the codes are ever shown: never cached.
				w.Header().Set("Cache-Control", "no-store")
				pages.Render(w, r, http.StatusOK, views.AccountRecoveryCodes(views.RecoveryCodesView{Codes: codes, DoneURL: "/account?done=totp_on"}))
				return
			}
			if err == nil {
				http.Redirect(w, r, "/account?done=totp_on", http.StatusSeeOther)
				return
			}
			if errors.Is(err, identity.ErrWrongCode) {
				// The same enrolment again. Secret and URI come back from the
				// form for display only: ConfirmTOTP checks codes against
				// the enrolment the source keeps, so an edited one saves nothing.
				uri := r.PostFormValue("uri")
				if !strings.HasPrefix(uri, "otpauth://totp/") {
					uri = ""
				}
				// The validity line stays, from the form too (display only:
				// the source ends the enrolment at its own expiry).
				expires, _ := strconv.Atoi(r.PostFormValue("expires_in"))
				if expires < 0 || expires > 60 {
					expires = 0
				}
				renderEnrol(w, r, http.StatusUnprocessableEntity, views.TOTPEnrolView{Action: twoStepAction, BackURL: "/account",
					EnrollmentID: r.PostFormValue("enrollment"), Secret: r.PostFormValue("secret"), URI: uri, Error: totpErrorKey(err),
					ExpiresInMinutes: expires})
				return
			}
			d.twoStepFailed(w, r, err, twoStepOnURL, startPage(err))
		case "new_recovery_codes":
			rc, ok := d.TOTP.(identity.RecoveryCodes)
			if !ok {
				pages.Problem(w, r, http.StatusNotFound, "notfound")
				return
			}
			if !d.RequireFresh(w, r, s, recoveryURL) {
				return
			}
			codes, err := rc.NewRecoveryCodes(ctx, d.who(r, s))
			if err == nil {
				w.Header().Set("Cache-Control", "no-store")
				pages.Render(w, r, http.StatusOK, views.AccountRecoveryCodes(views.RecoveryCodesView{Codes: codes, DoneURL: "/account?done=recovery_new"}))
				return
			}
			d.twoStepFailed(w, r, err, recoveryURL, views.AccountRecoveryNew(views.TOTPRemoveView{Action: twoStepAction, BackURL: "/account", Error: totpErrorKey(err)}))
		case "remove_totp":
			if !d.RequireFresh(w, r, s, twoStepOffURL) {
				return
			}
			err := d.TOTP.RemoveTOTP(ctx, d.who(r, s))
			if err == nil {
				http.Redirect(w, r, "/account?done=totp_off", http.StatusSeeOther)
				return
			}
			d.twoStepFailed(w, r, err, twoStepOffURL, views.AccountTOTPRemove(views.TOTPRemoveView{Action: twoStepAction, BackURL: "/account", Error: totpErrorKey(err)}))
		default:
			pages.Problem(w, r, http.StatusBadRequest, "badrequest")
		}
	})
}

// twoStepFailed answers an error of the source: a change the source needs a
// new sign-in for starts one (returning to retry, where the change is asked
// again); one already made goes back to the account page saying so; any
// other shows page with the error's message.
func (d Deps) twoStepFailed(w http.ResponseWriter, r *http.Request, err error, retry string, page templ.Component) {
	switch {
	case errors.Is(err, identity.ErrFreshSignIn):
		d.startSignIn(w, r, true, retry)
	case errors.Is(err, identity.ErrTOTPOn):
		http.Redirect(w, r, "/account?done=totp_already_on", http.StatusSeeOther)
	case errors.Is(err, identity.ErrTOTPOff):
		http.Redirect(w, r, "/account?done=totp_already_off", http.StatusSeeOther)
	case errors.Is(err, identity.ErrEnrollmentGone):
		pages.Render(w, r, http.StatusGone, page)
	case errors.Is(err, identity.ErrNotFound):
		pages.Render(w, r, http.StatusNotFound, page)
	default:
		slog.ErrorContext(r.Context(), "two-step sign-in could not be changed", "err", err)
		pages.Render(w, r, http.StatusServiceUnavailable, page)
	}
}

// startPage asks whether to turn two-step sign-in on, with err's message
// when err is not nil.
func startPage(err error) templ.Component {
	return views.AccountTOTPStart(views.TOTPStartView{Action: twoStepAction, BackURL: "/account", Error: totpErrorKey(err)})
}

func renderEnrol(w http.ResponseWriter, r *http.Request, status int, v views.TOTPEnrolView) {
	if v.URI != "" {
		qr, err := views.NewQR(v.URI)
		if err != nil {
			fail(w, r, err)
			return
		}
		v.QR = qr
	}
	pages.Render(w, r, status, views.AccountTOTPEnrol(v))
}

// HandleTwoStepOn answers GET /account/two-step/on, where the fresh sign-in
// comes back: it asks again to turn two-step sign-in on; only the form's
// POST begins anything.
func HandleTwoStepOn(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := d.RequireSession(w, r); !ok {
			return
		}
		if d.TOTP == nil {
			pages.Problem(w, r, http.StatusNotFound, "notfound")
			return
		}
		pages.Render(w, r, http.StatusOK, startPage(nil))
	})
}

// HandleTwoStepOff answers GET /account/two-step/off: after a fresh sign-in,
// the question whether to turn two-step sign-in off; only its POST does.
func HandleTwoStepOff(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := d.RequireSession(w, r)
		if !ok {
			return
		}
		if d.TOTP == nil {
			pages.Problem(w, r, http.StatusNotFound, "notfound")
			return
		}
		if !d.RequireFresh(w, r, s, twoStepOffURL) {
			return
		}
		pages.Render(w, r, http.StatusOK, views.AccountTOTPRemove(views.TOTPRemoveView{Action: twoStepAction, BackURL: "/account"}))
	})
}

// HandleRecoveryCodes answers GET /account/two-step/recovery: after a fresh
// sign-in, the question whether to make new recovery codes; only its POST
// does.
func HandleRecoveryCodes(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := d.RequireSession(w, r)
		if !ok {
			return
		}
		if _, ok := d.TOTP.(identity.RecoveryCodes); !ok {
			pages.Problem(w, r, http.StatusNotFound, "notfound")
			return
		}
		if !d.RequireFresh(w, r, s, recoveryURL) {
			return
		}
		pages.Render(w, r, http.StatusOK, views.AccountRecoveryNew(views.TOTPRemoveView{Action: twoStepAction, BackURL: "/account"}))
	})
}

// totpErrorKey is the catalog key of the message for an error of
// identity.TOTPManager, for the enrol and remove pages: the flow knows the
// errors, the views only the keys.
func totpErrorKey(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, identity.ErrWrongCode):
		return "account.totp.error.wrong_code"
	case errors.Is(err, identity.ErrEnrollmentGone):
		return "account.totp.error.expired"
	case errors.Is(err, identity.ErrFreshSignIn):
		return "account.totp.error.fresh_sign_in"
	case errors.Is(err, identity.ErrTOTPOn):
		return "account.totp.error.already_on"
	case errors.Is(err, identity.ErrTOTPOff):
		return "account.totp.error.already_off"
	case errors.Is(err, identity.ErrNotFound):
		return "account.totp.error.not_found"
	}
	return "account.totp.error.unavailable"
}
