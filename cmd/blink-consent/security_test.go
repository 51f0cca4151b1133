//go:build devstack

package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// The findings of the security review (issue 8), each proved on the real
// PostgreSQL and Hydra: the data the rule protects is what is asserted.

const verifiedText = "Your code was already confirmed"

func queryString(t testing.TB, query string, args ...any) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), testStack.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var s string
	if err := conn.QueryRow(context.Background(), query, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}

func challengeOf(t testing.TB, flow string) string {
	return queryString(t, `SELECT challenge FROM login_flows WHERE id::text = $1`, flow)
}

// Finding 1 (HIGH): an attacker verified with their own email code, on their
// own TOTP step, re-posts the identifier form with the victim's email and then
// the victim's authenticator code. The verified flow's identity is frozen:
// every way to change it is refused, no code goes to the victim, and the only
// login Hydra ever accepts for the challenge is the attacker's own.
func TestVerifiedFactorCannotBeSwapped(t *testing.T) {
	attacker := addUser(t, testStack, "attacker@example.com")
	attackerSecret := importTOTP(t, attacker)
	victim := addUser(t, testStack, "victim@example.com")
	victimSecret := importTOTP(t, victim)
	rp, b, page := totpPage(t, "attacker@example.com", false)
	flow := flowID(t, page)
	messagesToVictim := queryInt(t, `SELECT count(*) FROM outbox WHERE destination = 'victim@example.com'`) // TOTP notices

	swaps := map[string]hop{
		"the identifier form with the victim's email": b.Post(testStack.ServiceURL+"/login/identify", url.Values{
			"flow": {flow}, "action": {"continue"}, "method": {"email"}, "email": {"victim@example.com"}}).Last(),
		"the identifier page": b.Get(testStack.ServiceURL + "/login/identify?flow=" + flow).Last(),
		"Send a new code":     b.Post(testStack.ServiceURL+"/login/code", url.Values{"flow": {flow}, "action": {"resend"}}).Last(),
		"Use a different email or phone": b.Post(testStack.ServiceURL+"/login/code", url.Values{
			"flow": {flow}, "action": {"change"}}).Last(),
	}
	for what, h := range swaps {
		if h.Status != http.StatusConflict || !strings.Contains(h.Body, verifiedText) || !strings.Contains(h.Body, "Start again") {
			t.Errorf("%s on a verified flow: %d, want 409 with Start again\n%s", what, h.Status, excerpt(h.Body))
		}
	}
	if n := queryInt(t, `SELECT count(*) FROM login_codes WHERE flow_id::text = $1`, flow); n != 1 {
		t.Errorf("%d codes in the flow, want only the attacker's first", n)
	}
	if n := queryInt(t, `SELECT count(*) FROM outbox WHERE destination = 'victim@example.com'`); n != messagesToVictim {
		t.Errorf("%d new messages to the victim", n-messagesToVictim)
	}
	if n := queryInt(t, `SELECT count(*) FROM login_codes WHERE identifier = 'victim@example.com'`); n != 0 {
		t.Errorf("%d codes for the victim", n)
	}
	if got := queryString(t, `SELECT identifier || ' ' || user_id::text FROM login_flows WHERE id::text = $1`, flow); got != "attacker@example.com "+attacker {
		t.Errorf("the flow's identity became %q", got)
	}

	// The victim's authenticator code is checked against the attacker's secret.
	if h := submitTOTP(b, page, totp.Code(victimSecret, time.Now())).Last(); h.Status != http.StatusUnprocessableEntity {
		t.Errorf("the victim's TOTP code: %d, want 422", h.Status)
	}
	challenge := challengeOf(t, flow)
	if a := testSpy.Accepts(challenge); len(a) != 0 {
		t.Fatalf("Hydra accepted %+v", a)
	}
	_, claims := rp.tokens(t, submitTOTP(b, page, totp.Code(attackerSecret, time.Now())))
	accepts := testSpy.Accepts(challenge)
	if len(accepts) != 1 || accepts[0].Subject != attacker || claims["sub"] != attacker {
		t.Errorf("Hydra accepted %+v (token sub %v), want exactly one accept of the attacker's own account", accepts, claims["sub"])
	}
}

