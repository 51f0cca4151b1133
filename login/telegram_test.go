package login

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// telegramWorld is a source with Telegram Passport for SV numbers (Blink core).
func telegramWorld(t *testing.T) (*world, telegramSource) {
	w := newWorld(t, jose)
	src := telegramSource{coreSource: coreSource{fakeSource: w.src, countries: []identity.Country{{ID: "SV", Channels: []string{"sms", "telegram"}}}}}
	w.d.Accounts = src
	w.d.Settings.TelegramScriptURL = "https://telegram.org/js/telegram-passport.js"
	w.build()
	return w, src
}

// toTelegram asks for a Telegram request and returns the flow.
func (b *browser) toTelegram(c string) string {
	t := b.w.t
	t.Helper()
	flow := b.open(c)
	wantRedirect(t, b.identifyPhone(flow, "70000000", "SV", "telegram"), "/login/telegram?flow="+flow)
	return flow
}

func (b *browser) telegram(flow, action string) *httptestRecorder {
	return b.post("/login/telegram", url.Values{"flow": {flow}, "action": {action}})
}

// Telegram Passport: no code is sent; the page opens Telegram with the
// source's request; each check is one step of the flow (pending, with a
// slowing timer) until Telegram confirms, and then the sign-in finishes
// with the "telegram" amr.
func TestTelegramSignIn(t *testing.T) {
	w, _ := telegramWorld(t)
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow := b.toTelegram(c)
	if len(w.st.outbox) != 0 {
		t.Error("a Telegram request sent a message")
	}
	if f := w.st.flow(flow); f.Channel != "telegram" || f.Identifier != "+50370000000" || f.SourceState == nil {
		t.Errorf("flow %+v", f)
	}
	page := b.get("/login/telegram?flow=" + flow)
	wantPage(t, page, http.StatusOK)
	if !strings.Contains(page.Body.String(), `data-nonce="nonce-`+flow+`"`) || strings.Contains(page.Body.String(), "70000000") {
		t.Errorf("the page lacks the request, or shows the whole number\n%s", excerpt(page))
	}
	csp := page.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "https://telegram.org") || !strings.Contains(csp, "tg:") {
		t.Errorf("CSP %s", csp)
	}
	// The code page of a Telegram flow is the Telegram page.
	wantRedirect(t, b.get("/login/code?flow="+flow), "/login/telegram?flow="+flow)
	wantRedirect(t, b.code(flow, "123456"), "/login/telegram?flow="+flow)

	for i, wait := range []string{"5", "10"} {
		rec := b.telegram(flow, "check")
		wantPage(t, rec, http.StatusOK)
		if !strings.Contains(rec.Body.String(), `data-check-in="`+wait+`"`) || !strings.Contains(rec.Body.String(), `data-waiting="true"`) {
			t.Errorf("check %d: not waiting %s s\n%s", i+1, wait, excerpt(rec))
		}
	}
	wantAnswers(t, w.hy)
	w.st.telegramOK[flow] = true
	wantRedirect(t, b.telegram(flow, "check"), acceptURL(c))
	a := lastAccept(t, w.hy)
	if a.Subject != jose.ID || !slices.Equal(a.AMR, []string{"telegram"}) || a.ACR != "1" || a.Context["phone_number"] != "+50370000000" {
		t.Errorf("accepted %+v", a)
	}
	if f := w.st.flow(flow); f.CompletedAt == nil || f.SourceState != nil {
		t.Errorf("the flow is not completed, or kept the source's state: %+v", f)
	}
}

// Telegram never confirmed: past the request's checks the page says so
// and offers a new request, which waits for the cooldown.
func TestTelegramTimeoutAndRetry(t *testing.T) {
	w, _ := telegramWorld(t)
	b := w.browser("203.0.113.7")
	flow := b.toTelegram(w.challenge())
	for range 5 {
		b.telegram(flow, "check")
	}
	rec := b.telegram(flow, "check")
	wantPage(t, rec, http.StatusOK, "login.telegram.timeout")
	if signIns(t, w.m, "telegram", "code_locked") != 1 {
		t.Error("the timeout was not counted")
	}
	rec = b.telegram(flow, "retry")
	wantPage(t, rec, http.StatusTooManyRequests, "login.error.wait")
	w.st.flows[flow].LastSentAt = ptr(time.Now().Add(-2 * time.Minute))
	wantRedirect(t, b.telegram(flow, "retry"), "/login/telegram?flow="+flow)
	if f := w.st.flow(flow); f.Sends != 2 || f.CodeAttempts != 0 {
		t.Errorf("flow %+v", f)
	}
	wantAnswers(t, w.hy)
}

