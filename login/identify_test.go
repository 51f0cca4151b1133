package login

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
)

// An email with an account gets a code: the flow moves to "code sent" with
// that identifier (and "Remember me"), the outbox queues the message, and
// the browser remembers the tab, not the address.
func TestIdentifyByEmailSendsACode(t *testing.T) {
	w := newWorld(t, maria)
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow := b.open(c)
	rec := b.post("/login/identify", url.Values{"flow": {flow}, "action": {"continue"}, "method": {"email"}, "email": {" Maria@Example.com "}, "remember": {"true"}})
	wantRedirect(t, rec, "/login/code?flow="+flow)
	f := w.st.flow(flow)
	if f.Channel != "email" || f.Identifier != "maria@example.com" || !f.Remember || f.Sends != 1 || f.VerifiedAt != nil {
		t.Errorf("flow %+v", f)
	}
	if m := w.st.lastSent(); m.Channel != "email" || m.Identifier != "maria@example.com" || !m.Queued || m.Code == "" {
		t.Errorf("outbox %+v", m)
	}
	if ck := b.cookies[methodCookie]; ck == nil || ck.Value != "email" {
		t.Errorf("method cookie %+v", ck)
	}
	if got := counter(t, w.m, `blink_consent_codes_total{channel="email",outcome="queued"}`); got != 1 {
		t.Errorf("queued codes %v", got)
	}
	wantAnswers(t, w.hy)

	// The code page says where it went.
	page := b.get("/login/code?flow=" + flow)
	wantPage(t, page, http.StatusOK)
	wantText(t, page, "maria@example.com")

	// The next sign-in of this browser opens on the email tab.
	rec = b.get("/login?login_challenge=" + w.challenge())
	if !strings.Contains(rec.Body.String(), `type="email"`) {
		t.Error("the next sign-in did not open on the email tab")
	}
}

// An email with no account gets the very same answer and the same work,
// but its message is a decoy that is never sent.
func TestIdentifyByEmailWithoutAccountLooksTheSame(t *testing.T) {
	w := newWorld(t, maria)
	b := w.browser("203.0.113.7")
	flow := b.open(w.challenge())
	wantRedirect(t, b.identifyEmail(flow, "nobody@example.com"), "/login/code?flow="+flow)
	if m := w.st.lastSent(); m.Identifier != "nobody@example.com" || m.Queued {
		t.Errorf("outbox %+v; want a decoy", m)
	}
	if got := counter(t, w.m, `blink_consent_codes_total{channel="email",outcome="queued"}`); got != 0 {
		t.Errorf("a decoy counted as queued: %v", got)
	}
	// Its code page is the same as anyone's; no code can pass.
	wantPage(t, b.get("/login/code?flow="+flow), http.StatusOK)
	wantPage(t, b.code(flow, "000000"), http.StatusUnprocessableEntity, "login.error.code")
	wantAnswers(t, w.hy)
}

// A phone number gets a code by the chosen channel, after the bot check.
func TestIdentifyByPhoneSendsACode(t *testing.T) {
	w := newWorld(t, jose)
	bot := &fakeCaptcha{}
	w.d.Captcha = bot
	w.build()
	b := w.browser("203.0.113.7")
	flow := b.open(w.challenge())
	wantRedirect(t, b.identifyPhone(flow, "7000 0000", "SV", "whatsapp"), "/login/code?flow="+flow)
	if f := w.st.flow(flow); f.Channel != "whatsapp" || f.Identifier != "+50370000000" {
		t.Errorf("flow %+v", f)
	}
	if m := w.st.lastSent(); m.Channel != "whatsapp" || m.Identifier != "+50370000000" || !m.Queued {
		t.Errorf("outbox %+v", m)
	}
	if bot.verified != 1 {
		t.Errorf("bot check ran %d times", bot.verified)
	}
	if ck := b.cookies[methodCookie]; ck == nil || ck.Value != "phone" {
		t.Errorf("method cookie %+v", ck)
	}
	// The code page masks the number and offers the other channel.
	page := b.get("/login/code?flow=" + flow)
	wantPage(t, page, http.StatusOK)
	if strings.Contains(page.Body.String(), "70000000") {
		t.Error("the code page shows the whole number")
	}
	if !strings.Contains(page.Body.String(), `value="resend_other"`) {
		t.Error("the code page does not offer SMS")
	}
	if csp := page.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "https://challenges.cloudflare.com") {
		t.Errorf("the code page's CSP does not allow the bot check: %s", csp)
	}
}

