package login

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
)

// toTOTPStep signs a two-step account's first factor in and returns the flow.
func (b *browser) toTOTPStep(c string) string {
	t := b.w.t
	t.Helper()
	flow, code := b.toCodePage(c, "maria@example.com")
	wantRedirect(t, b.code(flow, code), "/login/totp?flow="+flow)
	return flow
}

func twoStepWorld(t *testing.T) *world {
	w := newWorld(t, maria)
	w.st.totp[maria.ID] = "246810"
	w.st.recovery[maria.ID] = []string{"abcd-efgh-ijkl-mnop", "qrst-uvwx-yz23-4567"}
	return w
}

// The right authenticator code finishes the sign-in with acr 2 and the
// "totp" and "mfa" amr, a new browser cookie, and "email+totp" audited.
func TestRightAuthenticatorCodeSignsIn(t *testing.T) {
	w := twoStepWorld(t)
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow := b.toTOTPStep(c)
	page := b.get("/login/totp?flow=" + flow)
	wantPage(t, page, http.StatusOK)
	if !strings.Contains(page.Body.String(), `value="recovery"`) {
		t.Error("no recovery code option on a source that has them")
	}
	before := b.browserCookie()
	wantRedirect(t, b.post("/login/totp", url.Values{"flow": {flow}, "code": {"246810"}}), acceptURL(c))
	a := lastAccept(t, w.hy)
	if a.Subject != maria.ID || a.ACR != "2" || !slices.Equal(a.AMR, []string{"otp", "email", "totp", "mfa"}) || a.Context["two_step"] != true {
		t.Errorf("accepted %+v", a)
	}
	f := w.st.flow(flow)
	if f.TOTPVerifiedAt == nil || f.CompletedAt == nil || b.browserCookie() == before || !bytes.Equal(f.BrowserHash, web.HashToken(b.browserCookie())) {
		t.Errorf("flow %+v", f)
	}
	if e := w.st.signIns[0].Event; e.Method != "email+totp" || e.Details["acr"] != "2" {
		t.Errorf("audit %+v", e)
	}
	// The same code again (a double submit): the flow is done; no second accept.
	wantPage(t, b.post("/login/totp", url.Values{"flow": {flow}, "code": {"246810"}}), http.StatusGone, "error.used.title")
	wantAnswers(t, w.hy, "accept:"+maria.ID)
}

// A wrong or replayed authenticator code: the same page with its message,
// no accept, the failure audited and counted.
func TestWrongOrReplayedAuthenticatorCode(t *testing.T) {
	w := twoStepWorld(t)
	w.st.usedSteps[maria.ID+"|246810"] = true
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow := b.toTOTPStep(c)
	for _, code := range []string{"000000", "246810"} {
		wantPage(t, b.post("/login/totp", url.Values{"flow": {flow}, "code": {code}}), http.StatusUnprocessableEntity, "login.totp.error")
	}
	wantAnswers(t, w.hy)
	if f := w.st.flow(flow); f.TOTPVerifiedAt != nil || w.st.claimed(c) {
		t.Errorf("flow %+v", f)
	}
	var got []string
	for _, e := range w.st.audited {
		got = append(got, string(e.Action)+"/"+e.Method+"/"+e.Result+"/"+e.UserID)
	}
	want := []string{"sign-in failed/totp/wrong/" + maria.ID, "sign-in failed/totp/replayed/" + maria.ID}
	if !slices.Equal(got, want) {
		t.Errorf("audit %v, want %v", got, want)
	}
	if signIns(t, w.m, "email", "totp_wrong") != 1 || signIns(t, w.m, "email", "totp_replayed") != 1 {
		t.Error("not counted")
	}
}

// A recovery code takes the app's place once: acr 2 with "recovery_code"
// in the amr and the audit; a wrong one has its own message.
func TestRecoveryCodeSignsInOnce(t *testing.T) {
	w := twoStepWorld(t)
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow := b.toTOTPStep(c)
	wantPage(t, b.post("/login/totp", url.Values{"flow": {flow}, "action": {"recovery"}, "recovery_code": {"zzzz-zzzz-zzzz-zzzz"}}), http.StatusUnprocessableEntity, "login.totp.recovery.error")
	wantAnswers(t, w.hy)
	wantRedirect(t, b.post("/login/totp", url.Values{"flow": {flow}, "action": {"recovery"}, "recovery_code": {"abcd-efgh-ijkl-mnop"}}), acceptURL(c))
	a := lastAccept(t, w.hy)
	if a.ACR != "2" || !slices.Equal(a.AMR, []string{"otp", "email", "recovery_code", "mfa"}) {
		t.Errorf("accepted %+v", a)
	}
	if slices.Contains(w.st.recovery[maria.ID], "abcd-efgh-ijkl-mnop") {
		t.Error("the recovery code was not used up")
	}
	if e := w.st.signIns[0].Event; e.Method != "email+recovery_code" {
		t.Errorf("audit %+v", e)
	}
	if !slices.Contains(w.st.actions(), "recovery code used/ok") || signIns(t, w.m, "email", "recovery_code_wrong") != 1 {
		t.Errorf("audit %v", w.st.actions())
	}
}

