//go:build devstack

package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
)

// The code sign-in's rules (security-requirements #1–10, #17–22), each
// checked against the real PostgreSQL, Hydra, SMTP server and Twilio stand-in.

const wrongCodeText = "That code is not right, or it has expired. Check it, or send a new code."

// exec runs SQL against the service's database: tests use it to move time
// (expire a code, end a cooldown) the way time itself would.
func exec(t testing.TB, query string, args ...any) {
	t.Helper()
	execOn(t, testStack, query, args...)
}

func queryInt(t testing.TB, query string, args ...any) int {
	t.Helper()
	return queryIntOn(t, testStack, query, args...)
}

// queryIntOn runs a counting query on st's database.
func queryIntOn(t testing.TB, st *stack, query string, args ...any) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), st.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// codePage starts a flow on a skip_consent client and asks for a code for email.
func codePage(t *testing.T, email string) (*relyingParty, *browser, hop) {
	t.Helper()
	rp := newRelyingParty(t, testStack, devstack.ClientSpec{Scopes: []string{"openid", "email"}, SkipConsent: true})
	b := newBrowser(t)
	page := requestCode(t, b, rp.start(b).Last(), url.Values{"method": {"email"}, "email": {email}}).Last()
	if page.URL.Path != "/login/code" || page.Status != http.StatusOK {
		t.Fatalf("asking for a code ended on %s %d:\n%s", page.URL.Path, page.Status, excerpt(page.Body))
	}
	return rp, b, page
}

func submitCode(b *browser, page hop, code string) journey {
	return b.Post(testStack.ServiceURL+"/login/code", codeForm(page, code))
}

func wrongAnswer(t *testing.T, j journey, what string) {
	t.Helper()
	h := j.Last()
	if h.Status != http.StatusUnprocessableEntity || !strings.Contains(h.Body, wrongCodeText) {
		t.Errorf("%s: %d, want 422 with the one wrong-code answer\n%s", what, h.Status, excerpt(h.Body))
	}
}

func otherCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

func TestEmailSignInWithClaimsAMRAndACR(t *testing.T) {
	subject := addUser(t, testStack, "email.sign.in@example.com")
	rp, b, page := codePage(t, "email.sign.in@example.com")
	// The address as typed (a typo shows), with an "if": the page is the
	// same for an email with no account; and the way to sign up by phone.
	if !strings.Contains(page.Body, `If this email belongs to a Blink account, a 6-digit code is on its way to <span class="address">email.sign.in@example.com</span>.`) ||
		!strings.Contains(page.Body, `href="/login/identify?flow=`+flowID(t, page)+`&amp;method=phone"`) {
		t.Errorf("the code page does not say where the code may have gone, or how to sign up:\n%s", excerpt(page.Body))
	}
	msg, err := testSMTP.wait("email.sign.in@example.com", 1)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "Your Blink sign-in code" || !strings.Contains(msg.Text, "expires in 10 minutes") ||
		!strings.Contains(msg.Text, "Never share this code") || !strings.Contains(msg.HTML, codeIn(msg.Text)) || msg.From != "no-reply@blink.test" {
		t.Errorf("the email: %+v", msg)
	}
	_, claims := rp.tokens(t, submitCode(b, page, codeIn(msg.Text)))
	if claims["sub"] != subject || claims["acr"] != "1" || fmt.Sprint(claims["amr"]) != "[otp email]" {
		t.Errorf("claims %v", claims)
	}
	if claims["email"] != "email.sign.in@example.com" || claims["email_verified"] != true {
		t.Errorf("email claims %v", claims)
	}
	if queryInt(t, `SELECT count(*) FROM outbox WHERE destination = 'email.sign.in@example.com' AND status = 'sent'`) != 1 {
		t.Error("the outbox does not record the message as sent")
	}
}

