package login

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/contact"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/pages"
	"github.com/blinkbitcoin/blink-consent/views"
)

// Telegram Passport (Blink core): the identifier step asked the source for a
// Telegram request (channel "telegram"); this page opens Telegram with it
// through Telegram's Passport script, and asks the source — one step of the
// flow each time, in PostgreSQL — whether Telegram confirmed it. Each ask
// costs a point of core's login limits, so the page asks politely (when the
// person comes back from Telegram, or presses "Check", or on a slowing
// timer) and the source caps the asks per request (the flow's tries).

// telegramBackoff is how long the page waits before asking again by itself
// after the n-th pending answer (n from 1); past the list it stops asking
// by itself and the person presses "Check".
var telegramBackoff = []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second}

func (d Deps) telegramView(r *http.Request, f store.Flow, errKey string) (views.TelegramView, error) {
	v := views.TelegramView{FlowID: f.ID, AppName: f.ClientName, Destination: contact.MaskPhone(f.Identifier), Error: errKey}
	tp, ok := d.Accounts.(identity.TelegramPassport)
	if !ok || d.Settings.TelegramScriptURL == "" {
		return v, identity.ErrTelegramOff
	}
	p, err := tp.TelegramParams(f)
	if err != nil {
		return v, err
	}
	v.ScriptURL, v.BotID, v.Scope, v.PublicKey, v.Nonce = d.Settings.TelegramScriptURL, p.BotID, p.Scope, p.PublicKey, p.Nonce
	return v, nil
}

// renderTelegram shows the Telegram page; its CSP (this page only) allows
// Telegram's script and the tg: link it opens in a hidden frame on iOS and
// Firefox.
func (d Deps) renderTelegram(w http.ResponseWriter, r *http.Request, status int, v views.TelegramView) {
	if u, err := url.Parse(v.ScriptURL); err == nil && u.Host != "" {
		web.AllowFrom(w, []string{u.Scheme + "://" + u.Host}, "script-src")
		web.AllowFrom(w, []string{"tg:"}, "frame-src")
	}
	pages.Render(w, r, status, views.LoginTelegram(v))
}

// showTelegram renders the flow's Telegram page with a message, or the
// page for why it cannot.
func (d Deps) showTelegram(w http.ResponseWriter, r *http.Request, f store.Flow, status int, errKey string, mutate func(*views.TelegramView)) {
	v, err := d.telegramView(r, f, errKey)
	if err != nil {
		if errors.Is(err, identity.ErrTelegramOff) {
			pages.ProblemStartAgain(w, r, http.StatusServiceUnavailable, "telegram", f.RequestURL)
			return
		}
		if !d.refused(w, r, f, "telegram page", err) {
			pages.Fail(w, r, err)
		}
		return
	}
	if mutate != nil {
		mutate(&v)
	}
	d.renderTelegram(w, r, status, v)
}

// HandleTelegramPage answers GET /login/telegram?flow=…
func HandleTelegramPage(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, r, ok := d.loadFlow(w, r)
		if !ok {
			return
		}
		switch {
		case f.Channel != "telegram":
			http.Redirect(w, r, "/login/code?flow="+f.ID, http.StatusSeeOther)
		case secondStepDue(f):
			http.Redirect(w, r, "/login/totp?flow="+f.ID, http.StatusSeeOther)
		default:
			d.showTelegram(w, r, f, http.StatusOK, "", nil)
		}
	})
}

// HandleTelegram answers POST /login/telegram: check whether Telegram
// confirmed, ask for a new Telegram request, use another channel, or cancel.
func HandleTelegram(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, r, ok := d.loadFlow(w, r)
		if !ok {
			return
		}
		if f.Channel != "telegram" {
			http.Redirect(w, r, "/login/identify?flow="+f.ID, http.StatusSeeOther)
			return
		}
		switch r.PostFormValue("action") {
		case "check":
			d.checkTelegram(w, r, f)
		case "retry":
			if f.VerifiedAt != nil {
				d.refused(w, r, f, "telegram", store.ErrFlowState)
				return
			}
			d.sendCode(w, r, f, "telegram", f.Identifier, f.Remember, false, func(key string, status int, retry time.Duration) {
				d.showTelegram(w, r, f, status, key, func(v *views.TelegramView) { v.TimedOut = true })
			})
		case "change":
			d.changeIdentifier(w, r, f, "phone")
		case "cancel":
			d.cancel(w, r, f)
		default:
			pages.Problem(w, r, http.StatusBadRequest, "badrequest")
		}
	})
}

// checkTelegram asks the source whether Telegram confirmed the flow's
// request: one transition of the flow, in one transaction.
func (d Deps) checkTelegram(w http.ResponseWriter, r *http.Request, f store.Flow) {
	ctx := r.Context()
	browser := web.NewToken()
	ip := web.ClientIP(r, d.Settings.TrustedProxies)
	verdict, verified, err := d.Accounts.VerifyCode(ctx, identity.VerifyRequest{
		Flow: f, ClientIP: ip, IPKey: web.LimitKey(ip), NewBrowserHash: browser.Hash,
	})
	var key string
	status := http.StatusUnprocessableEntity
	switch {
	case errors.Is(err, identity.ErrTelegramGone):
		key, status = "login.telegram.error.gone", http.StatusGone
	case errors.Is(err, identity.ErrTelegramPhone):
		key = "login.telegram.error.phone"
	case errors.Is(err, identity.ErrTelegramOff):
		key, status = "login.telegram.error.off", http.StatusServiceUnavailable
	case errors.Is(err, identity.ErrRefused):
		key = "login.error.refused.phone"
	case errors.Is(err, identity.ErrRegistrationRefused):
		key, status = "login.error.registration", http.StatusForbidden
	case err != nil:
		d.countLimited(f, err)
		if !d.refused(w, r, f, "telegram check", err) {
			pages.Fail(w, r, err)
		}
		return
	}
	if key != "" {
		slog.InfoContext(ctx, "telegram refused", "flow", f.ID, "client", f.ClientID, "ip", ip, "err", err)
		d.Metrics.SignIn(f.Channel, "refused")
		d.showTelegram(w, r, f, status, key, func(v *views.TelegramView) { v.TimedOut = true })
		return
	}
	slog.InfoContext(ctx, "telegram checked", "flow", f.ID, "client", f.ClientID, "ip", ip, "result", verdict.String())
	switch {
	case verdict == store.CodeAccepted:
		setBrowserCookie(w, browser, d.Settings.SecureCookies)
		d.next(w, r, verified)
	case verified.VerifiedAt != nil:
		// A double submit: the first one verified the flow.
		d.next(w, r, verified)
	case verdict == store.CodePending:
		asked := verified.CodeAttempts + 1 // this check included
		d.showTelegram(w, r, f, http.StatusOK, "", func(v *views.TelegramView) {
			v.Waiting = true
			if asked >= 1 && asked <= len(telegramBackoff) {
				v.CheckIn = int(telegramBackoff[asked-1].Seconds())
			}
		})
	default:
		// The request's checks are used up: Telegram did not confirm in time.
		d.Metrics.SignIn(f.Channel, codeResult(verdict))
		d.showTelegram(w, r, f, http.StatusOK, "login.telegram.timeout", func(v *views.TelegramView) { v.TimedOut = true })
	}
}
