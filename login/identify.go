package login

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/captcha"
	"github.com/blinkbitcoin/blink-consent/internal/contact"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/pages"
	"github.com/blinkbitcoin/blink-consent/views"
)

type identifyView = views.IdentifyView

func (d Deps) identifyView(f store.Flow, method string) identifyView {
	s := d.Settings
	v := identifyView{FlowID: f.ID, AppName: f.ClientName, HasEmail: s.Email, HasPhone: s.SMS || s.WhatsApp, Remember: f.Remember,
		Passkeys: d.Passkeys != nil}
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
	// Without a choice, the phone: only phone numbers open Blink accounts,
	// so a newcomer's way in is there (the caller passes the tab this
	// browser used last, lastMethod).
	switch {
	case method == "phone" && v.HasPhone, method == "email" && v.HasEmail:
		v.Method = method
	case v.HasPhone:
		v.Defaulted = true
		v.Method = "phone"
	default:
		v.Method = "email"
	}
	if v.Method == "phone" {
		v.CaptchaKey = d.Captcha.SiteKey()
	}
	return v
}

// renderIdentify shows the identifier page; a bot check's script and frame
// are allowed by the CSP on this page only, and only when the check is on.
// A source that keeps its own country list (Blink core) lists the countries
// and channels; a source with its own bot check (Geetest) gives the phone
// form a fresh challenge.
func (d Deps) renderIdentify(w http.ResponseWriter, r *http.Request, status int, v identifyView) {
	if err := d.fromSource(r, &v); err != nil {
		slog.WarnContext(r.Context(), "identity source unavailable", "err", err)
		pages.Problem(w, r, http.StatusServiceUnavailable, "unavailable")
		return
	}
	if v.PhoneUnavailable && v.Defaulted && v.HasEmail {
		// Nobody asked for the phone form: open the one that works.
		v.Method, v.PhoneUnavailable, v.CaptchaKey = "email", false, ""
	}
	if v.PhoneUnavailable {
		status = http.StatusServiceUnavailable
	}
	if v.CaptchaKey != "" {
		web.AllowScriptAndFrameFrom(w, captcha.Origin)
	}
	if v.Geetest != nil {
		web.AllowFrom(w, d.Settings.GeetestOrigins, "script-src", "style-src", "img-src", "connect-src", "frame-src")
	}
	pages.Render(w, r, status, views.LoginIdentify(v))
}

// fromSource fills in what the identity source decides for the phone form:
// its countries and their channels, and its bot check. The email form needs
// neither, so it never waits for them. When the source cannot list its
// countries (Blink core's GraphQL down, no list kept yet) the phone form says
// phone sign-in is unavailable for now, and the email tab still works.
func (d Deps) fromSource(r *http.Request, v *identifyView) error {
	if v.Method != "phone" {
		return nil
	}
	countries, channels, err := d.phoneCountries(r.Context())
	if errors.Is(err, identity.ErrUnavailable) {
		slog.WarnContext(r.Context(), "phone sign-in unavailable: no country list", "err", err)
		v.PhoneUnavailable = true
		return nil
	}
	if err != nil {
		return err
	}
	if _, ok := d.Accounts.(identity.CountryLister); ok {
		v.Countries, v.Channels = nil, nil
		for _, c := range countries {
			v.Countries = append(v.Countries, views.Country{Code: c, Dial: contact.CountryCode(c)})
			for _, ch := range channels[c] {
				if !slices.Contains(v.Channels, ch) {
					v.Channels = append(v.Channels, ch)
				}
			}
		}
		if !slices.Contains(countries, v.Country) && len(countries) > 0 {
			v.Country = countries[0]
		}
		if !slices.Contains(v.Channels, v.Channel) && len(v.Channels) > 0 {
			v.Channel = v.Channels[0]
		}
	}
	if bc, ok := d.Accounts.(identity.BotChecker); ok && v.Method == "phone" {
		g, err := d.geetest(r, bc)
		if err != nil {
			return err
		}
		v.Geetest = g
	}
	return nil
}

