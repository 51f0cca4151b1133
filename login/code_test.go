package login

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
)

func acceptURL(c string) string { return "http://hydra.test/oauth2/auth?login_verifier=accept-" + c }

// The right code verifies the flow and finishes it: Hydra accepts exactly
// the code's account with what really happened (amr, acr, remember), the
// flow is completed and its challenge claimed, the sign-in recorded (session,
// audit event, where Hydra sent the browser), the browser gets a new
// cookie — in four store round trips and one Hydra call.
func TestRightCodeSignsIn(t *testing.T) {
	w := newWorld(t, maria, ana)
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow := b.open(c)
	wantRedirect(t, b.post("/login/identify", url.Values{"flow": {flow}, "action": {"continue"}, "method": {"email"}, "email": {"maria@example.com"}, "remember": {"true"}}), "/login/code?flow="+flow)
	code := w.st.lastSent().Code
	before := b.browserCookie()
	clear(w.st.calls)
	rec := b.code(flow, " "+code[:3]+" "+code[3:]+" ")
	wantRedirect(t, rec, acceptURL(c))

	wantAnswers(t, w.hy, "accept:"+maria.ID)
	a := lastAccept(t, w.hy)
	if !slices.Equal(a.AMR, []string{"otp", "email"}) || a.ACR != "1" || !a.Remember || a.RememberFor != int64((30*24*time.Hour).Seconds()) {
		t.Errorf("accepted %+v", a)
	}
	if a.Context["method"] != "email" || a.Context["email"] != "maria@example.com" || a.Context["email_verified"] != true || a.Context["two_step"] != false {
		t.Errorf("context %v", a.Context)
	}
	if _, ok := a.Context["phone_number"]; ok {
		t.Error("the context names a phone the account does not have")
	}
	f := w.st.flow(flow)
	if f.VerifiedAt == nil || f.CompletedAt == nil || f.UserID != maria.ID {
		t.Errorf("flow %+v", f)
	}
	after := b.browserCookie()
	if after == "" || after == before || !bytes.Equal(f.BrowserHash, web.HashToken(after)) {
		t.Error("the verified flow is not bound to a new browser cookie")
	}
	if !w.st.claimed(c) || w.st.redirect(c) != acceptURL(c) {
		t.Errorf("claimed %v, redirect %q", w.st.claimed(c), w.st.redirect(c))
	}
	if len(w.st.signIns) != 1 {
		t.Fatalf("%d sign-ins recorded", len(w.st.signIns))
	}
	in := w.st.signIns[0]
	if in.SessionID != w.hy.requests[c].SessionID || !slices.Equal(in.Kind.AMR, a.AMR) || in.Kind.ACR != "1" || !in.Kind.Remember || in.Challenge != c {
		t.Errorf("recorded %+v", in)
	}
	e := in.Event
	if e.UserID != maria.ID || e.Action != store.ActionSignInSucceeded || e.ClientID != "app" || e.IP != "203.0.113.7" || e.Method != "email" || e.Result != "ok" {
		t.Errorf("audit %+v", e)
	}
	if got := signIns(t, w.m, "email", "success"); got != 1 {
		t.Errorf("successes %v", got)
	}
	round := w.st.calls["FlowForBrowser"] + w.st.calls["VerifyCode"] + w.st.calls["CompleteFlow"] + w.st.calls["RecordSignIn"]
	if round != 4 || len(w.st.calls) != 4 || w.hy.count("get") != 1 {
		t.Errorf("store calls %v, Hydra gets %d; want 4 round trips and no Hydra get after the page", w.st.calls, w.hy.count("get"))
	}
	// The next remembered sign-in of this session says the same again.
	c2 := w.remembered(maria.ID, nil)
	lr := w.hy.requests[c2]
	lr.SessionID = in.SessionID
	w.hy.requests[c2] = lr
	wantRedirect(t, b.get("/login?login_challenge="+c2), acceptURL(c2))
	if a2 := lastAccept(t, w.hy); !slices.Equal(a2.AMR, a.AMR) || a2.ACR != "1" {
		t.Errorf("remembered %+v", a2)
	}
}

