package login

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/captcha"
	"github.com/blinkbitcoin/blink-consent/internal/codes"
	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/views"
)

type identifyView = views.IdentifyView

func (d Deps) identifyView(f store.Flow, method string) identifyView {
	s := d.Settings
	v := identifyView{FlowID: f.ID, AppName: f.ClientName, HasEmail: s.Email, HasPhone: s.SMS || s.WhatsApp, Remember: f.Remember}
	for _, c := range s.SMSCountries {
		v.Countries = append(v.Countries, views.Country{Code: c, Dial: identity.CountryCode(c)})
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
		if f.Channel != "" && f.VerifiedAt == nil {
			if err := d.Store.ClearIdentifier(r.Context(), f.ID); err != nil {
				web.Fail(w, r, err)
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
			email, err := identity.Email(v.Email)
			if err != nil {
				fieldError("login.error.email")
				return
			}
			channel, identifier = "email", email
		} else {
			v.Phone, v.Country, v.Channel = r.PostFormValue("phone"), r.PostFormValue("country"), r.PostFormValue("channel")
			phone, _, err := identity.Phone(v.Phone, v.Country, d.Settings.SMSCountries)
			switch {
			case errors.Is(err, identity.ErrCountry):
				fieldError("login.error.country")
				return
			case errors.Is(err, identity.ErrNotMobileish):
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
			ip := web.ClientIP(r, d.Settings.TrustedProxies)
			if passed, err := d.Captcha.Verify(r.Context(), r.PostFormValue(captcha.FormField), ip); err != nil || !passed {
				if err != nil {
					slog.WarnContext(r.Context(), "bot check unavailable", "err", err)
				}
				fieldError("login.error.captcha")
				return
			}
			channel, identifier = v.Channel, phone
		}
		d.sendCode(w, r, f, channel, identifier, v.Remember)
	})
}

// sendCode applies the send limits, then issues a code (and queues its
// message when the identifier may get one) and goes to the code page.
func (d Deps) sendCode(w http.ResponseWriter, r *http.Request, f store.Flow, channel, identifier string, remember bool) {
	ctx := r.Context()
	ip := web.ClientIP(r, d.Settings.TrustedProxies)
	perIdentifier, bucket := d.Limits.SendPerEmail, "send-email"
	if channel != "email" {
		perIdentifier, bucket = d.Limits.SendPerPhone, "send-phone"
	}
	if !d.withinLimits(w, r, f, "code", true, limit{"send-ip", web.LimitKey(ip), d.Limits.SendPerIP}, limit{bucket, identifier, perIdentifier}) {
		return
	}

	var user store.User
	var err error
	if channel == "email" {
		user, err = d.Store.UserByEmail(ctx, identifier)
	} else {
		user, err = d.Store.UserByPhone(ctx, identifier)
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		web.Fail(w, r, err)
		return
	}
	known := err == nil && user.Active()
	// An email with no account gets no message, and a number only when it may
	// become an account; the page and the work done are the same either way.
	send := known || (channel != "email" && err != nil && d.Settings.CreatePhoneUsers)

	code, err := codes.Generate()
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	issue := store.CodeIssue{
		FlowID: f.ID, Channel: channel, Identifier: identifier, Remember: remember,
		MAC: codes.MAC(d.Keys.Derive("code"), f.ID, identifier, code), TTL: d.Settings.CodeTTL,
	}
	if known {
		issue.UserID = user.ID
	}
	if send {
		env := delivery.CodeEnvelope(i18n.FromContext(ctx), channel, identifier, code, d.Settings.CodeTTL, d.Settings.Domain)
		if issue.Message, err = delivery.Seal(d.Keys, env, time.Now().Add(d.Settings.CodeTTL)); err != nil {
			web.Fail(w, r, err)
			return
		}
	} else {
		// No message: store the MAC of a code nobody knows, so nothing can match.
		other, _ := codes.Generate()
		issue.MAC = codes.MAC(d.Keys.Derive("code"), f.ID, identifier, other+"x")
	}
	if err := d.Store.IssueCode(ctx, issue); err != nil {
		web.Fail(w, r, err)
		return
	}
	slog.InfoContext(ctx, "code requested", "flow", f.ID, "client", f.ClientID, "ip", ip, "method", channel, "queued", send)
	http.Redirect(w, r, "/login/code?flow="+f.ID, http.StatusSeeOther)
}

// cancel rejects the login with access_denied.
func (d Deps) cancel(w http.ResponseWriter, r *http.Request, f store.Flow) {
	slog.InfoContext(r.Context(), "sign-in cancelled", "flow", f.ID, "client", f.ClientID)
	web.Answer(w, r, d.Store, f.Challenge, func() (string, error) {
		return d.Hydra.RejectLogin(r.Context(), f.Challenge, hydra.Rejection{
			Error: "access_denied", Description: "The resource owner denied the request",
		})
	}, func() { web.FailFlow(w, r, d.Store, f.Challenge, web.ErrChallengeUsed) })
}