func TestSpanishCodeEmail(t *testing.T) {
	addUser(t, testStack, "espanol.code@example.com")
	rp := newRelyingParty(t, testStack, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	b := newBrowser(t)
	page := rp.start(b, oauth2.SetAuthURLParam("ui_locales", "es")).Last()
	// On the phone tab, the default.
	if !strings.Contains(page.Body, "Inicia sesión en Blink") || !strings.Contains(page.Body, "Número de teléfono") || !strings.Contains(page.Body, "Por ejemplo: 7012 3456") {
		t.Errorf("the identifier page is not in Spanish:\n%s", excerpt(page.Body))
	}
	codePage := requestCode(t, b, page, url.Values{"method": {"email"}, "email": {"espanol.code@example.com"}}).Last()
	if !strings.Contains(codePage.Body, "Escribe tu código") {
		t.Errorf("the code page is not in Spanish")
	}
	msg, err := testSMTP.wait("espanol.code@example.com", 1)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "Tu código para iniciar sesión en Blink" || !strings.Contains(msg.Text, "Nunca compartas este código") {
		t.Errorf("the email is not in Spanish: %+v", msg)
	}
	wrong := submitCode(b, codePage, otherCode(codeIn(msg.Text))).Last()
	if !strings.Contains(wrong.Body, "Ese código no es correcto o ha caducado") {
		t.Errorf("the wrong-code answer is not in Spanish")
	}
}

func TestPhoneSignInCreatesTheAccountBySMS(t *testing.T) {
	rp := newRelyingParty(t, testStack, devstack.ClientSpec{Scopes: []string{"openid", "phone"}, SkipConsent: true})
	b := newBrowser(t)
	page := rp.start(b).Last()
	phonePage := b.Get(testStack.ServiceURL + "/login/identify?flow=" + flowID(t, page) + "&method=phone").Last()
	for _, want := range []string{`type="tel"`, `autocomplete="tel"`, `name="country"`, `value="SV"`, `value="US"`, `value="whatsapp"`} {
		if !strings.Contains(phonePage.Body, want) {
			t.Errorf("the phone form lacks %s", want)
		}
	}
	codePage := requestCode(t, b, phonePage, url.Values{"method": {"phone"}, "country": {"SV"}, "phone": {"7123 9876"}, "channel": {"sms"}}).Last()
	if codePage.URL.Path != "/login/code" || !strings.Contains(codePage.Body, "•••• 9876") {
		t.Fatalf("code page: %s %d\n%s", codePage.URL.Path, codePage.Status, excerpt(codePage.Body))
	}
	sms, err := testTwilio.wait("+50371239876", 1)
	if err != nil {
		t.Fatal(err)
	}
	code := codeIn(sms.Text)
	if sms.From != "+15005550006" || !strings.HasSuffix(sms.Text, "\n\n@127.0.0.1 #"+code) {
		t.Errorf("the SMS: %+v", sms)
	}
	if n := queryInt(t, `SELECT count(*) FROM users WHERE phone = '+50371239876'`); n != 0 {
		t.Fatalf("an account exists before the number was verified")
	}
	_, claims := rp.tokens(t, submitCode(b, codePage, code))
	if claims["phone_number"] != "+50371239876" || claims["phone_number_verified"] != true || fmt.Sprint(claims["amr"]) != "[otp sms]" {
		t.Errorf("claims %v", claims)
	}
	if n := queryInt(t, `SELECT count(*) FROM users WHERE phone = '+50371239876' AND id::text = $1`, claims["sub"]); n != 1 {
		t.Errorf("the new account is not the subject")
	}
}

func TestWhatsAppChannel(t *testing.T) {
	rp := newRelyingParty(t, testStack, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	b := newBrowser(t)
	page := rp.start(b).Last()
	codePage := requestCode(t, b, page, url.Values{"method": {"phone"}, "country": {"US"}, "phone": {"+1 201 555 0147"}, "channel": {"whatsapp"}}).Last()
	msg, err := testTwilio.wait("whatsapp:+12015550147", 1)
	if err != nil {
		t.Fatal(err)
	}
	if msg.From != "whatsapp:+15005550007" || strings.Contains(msg.Text, "@127.0.0.1") {
		t.Errorf("the WhatsApp message: %+v", msg)
	}
	_, claims := rp.tokens(t, submitCode(b, codePage, codeIn(msg.Text)))
	if fmt.Sprint(claims["amr"]) != "[otp whatsapp]" {
		t.Errorf("amr %v", claims["amr"])
	}
}

func TestUnknownEmailIsIndistinguishable(t *testing.T) {
	addUser(t, testStack, "known.one@example.com")
	_, _, known := codePage(t, "known.one@example.com")
	_, b, unknown := codePage(t, "unknown.one@example.com")
	normalize := func(s string) string {
		s = flowPattern.ReplaceAllString(s, "FLOW")
		// The flow's id also names it in the "sign up with your phone" link.
		s = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`).ReplaceAllString(s, "FLOW")
		s = regexp.MustCompile(`[0-9a-f]{16}`).ReplaceAllString(s, "ID")
		return strings.Replace(s, "known.one@", "X@", 1)
	}
	if known.Status != unknown.Status || normalize(known.Body) != normalize(strings.Replace(unknown.Body, "unknown.one@", "known.one@", 1)) {
		t.Errorf("the code pages differ for a known and an unknown email")
	}
	if _, err := testSMTP.wait("known.one@example.com", 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // give the outbox worker time to (not) send
	if n := len(testSMTP.all("unknown.one@example.com")); n != 0 {
		t.Errorf("%d messages went to an email with no account", n)
	}
	if n := queryInt(t, `SELECT count(*) FROM outbox WHERE destination = 'unknown.one@example.com' AND status <> 'decoy'`); n != 0 {
		t.Errorf("a message to an unknown email was queued")
	}
	// The same work as for a known email: a sealed message, stored but never sent.
	if n := queryInt(t, `SELECT count(*) FROM outbox WHERE destination = 'unknown.one@example.com' AND status = 'decoy' AND length(sealed) > 0`); n != 1 {
		t.Errorf("%d decoy messages for the unknown email, want 1", n)
	}
	if n := queryInt(t, `SELECT count(*) FROM users WHERE email = 'unknown.one@example.com'`); n != 0 {
		t.Errorf("an unknown email created an account")
	}
	for _, guess := range []string{"000000", "123456"} {
		wrongAnswer(t, submitCode(b, unknown, guess), "a guess for an unknown email")
	}
}

// #6: a code is bound to its flow (and browser): useless anywhere else.
func TestCodeIsBoundToItsFlowAndBrowser(t *testing.T) {
	addUser(t, testStack, "bound@example.com")
	_, b1, page1 := codePage(t, "bound@example.com")
	code1 := waitCode(t, testSMTP.inbox, "bound@example.com", 1)
	exec(t, `UPDATE rate_events SET at = now() - interval '2 hours' WHERE key = 'bound@example.com'`)
	_, b2, page2 := codePage(t, "bound@example.com")
	waitCode(t, testSMTP.inbox, "bound@example.com", 2)
	wrongAnswer(t, submitCode(b2, page2, code1), "the first flow's code in the second flow")

	// Another browser (no cookie) cannot use the first flow at all.
	stranger := newBrowser(t)
	h := submitCode(stranger, page1, code1).Last()
	if h.Status != http.StatusGone || !strings.Contains(h.Body, "This sign-in page is no longer valid") {
		t.Errorf("another browser on the flow: %d\n%s", h.Status, excerpt(h.Body))
	}
	// The first flow still works with its own code.
	if j := submitCode(b1, page1, code1); j.Callback == nil {
		t.Errorf("the right code in its own flow failed: %v", paths(j))
	}
}

// #7 and #9: five wrong tries per code; the sixth fails even with the right
// code, with the same answer as a wrong, an expired or a used code.
func TestFiveTriesPerCodeAndOneAnswer(t *testing.T) {
	addUser(t, testStack, "tries@example.com")
	_, b, page := codePage(t, "tries@example.com")
	code := waitCode(t, testSMTP.inbox, "tries@example.com", 1)
	for i := 1; i <= 5; i++ {
		wrongAnswer(t, submitCode(b, page, otherCode(code)), fmt.Sprintf("wrong try %d", i))
	}
	wrongAnswer(t, submitCode(b, page, code), "the right code after five wrong tries")
	// Six failures for this email within the hour: the limit on failed
	// verifications per identifier (6/h) pauses it, with a page saying when.
	h := submitCode(b, page, code).Last()
	if h.Status != http.StatusTooManyRequests || !strings.Contains(h.Body, "Too many tries") || h.Header.Get("Retry-After") == "" {
		t.Errorf("the seventh try: %d %q", h.Status, h.Header.Get("Retry-After"))
	}
}

func TestExpiredCodeGetsTheSameAnswer(t *testing.T) {
	addUser(t, testStack, "expired.code@example.com")
	_, b, page := codePage(t, "expired.code@example.com")
	code := waitCode(t, testSMTP.inbox, "expired.code@example.com", 1)
	wrongAnswer(t, submitCode(b, page, "12ab56"), "a malformed code")
	exec(t, `UPDATE login_codes SET expires_at = now() - interval '1 second' WHERE flow_id::text = $1`, flowID(t, page))
	wrongAnswer(t, submitCode(b, page, code), "an expired code")
}

// #10: a new code invalidates the earlier ones; resending has a cooldown.
func TestResendCooldownAndNewCodeSupersedes(t *testing.T) {
	addUser(t, testStack, "resend@example.com")
	rp, b, page := codePage(t, "resend@example.com")
	first := waitCode(t, testSMTP.inbox, "resend@example.com", 1)
	if !strings.Contains(page.Body, "Send a new code in") {
		t.Errorf("the code page shows no cooldown")
	}
	resend := url.Values{"flow": {flowID(t, page)}, "action": {"resend"}}
	if h := b.Post(testStack.ServiceURL+"/login/code", resend).Last(); h.Status != http.StatusTooManyRequests || !strings.Contains(h.Body, "Please wait a moment") {
		t.Errorf("an immediate resend: %d", h.Status)
	}
	exec(t, `UPDATE login_flows SET last_sent_at = now() - interval '1 minute' WHERE id::text = $1`, flowID(t, page))
	page = b.Post(testStack.ServiceURL+"/login/code", resend).Last()
	second := waitCode(t, testSMTP.inbox, "resend@example.com", 2)
	if first != second {
		wrongAnswer(t, submitCode(b, page, first), "the superseded first code")
	}
	rp.tokens(t, submitCode(b, page, second))
}

// #8: a per-identity failure counter across flows, not reset by a new code,
// cleared by a success.
func TestPerIdentityFailureCounter(t *testing.T) {
	addUser(t, testStack, "identity.lock@example.com")
	_, b, page := codePage(t, "identity.lock@example.com")
	code := waitCode(t, testSMTP.inbox, "identity.lock@example.com", 1)
	wrongAnswer(t, submitCode(b, page, otherCode(code)), "a wrong code")
	if n := queryInt(t, `SELECT failures FROM identity_failures WHERE identifier = 'identity.lock@example.com'`); n != 1 {
		t.Errorf("failures = %d after one wrong code", n)
	}
	// At the limit (100), even the right code fails.
	exec(t, `UPDATE identity_failures SET failures = 100 WHERE identifier = 'identity.lock@example.com'`)
	wrongAnswer(t, submitCode(b, page, code), "the right code for a locked identity")
	// A new code does not reset it.
	exec(t, `UPDATE login_flows SET last_sent_at = now() - interval '1 minute' WHERE id::text = $1`, flowID(t, page))
	exec(t, `DELETE FROM rate_events WHERE key IN ('identity.lock@example.com', $1)`, b.IP)
	page = b.Post(testStack.ServiceURL+"/login/code", url.Values{"flow": {flowID(t, page)}, "action": {"resend"}}).Last()
	wrongAnswer(t, submitCode(b, page, waitCode(t, testSMTP.inbox, "identity.lock@example.com", 2)), "a new code for a locked identity")
	// Below the limit a success clears the counter.
	exec(t, `UPDATE identity_failures SET failures = 50 WHERE identifier = 'identity.lock@example.com'`)
	exec(t, `UPDATE login_flows SET last_sent_at = now() - interval '1 minute' WHERE id::text = $1`, flowID(t, page))
	exec(t, `DELETE FROM rate_events WHERE key IN ('identity.lock@example.com', $1)`, b.IP)
	page = b.Post(testStack.ServiceURL+"/login/code", url.Values{"flow": {flowID(t, page)}, "action": {"resend"}}).Last()
	if j := submitCode(b, page, waitCode(t, testSMTP.inbox, "identity.lock@example.com", 3)); j.Callback == nil {
		t.Fatalf("the right code below the limit failed: %v", paths(j))
	}
	if n := queryInt(t, `SELECT count(*) FROM identity_failures WHERE identifier = 'identity.lock@example.com'`); n != 0 {
		t.Errorf("a success did not clear the failures")
	}
}