// Input that cannot be an email or a number of an allowed country, or a
// channel that is not offered, gets a clear message on the same page, and
// nothing changes: no send, no flow step.
func TestIdentifyRefusesMalformedInputAndChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		form url.Values
		text string
	}{
		{"bad email", url.Values{"method": {"email"}, "email": {"maria@"}}, i18n.English.T("login.error.email")},
		{"email with spaces", url.Values{"method": {"email"}, "email": {"ma ria@example.com"}}, i18n.English.T("login.error.email")},
		{"country not allowed", url.Values{"method": {"phone"}, "phone": {"+525512345678"}, "country": {"SV"}, "channel": {"sms"}}, i18n.English.T("login.error.country")},
		{"too few digits", url.Values{"method": {"phone"}, "phone": {"7000"}, "country": {"SV"}, "channel": {"sms"}}, "Enter 8 digits"},
		{"not a number", url.Values{"method": {"phone"}, "phone": {"call me"}, "country": {"SV"}, "channel": {"sms"}}, ""},
		{"channel not offered", url.Values{"method": {"phone"}, "phone": {"70000000"}, "country": {"SV"}, "channel": {"carrier-pigeon"}}, i18n.English.T("login.error.channel")},
		{"telegram not offered", url.Values{"method": {"phone"}, "phone": {"70000000"}, "country": {"SV"}, "channel": {"telegram"}}, i18n.English.T("login.telegram.error.country")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, maria, jose)
			b := w.browser("203.0.113.7")
			flow := b.open(w.challenge())
			tc.form.Set("flow", flow)
			tc.form.Set("action", "continue")
			rec := b.post("/login/identify", tc.form)
			wantPage(t, rec, http.StatusUnprocessableEntity)
			if tc.text != "" {
				wantText(t, rec, tc.text)
			}
			if !strings.Contains(rec.Body.String(), `aria-invalid="true"`) {
				t.Error("the field is not marked invalid")
			}
			if f := w.st.flow(flow); f.Channel != "" || f.Sends != 0 || w.st.calls["SendCode"] != 0 || len(w.st.outbox) != 0 {
				t.Errorf("a refused identifier changed the flow %+v or sent %v", f, w.st.outbox)
			}
			wantAnswers(t, w.hy)
		})
	}
}

// WhatsApp switched off: the phone form refuses it.
func TestIdentifyRefusesAChannelSwitchedOff(t *testing.T) {
	w := newWorld(t, jose)
	w.d.Settings.WhatsApp = false
	w.build()
	b := w.browser("203.0.113.7")
	flow := b.open(w.challenge())
	wantPage(t, b.identifyPhone(flow, "70000000", "SV", "whatsapp"), http.StatusUnprocessableEntity, "login.error.channel")
	if len(w.st.outbox) != 0 {
		t.Error("sent by a channel that is off")
	}
	wantRedirect(t, b.identifyPhone(flow, "70000000", "SV", "sms"), "/login/code?flow="+flow)
}

// A failed bot check (or a bot check that cannot answer) sends nothing and
// says the check failed, not the number.
func TestIdentifyRefusedByTheBotCheck(t *testing.T) {
	for name, bot := range map[string]*fakeCaptcha{"failed": {}, "unavailable": {err: errors.New("siteverify down")}} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, jose)
			w.d.Captcha = bot
			w.build()
			b := w.browser("203.0.113.7")
			flow := b.open(w.challenge())
			form := url.Values{"flow": {flow}, "action": {"continue"}, "method": {"phone"}, "phone": {"70000000"}, "country": {"SV"}, "channel": {"sms"}, "cf-turnstile-response": {"bot"}}
			if name == "unavailable" {
				form.Set("cf-turnstile-response", "ok")
			}
			rec := b.post("/login/identify", form)
			wantPage(t, rec, http.StatusUnprocessableEntity, "login.error.captcha")
			if strings.Contains(rec.Body.String(), `aria-invalid="true"`) {
				t.Error("the number is marked invalid for a failed bot check")
			}
			if w.st.calls["SendCode"] != 0 || len(w.st.outbox) != 0 || w.st.flow(flow).Channel != "" {
				t.Error("a failed bot check sent a code")
			}
		})
	}
}

