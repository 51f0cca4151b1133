//go:build devstack

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// totpEnv is what `users totp` needs: the database and the service's SECRET_KEY.
func totpEnv() map[string]string {
	return map[string]string{"DATABASE_URL": testStack.DatabaseURL, "SECRET_KEY": testStack.env["SECRET_KEY"]}
}

// importTOTP gives the user an authenticator secret through the CLI, as support would.
func importTOTP(t *testing.T, userID string) []byte {
	t.Helper()
	s, _ := totp.NewSecret()
	if _, errOut, err := runCLI(t, totpEnv(), "users", "totp", "import", "--user", userID, "--secret", totp.Base32(s)); err != nil {
		t.Fatalf("totp import: %v %s", err, errOut)
	}
	return s
}

// totpPage signs in with the emailed code and returns the browser on the TOTP step.
func totpPage(t *testing.T, email string, remember bool) (*relyingParty, *browser, hop) {
	t.Helper()
	rp := newRelyingParty(t, testStack, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	b := newBrowser(t)
	fields := url.Values{"method": {"email"}, "email": {email}}
	if remember {
		fields.Set("remember", "true")
	}
	before := codeCount(testSMTP.inbox, email)
	codePage := requestCode(t, b, rp.start(b).Last(), fields).Last()
	j := submitCode(b, codePage, waitCode(t, testSMTP.inbox, email, before+1))
	page := j.Last()
	if page.URL.Path != "/login/totp" || page.Status != http.StatusOK || !strings.Contains(page.Body, `autocomplete="one-time-code"`) {
		t.Fatalf("after the email code: %s %d (%v)", page.URL.Path, page.Status, paths(j))
	}
	return rp, b, page
}

func submitTOTP(b *browser, page hop, code string) journey {
	return b.Post(testStack.ServiceURL+"/login/totp", url.Values{"flow": {flowID(b.t, page)}, "code": {code}, "action": {"continue"}})
}

const wrongTOTPText = "That code is not right. Check your authenticator app and try again."

func TestTwoStepSignIn(t *testing.T) {
	subject := addUser(t, testStack, "two.step@example.com")
	s := importTOTP(t, subject)
	rp, b, page := totpPage(t, "two.step@example.com", true)
	_, claims := rp.tokens(t, submitTOTP(b, page, totp.Code(s, time.Now())))
	if claims["sub"] != subject || claims["acr"] != "2" || fmt.Sprint(claims["amr"]) != "[otp email totp mfa]" {
		t.Errorf("claims %v", claims)
	}
	// "Remember me" chosen on the first page survived the second step, and the
	// remembered sign-in still says it was two steps.
	j := rp.start(b)
	if len(j.Pages()) != 0 || j.Callback == nil {
		t.Fatalf("the next sign-in was not remembered: %v", paths(j))
	}
	if _, claims := rp.tokens(t, j); claims["acr"] != "2" || fmt.Sprint(claims["amr"]) != "[otp email totp mfa]" {
		t.Errorf("remembered sign-in claims %v", claims)
	}
}

func TestUserWithoutTOTPIsNeverAsked(t *testing.T) {
	addUser(t, testStack, "one.step@example.com")
	rp, b, page := codePage(t, "one.step@example.com")
	j := submitCode(b, page, waitCode(t, testSMTP.inbox, "one.step@example.com", 1))
	if j.Visited("/login/totp") != 0 {
		t.Errorf("a user without TOTP was sent to the TOTP step: %v", paths(j))
	}
	if _, claims := rp.tokens(t, j); claims["acr"] != "1" {
		t.Errorf("acr %v", claims["acr"])
	}
}

// The same authenticator code never signs in twice, even across two flows.
func TestTOTPReplayAcrossFlowsIsRefused(t *testing.T) {
	subject := addUser(t, testStack, "replay@example.com")
	s := importTOTP(t, subject)
	rp1, b1, page1 := totpPage(t, "replay@example.com", false)
	exec(t, `DELETE FROM rate_events WHERE key = 'replay@example.com'`)
	_, b2, page2 := totpPage(t, "replay@example.com", false)
	code := totp.Code(s, time.Now())
	rp1.tokens(t, submitTOTP(b1, page1, code))
	h := submitTOTP(b2, page2, code).Last()
	if h.Status != http.StatusUnprocessableEntity || !strings.Contains(h.Body, wrongTOTPText) {
		t.Errorf("the same code in a second flow: %d\n%s", h.Status, excerpt(h.Body))
	}
}

// Five tries per flow; wrong, replayed and locked get one answer; then the
// per-user failure limit pauses it.
func TestTOTPLockout(t *testing.T) {
	subject := addUser(t, testStack, "totp.lock@example.com")
	s := importTOTP(t, subject)
	_, b, page := totpPage(t, "totp.lock@example.com", false)
	right := totp.Code(s, time.Now())
	wrong := "000000"
	if right == wrong {
		wrong = "000001"
	}
	for i := 1; i <= 5; i++ {
		if h := submitTOTP(b, page, wrong).Last(); h.Status != http.StatusUnprocessableEntity || !strings.Contains(h.Body, wrongTOTPText) {
			t.Fatalf("wrong try %d: %d", i, h.Status)
		}
	}
	if h := submitTOTP(b, page, right).Last(); h.Status != http.StatusUnprocessableEntity || !strings.Contains(h.Body, wrongTOTPText) {
		t.Errorf("the right code after five wrong tries: %d", h.Status)
	}
	if h := submitTOTP(b, page, right).Last(); !isTooMany(h) {
		t.Errorf("the seventh try: %d", h.Status)
	}
}

// A forged request cannot skip or replay its way past the first step: the
// server-side flow decides.
func TestTOTPStepNeedsAVerifiedFirstStep(t *testing.T) {
	subject := addUser(t, testStack, "forged@example.com")
	s := importTOTP(t, subject)
	rp := newRelyingParty(t, testStack, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	b := newBrowser(t)
	codePage := requestCode(t, b, rp.start(b).Last(), url.Values{"method": {"email"}, "email": {"forged@example.com"}}).Last()
	for name, h := range map[string]hop{
		"GET the TOTP step":  b.Get(testStack.ServiceURL + "/login/totp?flow=" + flowID(t, codePage)).Last(),
		"POST the TOTP step": submitTOTP(b, codePage, totp.Code(s, time.Now())).Last(),
	} {
		if h.Status != http.StatusGone || h.URL.Path != "/login/totp" {
			t.Errorf("%s before the email code: %d %s", name, h.Status, h.URL.Path)
		}
	}
	// And a verified first step alone is not a sign-in: the code page's form
	// replayed after the code sends the browser back to the TOTP step.
	code := waitCode(t, testSMTP.inbox, "forged@example.com", 1)
	j := submitCode(b, codePage, code)
	if j.Last().URL.Path != "/login/totp" || j.Callback != nil {
		t.Fatalf("after the email code: %v", paths(j))
	}
	if again := submitCode(b, codePage, code); again.Callback != nil || again.Last().URL.Path != "/login/totp" {
		t.Errorf("replaying the code form skipped the TOTP step: %v", paths(again))
	}
	if n := strings.Count(serviceLog.String(), `msg="signed in" flow=`+flowID(t, codePage)); n != 0 {
		t.Errorf("the flow signed in without its second step")
	}
}

func TestTOTPCommandLine(t *testing.T) {
	subject := addUser(t, testStack, "cli.totp@example.com")
	// enroll: a wrong code saves nothing.
	stdin = strings.NewReader("000000\n")
	out, _, err := runCLI(t, totpEnv(), "users", "totp", "enroll", "--user", subject)
	if err == nil || !strings.Contains(out, "otpauth://totp/Blink:cli.totp@example.com?") || !strings.Contains(out, "█") {
		t.Fatalf("enroll with a wrong code: %v\n%s", err, out)
	}
	if queryInt(t, `SELECT count(*) FROM totp_credentials WHERE user_id::text = $1`, subject) != 0 {
		t.Fatal("a wrong enrolment code saved the credential")
	}
	// enroll with the right code: read the secret the command printed.
	r, w := io.Pipe()
	stdin = r
	var printed bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"blink-consent", "users", "totp", "enroll", "--user", subject},
			func(k string) string { return totpEnv()[k] }, &printedWriter{buf: &printed, onKey: func(key string) {
				s, _ := totp.ParseSecret(key)
				go fmt.Fprintln(w, totp.Code(s, time.Now())) // the command reads it next
			}}, io.Discard)
	}()
	if err := <-done; err != nil {
		t.Fatalf("enroll: %v\n%s", err, printed.String())
	}
	stdin = strings.NewReader("")
	if queryInt(t, `SELECT count(*) FROM totp_credentials WHERE user_id::text = $1 AND last_step IS NOT NULL`, subject) != 1 {
		t.Error("enrolment did not save the credential with its confirming step")
	}
	msg, err := testSMTP.wait("cli.totp@example.com", 1)
	if err != nil || !strings.Contains(msg.Text, "was turned on") || !strings.Contains(msg.Text, "Se activó") {
		t.Errorf("enrol notification: %v %q", err, msg.Text)
	}
	// enroll again: refused while one is on (remove it first), nothing shown or changed.
	stdin = strings.NewReader("000000\n")
	if out, _, err := runCLI(t, totpEnv(), "users", "totp", "enroll", "--user", subject); err == nil || !strings.Contains(err.Error(), "already has an authenticator app") || strings.Contains(out, "otpauth://") {
		t.Errorf("enroll while enrolled: %v\n%s", err, out)
	}
	stdin = strings.NewReader("")
	if queryInt(t, `SELECT count(*) FROM totp_enrollments WHERE user_id::text = $1`, subject) != 0 {
		t.Error("a refused enrolment left a pending secret")
	}
	// remove, audited and notified.
	if out, _, err := runCLI(t, totpEnv(), "users", "totp", "remove", "--user", subject); err != nil || !strings.Contains(out, "removed") {
		t.Fatalf("remove: %v %s", err, out)
	}
	if msg, err := testSMTP.wait("cli.totp@example.com", 2); err != nil || !strings.Contains(msg.Text, "was turned off") {
		t.Errorf("removal notification: %v", err)
	}
	events, _ := openStore(t, testStack).AuditEvents(context.Background(), subject)
	if strings.Join(events, "; ") != "totp removed by cli; totp enrolled by cli" {
		t.Errorf("audit %v", events)
	}
	for _, args := range [][]string{
		{"users", "totp", "remove", "--user", subject},                            // nothing to remove
		{"users", "totp", "import", "--user", subject, "--secret", "NOTBASE32!!"}, // bad secret
		{"users", "totp", "import", "--user", subject, "--uri", "otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP"},
		{"users", "totp", "import", "--user", "7d3c6a56-0000-4000-8000-000000000000", "--secret", "JBSWY3DPEHPK3PXP"},
		{"users", "totp", "enroll"},
		{"users", "totp", "frobnicate", "--user", subject},
	} {
		if _, _, err := runCLI(t, totpEnv(), args...); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

// printedWriter collects the enroll command's output and, once the key line is
// printed, calls onKey with it, as a person reading the screen would.
type printedWriter struct {
	buf   *bytes.Buffer
	onKey func(string)
	done  bool
}

func (p *printedWriter) Write(b []byte) (int, error) {
	p.buf.Write(b)
	if !p.done {
		const marker = "enter the key "
		s := p.buf.String()
		if i := strings.Index(s, marker); i >= 0 {
			if j := strings.Index(s[i:], "\n"); j >= 0 {
				p.done = true
				p.onKey(s[i+len(marker) : i+j])
			}
		}
	}
	return len(b), nil
}

// No code, TOTP secret or cookie value ever reaches the log (DEV_MODE's own
// sender, which is not used when real senders are configured, is the one
// deliberate exception).
func TestLogsHoldNoCodesSecretsOrCookies(t *testing.T) {
	subject := addUser(t, testStack, "quiet.log@example.com")
	s := importTOTP(t, subject)
	rp, b, page := totpPage(t, "quiet.log@example.com", false)
	emailCode := waitCode(t, testSMTP.inbox, "quiet.log@example.com", 1)
	totpCode := totp.Code(s, time.Now())
	rp.tokens(t, submitTOTP(b, page, totpCode))
	u, _ := url.Parse(testStack.ServiceURL)
	var cookie string
	for _, c := range b.http.Jar.Cookies(u) {
		if c.Name == "blink_browser" {
			cookie = c.Value
		}
	}
	logs := serviceLog.String()
	if !strings.Contains(logs, `msg="signed in"`) || cookie == "" {
		t.Fatal("nothing to check: no sign-in logged or no cookie")
	}
	for what, secret := range map[string]string{"email code": "code=" + emailCode, "TOTP code": "code=" + totpCode,
		"TOTP secret": totp.Base32(s), "cookie": cookie, "code in text": "is " + emailCode, "development message": "DEV_MODE message"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains the %s", what)
		}
	}
}