// The source's Telegram refusals each have their message on the page; none
// signs in.
func TestTelegramRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		key    string
	}{
		{"gone", identity.ErrTelegramGone, http.StatusGone, "login.telegram.error.gone"},
		{"another phone", identity.ErrTelegramPhone, http.StatusUnprocessableEntity, "login.telegram.error.phone"},
		{"off", identity.ErrTelegramOff, http.StatusServiceUnavailable, "login.telegram.error.off"},
		{"refused", identity.ErrRefused, http.StatusUnprocessableEntity, "login.error.refused.phone"},
		{"registration", identity.ErrRegistrationRefused, http.StatusForbidden, "login.error.registration"},
		{"limit", &store.LimitError{Bucket: "fail-ip", RetryAfter: time.Minute}, http.StatusTooManyRequests, "error.toomany.title"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := telegramWorld(t)
			b := w.browser("203.0.113.7")
			c := w.challenge()
			flow := b.toTelegram(c)
			w.src.verifyErr = tc.err
			wantPage(t, b.telegram(flow, "check"), tc.status, tc.key)
			wantAnswers(t, w.hy)
			if w.st.flow(flow).VerifiedAt != nil || w.st.claimed(c) {
				t.Error("a refusal moved the flow")
			}
		})
	}
}

// Without Telegram's script configured, or when the source cannot give the
// request, the page says Telegram is unavailable, with "Start again".
func TestTelegramUnavailable(t *testing.T) {
	w, src := telegramWorld(t)
	b := w.browser("203.0.113.7")
	flow := b.toTelegram(w.challenge())
	src.paramsErr = identity.ErrStartAgain
	w.d.Accounts = src
	w.build()
	wantPage(t, b.get("/login/telegram?flow="+flow), http.StatusGone, "error.flow.title")
	w.d.Settings.TelegramScriptURL = ""
	w.build()
	wantPage(t, b.get("/login/telegram?flow="+flow), http.StatusServiceUnavailable, "error.telegram.title")
	// The phone form no longer offers it either.
	flow2 := b.open(w.challenge())
	wantPage(t, b.identifyPhone(flow2, "70000000", "SV", "telegram"), http.StatusUnprocessableEntity, "login.telegram.error.country")
}

// From the Telegram page: another number (back to the phone tab), cancel,
// and an unknown action; a flow of another channel is sent to its page.
func TestTelegramOtherActions(t *testing.T) {
	w, _ := telegramWorld(t)
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow := b.toTelegram(c)
	wantPage(t, b.telegram(flow, "dance"), http.StatusBadRequest, "error.badrequest.title")
	wantRedirect(t, b.telegram(flow, "change"), "/login/identify?flow="+flow+"&method=phone")
	if f := w.st.flow(flow); f.Channel != "" || f.SourceState != nil {
		t.Errorf("flow %+v", f)
	}
	wantRedirect(t, b.get("/login/telegram?flow="+flow), "/login/code?flow="+flow)
	wantRedirect(t, b.telegram(flow, "check"), "/login/identify?flow="+flow)
	wantRedirect(t, b.post("/login/identify", url.Values{"flow": {flow}, "action": {"cancel"}}), "http://hydra.test/oauth2/auth?login_verifier=reject-"+c)
	wantAnswers(t, w.hy, "reject:access_denied")
}

// A two-step account confirmed by Telegram goes on to the authenticator.
func TestTelegramTwoStep(t *testing.T) {
	w, _ := telegramWorld(t)
	w.st.totp[jose.ID] = "135790"
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow := b.toTelegram(c)
	w.st.telegramOK[flow] = true
	wantRedirect(t, b.telegram(flow, "check"), "/login/totp?flow="+flow)
	wantRedirect(t, b.get("/login/telegram?flow="+flow), "/login/totp?flow="+flow)
	wantRedirect(t, b.telegram(flow, "check"), "/login/totp?flow="+flow)
	wantPage(t, b.telegram(flow, "retry"), http.StatusConflict, "error.verified.title")
	wantRedirect(t, b.post("/login/totp", url.Values{"flow": {flow}, "code": {"135790"}}), acceptURL(c))
	if a := lastAccept(t, w.hy); !slices.Equal(a.AMR, []string{"telegram", "totp", "mfa"}) || a.ACR != "2" {
		t.Errorf("accepted %+v", a)
	}
}