// The source's refusals: each gets its message on the form (or its page),
// nothing is sent and the flow stays at the identifier step.
func TestIdentifyRefusedByTheSource(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		key    string
	}{
		{"refused", &identity.Refusal{Kind: identity.ErrRefused, Reason: "refused.email", Err: errors.New("core: 400")}, http.StatusUnprocessableEntity, "login.error.refused.email"},
		{"refused without reason", identity.ErrRefused, http.StatusUnprocessableEntity, "login.error.refused.email"},
		{"bot check", identity.ErrBotCheck, http.StatusUnprocessableEntity, "login.error.captcha"}, // on the phone form
		{"bot check of its own", &identity.Refusal{Kind: identity.ErrBotCheck, Reason: "captcha_unchecked"}, http.StatusUnprocessableEntity, "login.error.captcha_unchecked"},
		{"registration", identity.ErrRegistrationRefused, http.StatusForbidden, "login.error.registration"},
		{"delivery", identity.ErrDelivery, http.StatusBadGateway, "login.error.provider"},
		{"telegram off", identity.ErrTelegramOff, http.StatusServiceUnavailable, "login.telegram.error.off"},
		{"unavailable", identity.ErrUnavailable, http.StatusServiceUnavailable, "error.unavailable.title"},
		{"start again", identity.ErrStartAgain, http.StatusGone, "error.flow.title"},
		{"broken", errors.New("core: unreadable answer"), http.StatusInternalServerError, "error.internal.title"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, maria, jose)
			w.src.sendErr = tc.err
			b := w.browser("203.0.113.7")
			flow := b.open(w.challenge())
			send := b.identifyEmail(flow, "maria@example.com")
			if errors.Is(tc.err, identity.ErrBotCheck) {
				// A source whose bot check is its own (Geetest) says so on the phone form.
				w.d.Accounts = coreSource{fakeSource: w.src, countries: []identity.Country{{ID: "SV", Channels: []string{"sms"}}}}
				w.build()
				send = b.identifyPhone(flow, "70000000", "SV", "sms")
			}
			wantPage(t, send, tc.status, tc.key)
			if f := w.st.flow(flow); f.Channel != "" || len(w.st.outbox) != 0 {
				t.Errorf("a refusal changed the flow %+v", f)
			}
			wantAnswers(t, w.hy)
		})
	}
}

// A shared send limit gives the 429 page with Retry-After and the ways still
// open (another email, the phone), counts the refusal, and sends nothing.
func TestIdentifyLimitedGivesThe429Page(t *testing.T) {
	w := newWorld(t, maria)
	w.st.events["send-email|maria@example.com"] = 10
	b := w.browser("203.0.113.7")
	flow := b.open(w.challenge())
	form := url.Values{"flow": {flow}, "action": {"continue"}, "method": {"email"}, "email": {"maria@example.com"}, "tz": {"America/El_Salvador"}}
	rec := b.post("/login/identify", form)
	wantPage(t, rec, http.StatusTooManyRequests, "error.toomany.title", "limit.still_open", "limit.use_phone", "limit.other_email")
	if got := rec.Header().Get("Retry-After"); got != "3601" {
		t.Errorf("Retry-After %q, want 3601", got)
	}
	if !strings.Contains(rec.Body.String(), "/login/identify?flow="+flow+"&amp;method=phone") {
		t.Error("the limit page does not lead to the phone tab")
	}
	if got := counter(t, w.m, `blink_consent_limit_refusals_total{limit="send-email"}`); got != 1 {
		t.Errorf("limit refusals %v", got)
	}
	if f := w.st.flow(flow); f.Channel != "" || len(w.st.outbox) != 0 {
		t.Errorf("a limited send changed the flow %+v", f)
	}
	// Another address still works.
	w.st.users[ana.ID] = ana
	wantRedirect(t, b.identifyEmail(flow, "ana@example.com"), "/login/code?flow="+flow)
}

