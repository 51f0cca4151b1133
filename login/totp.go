package login

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/views"
)

// totpTriesPerFlow is how many authenticator codes one sign-in may try.
const totpTriesPerFlow = 5

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
			web.Problem(w, r, http.StatusGone, "flow")
			return
		}
		web.Render(w, r, http.StatusOK, views.LoginTOTP(views.TOTPView{FlowID: f.ID, AppName: f.ClientName}))
	})
}

// HandleTOTP answers POST /login/totp. Wrong, replayed and locked-out codes
// get one answer; only a right, unused code for the current step ±1 passes.
func HandleTOTP(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, r, ok := d.loadFlow(w, r)
		if !ok {
			return
		}
		if !secondStepDue(f) {
			slog.WarnContext(r.Context(), "authenticator code refused: no first step", "flow", f.ID, "client", f.ClientID)
			web.Problem(w, r, http.StatusGone, "flow")
			return
		}
		if r.PostFormValue("action") == "cancel" {
			d.cancel(w, r, f)
			return
		}
		ctx := r.Context()
		ip := web.ClientIP(r, d.Settings.TrustedProxies)
		failures := []limit{{"fail-ip", web.LimitKey(ip), d.Limits.FailPerIP}, {"fail-totp", f.UserID, d.Limits.FailPerIdentifier}}
		if !d.withinLimits(w, r, f, "authenticator code", false, failures...) {
			return
		}
		result, err := d.checkTOTP(r, f)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		slog.InfoContext(ctx, "authenticator code checked", "flow", f.ID, "client", f.ClientID, "ip", ip, "method", "totp", "result", result)
		if result != "accepted" {
			d.recordFailures(ctx, failures...)
			web.Render(w, r, http.StatusUnprocessableEntity, views.LoginTOTP(views.TOTPView{FlowID: f.ID, AppName: f.ClientName, Error: "login.totp.error"}))
			return
		}
		d.forgetFailures(ctx, failures...)
		if err := d.Store.VerifyTOTPFlow(ctx, f.ID); err != nil {
			web.Fail(w, r, err)
			return
		}
		now := time.Now()
		f.TOTPVerifiedAt = &now
		bh := newBrowserCookie(w, d.Settings.SecureCookies)
		if err := d.Store.RebindFlow(ctx, f.ID, bh); err != nil {
			web.Fail(w, r, err)
			return
		}
		d.finish(w, r, f)
	})
}

// checkTOTP counts the try first, then checks the code and claims its time
// step; "wrong", "replayed" and "locked" all look the same to the user.
func (d Deps) checkTOTP(r *http.Request, f store.Flow) (string, error) {
	ctx := r.Context()
	tries, err := d.Store.CountTOTPTry(ctx, f.ID)
	if err != nil {
		return "", err
	}
	if tries > totpTriesPerFlow {
		return "locked", nil
	}
	cred, err := d.Store.TOTPFor(ctx, f.UserID)
	if err != nil {
		return "", err
	}
	secret, err := d.Keys.Open(cred.Sealed, []byte(f.UserID))
	if err != nil {
		return "", err
	}
	now := time.Now
	if d.Clock != nil {
		now = d.Clock
	}
	step, ok := totp.Match(secret, r.PostFormValue("code"), now())
	if !ok {
		return "wrong", nil
	}
	fresh, err := d.Store.UseTOTPStep(ctx, f.UserID, step)
	if err != nil {
		return "", err
	}
	if !fresh {
		return "replayed", nil
	}
	return "accepted", nil
}