// A source without recovery codes (Blink core) offers none, and refuses one.
func TestRecoveryCodeOnASourceWithout(t *testing.T) {
	w := twoStepWorld(t)
	w.d.Accounts = struct{ identity.Source }{w.src}
	w.build()
	b := w.browser("203.0.113.7")
	flow := b.toTOTPStep(w.challenge())
	if strings.Contains(b.get("/login/totp?flow="+flow).Body.String(), `value="recovery"`) {
		t.Error("recovery codes offered")
	}
	wantPage(t, b.post("/login/totp", url.Values{"flow": {flow}, "action": {"recovery"}, "recovery_code": {"abcd-efgh-ijkl-mnop"}}), http.StatusBadRequest, "error.badrequest.title")
	wantAnswers(t, w.hy)
}

// A flow has five authenticator tries: the sixth fails even with the right
// code; the account's failure limit gives the 429 page.
func TestAuthenticatorLimits(t *testing.T) {
	w := twoStepWorld(t)
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow := b.toTOTPStep(c)
	for range 5 {
		b.post("/login/totp", url.Values{"flow": {flow}, "code": {"000000"}})
	}
	wantPage(t, b.post("/login/totp", url.Values{"flow": {flow}, "code": {"246810"}}), http.StatusUnprocessableEntity, "login.totp.error")
	wantAnswers(t, w.hy)
	if signIns(t, w.m, "email", "totp_locked") != 1 {
		t.Error("the lock was not counted")
	}

	w2 := twoStepWorld(t)
	b2 := w2.browser("203.0.113.8")
	flow2 := b2.toTOTPStep(w2.challenge())
	w2.st.events["fail-totp|"+maria.ID] = 8
	rec := b2.post("/login/totp", url.Values{"flow": {flow2}, "code": {"246810"}})
	wantPage(t, rec, http.StatusTooManyRequests, "error.toomany.title")
	if rec.Header().Get("Retry-After") == "" || signIns(t, w2.m, "email", "limited") != 1 {
		t.Error("no Retry-After, or not counted")
	}
	if strings.Contains(rec.Body.String(), "limit.still_open") || strings.Contains(rec.Body.String(), "way-other") {
		t.Error("a verified flow was offered another identifier")
	}
	wantAnswers(t, w2.hy)
}

// The authenticator step exists only for a flow whose first factor is done
// and whose account has one; the server's flow decides, not the request.
func TestAuthenticatorStepOnlyWhenDue(t *testing.T) {
	w := twoStepWorld(t)
	w.st.users[ana.ID] = ana
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow, _ := b.toCodePage(c, "maria@example.com")
	wantPage(t, b.get("/login/totp?flow="+flow), http.StatusGone, "error.flow.title")
	wantPage(t, b.post("/login/totp", url.Values{"flow": {flow}, "code": {"246810"}}), http.StatusGone, "error.flow.title")
	wantAnswers(t, w.hy)
	if w.st.calls["CheckTOTP"] != 0 {
		t.Error("checked an authenticator code before the first factor")
	}
	// The source refuses a flow at another step the same way.
	flow2 := b.toTOTPStep(w.challenge())
	w.src.totpErr = store.ErrFlowState
	wantPage(t, b.post("/login/totp", url.Values{"flow": {flow2}, "code": {"246810"}}), http.StatusGone, "error.flow.title")
	w.src.totpErr = context.DeadlineExceeded
	wantPage(t, b.post("/login/totp", url.Values{"flow": {flow2}, "code": {"246810"}}), http.StatusInternalServerError, "error.internal.title")
	w.src.totpErr = identity.ErrUnavailable
	wantPage(t, b.post("/login/totp", url.Values{"flow": {flow2}, "code": {"246810"}}), http.StatusServiceUnavailable, "error.unavailable.title")
	wantAnswers(t, w.hy)
}

// Cancel at the authenticator step rejects the login and drops what the
// source kept (Blink core's auth token).
func TestCancelAtTheAuthenticatorStep(t *testing.T) {
	w := twoStepWorld(t)
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow := b.toTOTPStep(c)
	w.st.flows[flow].SourceState = []byte("sealed core token")
	wantRedirect(t, b.post("/login/totp", url.Values{"flow": {flow}, "action": {"cancel"}}), "http://hydra.test/oauth2/auth?login_verifier=reject-"+c)
	wantAnswers(t, w.hy, "reject:access_denied")
	if w.st.flow(flow).SourceState != nil {
		t.Error("the core token was kept")
	}
}

// A failed audit of a wrong code does not change the answer.
func TestAuditFailureKeepsTheAnswer(t *testing.T) {
	w := twoStepWorld(t)
	b := w.browser("203.0.113.7")
	flow := b.toTOTPStep(w.challenge())
	w.d.Store = failingAudit{w.st}
	w.build()
	wantPage(t, b.post("/login/totp", url.Values{"flow": {flow}, "code": {"000000"}}), http.StatusUnprocessableEntity, "login.totp.error")
	if !strings.Contains(w.log.String(), "could not audit a failed sign-in") {
		t.Error("the lost audit event was not logged")
	}
}

type failingAudit struct{ *memStore }

func (failingAudit) Audit(context.Context, store.AuditEvent) error { return errors.New("disk full") }
