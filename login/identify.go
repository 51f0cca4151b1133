package login

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/accounts"
	"github.com/blinkbitcoin/blink-consent/internal/captcha"
	"github.com/blinkbitcoin/blink-consent/internal/contact"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/views"
)

type identifyView = views.IdentifyView

func (d Deps) identifyView(f store.Flow, method string) identifyView {
	s := d.Settings
	v := identifyView{FlowID: f.ID, AppName: f.ClientName, HasEmail: s.Email, HasPhone: s.SMS || s.WhatsApp, Remember: f.Remember}
	for _, c := range s.SMSCountries {
		v.Countries = append(v.Countries, views.Country{Code: c, Dial: contact.CountryCode(c)})
	}
	if len(s.SMSCountries) > 0 {
		v.Country = s.SMSCountries[0]
	}
	if s.SMS {
		v.Channels = append(v.Channels, "sms")
	}
	if s.WhatsApp {
		v.Channels = append(v.Channels, "whatsapp")
	}
	if len(v.Channels) > 0 {
		v.Channel = v.Channels[0]
	}
	switch {
	case method == "phone" && v.HasPhone, method == "email" && v.HasEmail:
		v.Method = method
	case v.HasEmail:
		v.Method = "email"
	default:
		v.Method = "phone"
	}
	if v.Method == "phone" {
		v.CaptchaKey = d.Captcha.SiteKey()
	}
	return v
}

// renderIdentify shows the identifier page; the bot check's script and frame
// are allowed by the CSP on this page only, and only when the check is on.
func (d Deps) renderIdentify(w http.ResponseWriter, r *http.Request, status int, v identifyView) {
	if v.CaptchaKey != "" {
		web.AllowScriptAndFrameFrom(w, captcha.Origin)
	}
	web.Render(w, r, status, views.LoginIdentify(v))
}

// HandleIdentifyPage answers GET /login/identify?flow=…&method=email|phone:
// the identifier page again (the tabs, or "use a different email or phone").
func HandleIdentifyPage(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, r, ok := d.loadFlow(w, r)
		if !ok {
			return
		}
		if f.VerifiedAt != nil {
			d.refused(w, r, f, "identifier page", store.ErrFlowState)
			return
		}
		if f.Channel != "" {
			if err := d.Store.ClearIdentifier(r.Context(), f.ID, f.BrowserHash); err != nil {
				if !d.refused(w, r, f, "identifier page", err) {
					web.Fail(w, r, err)
				}
				return
			}
		}
		d.renderIdentify(w, r, http.StatusOK, d.identifyView(f, r.URL.Query().Get("method")))
	})
}

// HandleIdentify answers POST /login/identify: Cancel rejects the login;
// Continue checks the email or phone, applies the limits and the bot check,
// and sends a code — except to an email with no account, which gets the very
// same page and no message.
func HandleIdentify(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, r, ok := d.loadFlow(w, r)
		if !ok {
			return
		}
		switch r.PostFormValue("action") {
		case "cancel":
			d.cancel(w, r, f)
			return
		case "continue":
			if f.VerifiedAt != nil {
				// A verified flow's identity is frozen: no other email or phone.
				d.refused(w, r, f, "identifier", store.ErrFlowState)
				return
			}
		default:
			web.Problem(w, r, http.StatusBadRequest, "badrequest")
			return
		}

		v := d.identifyView(f, r.PostFormValue("method"))
		v.Remember = r.PostFormValue("remember") == "true"
		fieldError := func(key string) {
			v.FieldError = key
			d.renderIdentify(w, r, http.StatusUnprocessableEntity, v)
		}
		var channel, identifier string
		if v.Method == "email" {
			v.Email = r.PostFormValue("email")
			email, err := contact.Email(v.Email)
			if err != nil {
				fieldError("login.error.email")
				return
			}
			channel, identifier = "email", email
		} else {
			v.Phone, v.Country, v.Channel = r.PostFormValue("phone"), r.PostFormValue("country"), r.PostFormValue("channel")
			phone, _, err := contact.Phone(v.Phone, v.Country, d.Settings.SMSCountries)
			switch {
			case errors.Is(err, contact.ErrCountry):
				fieldError("login.error.country")
				return
			case errors.Is(err, contact.ErrNotMobileish):
				fieldError("login.error.mobile")
				return
			case err != nil:
				fieldError("login.error.phone")
				return
			}
			if !(v.Channel == "sms" && d.Settings.SMS) && !(v.Channel == "whatsapp" && d.Settings.WhatsApp) {
				fieldError("login.error.channel")
				return
			}
			if !d.passedBotCheck(r) {
				fieldError("login.error.captcha")
				return
			}
			channel, identifier = v.Channel, phone
		}
		d.sendCode(w, r, f, channel, identifier, v.Remember, func(wait time.Duration) {
			v.FieldError = "login.error.wait"
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			d.renderIdentify(w, r, http.StatusTooManyRequests, v)
		})
	})
}

// passedBotCheck runs the bot check (when on) on a send that would reach a phone.
func (d Deps) passedBotCheck(r *http.Request) bool {
	passed, err := d.Captcha.Verify(r.Context(), r.PostFormValue(captcha.FormField), web.ClientIP(r, d.Settings.TrustedProxies))
	if err != nil {
		slog.WarnContext(r.Context(), "bot check unavailable", "err", err)
	}
	return err == nil && passed
}

// sendCode asks the identity source for a code to identifier: one step of
// the flow, which applies the flow's cooldown and send cap and the shared
// send limits (wait renders the page again when the cooldown refuses). An
// email with no account gets the very same page and the same work.
func (d Deps) sendCode(w http.ResponseWriter, r *http.Request, f store.Flow, channel, identifier string, remember bool, wait func(time.Duration)) {
	ctx := r.Context()
	ip := web.ClientIP(r, d.Settings.TrustedProxies)
	res, err := d.Accounts.SendCode(ctx, accounts.SendRequest{
		Flow: f, Channel: channel, Identifier: identifier, Remember: remember,
		Lang: i18n.FromContext(ctx), ClientIP: ip, IPKey: web.LimitKey(ip),
	})
	var limited *store.LimitError
	if errors.As(err, &limited) && limited.Bucket == "flow-cooldown" {
		slog.InfoContext(ctx, "code refused: limit", "flow", f.ID, "client", f.ClientID, "limit", limited.Bucket)
		wait(limited.RetryAfter)
		return
	}
	if err != nil {
		if !d.refused(w, r, f, "code", err) {
			web.Fail(w, r, err)
		}
		return
	}
	slog.InfoContext(ctx, "code requested", "flow", f.ID, "client", f.ClientID, "ip", ip, "method", channel, "queued", res.Queued)
	http.Redirect(w, r, "/login/code?flow="+f.ID, http.StatusSeeOther)
}