// A code by SMS signs a phone number in, with the "sms" amr and the phone
// claims; a new number becomes an account when that is allowed.
func TestRightSMSCodeSignsInAPhone(t *testing.T) {
	w := newWorld(t)
	w.src.createPhoneUsers = true
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow := b.open(c)
	wantRedirect(t, b.identifyPhone(flow, "70000001", "SV", "sms"), "/login/code?flow="+flow)
	wantRedirect(t, b.code(flow, w.st.lastSent().Code), acceptURL(c))
	a := lastAccept(t, w.hy)
	if !slices.Equal(a.AMR, []string{"otp", "sms"}) || a.Context["phone_number"] != "+50370000001" || a.Context["phone_number_verified"] != true {
		t.Errorf("accepted %+v", a)
	}
	if u, ok := w.st.users[a.Subject]; !ok || u.Phone != "+50370000001" {
		t.Errorf("no account for the new number: %v", w.st.users)
	}
}

// A two-step account goes on to the authenticator step: no accept yet,
// the flow verified and waiting, the browser bound to a new cookie.
func TestRightCodeOfATwoStepAccountAsksForTheAuthenticator(t *testing.T) {
	w := newWorld(t, maria)
	w.st.totp[maria.ID] = "246810"
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow, code := b.toCodePage(c, "maria@example.com")
	before := b.browserCookie()
	wantRedirect(t, b.code(flow, code), "/login/totp?flow="+flow)
	wantAnswers(t, w.hy)
	f := w.st.flow(flow)
	if f.VerifiedAt == nil || !f.NeedsTOTP || f.CompletedAt != nil || w.st.claimed(c) || w.st.calls["CompleteFlow"] != 0 {
		t.Errorf("flow %+v, claimed %v", f, w.st.claimed(c))
	}
	if b.browserCookie() == before || !bytes.Equal(f.BrowserHash, web.HashToken(b.browserCookie())) {
		t.Error("no new cookie after the first factor")
	}
	// The code page and a double submit of the code go to the same step.
	wantRedirect(t, b.get("/login/code?flow="+flow), "/login/totp?flow="+flow)
	wantRedirect(t, b.code(flow, code), "/login/totp?flow="+flow)
	wantAnswers(t, w.hy)
	// The old cookie no longer reaches the flow.
	old := w.browser("203.0.113.7")
	old.cookies[web.BrowserCookie] = &http.Cookie{Name: web.BrowserCookie, Value: before}
	wantPage(t, old.get("/login/totp?flow="+flow), http.StatusGone, "error.flow.title")
}

// Wrong, expired and locked codes get the same page again with no accept;
// the audit log and the metrics say which; the page warns when two tries
// are left.
func TestWrongCodesKeepThePageAndWarnOfTheTriesLeft(t *testing.T) {
	w := newWorld(t, maria)
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow, code := b.toCodePage(c, "maria@example.com")
	for i := 1; i <= 5; i++ {
		rec := b.code(flow, "000000")
		wantPage(t, rec, http.StatusUnprocessableEntity, "login.error.code")
		warned := strings.Contains(rec.Body.String(), "left for this code")
		if left := 5 - i; (left > 0 && left <= warnTries) != warned {
			t.Errorf("try %d: %d tries left, warned %v", i, left, warned)
		}
		if i == 3 {
			wantText(t, rec, i18n.English.T("login.code.tries_left.code", 2))
		}
	}
	// The sixth try fails even with the right code.
	wantPage(t, b.code(flow, code), http.StatusUnprocessableEntity, "login.error.code")
	wantAnswers(t, w.hy)
	if f := w.st.flow(flow); f.VerifiedAt != nil || w.st.claimed(c) {
		t.Errorf("a wrong code moved the flow: %+v", f)
	}
	want := []string{}
	for range 5 {
		want = append(want, "sign-in failed/wrong")
	}
	want = append(want, "sign-in failed/locked")
	if got := w.st.actions(); !slices.Equal(got, want) {
		t.Errorf("audit %v", got)
	}
	if got := signIns(t, w.m, "email", "wrong_code"); got != 5 {
		t.Errorf("wrong codes %v", got)
	}
	if got := signIns(t, w.m, "email", "code_locked"); got != 1 {
		t.Errorf("locked codes %v", got)
	}
	// A new code gets new tries.
	w.st.flows[flow].LastSentAt = ptr(time.Now().Add(-2 * time.Minute))
	wantRedirect(t, b.post("/login/code", url.Values{"flow": {flow}, "action": {"resend"}}), "/login/code?flow="+flow+"&resent=1")
	wantRedirect(t, b.code(flow, w.st.lastSent().Code), acceptURL(c))
}