// Finding 1, the database's own guard: even a direct write cannot change a
// verified flow's identity.
func TestVerifiedFlowIdentityIsFrozenInTheDatabase(t *testing.T) {
	addUser(t, testStack, "frozen@example.com")
	_, b, page := codePage(t, "frozen@example.com")
	flow := flowID(t, page)
	submitCode(b, page, waitCode(t, testSMTP.inbox, "frozen@example.com", 1))
	conn, err := pgx.Connect(context.Background(), testStack.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), `UPDATE login_flows SET identifier = 'someone.else@example.com' WHERE id::text = $1`, flow)
	if err == nil || !strings.Contains(err.Error(), "identity cannot change") {
		t.Errorf("changing a verified flow's identifier: %v", err)
	}
}

// Finding 1, the double submit: of 8 concurrent right codes exactly one code
// is consumed, one flow verified and completed, and Hydra hears one accept.
func TestConcurrentCorrectCodesSignInOnce(t *testing.T) {
	subject := addUser(t, testStack, "concurrent@example.com")
	_, b, page := codePage(t, "concurrent@example.com")
	code := waitCode(t, testSMTP.inbox, "concurrent@example.com", 1)
	flow := flowID(t, page)
	statuses := parallelPosts(b, "/login/code", 8, func(int) url.Values { return codeForm(page, code) })
	if used := queryInt(t, `SELECT count(*) FROM login_codes WHERE flow_id::text = $1 AND used_at IS NOT NULL`, flow); used != 1 {
		t.Errorf("%d codes consumed, want 1", used)
	}
	if n := queryInt(t, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND verified_at IS NOT NULL AND completed_at IS NOT NULL`, flow); n != 1 {
		t.Errorf("the flow is not verified and completed once")
	}
	if accepts := testSpy.Accepts(challengeOf(t, flow)); len(accepts) != 1 || accepts[0].Subject != subject {
		t.Errorf("Hydra received %d accepts (%+v) for 8 concurrent right codes (statuses %v), want exactly 1", len(accepts), accepts, statuses)
	}
}

// parallelPosts sends n form posts from browser b at once and returns their statuses.
func parallelPosts(b *browser, path string, n int, form func(i int) url.Values) []int {
	var wg sync.WaitGroup
	statuses := make([]int, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, testStack.ServiceURL+path, strings.NewReader(form(i).Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			req.Header.Set("X-Forwarded-For", b.IP)
			<-start
			resp, err := b.http.Do(req)
			if err == nil {
				statuses[i] = resp.StatusCode
				resp.Body.Close()
			}
		}()
	}
	close(start)
	wg.Wait()
	return statuses
}

func countStatus(statuses []int, status int) int {
	n := 0
	for _, s := range statuses {
		if s == status {
			n++
		}
	}
	return n
}

// Finding 2: limits are checked and recorded in one transaction, so 20
// parallel wrong codes record exactly as many failures as the limit allows
// (RATE_FAIL_IDENTIFIER 6/1h) and every other request is refused.
func TestParallelWrongCodesStayWithinTheLimit(t *testing.T) {
	addUser(t, testStack, "parallel.wrong@example.com")
	_, b, page := codePage(t, "parallel.wrong@example.com")
	code := waitCode(t, testSMTP.inbox, "parallel.wrong@example.com", 1)
	statuses := parallelPosts(b, "/login/code", 20, func(int) url.Values { return codeForm(page, otherCode(code)) })
	if n := queryInt(t, `SELECT count(*) FROM rate_events WHERE bucket = 'fail-identifier' AND key = 'parallel.wrong@example.com'`); n != 6 {
		t.Errorf("%d failures recorded for the email, want exactly the limit, 6 (statuses %v)", n, statuses)
	}
	if n := queryInt(t, `SELECT count(*) FROM rate_events WHERE bucket = 'fail-ip' AND key = $1`, b.IP); n != 6 {
		t.Errorf("%d failures recorded for the IP, want 6", n)
	}
	if countStatus(statuses, http.StatusUnprocessableEntity) != 6 || countStatus(statuses, http.StatusTooManyRequests) != 14 {
		t.Errorf("statuses %v, want 6 × 422 and 14 × 429", statuses)
	}
}

// Finding 2, the authenticator step: the same under 20 parallel wrong codes.
func TestParallelWrongTOTPCodesStayWithinTheLimit(t *testing.T) {
	subject := addUser(t, testStack, "parallel.totp@example.com")
	importTOTP(t, subject)
	_, b, page := totpPage(t, "parallel.totp@example.com", false)
	statuses := parallelPosts(b, "/login/totp", 20, func(int) url.Values {
		return url.Values{"flow": {flowID(t, page)}, "code": {"000000"}, "action": {"continue"}}
	})
	if n := queryInt(t, `SELECT count(*) FROM rate_events WHERE bucket = 'fail-totp' AND key = $1`, subject); n != 6 {
		t.Errorf("%d TOTP failures recorded, want exactly the limit, 6 (statuses %v)", n, statuses)
	}
}

// The per-IP limit holds on the authenticator step too: an IP that used its
// failures cannot try even the right code, and the flow stays unverified.
func TestTOTPPerIPLimit(t *testing.T) {
	subject := addUser(t, testStack, "totp.ip@example.com")
	s := importTOTP(t, subject)
	_, b, page := totpPage(t, "totp.ip@example.com", false)
	exec(t, `INSERT INTO rate_events (bucket, key) SELECT 'fail-ip', $1 FROM generate_series(1, 20)`, b.IP)
	if h := submitTOTP(b, page, totp.Code(s, time.Now())).Last(); !isTooMany(h) {
		t.Errorf("the right code from an IP past its limit: %d, want 429", h.Status)
	}
	flow := flowID(t, page)
	if n := queryInt(t, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND totp_verified_at IS NULL AND completed_at IS NULL`, flow); n != 1 {
		t.Error("the flow went past its second step")
	}
	if a := testSpy.Accepts(challengeOf(t, flow)); len(a) != 0 {
		t.Errorf("Hydra accepted %+v", a)
	}
}