// RFC 4226 (R6) requires shared secrets of at least 128 bits: an 80-bit
// secret is refused with the reason, and nothing is saved or sent.
func TestTOTPImportRefusesShortSecrets(t *testing.T) {
	const email = "short.secret@example.com"
	subject := addUser(t, testStack, email)
	short := totp.Base32(bytes.Repeat([]byte{0x5a}, 10))
	for _, args := range [][]string{
		{"users", "totp", "import", "--user", subject, "--secret", short},
		{"users", "totp", "import", "--user", subject, "--uri", "otpauth://totp/Blink:x?secret=" + short + "&issuer=Blink"},
	} {
		if _, _, err := runCLI(t, totpEnv(), args...); err == nil || !strings.Contains(err.Error(), "only 80 bits") || !strings.Contains(err.Error(), "at least 128") {
			t.Errorf("%v: %v", args[4:], err)
		}
	}
	if n := queryInt(t, `SELECT count(*) FROM totp_credentials WHERE user_id::text = $1`, subject); n != 0 {
		t.Errorf("an 80-bit secret was saved")
	}
	if n := queryInt(t, `SELECT count(*) FROM outbox WHERE destination = $1`, email); n != 0 {
		t.Errorf("the user was told of a change that was refused")
	}
	if _, _, err := runCLI(t, totpEnv(), "users", "totp", "import", "--user", subject, "--secret", totp.Base32(bytes.Repeat([]byte{0x5a}, 16))); err != nil {
		t.Errorf("a 128-bit secret: %v", err)
	}
}