func ptr[T any](v T) *T { return &v }

// An expired code and a locked identity: the same page, no accept.
func TestExpiredCodeAndLockedIdentity(t *testing.T) {
	for _, tc := range []struct {
		name, result string
		prepare      func(w *world, flow string)
	}{
		{"expired", "expired_code", func(w *world, flow string) { w.st.liveCode(flow).ExpiresAt = time.Now().Add(-time.Second) }},
		{"identity locked", "identity_locked", func(w *world, flow string) { w.st.lockedIdentities["maria@example.com"] = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, maria)
			b := w.browser("203.0.113.7")
			flow, code := b.toCodePage(w.challenge(), "maria@example.com")
			tc.prepare(w, flow)
			wantPage(t, b.code(flow, code), http.StatusUnprocessableEntity, "login.error.code")
			wantAnswers(t, w.hy)
			if w.st.flow(flow).VerifiedAt != nil {
				t.Error("verified")
			}
			if got := signIns(t, w.m, "email", tc.result); got != 1 {
				t.Errorf("%s %v", tc.result, got)
			}
		})
	}
}

// A code the source can no longer check (Blink core: expired or used
// there) says that only a new code helps.
func TestCodeGoneAtTheSource(t *testing.T) {
	w := newWorld(t, maria)
	b := w.browser("203.0.113.7")
	flow, code := b.toCodePage(w.challenge(), "maria@example.com")
	w.src.gone = true
	wantPage(t, b.code(flow, code), http.StatusUnprocessableEntity, "login.error.code_expired")
	wantAnswers(t, w.hy)
	if got := signIns(t, w.m, "email", "expired_code"); got != 1 {
		t.Errorf("expired %v", got)
	}
}

// Too many failures for the identifier: the 429 page with Retry-After and
// the ways still open; the right code does not pass meanwhile.
func TestCodeCheckLimited(t *testing.T) {
	w := newWorld(t, maria)
	b := w.browser("203.0.113.7")
	flow, code := b.toCodePage(w.challenge(), "maria@example.com")
	w.st.events["fail-identifier|maria@example.com"] = 8
	rec := b.code(flow, code)
	wantPage(t, rec, http.StatusTooManyRequests, "error.toomany.title", "limit.other_email")
	if got := rec.Header().Get("Retry-After"); got != "901" {
		t.Errorf("Retry-After %q", got)
	}
	wantAnswers(t, w.hy)
	if w.st.flow(flow).VerifiedAt != nil || w.st.liveCode(flow).Attempts != 0 {
		t.Error("a limited check counted a try or verified")
	}
	if signIns(t, w.m, "email", "limited") != 1 || counter(t, w.m, `blink_consent_limit_refusals_total{limit="fail-identifier"}`) != 1 {
		t.Error("the refusal was not counted")
	}
}

// The tries-left warning is only a warning: when it cannot be known the
// page still says the code was wrong.
func TestTriesLeftUnknown(t *testing.T) {
	w := newWorld(t, maria)
	w.src.triesErr = errors.New("timeout")
	b := w.browser("203.0.113.7")
	flow, _ := b.toCodePage(w.challenge(), "maria@example.com")
	w.st.liveCode(flow).Attempts = 3
	rec := b.code(flow, "000000")
	wantPage(t, rec, http.StatusUnprocessableEntity, "login.error.code")
	if strings.Contains(rec.Body.String(), "left for this code") {
		t.Error("warned without knowing")
	}
}

// The source's refusals at the code step: its message on the code page, or
// its page; nothing verified, Hydra not told.
func TestCodeRefusedByTheSource(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		key    string
	}{
		{"delivery", identity.ErrDelivery, http.StatusBadGateway, "login.error.provider"},
		{"refused", identity.ErrRefused, http.StatusUnprocessableEntity, "login.error.refused.phone"},
		{"registration", identity.ErrRegistrationRefused, http.StatusForbidden, "error.registration.title"},
		{"start again", identity.ErrStartAgain, http.StatusGone, "error.flow.title"},
		{"unavailable", identity.ErrUnavailable, http.StatusServiceUnavailable, "error.unavailable.title"},
		{"flow state", store.ErrFlowState, http.StatusConflict, "error.verified.title"},
		{"broken", errors.New("boom"), http.StatusInternalServerError, "error.internal.title"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, jose)
			b := w.browser("203.0.113.7")
			c := w.challenge()
			flow := b.open(c)
			wantRedirect(t, b.identifyPhone(flow, "70000000", "SV", "sms"), "/login/code?flow="+flow)
			w.src.verifyErr = tc.err
			wantPage(t, b.code(flow, w.st.lastSent().Code), tc.status, tc.key)
			wantAnswers(t, w.hy)
			if w.st.flow(flow).VerifiedAt != nil || w.st.claimed(c) {
				t.Error("a refused check moved the flow")
			}
		})
	}
}

