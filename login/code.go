package login

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/codes"
	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/views"
)

func (d Deps) codeView(f store.Flow, errKey string) views.CodeView {
	masked := identity.MaskEmail(f.Identifier)
	if f.Channel != "email" {
		masked = identity.MaskPhone(f.Identifier)
	}
	v := views.CodeView{FlowID: f.ID, AppName: f.ClientName, Destination: masked, Channel: f.Channel, Error: errKey}
	if f.LastSentAt != nil {
		if wait := time.Until(f.LastSentAt.Add(d.Settings.ResendAfter)); wait > 0 {
			v.ResendIn = int(wait.Seconds()) + 1
		}
	}
	return v
}

// HandleCodePage answers GET /login/code?flow=…: where the code went (masked)
// and the field to type it.
func HandleCodePage(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, r, ok := d.loadFlow(w, r)
		if !ok {
			return
		}
		if f.Channel == "" {
			d.renderIdentify(w, r, http.StatusOK, d.identifyView(f, ""))
			return
		}
		web.Render(w, r, http.StatusOK, views.LoginCode(d.codeView(f, "")))
	})
}

// HandleCode answers POST /login/code: check the code, send a new one, or go
// back to the identifier step.
func HandleCode(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, r, ok := d.loadFlow(w, r)
		if !ok {
			return
		}
		if f.Channel == "" {
			http.Redirect(w, r, "/login/identify?flow="+f.ID, http.StatusSeeOther)
			return
		}
		switch r.PostFormValue("action") {
		case "continue":
			d.verify(w, r, f)
		case "resend":
			if v := d.codeView(f, ""); v.ResendIn > 0 {
				v.Error = "login.error.wait"
				web.Render(w, r, http.StatusTooManyRequests, views.LoginCode(v))
				return
			}
			d.sendCode(w, r, f, f.Channel, f.Identifier, f.Remember)
		case "change":
			if err := d.Store.ClearIdentifier(r.Context(), f.ID); err != nil {
				web.Fail(w, r, err)
				return
			}
			http.Redirect(w, r, "/login/identify?flow="+f.ID, http.StatusSeeOther)
		default:
			web.Problem(w, r, http.StatusBadRequest, "badrequest")
		}
	})
}

// verify checks the code. Wrong, expired, used and locked codes all get the
// same answer; the audit log says which.
func (d Deps) verify(w http.ResponseWriter, r *http.Request, f store.Flow) {
	ctx := r.Context()
	ip := web.ClientIP(r, d.Settings.TrustedProxies)
	failures := []limit{{"fail-ip", web.LimitKey(ip), d.Limits.FailPerIP}, {"fail-identifier", f.Identifier, d.Limits.FailPerIdentifier}}
	if !d.withinLimits(w, r, f, "code check", false, failures...) {
		return
	}

	verdict := store.CodeWrong
	code, wellFormed := codes.Normalize(r.PostFormValue("code"))
	if wellFormed {
		var err error
		verdict, err = d.Store.VerifyCode(ctx, f.ID, d.Limits.Code, func(identifier string, mac []byte) bool {
			return codes.Match(d.Keys.DeriveAll("code"), f.ID, identifier, code, mac)
		})
		if err != nil {
			web.Fail(w, r, err)
			return
		}
	}
	slog.InfoContext(ctx, "code checked", "flow", f.ID, "client", f.ClientID, "ip", ip, "method", f.Channel, "result", verdict.String())
	if verdict != store.CodeAccepted {
		if verdict == store.CodeUsed {
			// A double submit of the right code: the first one may have signed in.
			if again, err := d.Store.FlowForBrowser(ctx, f.ID, f.BrowserHash); err == nil && again.VerifiedAt != nil {
				d.finish(w, r, again)
				return
			}
		}
		d.recordFailures(ctx, failures...)
		web.Render(w, r, http.StatusUnprocessableEntity, views.LoginCode(d.codeView(f, "login.error.code")))
		return
	}
	d.forgetFailures(ctx, failures...) // a success refunds them
	// A completed factor gets a new browser cookie.
	bh := newBrowserCookie(w, d.Settings.SecureCookies)
	if err := d.Store.RebindFlow(ctx, f.ID, bh); err != nil {
		web.Fail(w, r, err)
		return
	}
	f.BrowserHash = bh
	d.finish(w, r, f)
}