func (d Deps) geetest(r *http.Request, bc identity.BotChecker) (*views.Geetest, error) {
	c, err := bc.NewBotCheck(r.Context(), web.ClientIP(r, d.Settings.TrustedProxies))
	if err != nil {
		return nil, err
	}
	return &views.Geetest{ScriptURL: d.Settings.GeetestScriptURL, ID: c.ID, Challenge: c.Challenge, NewCaptcha: c.NewCaptcha, Offline: c.Offline}, nil
}

// phoneCountries are the countries whose numbers may get codes, and each
// one's channels: the source's list when it keeps one, else SMS_COUNTRIES
// with the channels configured here.
func (d Deps) phoneCountries(ctx context.Context) ([]string, map[string][]string, error) {
	channels := map[string][]string{}
	if cl, ok := d.Accounts.(identity.CountryLister); ok {
		list, err := cl.Countries(ctx)
		if err != nil {
			return nil, nil, err
		}
		_, telegram := d.Accounts.(identity.TelegramPassport)
		telegram = telegram && d.Settings.TelegramScriptURL != ""
		var ids []string
		for _, c := range list {
			ids = append(ids, c.ID)
			for _, ch := range c.Channels {
				if ch != "telegram" || telegram {
					channels[c.ID] = append(channels[c.ID], ch)
				}
			}
		}
		return ids, channels, nil
	}
	var configured []string
	if d.Settings.SMS {
		configured = append(configured, "sms")
	}
	if d.Settings.WhatsApp {
		configured = append(configured, "whatsapp")
	}
	for _, c := range d.Settings.SMSCountries {
		channels[c] = configured
	}
	return d.Settings.SMSCountries, channels, nil
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
					pages.Fail(w, r, err)
				}
				return
			}
		}
		d.renderIdentify(w, r, http.StatusOK, d.identifyView(f, lastMethod(r, r.URL.Query().Get("method"), d.Settings.SecureCookies)))
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
			pages.Problem(w, r, http.StatusBadRequest, "badrequest")
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
			countries, channels, err := d.phoneCountries(r.Context())
			if errors.Is(err, identity.ErrUnavailable) {
				d.renderIdentify(w, r, http.StatusServiceUnavailable, v)
				return
			}
			if err != nil {
				if !d.refused(w, r, f, "identifier", err) {
					pages.Fail(w, r, err)
				}
				return
			}
			phone, region, err := contact.Phone(v.Phone, v.Country, countries)
			switch {
			case errors.Is(err, contact.ErrCountry):
				fieldError("login.error.country")
				return
			case errors.Is(err, contact.ErrNotMobileish):
				fieldError("login.error.mobile")
				return
			case err != nil:
				// A number of the wrong length says how long its country's are.
				if want := contact.MobileDigits(v.Country); want > 0 && contact.NationalDigits(v.Phone, v.Country) != want {
					fieldError("login.error.phone_digits")
					return
				}
				fieldError("login.error.phone")
				return
			}
			if !slices.Contains(channels[region], v.Channel) {
				if v.Channel == "telegram" {
					fieldError("login.telegram.error.country")
					return
				}
				fieldError("login.error.channel")
				return
			}
			if !d.passedBotCheck(r) {
				// The check is what failed, not the number: its message goes
				// by the check, and the field is not marked invalid.
				v.CaptchaError = "login.error.captcha"
				d.renderIdentify(w, r, http.StatusUnprocessableEntity, v)
				return
			}
			channel, identifier = v.Channel, phone
		}
		setLastMethod(w, v.Method, d.Settings.SecureCookies)
		d.sendCode(w, r, f, channel, identifier, v.Remember, false, func(key string, status int, retry time.Duration) {
			if strings.HasPrefix(key, "login.error.captcha") {
				v.CaptchaError = key
			} else {
				v.FieldError = key
			}
			if retry > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
			}
			d.renderIdentify(w, r, status, v)
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
// send limits. What the person can fix on the same page (wait for the
// cooldown, pass the bot check, another number) renders it again through
// again, with the message's key. An email with no account gets the very same
// page and the same work.
func (d Deps) sendCode(w http.ResponseWriter, r *http.Request, f store.Flow, channel, identifier string, remember, resend bool,
	again func(key string, status int, retry time.Duration),
) {
	ctx := r.Context()
	ip := web.ClientIP(r, d.Settings.TrustedProxies)
	req := identity.SendRequest{
		Flow: f, Channel: channel, Identifier: identifier, Remember: remember,
		Lang: i18n.FromContext(ctx), ClientIP: ip, IPKey: web.LimitKey(ip),
	}
	if channel != "email" {
		req.BotCheck = map[string]string{}
		for _, k := range []string{"geetest_challenge", "geetest_validate", "geetest_seccode"} {
			req.BotCheck[k] = r.PostFormValue(k)
		}
	}
	res, err := d.Accounts.SendCode(ctx, req)
	var limited *store.LimitError
	switch {
	case errors.As(err, &limited) && limited.Bucket == "flow-cooldown":
		d.Metrics.LimitRefusal(limited.Bucket)
		slog.InfoContext(ctx, "code refused: limit", "flow", f.ID, "client", f.ClientID, "limit", limited.Bucket)
		again("login.error.wait", http.StatusTooManyRequests, limited.RetryAfter)
		return
	case errors.Is(err, identity.ErrBotCheck):
		slog.InfoContext(ctx, "code refused: bot check", "flow", f.ID, "client", f.ClientID, "ip", ip, "err", err)
		again("login.error."+identity.ReasonOf(err, "captcha"), http.StatusUnprocessableEntity, 0)
		return
	case errors.Is(err, identity.ErrRefused):
		slog.InfoContext(ctx, "code refused by the identity source", "flow", f.ID, "client", f.ClientID, "err", err)
		again("login.error."+identity.ReasonOf(err, "refused."+channelKind(channel)), http.StatusUnprocessableEntity, 0)
		return
	case errors.Is(err, identity.ErrRegistrationRefused):
		slog.InfoContext(ctx, "code refused: registration", "flow", f.ID, "client", f.ClientID, "ip", ip)
		again("login.error."+identity.ReasonOf(err, "registration"), http.StatusForbidden, 0)
		return
	case errors.Is(err, identity.ErrDelivery):
		// The source answers but cannot send now (its SMS provider): a
		// message on the form, not the "unavailable" page.
		slog.WarnContext(ctx, "code refused: the source cannot deliver", "flow", f.ID, "client", f.ClientID, "err", err)
		again("login.error."+identity.ReasonOf(err, "provider"), http.StatusBadGateway, 0)
		return
	case errors.Is(err, identity.ErrTelegramOff):
		slog.WarnContext(ctx, "telegram refused: not enabled at the source", "flow", f.ID, "client", f.ClientID, "err", err)
		again("login.telegram.error.off", http.StatusServiceUnavailable, 0)
		return
	case err != nil:
		if !d.refused(w, r, f, "code", err) {
			pages.Fail(w, r, err)
		}
		return
	}
	slog.InfoContext(ctx, "code requested", "flow", f.ID, "client", f.ClientID, "ip", ip, "method", channel, "queued", res.Queued)
	if res.Queued {
		d.Metrics.Code(channel, "queued")
	}
	to := stepURL(channel) + "?flow=" + f.ID
	if resend {
		// The code page confirms that a new code went out and the older
		// ones stopped working (the store superseded them).
		to += "&resent=1"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// stepURL is the page after the identifier: the code page, or the
// Telegram page (nothing to type: the person confirms in Telegram).
func stepURL(channel string) string {
	if channel == "telegram" {
		return "/login/telegram"
	}
	return "/login/code"
}

// channelKind is "email" or "phone".
func channelKind(channel string) string {
	if channel == "email" {
		return "email"
	}
	return "phone"
}
