package login

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/captcha"
	"github.com/blinkbitcoin/blink-consent/internal/contact"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/pages"
	"github.com/blinkbitcoin/blink-consent/views"
)

// codeView is the code page of flow f. An email is shown as typed (the
// person's own input on their own screen, so a typo shows), a phone number
// masked.
func (d Deps) codeView(ctx context.Context, f store.Flow, errKey string) views.CodeView {
	shown := f.Identifier
	if f.Channel != "email" {
		shown = contact.MaskPhone(f.Identifier)
	}
	v := views.CodeView{FlowID: f.ID, AppName: f.ClientName, Destination: shown, Channel: f.Channel, Error: errKey,
		PhoneSignUp: d.Settings.SMS || d.Settings.WhatsApp, PasskeyHint: d.PasskeyHintCookie()}
	if f.LastSentAt != nil {
		if wait := time.Until(f.LastSentAt.Add(d.Settings.ResendAfter)); wait > 0 {
			v.ResendIn = int(wait.Seconds()) + 1
		}
	}
	if f.Channel != "email" {
		v.CaptchaKey = d.Captcha.SiteKey()
		v.OtherChannel = d.otherChannel(ctx, f)
	}
	return v
}

// otherChannel is the phone channel the flow's number can also take codes
// by ("whatsapp" after SMS, "sms" after WhatsApp), or "".
func (d Deps) otherChannel(ctx context.Context, f store.Flow) string {
	other := map[string]string{"sms": "whatsapp", "whatsapp": "sms"}[f.Channel]
	if other == "" {
		return ""
	}
	countries, channels, err := d.phoneCountries(ctx)
	if err != nil {
		return ""
	}
	if _, region, err := contact.Phone(f.Identifier, "", countries); err == nil && slices.Contains(channels[region], other) {
		return other
	}
	return ""
}

// renderCode shows the code page; on a phone flow with the bot check on, its
// "Send a new code" carries the check, and the CSP allows its widget.
func (d Deps) renderCode(w http.ResponseWriter, r *http.Request, status int, v views.CodeView) {
	if v.CaptchaKey != "" {
		web.AllowScriptAndFrameFrom(w, captcha.Origin)
	}
	if bc, ok := d.Accounts.(identity.BotChecker); ok && v.Channel != "email" {
		g, err := d.geetest(r, bc)
		if err != nil {
			slog.WarnContext(r.Context(), "identity source unavailable", "err", err)
			pages.Problem(w, r, http.StatusServiceUnavailable, "unavailable")
			return
		}
		v.Geetest = g
		web.AllowFrom(w, d.Settings.GeetestOrigins, "script-src", "style-src", "img-src", "connect-src", "frame-src")
	}
	pages.Render(w, r, status, views.LoginCode(v))
}

// HandleCodePage answers GET /login/code?flow=…: where the code went (masked)
// and the field to type it.
func HandleCodePage(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, r, ok := d.loadFlow(w, r)
		if !ok {
			return
		}
		switch {
		case f.Channel == "":
			d.renderIdentify(w, r, http.StatusOK, d.identifyView(f, lastMethod(r, "", d.Settings.SecureCookies)))
		case f.Channel == "telegram":
			http.Redirect(w, r, "/login/telegram?flow="+f.ID, http.StatusSeeOther)
		case secondStepDue(f):
			http.Redirect(w, r, "/login/totp?flow="+f.ID, http.StatusSeeOther)
		default:
			v := d.codeView(r.Context(), f, "")
			// Set only by the redirect after a new code was sent.
			v.Resent = r.URL.Query().Get("resent") == "1"
			d.renderCode(w, r, http.StatusOK, v)
		}
	})
}

// HandleCode answers POST /login/code: check the code, send a new one, or go
// back to the identifier step. Sending and going back are refused once the
// code was verified: the flow's identity is frozen.
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
		if f.Channel == "telegram" {
			http.Redirect(w, r, "/login/telegram?flow="+f.ID, http.StatusSeeOther)
			return
		}
		switch action := r.PostFormValue("action"); action {
		case "continue":
			d.verify(w, r, f)
		case "resend", "resend_other":
			// A new code; "resend_other" to the same number by its other
			// channel (the same cooldown, cap and limits).
			channel := f.Channel
			if action == "resend_other" {
				if channel = d.otherChannel(r.Context(), f); channel == "" {
					pages.Problem(w, r, http.StatusBadRequest, "badrequest")
					return
				}
			}
			if f.VerifiedAt != nil {
				d.refused(w, r, f, "code", store.ErrFlowState)
				return
			}
			if f.Channel != "email" && !d.passedBotCheck(r) {
				d.renderCode(w, r, http.StatusUnprocessableEntity, d.codeView(r.Context(), f, "login.error.captcha"))
				return
			}
			d.sendCode(w, r, f, channel, f.Identifier, f.Remember, true, func(key string, status int, retry time.Duration) {
				v := d.codeView(r.Context(), f, key)
				if retry > 0 {
					v.ResendIn = int(retry.Seconds()) + 1
				}
				d.renderCode(w, r, status, v)
			})
		case "change":
			d.changeIdentifier(w, r, f, "")
		default:
			pages.Problem(w, r, http.StatusBadRequest, "badrequest")
		}
	})
}