// "Send a new code" waits for the cooldown (429 on the same page, with
// Retry-After and the countdown), then supersedes the old code; "by
// WhatsApp" sends to the same number by the other channel.
func TestResendCooldownAndNewCode(t *testing.T) {
	w := newWorld(t, jose)
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow := b.open(c)
	wantRedirect(t, b.identifyPhone(flow, "70000000", "SV", "sms"), "/login/code?flow="+flow)
	first := w.st.lastSent().Code
	resend := url.Values{"flow": {flow}, "action": {"resend"}}
	rec := b.post("/login/code", resend)
	wantPage(t, rec, http.StatusTooManyRequests, "login.error.wait")
	if !strings.Contains(rec.Body.String(), "data-resend-in=") {
		t.Error("no countdown")
	}
	if len(w.st.outbox) != 1 || counter(t, w.m, `blink_consent_limit_refusals_total{limit="flow-cooldown"}`) != 1 {
		t.Errorf("sent during the cooldown: %v", w.st.outbox)
	}

	w.st.flows[flow].LastSentAt = ptr(time.Now().Add(-2 * time.Minute))
	wantRedirect(t, b.post("/login/code", url.Values{"flow": {flow}, "action": {"resend_other"}}), "/login/code?flow="+flow+"&resent=1")
	m := w.st.lastSent()
	if m.Channel != "whatsapp" || m.Identifier != "+50370000000" || m.Code == first {
		t.Errorf("resent %+v", m)
	}
	wantPage(t, b.get("/login/code?flow="+flow+"&resent=1"), http.StatusOK, "login.code.resent.phone")
	wantPage(t, b.code(flow, first), http.StatusUnprocessableEntity, "login.error.code")
	wantRedirect(t, b.code(flow, m.Code), acceptURL(c))
	if a := lastAccept(t, w.hy); !slices.Equal(a.AMR, []string{"otp", "whatsapp"}) {
		t.Errorf("amr %v", a.AMR)
	}
}

// An email flow has no other channel; a phone flow's resend passes the bot
// check first.
func TestResendRefusals(t *testing.T) {
	w := newWorld(t, maria, jose)
	b := w.browser("203.0.113.7")
	flow, _ := b.toCodePage(w.challenge(), "maria@example.com")
	wantPage(t, b.post("/login/code", url.Values{"flow": {flow}, "action": {"resend_other"}}), http.StatusBadRequest, "error.badrequest.title")
	wantPage(t, b.post("/login/code", url.Values{"flow": {flow}, "action": {"shout"}}), http.StatusBadRequest, "error.badrequest.title")

	bot := &fakeCaptcha{}
	w.d.Captcha = bot
	w.build()
	flow2 := b.open(w.challenge())
	wantRedirect(t, b.identifyPhone(flow2, "70000000", "SV", "sms"), "/login/code?flow="+flow2)
	w.st.flows[flow2].LastSentAt = ptr(time.Now().Add(-2 * time.Minute))
	sends := len(w.st.outbox)
	wantPage(t, b.post("/login/code", url.Values{"flow": {flow2}, "action": {"resend"}, "cf-turnstile-response": {"bot"}}), http.StatusUnprocessableEntity, "login.error.captcha")
	if len(w.st.outbox) != sends {
		t.Error("a resend without the bot check sent a code")
	}
}