// The identifier page again ("use a different email or phone") takes a
// flow whose code is not verified back to the identifier step: its code
// stops working.
func TestIdentifierPageAgainSupersedesTheCode(t *testing.T) {
	w := newWorld(t, maria)
	b := w.browser("203.0.113.7")
	flow, code := b.toCodePage(w.challenge(), "maria@example.com")
	rec := b.get("/login/identify?flow=" + flow + "&method=phone")
	wantPage(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), `type="tel"`) {
		t.Error("the phone tab was asked for")
	}
	if f := w.st.flow(flow); f.Channel != "" || f.Identifier != "" {
		t.Errorf("flow %+v", f)
	}
	// The code page now goes back to the identifier, and the old code is dead.
	wantRedirect(t, b.code(flow, code), "/login/identify?flow="+flow)
	wantPage(t, b.get("/login/code?flow="+flow), http.StatusOK)
	if w.st.liveCode(flow) != nil {
		t.Error("the old code is still live")
	}
	wantAnswers(t, w.hy)
}

// Once a code is verified the flow's identity is frozen: no other email or
// phone, whether by the identifier page or its form.
func TestVerifiedFlowRefusesAnotherIdentifier(t *testing.T) {
	w := newWorld(t, maria, ana)
	w.st.totp[maria.ID] = "123456" // two-step: the flow waits verified
	b := w.browser("203.0.113.7")
	flow, code := b.toCodePage(w.challenge(), "maria@example.com")
	wantRedirect(t, b.code(flow, code), "/login/totp?flow="+flow)
	for name, rec := range map[string]func() *httptestRecorder{
		"page": func() *httptestRecorder { return b.get("/login/identify?flow=" + flow) },
		"form": func() *httptestRecorder { return b.identifyEmail(flow, "ana@example.com") },
		"resend": func() *httptestRecorder {
			return b.post("/login/code", url.Values{"flow": {flow}, "action": {"resend"}})
		},
		"change": func() *httptestRecorder {
			return b.post("/login/code", url.Values{"flow": {flow}, "action": {"change"}})
		},
	} {
		wantPage(t, rec(), http.StatusConflict, "error.verified.title")
		if f := w.st.flow(flow); f.Identifier != "maria@example.com" || f.UserID != maria.ID || f.VerifiedAt == nil {
			t.Errorf("%s: the verified flow changed: %+v", name, f)
		}
	}
	if len(w.st.outbox) != 1 {
		t.Errorf("a verified flow sent %d codes", len(w.st.outbox))
	}
	wantAnswers(t, w.hy)
}

// A flow belongs to the browser that started it: another person, with their
// own cookie and flow, cannot use its id; without a cookie neither.
func TestAnotherBrowsersFlowIsRefused(t *testing.T) {
	w := newWorld(t, maria, ana)
	maria := w.browser("203.0.113.7")
	ana := w.browser("198.51.100.9")
	flow, code := maria.toCodePage(w.challenge(), "maria@example.com")
	anaFlow := ana.open(w.challenge())
	if anaFlow == flow {
		t.Fatal("two browsers share a flow")
	}
	stranger := w.browser("192.0.2.1")
	for name, b := range map[string]*browser{"another person": ana, "no cookie": stranger} {
		for _, rec := range []*httptestRecorder{
			b.code(flow, code),
			b.identifyEmail(flow, "ana@example.com"),
			b.get("/login/code?flow=" + flow),
			b.get("/login/identify?flow=" + flow),
			b.get("/login/totp?flow=" + flow),
			b.post("/login/identify", url.Values{"flow": {flow}, "action": {"cancel"}}),
		} {
			wantPage(t, rec, http.StatusGone, "error.flow.title")
		}
		if f := w.st.flow(flow); f.Identifier != "maria@example.com" || f.VerifiedAt != nil || f.CompletedAt != nil || w.st.liveCode(flow).Attempts != 0 {
			t.Errorf("%s changed another browser's flow: %+v", name, f)
		}
	}
	wantAnswers(t, w.hy)
	// Its owner still signs in.
	wantRedirect(t, maria.code(flow, code), "http://hydra.test/oauth2/auth?login_verifier=accept-"+w.st.flow(flow).Challenge)
	// A malformed flow id is refused the same way.
	wantPage(t, maria.code("not-a-uuid", code), http.StatusGone, "error.flow.title")
}

