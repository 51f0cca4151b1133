package login

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/a-h/templ"

	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/pages"
	"github.com/blinkbitcoin/blink-consent/views"
)

// secondStepDue reports whether the flow waits for the authenticator code:
// the server-side flow decides, never the request.
func secondStepDue(f store.Flow) bool {
	return f.VerifiedAt != nil && f.NeedsTOTP && f.TOTPVerifiedAt == nil
}

// HandleTOTPPage answers GET /login/totp?flow=…: the authenticator step, shown
// only to a flow whose first step is done and whose account has TOTP.
func HandleTOTPPage(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, r, ok := d.loadFlow(w, r)
		if !ok {
			return
		}
		if !secondStepDue(f) {
			pages.ProblemStartAgain(w, r, http.StatusGone, "flow", f.RequestURL)
			return
		}
		pages.Render(w, r, http.StatusOK, d.totpPage(f, "", ""))
	})
}

// totpPage is the authenticator step with its errors (catalog keys).
func (d Deps) totpPage(f store.Flow, codeError, recoveryError string) templ.Component {
	_, recovery := d.Accounts.(identity.RecoveryCodes)
	return views.LoginTOTP(views.TOTPView{FlowID: f.ID, AppName: f.ClientName, Error: codeError, Recovery: recovery, RecoveryError: recoveryError})
}

// HandleTOTP answers POST /login/totp. Wrong, replayed and locked-out codes
// get one answer; only a right, unused code for the current step ±1 passes.
// action=recovery takes a recovery code instead (a source that has them):
// the same transition of the flow, so the same limits and tries.
func HandleTOTP(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, r, ok := d.loadFlow(w, r)
		if !ok {
			return
		}
		if !secondStepDue(f) {
			slog.WarnContext(r.Context(), "authenticator code refused: no first step", "flow", f.ID, "client", f.ClientID)
			pages.ProblemStartAgain(w, r, http.StatusGone, "flow", f.RequestURL)
			return
		}
		if r.PostFormValue("action") == "cancel" {
			d.cancel(w, r, f)
			return
		}
		ctx := r.Context()
		browser := web.NewToken()
		ip := web.ClientIP(r, d.Settings.TrustedProxies)
		check, method, code := d.Accounts.CheckTOTP, "totp", r.PostFormValue("code")
		if r.PostFormValue("action") == "recovery" {
			rc, ok := d.Accounts.(identity.RecoveryCodes)
			if !ok {
				pages.Problem(w, r, http.StatusBadRequest, "badrequest")
				return
			}
			check, method, code = rc.CheckRecoveryCode, "recovery_code", r.PostFormValue("recovery_code")
		}
		verdict, f2, err := check(ctx, identity.TOTPRequest{
			Flow: f, Code: code, ClientIP: ip, IPKey: web.LimitKey(ip), NewBrowserHash: browser.Hash,
		})
		if errors.Is(err, store.ErrFlowState) {
			slog.WarnContext(ctx, "authenticator code refused: not at that step", "flow", f.ID, "client", f.ClientID)
			pages.ProblemStartAgain(w, r, http.StatusGone, "flow", f.RequestURL)
			return
		}
		if err != nil {
			d.countLimited(f, err)
			if !d.refused(w, r, f, "authenticator code", err) {
				pages.Fail(w, r, err)
			}
			return
		}
		slog.InfoContext(ctx, "authenticator code checked", "flow", f.ID, "client", f.ClientID,
			"ip", web.ClientIP(r, d.Settings.TrustedProxies), "method", method, "result", string(verdict))
		if verdict != store.TOTPAccepted {
			d.Metrics.SignIn(f.Channel, method+"_"+string(verdict))
			d.auditFailure(r, f, method, string(verdict))
			page := d.totpPage(f, "login.totp.error", "")
			if method == "recovery_code" {
				page = d.totpPage(f, "", "login.totp.recovery.error")
			}
			pages.Render(w, r, http.StatusUnprocessableEntity, page)
			return
		}
		// A completed factor gets a new browser cookie, now that the flow knows it.
		setBrowserCookie(w, browser, d.Settings.SecureCookies)
		d.next(w, r, f2)
	})
}
