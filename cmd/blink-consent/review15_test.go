//go:build devstack

package main

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/devstack/corestandin"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// Findings of the review of ce60a77 (issue 15) in Blink mode and in the
// sign-in flow, each proved on the real PostgreSQL and Hydra (and the
// stand-in of Blink core): rows, what Hydra received, what core received.

const disabledText = "This account cannot sign in"

// An account disabled between "send code" and "enter code": the right code
// gets the disabled page, and Hydra hears a reject of the challenge — never an
// accept — so the challenge cannot be accepted later either.
func TestUserDisabledBetweenCodeAndSignInIsRejectedAtHydra(t *testing.T) {
	subject := addUser(t, testStack, "disabled.midway@example.com")
	_, b, page := codePage(t, "disabled.midway@example.com")
	code := waitCode(t, testSMTP.inbox, "disabled.midway@example.com", 1)
	if err := openStore(t, testStack).DisableUser(context.Background(), subject); err != nil {
		t.Fatal(err)
	}
	j := submitCode(b, page, code)
	if h := j.Last(); j.Callback != nil || h.Status != http.StatusForbidden || !strings.Contains(h.Body, disabledText) {
		t.Errorf("the right code of a disabled account: %d %v\n%s", h.Status, paths(j), excerpt(h.Body))
	}
	flow := flowID(t, page)
	challenge := challengeOf(t, flow)
	if a := testSpy.Accepts(challenge); len(a) != 0 {
		t.Errorf("Hydra accepted the disabled account's sign-in %d time(s)", len(a))
	}
	if n := testSpy.LoginRejects(challenge); n != 1 {
		t.Errorf("Hydra received %d rejects of the challenge, want 1", n)
	}
	if n := queryInt(t, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND completed_at IS NULL`, flow); n != 1 {
		t.Error("the disabled account's flow was completed")
	}
	// The same post again (a double submit) tells Hydra nothing more.
	submitCode(b, page, code)
	if n := testSpy.LoginRejects(challenge); n != 1 || len(testSpy.Accepts(challenge)) != 0 {
		t.Errorf("after a second post Hydra holds %d rejects and %d accepts", n, len(testSpy.Accepts(challenge)))
	}
}

// A flow is bound to the browser that started it. A second browser holding a
// valid sign-in cookie of its own (its own flow) posts the first browser's
// code, then its authenticator code: both are refused, and no try is used —
// the code and the authenticator step still work in their own browser.
func TestFlowIsBoundToItsBrowserEvenForASignedInStranger(t *testing.T) {
	addUser(t, testStack, "bound.owner@example.com")
	addUser(t, testStack, "bound.stranger@example.com")
	_, owner, page := codePage(t, "bound.owner@example.com")
	code := waitCode(t, testSMTP.inbox, "bound.owner@example.com", 1)
	_, stranger, _ := codePage(t, "bound.stranger@example.com")
	if heldCookie(t, stranger) == "" {
		t.Fatal("the stranger holds no sign-in cookie: the test would prove nothing")
	}
	flow := flowID(t, page)
	if h := submitCode(stranger, page, code).Last(); h.Status != http.StatusGone || !strings.Contains(h.Body, "This sign-in page is no longer valid") {
		t.Errorf("another signed-in browser on the flow's code form: %d\n%s", h.Status, excerpt(h.Body))
	}
	if n := queryInt(t, `SELECT count(*) FROM login_codes WHERE flow_id::text = $1 AND attempts = 0 AND used_at IS NULL`, flow); n != 1 {
		t.Error("the stranger's post used a try of the owner's code")
	}
	if n := queryInt(t, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND verified_at IS NULL`, flow); n != 1 {
		t.Error("the stranger's post verified the owner's flow")
	}
	if n := queryInt(t, `SELECT count(*) FROM rate_events WHERE bucket LIKE 'fail-%' AND key IN ('bound.owner@example.com', $1)`, stranger.IP); n != 0 {
		t.Errorf("the stranger's post recorded %d failures", n)
	}
	if j := submitCode(owner, page, code); j.Callback == nil {
		t.Errorf("the owner's code in the owner's browser failed: %v", paths(j))
	}

	// The authenticator step, the same way.
	subject := addUser(t, testStack, "bound.totp@example.com")
	secret := importTOTP(t, subject)
	rp, owner2, totpStep := totpPage(t, "bound.totp@example.com", false)
	flow = flowID(t, totpStep)
	now := time.Now()
	if h := submitTOTP(stranger, totpStep, totp.Code(secret, now)).Last(); h.Status != http.StatusGone || !strings.Contains(h.Body, "This sign-in page is no longer valid") {
		t.Errorf("another signed-in browser on the flow's authenticator form: %d\n%s", h.Status, excerpt(h.Body))
	}
	if n := queryInt(t, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND totp_attempts = 0 AND totp_verified_at IS NULL`, flow); n != 1 {
		t.Error("the stranger's post used an authenticator try of the owner's flow")
	}
	if n := queryInt(t, `SELECT count(*) FROM rate_events WHERE bucket LIKE 'fail-%' AND key IN ($1, $2)`, subject, stranger.IP); n != 0 {
		t.Errorf("the stranger's authenticator post recorded %d failures", n)
	}
	if a := testSpy.Accepts(challengeOf(t, flow)); len(a) != 0 {
		t.Errorf("Hydra accepted %d time(s) after the stranger's post", len(a))
	}
	// The same code (its time step not spent) signs the owner in.
	if _, claims := rp.tokens(t, submitTOTP(owner2, totpStep, totp.Code(secret, now))); claims["sub"] != subject {
		t.Errorf("the owner's authenticator code: sub %v", claims["sub"])
	}
}

// blinkEmailSignIn signs email in through core's stand-in from a new flow of
// rp in browser b, and returns the journey of the code's post.
func blinkEmailSignIn(t *testing.T, st *stack, core *corestandin.Standin, rp *relyingParty, b *browser, email string, remember bool) journey {
	t.Helper()
	fields := url.Values{"method": {"email"}, "email": {email}}
	if remember {
		fields.Set("remember", "true")
	}
	codePage := blinkIdentify(t, st, b, rp.start(b).Last(), fields)
	if codePage.URL.Path != "/login/code" || codePage.Status != http.StatusOK {
		t.Fatalf("asking core for a code ended on %s %d:\n%s", codePage.URL.Path, codePage.Status, excerpt(codePage.Body))
	}
	return blinkCode(st, b, codePage, core.Code(email))
}

// Blink mode: core limits by X-Real-IP, so the address it sees is ours to
// compute from TRUSTED_PROXIES. A browser's own X-Real-IP, and an
// X-Forwarded-For from a peer that is not a trusted proxy, never reach core.
func TestBlinkCoreNeverSeesABrowserChosenAddress(t *testing.T) {
	st, core := blinkStack(t)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "email"}, SkipConsent: true})
	const chosen, forged = "203.0.113.66", "203.0.113.77"

	// Through the trusted proxy, with the browser's own X-Real-IP.
	core.AddIdentity("realip.trusted@example.com", "")
	b := newBrowser(t)
	b.Header = http.Header{"X-Real-Ip": {chosen}}
	before := len(core.Calls())
	rp.tokens(t, blinkEmailSignIn(t, st, core, rp, b, "realip.trusted@example.com", false))
	checkCoreSaw(t, core.Calls()[before:], b.IP, chosen, forged)

	// Straight from an untrusted peer (127.0.0.2, not in TRUSTED_PROXIES)
	// that forges X-Forwarded-For and sends its own X-Real-IP.
	core.AddIdentity("realip.untrusted@example.com", "")
	u := newBrowser(t)
	u.IP = forged // what do() puts in X-Forwarded-For
	u.Header = http.Header{"X-Real-Ip": {chosen}}
	u.http.Transport = &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}
	before = len(core.Calls())
	rp.tokens(t, blinkEmailSignIn(t, st, core, rp, u, "realip.untrusted@example.com", false))
	checkCoreSaw(t, core.Calls()[before:], "127.0.0.2", chosen, forged)
}

// checkCoreSaw fails unless every call to core's /auth had X-Real-IP want,
// and no call carried any of never.
func checkCoreSaw(t *testing.T, calls []corestandin.Call, want string, never ...string) {
	t.Helper()
	auth := 0
	for _, c := range calls {
		for _, n := range never {
			if strings.Contains(c.RealIP, n) {
				t.Errorf("core's %s received X-Real-IP %q, an address the browser chose", c.Path, c.RealIP)
			}
		}
		if strings.HasPrefix(c.Path, "/auth/") {
			auth++
			if c.RealIP != want {
				t.Errorf("core's %s received X-Real-IP %q, want %q", c.Path, c.RealIP, want)
			}
		}
	}
	if auth == 0 {
		t.Error("core received no /auth call: the check would prove nothing")
	}
}

// Blink mode: Cancel on the authenticator step drops the core auth token kept
// in the flow row, and Hydra is told access_denied.
func TestBlinkCancelAtTheAuthenticatorStepDropsTheToken(t *testing.T) {
	st, core := blinkStack(t)
	id := core.AddIdentity("blink.cancel@example.com", "")
	core.EnrolTOTP(id)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	b := newBrowser(t)
	j := blinkEmailSignIn(t, st, core, rp, b, "blink.cancel@example.com", false)
	totpStep := j.Last()
	if totpStep.URL.Path != "/login/totp" {
		t.Fatalf("after the email code: %v", paths(j))
	}
	flow := flowID(t, totpStep)
	if n := queryIntOn(t, st, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND source_state IS NOT NULL`, flow); n != 1 {
		t.Fatal("the auth token is not kept for the authenticator step: the test would prove nothing")
	}
	j = b.Post(st.ServiceURL+"/login/totp", url.Values{"flow": {flow}, "action": {"cancel"}})
	if j.Callback == nil || j.Callback.Query().Get("error") != "access_denied" {
		t.Fatalf("Cancel: %v", paths(j))
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND source_state IS NULL`, flow); n != 1 {
		t.Error("the cancelled flow still keeps core's auth token")
	}
}

// Blink mode: a disabled subject whose email moved at core to another account
// stays disabled when that account signs in with it. Its row is kept (the
// email cleared), so its remembered session is still refused — before, the
// row was deleted and the subject, unknown again, was let back in.
func TestBlinkDisableSurvivesAnotherSubjectTakingTheEmail(t *testing.T) {
	st, core := blinkStack(t)
	const email = "moved.disabled@example.com"
	first := core.AddIdentity(email, "")
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "email"}, SkipConsent: true})
	victim := newBrowser(t)
	rp.tokens(t, blinkEmailSignIn(t, st, core, rp, victim, email, true))
	if err := openStore(t, st).DisableUser(context.Background(), first); err != nil {
		t.Fatal(err)
	}

	second := core.AddIdentity(email, "") // core now gives the email to another account
	if _, claims := rp.tokens(t, blinkEmailSignIn(t, st, core, rp, newBrowser(t), email, false)); claims["sub"] != second {
		t.Fatalf("the new owner of the email signed in as %v, want %s", claims["sub"], second)
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM users WHERE id::text = $1 AND disabled_at IS NOT NULL AND email IS NULL`, first); n != 1 {
		t.Error("the disabled subject's row was not kept, disabled, without the moved email")
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM users WHERE id::text = $1 AND disabled_at IS NULL AND email = $2`, second, email); n != 1 {
		t.Error("the email's new owner does not hold it")
	}
	j := rp.start(victim)
	if j.Callback == nil || j.Callback.Query().Get("error") != "access_denied" || j.Callback.Query().Get("code") != "" {
		t.Errorf("the disabled subject's remembered sign-in: %v, want access_denied", paths(j))
	}
}