// An expired flow is gone, whoever asks.
func TestExpiredFlowIsRefused(t *testing.T) {
	w := newWorld(t, maria)
	b := w.browser("203.0.113.7")
	flow, code := b.toCodePage(w.challenge(), "maria@example.com")
	w.st.flows[flow].ExpiresAt = time.Now().Add(-time.Second)
	wantPage(t, b.code(flow, code), http.StatusGone, "error.flow.title")
	wantAnswers(t, w.hy)
}

// Cancel rejects the login with access_denied once, forgets what the source
// kept in the flow, and a second cancel goes where the first one went.
func TestCancelRejectsAndForgetsTheFlowState(t *testing.T) {
	w := newWorld(t, maria)
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow, _ := b.toCodePage(c, "maria@example.com")
	w.st.flows[flow].SourceState = []byte("core emailLoginId")
	cancel := url.Values{"flow": {flow}, "action": {"cancel"}}
	rec := b.post("/login/identify", cancel)
	to := "http://hydra.test/oauth2/auth?login_verifier=reject-" + c
	wantRedirect(t, rec, to)
	wantAnswers(t, w.hy, "reject:access_denied")
	if f := w.st.flow(flow); f.SourceState != nil || len(w.st.forgotten) != 1 {
		t.Errorf("the flow's source state was kept: %+v", f)
	}
	if !w.st.claimed(c) || w.st.redirect(c) != to {
		t.Errorf("claimed %v, redirect %q", w.st.claimed(c), w.st.redirect(c))
	}
	if got := signIns(t, w.m, "email", "cancelled"); got != 1 {
		t.Errorf("cancelled %v", got)
	}
	wantRedirect(t, b.post("/login/identify", cancel), to)
	wantAnswers(t, w.hy, "reject:access_denied")
}

// When the flow's state cannot be forgotten, Hydra is not told and the
// claim is released: cancelling again works.
func TestCancelWhenTheStateCannotBeForgotten(t *testing.T) {
	w := newWorld(t, maria)
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow := b.open(c)
	w.st.failForget = errors.New("connection reset")
	wantPage(t, b.post("/login/identify", url.Values{"flow": {flow}, "action": {"cancel"}}), http.StatusInternalServerError, "error.internal.title")
	wantAnswers(t, w.hy)
	if w.st.claimed(c) {
		t.Error("the claim stayed after a failed cancel")
	}
	w.st.failForget = nil
	wantRedirect(t, b.post("/login/identify", url.Values{"flow": {flow}, "action": {"cancel"}}), "http://hydra.test/oauth2/auth?login_verifier=reject-"+c)
}

// A form without a known action is a bad request and changes nothing.
func TestIdentifyUnknownAction(t *testing.T) {
	w := newWorld(t, maria)
	b := w.browser("203.0.113.7")
	flow := b.open(w.challenge())
	wantPage(t, b.post("/login/identify", url.Values{"flow": {flow}, "action": {"send-to-all"}, "email": {"maria@example.com"}}), http.StatusBadRequest, "error.badrequest.title")
	if len(w.st.outbox) != 0 {
		t.Error("an unknown action sent a code")
	}
}