// Finding 2: anyone could lock an account out forever. After 100 consecutive
// failures the identity is locked for LOCKOUT_DURATION (1h), then its count
// starts again and the right code signs in.
func TestIdentityLockEnds(t *testing.T) {
	subject := addUser(t, testStack, "lock.ends@example.com")
	rp, b, page := codePage(t, "lock.ends@example.com")
	code := waitCode(t, testSMTP.inbox, "lock.ends@example.com", 1)
	exec(t, `INSERT INTO identity_failures (identifier, failures) VALUES ('lock.ends@example.com', 99)`)
	wrongAnswer(t, submitCode(b, page, otherCode(code)), "the 100th failure")
	if n := queryInt(t, `SELECT count(*) FROM identity_failures WHERE identifier = 'lock.ends@example.com' AND failures = 100
		AND locked_until BETWEEN now() + interval '59 minutes' AND now() + interval '61 minutes'`); n != 1 {
		t.Fatal("100 failures did not lock the identity for an hour")
	}
	wrongAnswer(t, submitCode(b, page, code), "the right code while locked")
	exec(t, `UPDATE identity_failures SET locked_until = now() - interval '1 second' WHERE identifier = 'lock.ends@example.com'`)
	if _, claims := rp.tokens(t, submitCode(b, page, code)); claims["sub"] != subject {
		t.Errorf("after the lock ended: claims %v", claims)
	}
	if n := queryInt(t, `SELECT count(*) FROM identity_failures WHERE identifier = 'lock.ends@example.com'`); n != 0 {
		t.Error("a success did not clear the identity's failures")
	}
}