// changeIdentifier takes the flow back to the identifier step (its codes or
// Telegram request superseded) and shows it, on the method's tab if given.
func (d Deps) changeIdentifier(w http.ResponseWriter, r *http.Request, f store.Flow, method string) {
	if err := d.Store.ClearIdentifier(r.Context(), f.ID, f.BrowserHash); err != nil {
		if !d.refused(w, r, f, "change of identifier", err) {
			pages.Fail(w, r, err)
		}
		return
	}
	to := "/login/identify?flow=" + f.ID
	if method != "" {
		to += "&method=" + method
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// verify checks the code: one transition of the flow, in one transaction.
// Wrong, expired, used and locked codes all get the same answer; the audit
// log says which.
func (d Deps) verify(w http.ResponseWriter, r *http.Request, f store.Flow) {
	ctx := r.Context()
	browser := web.NewToken()
	ip := web.ClientIP(r, d.Settings.TrustedProxies)
	verdict, verified, err := d.Accounts.VerifyCode(ctx, identity.VerifyRequest{
		Flow: f, Code: r.PostFormValue("code"), ClientIP: ip, IPKey: web.LimitKey(ip), NewBrowserHash: browser.Hash,
	})
	if err != nil {
		d.countLimited(f, err)
		if status, key, ok := sourceRefusal(err); ok {
			// The source refused the number or could not check the code
			// now: its own message, and the page's way on (a new code, or
			// another number).
			slog.InfoContext(ctx, "code check refused by the identity source", "flow", f.ID, "client", f.ClientID, "err", err)
			d.renderCode(w, r, status, d.codeView(r.Context(), f, key))
			return
		}
		if !d.refused(w, r, f, "code check", err) {
			pages.Fail(w, r, err)
		}
		return
	}
	slog.InfoContext(ctx, "code checked", "flow", f.ID, "client", f.ClientID, "ip", web.ClientIP(r, d.Settings.TrustedProxies),
		"method", f.Channel, "result", verdict.String())
	switch {
	case verdict == store.CodeAccepted:
		// A completed factor gets a new browser cookie, now that the flow knows it.
		setBrowserCookie(w, browser, d.Settings.SecureCookies)
		d.next(w, r, verified)
	case verified.VerifiedAt != nil:
		// A double submit of the right code: the first one verified the flow.
		d.next(w, r, verified)
	case verdict == store.CodeGone:
		// The source's verification expired or was used: only a new code helps.
		d.Metrics.SignIn(f.Channel, codeResult(verdict))
		d.renderCode(w, r, http.StatusUnprocessableEntity, d.codeView(r.Context(), f, "login.error.code_expired"))
	default:
		d.Metrics.SignIn(f.Channel, codeResult(verdict))
		v := d.codeView(r.Context(), f, "login.error.code")
		v.TriesLeft, v.TriesOfCode = d.triesLeft(r, f, ip)
		d.renderCode(w, r, http.StatusUnprocessableEntity, v)
	}
}

// warnTries is when the code page starts counting the tries left.
const warnTries = 2

// triesLeft says how many wrong codes are left when that is warnTries or
// fewer (else 0: no warning), and whether they are the code's own.
func (d Deps) triesLeft(r *http.Request, f store.Flow, ip string) (int, bool) {
	tc, ok := d.Accounts.(identity.TriesCounter)
	if !ok {
		return 0, false
	}
	left, ofCode, err := tc.TriesLeft(r.Context(), f, web.LimitKey(ip))
	if err != nil {
		// Only a warning is lost; the page still says what went wrong.
		slog.WarnContext(r.Context(), "tries left unknown", "flow", f.ID, "err", err)
		return 0, false
	}
	if left > warnTries {
		return 0, false
	}
	return left, ofCode
}

// sourceRefusal is the code page's answer to a source's refusal at the code
// step (a registration refusal has its own page, see refused).
func sourceRefusal(err error) (status int, key string, ok bool) {
	switch {
	case errors.Is(err, identity.ErrDelivery):
		return http.StatusBadGateway, "login.error." + identity.ReasonOf(err, "provider"), true
	case errors.Is(err, identity.ErrRefused):
		return http.StatusUnprocessableEntity, "login.error." + identity.ReasonOf(err, "refused.phone"), true
	}
	return 0, "", false
}

// codeResult names a refused code's verdict as a sign-in result.
func codeResult(v store.Verdict) string {
	switch v {
	case store.CodeWrong:
		return "wrong_code"
	case store.CodeExpired, store.CodeGone:
		return "expired_code"
	case store.CodeUsed:
		return "used_code"
	case store.CodeLocked:
		return "code_locked"
	}
	return "identity_locked"
}