// A source with its own country list (Blink core) decides the phone form's
// countries and channels; with its own bot check (Geetest) the form carries
// a challenge, and the answer goes to the source with the send.
func TestIdentifyWithASourcesCountriesAndBotCheck(t *testing.T) {
	w := newWorld(t, jose)
	w.d.Accounts = coreSource{fakeSource: w.src, countries: []identity.Country{{ID: "SV", Channels: []string{"whatsapp"}}, {ID: "GT", Channels: []string{"sms", "telegram"}}}}
	w.d.Settings.GeetestOrigins = []string{"https://static.geetest.com"}
	w.build()
	b := w.browser("203.0.113.7")
	rec := b.get("/login?login_challenge=" + w.challenge())
	wantPage(t, rec, http.StatusOK)
	body := rec.Body.String()
	flow := flowField.FindStringSubmatch(body)[1]
	if !strings.Contains(body, `value="GT"`) || strings.Contains(body, `value="US"`) || strings.Contains(body, `value="telegram"`) {
		t.Errorf("the phone form does not list the source's countries and channels\n%s", excerpt(rec))
	}
	if !strings.Contains(body, "gt-challenge-for-203.0.113.7") {
		t.Error("the phone form carries no Geetest challenge")
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "https://static.geetest.com") {
		t.Errorf("CSP %s", csp)
	}
	// SMS is not a channel of SV numbers at this source.
	wantPage(t, b.identifyPhone(flow, "70000000", "SV", "sms"), http.StatusUnprocessableEntity, "login.error.channel")
	form := url.Values{"flow": {flow}, "action": {"continue"}, "method": {"phone"}, "phone": {"70000000"}, "country": {"SV"}, "channel": {"whatsapp"},
		"geetest_challenge": {"gc"}, "geetest_validate": {"gv"}, "geetest_seccode": {"gs"}}
	wantRedirect(t, b.post("/login/identify", form), "/login/code?flow="+flow)
	got := w.src.botChecks[len(w.src.botChecks)-1]
	if got["geetest_challenge"] != "gc" || got["geetest_validate"] != "gv" || got["geetest_seccode"] != "gs" {
		t.Errorf("the source got bot check %v", got)
	}
}

// A source that cannot list its countries now: the phone form says phone
// sign-in is unavailable (503) and the email tab still works; a page that
// did not ask for the phone opens on email.
func TestIdentifyWhenTheSourcesCountriesAreUnavailable(t *testing.T) {
	w := newWorld(t, maria)
	w.d.Accounts = coreSource{fakeSource: w.src, countriesErr: identity.ErrUnavailable}
	w.build()
	b := w.browser("203.0.113.7")
	rec := b.get("/login?login_challenge=" + w.challenge())
	wantPage(t, rec, http.StatusOK)
	flow := flowField.FindStringSubmatch(rec.Body.String())[1]
	if !strings.Contains(rec.Body.String(), `type="email"`) {
		t.Error("the page did not open on the email tab")
	}
	wantPage(t, b.get("/login/identify?flow="+flow+"&method=phone"), http.StatusServiceUnavailable)
	wantPage(t, b.identifyPhone(flow, "70000000", "SV", "sms"), http.StatusServiceUnavailable)
	if len(w.st.outbox) != 0 {
		t.Error("sent a code without a country list")
	}
	wantRedirect(t, b.identifyEmail(flow, "maria@example.com"), "/login/code?flow="+flow)
}

// A bot check the source cannot start: the unavailable page, nothing sent.
func TestIdentifyWhenTheSourcesBotCheckIsDown(t *testing.T) {
	w := newWorld(t, jose)
	w.d.Accounts = coreSource{fakeSource: w.src, countries: []identity.Country{{ID: "SV", Channels: []string{"sms"}}}, botCheckErr: identity.ErrUnavailable}
	w.build()
	b := w.browser("203.0.113.7")
	wantPage(t, b.get("/login?login_challenge="+w.challenge()), http.StatusServiceUnavailable, "error.unavailable.title")
}

// A Spanish sign-in stays Spanish on every page of its flow.
func TestFlowKeepsItsLanguage(t *testing.T) {
	w := newWorld(t, maria)
	c := w.challenge()
	lr := w.hy.requests[c]
	lr.UILocales = []string{"es"}
	w.hy.requests[c] = lr
	b := w.browser("203.0.113.7")
	flow := b.open(c)
	rec := b.identifyEmail(flow, "maria@")
	wantText(t, rec, i18n.Spanish.T("login.error.email"))
	wantRedirect(t, b.identifyEmail(flow, "maria@example.com"), "/login/code?flow="+flow)
	wantText(t, b.code(flow, "000000"), i18n.Spanish.T("login.error.code"))
}