// When the user's notification cannot be made, the command fails and changes
// nothing: support never turns two-step sign-in on or off without the user
// being told.
func TestTOTPCommandFailsWhenTheNotificationCannotBeMade(t *testing.T) {
	const email = "unsealed.notice@example.com"
	subject := addUser(t, testStack, email)
	broken := func(secret.Keys, delivery.Envelope, time.Time) (*store.Message, error) {
		return nil, errors.New("sealing failed")
	}
	sealNotification = broken
	_, _, err := runCLI(t, totpEnv(), "users", "totp", "import", "--user", subject, "--secret", totp.Base32(bytes.Repeat([]byte{0x5a}, 20)))
	sealNotification = delivery.Seal
	if err == nil || !strings.Contains(err.Error(), "notification") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("import with a failing notification: %v", err)
	}
	if n := queryInt(t, `SELECT count(*) FROM totp_credentials WHERE user_id::text = $1`, subject); n != 0 {
		t.Errorf("the credential was saved without telling the user")
	}

	importTOTP(t, subject)
	sealNotification = broken
	_, _, err = runCLI(t, totpEnv(), "users", "totp", "remove", "--user", subject)
	sealNotification = delivery.Seal
	if err == nil || !strings.Contains(err.Error(), "notification") {
		t.Errorf("remove with a failing notification: %v", err)
	}
	if n := queryInt(t, `SELECT count(*) FROM totp_credentials WHERE user_id::text = $1`, subject); n != 1 {
		t.Errorf("the credential was removed without telling the user")
	}
	events, _ := openStore(t, testStack).AuditEvents(context.Background(), subject)
	if strings.Join(events, "; ") != "totp imported by cli" {
		t.Errorf("audit %v", events)
	}
	if n := queryInt(t, `SELECT count(*) FROM outbox WHERE destination = $1`, email); n != 1 {
		t.Errorf("%d notifications queued, want the one for the import that was made", n)
	}
}