// finish signs the verified flow's user in: the account (created for a new
// phone number when allowed) is accepted at Hydra once.
func (d Deps) finish(w http.ResponseWriter, r *http.Request, f store.Flow) {
	ctx := r.Context()
	u, err := d.Store.SignInUser(ctx, f, d.Settings.CreatePhoneUsers)
	if errors.Is(err, store.ErrNotFound) {
		web.Fail(w, r, errors.New("login: a verified flow has no account"))
		return
	}
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	if !u.Active() {
		web.Problem(w, r, http.StatusForbidden, "disabled")
		return
	}
	twoStep := f.TOTPVerifiedAt != nil
	if !twoStep {
		_, err := d.Store.TOTPFor(ctx, u.ID)
		switch {
		case err == nil:
			// The account has an authenticator app: the second step comes first.
			if err := d.Store.RequireTOTP(ctx, f.ID); err != nil {
				web.Fail(w, r, err)
				return
			}
			http.Redirect(w, r, "/login/totp?flow="+f.ID, http.StatusSeeOther)
			return
		case !errors.Is(err, store.ErrNotFound):
			web.Fail(w, r, err)
			return
		}
	}
	accept := hydra.AcceptLogin{
		Subject:     u.ID,
		Remember:    f.Remember,
		RememberFor: int64(d.Settings.RememberFor.Seconds()),
		AMR:         amr(f.Channel, twoStep),
		ACR:         acr(twoStep),
		Context:     loginContext(f, u, twoStep),
	}
	web.Answer(w, r, d.Store, f.Challenge, func() (string, error) {
		// Only the request that won the challenge gets here.
		slog.InfoContext(ctx, "signed in", "flow", f.ID, "client", f.ClientID, "subject", u.ID, "method", f.Channel, "remember", f.Remember, "acr", accept.ACR)
		if _, err := d.Store.CompleteFlow(ctx, f.ID); err != nil {
			return "", err
		}
		redirect, err := d.Hydra.AcceptLogin(ctx, f.Challenge, accept)
		if err == nil {
			err = d.Store.RecordLoginSession(ctx, f.HydraSessionID, u.ID, store.SignInKind{AMR: accept.AMR, ACR: accept.ACR})
		}
		if err != nil {
			// Hydra was not told (or the session not kept): the user may try again.
			if rerr := d.Store.ReopenFlow(ctx, f.ID); rerr != nil {
				slog.ErrorContext(ctx, "could not reopen a login flow", "err", rerr)
			}
			return "", err
		}
		return redirect, nil
	}, func() { web.FailFlow(w, r, d.Store, f.Challenge, web.ErrChallengeUsed) })
}

// amr says what really happened, with RFC 8176 values where one exists: "otp"
// (a one-time code), "sms", and "mfa" when the authenticator app was a second
// step; email and WhatsApp have no registered value and are named as they are.
func amr(channel string, twoStep bool) []string {
	var m []string
	switch channel {
	case "sms":
		m = []string{"otp", "sms"}
	case "whatsapp":
		m = []string{"otp", "whatsapp"}
	default:
		m = []string{"otp", "email"}
	}
	if twoStep {
		m = append(m, "totp", "mfa")
	}
	return m
}

// acr is "1" for one step (a code) and "2" for a code and an authenticator code.
func acr(twoStep bool) string {
	if twoStep {
		return "2"
	}
	return "1"
}

// loginContext passes the method and the verified identifiers to the consent step.
func loginContext(f store.Flow, u store.User, twoStep bool) map[string]any {
	c := map[string]any{"method": f.Channel, "two_step": twoStep}
	if u.Email != "" {
		c["email"], c["email_verified"] = u.Email, u.EmailVerified
	}
	if u.Phone != "" {
		c["phone_number"], c["phone_number_verified"] = u.Phone, u.PhoneVerified
	}
	return c
}