// Finding 6: one cooldown for every send path of a flow (re-posting the
// identifier form included) and at most 5 sends per flow.
func TestOneCooldownAndFiveSendsPerFlow(t *testing.T) {
	const email = "send.cap@example.com"
	addUser(t, testStack, email)
	rp := newRelyingParty(t, testStack, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	b := newBrowser(t)
	first := rp.start(b).Last()
	flow := flowID(t, first)
	identify := func() hop {
		return requestCode(t, b, first, url.Values{"method": {"email"}, "email": {email}}).Last()
	}
	codes := func() int {
		return queryInt(t, `SELECT count(*) FROM login_codes WHERE flow_id::text = $1`, flow)
	}
	if h := identify(); h.URL.Path != "/login/code" {
		t.Fatalf("first send: %s %d", h.URL.Path, h.Status)
	}
	h := identify()
	if h.Status != http.StatusTooManyRequests || !strings.Contains(h.Body, "Please wait a moment before asking for a new code.") || h.Header.Get("Retry-After") == "" {
		t.Errorf("the identifier form re-posted at once: %d\n%s", h.Status, excerpt(h.Body))
	}
	if n := codes(); n != 1 {
		t.Fatalf("%d codes after a re-post inside the cooldown, want 1", n)
	}
	resend := func() hop {
		return b.Post(testStack.ServiceURL+"/login/code", url.Values{"flow": {flow}, "action": {"resend"}}).Last()
	}
	for want := 2; want <= 5; want++ {
		exec(t, `UPDATE login_flows SET last_sent_at = now() - interval '31 seconds' WHERE id::text = $1`, flow)
		exec(t, `DELETE FROM rate_events WHERE key = $1`, email) // the per-email limit is not what this tests
		if want%2 == 0 {
			identify()
		} else {
			resend()
		}
		if n := codes(); n != want {
			t.Fatalf("send %d: %d codes", want, n)
		}
	}
	exec(t, `UPDATE login_flows SET last_sent_at = now() - interval '31 seconds' WHERE id::text = $1`, flow)
	exec(t, `DELETE FROM rate_events WHERE key = $1`, email)
	for what, h := range map[string]hop{"resend": resend(), "identifier": identify()} {
		if h.Status != http.StatusTooManyRequests || !strings.Contains(h.Body, "Too many codes for this sign-in") || !strings.Contains(h.Body, "Start again") {
			t.Errorf("a sixth send (%s): %d\n%s", what, h.Status, excerpt(h.Body))
		}
	}
	if n := codes(); n != 5 {
		t.Errorf("%d codes, want at most 5 per flow", n)
	}
	if n := queryInt(t, `SELECT count(*) FROM outbox WHERE destination = $1`, email); n != 5 {
		t.Errorf("%d messages, want 5", n)
	}
}

// The rotated browser cookie is set only once the flow stores its hash: when
// that write fails, the browser keeps the cookie the flow still knows.
func TestRotatedCookieOnlyAfterTheWrite(t *testing.T) {
	addUser(t, testStack, "cookie.write@example.com")
	_, b, page := codePage(t, "cookie.write@example.com")
	flow := flowID(t, page)
	code := waitCode(t, testSMTP.inbox, "cookie.write@example.com", 1)
	exec(t, `CREATE FUNCTION fail_rebind() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'test: the rebind fails'; END $$`)
	exec(t, `CREATE TRIGGER fail_rebind BEFORE UPDATE OF browser_hash ON login_flows
		FOR EACH ROW WHEN (OLD.id::text = '`+flow+`') EXECUTE FUNCTION fail_rebind()`)
	t.Cleanup(func() {
		exec(t, `DROP TRIGGER fail_rebind ON login_flows`)
		exec(t, `DROP FUNCTION fail_rebind()`)
	})
	before := heldCookie(t, b)
	j := submitCode(b, page, code)
	if h := j.Last(); h.Status != http.StatusInternalServerError {
		t.Errorf("a failed rebind: %d", h.Status)
	}
	for _, h := range j.Hops {
		if set := h.Header.Values("Set-Cookie"); len(set) > 0 {
			t.Errorf("the response set %d cookies although the write failed", len(set))
		}
	}
	if after := heldCookie(t, b); before == "" || after != before {
		t.Errorf("the browser's cookie changed")
	}
	if n := queryInt(t, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND verified_at IS NULL`, flow); n != 1 {
		t.Error("the flow was verified although the transaction failed")
	}
}

// heldCookie is the value of the sign-in cookie the browser holds.
func heldCookie(t testing.TB, b *browser) string {
	t.Helper()
	u, err := url.Parse(testStack.ServiceURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range b.http.Jar.Cookies(u) {
		if c.Name == "blink_browser" {
			return c.Value
		}
	}
	return ""
}

// Audit lines name the client IP, and "signed in" is written only once Hydra
// accepted the login.
func TestAuditLinesNameTheClientIP(t *testing.T) {
	addUser(t, testStack, "audit.ip@example.com")
	rp := newRelyingParty(t, testStack, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	b := newBrowser(t)
	page := rp.start(b).Last()
	flow := flowID(t, page)
	rp.tokens(t, emailSignIn(t, b, page, "audit.ip@example.com"))
	if !strings.Contains(serviceLog.String(), `msg="signed in" flow=`+flow) || !containsLine(serviceLog.String(), `msg="signed in" flow=`+flow, "ip="+b.IP) {
		t.Errorf("the signed-in line lacks ip=%s", b.IP)
	}
	j := rp.start(b) // remembered: no page
	rp.tokens(t, j)
	if !containsLine(serviceLog.String(), `msg="remembered sign-in accepted"`, "ip="+b.IP) {
		t.Errorf("the remembered sign-in line lacks ip=%s", b.IP)
	}
	if !containsLine(serviceLog.String(), `msg="consent granted without asking"`, "ip="+b.IP) {
		t.Errorf("the consent line lacks ip=%s", b.IP)
	}
}

// containsLine reports whether one line of log holds both a and b.
func containsLine(log, a, b string) bool {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, a) && strings.Contains(line, b) {
			return true
		}
	}
	return false
}