// A flow has a cap on its codes: past it, the page says to start again.
func TestResendCap(t *testing.T) {
	w := newWorld(t, maria)
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow, _ := b.toCodePage(c, "maria@example.com")
	for range 4 {
		w.st.flows[flow].LastSentAt = ptr(time.Now().Add(-2 * time.Minute))
		wantRedirect(t, b.post("/login/code", url.Values{"flow": {flow}, "action": {"resend"}}), "/login/code?flow="+flow+"&resent=1")
	}
	w.st.flows[flow].LastSentAt = ptr(time.Now().Add(-2 * time.Minute))
	rec := b.post("/login/code", url.Values{"flow": {flow}, "action": {"resend"}})
	wantPage(t, rec, http.StatusTooManyRequests, "error.sends.title")
	if !strings.Contains(rec.Body.String(), w.hy.requests[c].RequestURL) && !strings.Contains(rec.Body.String(), strings.ReplaceAll(w.hy.requests[c].RequestURL, "&", "&amp;")) {
		t.Error("no way to start again")
	}
	if len(w.st.outbox) != 5 {
		t.Errorf("%d codes sent, want the cap of 5", len(w.st.outbox))
	}
}

// "Use a different email or phone" before verification: back to the
// identifier step, the code superseded.
func TestChangeIdentifierBeforeVerification(t *testing.T) {
	w := newWorld(t, maria)
	b := w.browser("203.0.113.7")
	flow, code := b.toCodePage(w.challenge(), "maria@example.com")
	wantRedirect(t, b.post("/login/code", url.Values{"flow": {flow}, "action": {"change"}}), "/login/identify?flow="+flow)
	if f := w.st.flow(flow); f.Channel != "" || w.st.liveCode(flow) != nil {
		t.Errorf("flow %+v", f)
	}
	wantRedirect(t, b.code(flow, code), "/login/identify?flow="+flow)
	wantAnswers(t, w.hy)
	w.st.failClear = errors.New("connection reset")
	w.st.flows[flow].LastSentAt = ptr(time.Now().Add(-2 * time.Minute))
	wantRedirect(t, b.identifyEmail(flow, "maria@example.com"), "/login/code?flow="+flow)
	wantPage(t, b.post("/login/code", url.Values{"flow": {flow}, "action": {"change"}}), http.StatusInternalServerError, "error.internal.title")
	wantPage(t, b.get("/login/identify?flow="+flow), http.StatusInternalServerError, "error.internal.title")
}

// The code page before any code is the identifier page.
func TestCodePageBeforeTheIdentifier(t *testing.T) {
	w := newWorld(t, maria)
	b := w.browser("203.0.113.7")
	flow := b.open(w.challenge())
	rec := b.get("/login/code?flow=" + flow)
	wantPage(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), `action="/login/identify"`) {
		t.Error("not the identifier page")
	}
	wantPage(t, b.get("/login/code"), http.StatusGone, "error.flow.title")
}

// A phone flow on a source with its own bot check (Geetest): the code
// page's "Send a new code" carries a fresh challenge, and the CSP allows it;
// when the source cannot start one, the unavailable page.
func TestCodePageWithTheSourcesBotCheck(t *testing.T) {
	w := newWorld(t, jose)
	src := coreSource{fakeSource: w.src, countries: []identity.Country{{ID: "SV", Channels: []string{"sms", "whatsapp"}}}}
	w.d.Accounts = src
	w.d.Settings.GeetestOrigins = []string{"https://static.geetest.com"}
	w.build()
	b := w.browser("203.0.113.7")
	flow := b.open(w.challenge())
	wantRedirect(t, b.identifyPhone(flow, "70000000", "SV", "sms"), "/login/code?flow="+flow)
	rec := b.get("/login/code?flow=" + flow)
	wantPage(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), "gt-challenge-for-203.0.113.7") || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "https://static.geetest.com") {
		t.Errorf("no Geetest challenge on the code page\n%s", excerpt(rec))
	}
	src.botCheckErr = identity.ErrUnavailable
	w.d.Accounts = src
	w.build()
	wantPage(t, b.get("/login/code?flow="+flow), http.StatusServiceUnavailable, "error.unavailable.title")
}

// A phone's send limit: the 429 page offers the email and another number.
func TestPhoneSendLimitOffersEmail(t *testing.T) {
	w := newWorld(t, jose)
	w.st.events["send-phone|+50370000000"] = 10
	b := w.browser("203.0.113.7")
	flow := b.open(w.challenge())
	rec := b.post("/login/identify", url.Values{"flow": {flow}, "action": {"continue"}, "method": {"phone"}, "phone": {"70000000"},
		"country": {"SV"}, "channel": {"sms"}, "tz": {"Not/A_Zone"}})
	wantPage(t, rec, http.StatusTooManyRequests, "error.toomany.title", "limit.use_email", "limit.other_phone")
	if len(w.st.outbox) != 0 {
		t.Error("sent past the limit")
	}
}
