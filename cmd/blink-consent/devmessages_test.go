//go:build devstack

package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
)

// In DEV_MODE with a real SMTP server, an email code goes to the mail server
// and never shows on /dev/messages; an SMS, which has no real sender on this
// stack, is handled by the development logger and does show there.
func TestDevMessagesShowOnlyWhatTheDevelopmentLoggerHandled(t *testing.T) {
	// Its own log: the development logger writes codes there on purpose, and
	// the shared service log is checked for codes by other tests. serve sets
	// slog's default logger, which the main stack's audit lines use: give it back.
	devLog := &syncBuffer{}
	defer slog.SetDefault(slog.Default())
	dir := filepath.Join(testDir, "devmessages")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := startStack(context.Background(), testPG, stackOptions{
		Name: "it_devmessages", HydraBinary: testHydraBin, Dir: dir, PostLogoutURL: "http://127.0.0.1:1/logged-out",
		Stdout: devLog, Stderr: devLog, Env: providerEnv(map[string]string{"TWILIO_FROM": ""}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop()
	const email = "real.mail@example.com"
	addUser(t, st, email)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})

	mailer := newBrowser(t)
	emailFlow := flowID(t, rp.start(mailer).Last())
	if page := mailer.Post(st.ServiceURL+"/login/identify", url.Values{"flow": {emailFlow}, "action": {"continue"}, "method": {"email"}, "email": {email}}).Last(); page.URL.Path != "/login/code" {
		t.Fatalf("asking for an email code ended on %s %d", page.URL.Path, page.Status)
	}
	mail, err := testSMTP.wait(email, 1)
	if err != nil {
		t.Fatal(err)
	}
	emailCode := codeIn(mail.Text)

	texter := newBrowser(t)
	codePage := postPhone(texter, st, flowID(t, rp.start(texter).Last()), "7555 0303", "")
	if codePage.URL.Path != "/login/code" {
		t.Fatalf("asking for an SMS code ended on %s %d", codePage.URL.Path, codePage.Status)
	}

	db := openStore(t, st)
	handledBy := map[string]string{}
	for deadline := time.Now().Add(15 * time.Second); len(handledBy) < 2 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ms, err := db.RecentMessages(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Status == "sent" {
				handledBy[m.Destination] = m.HandledBy
			}
		}
	}
	if handledBy[email] != "smtp" || handledBy["+50375550303"] != "dev" {
		t.Fatalf("the outbox records the senders %v, want smtp for the email and dev for the SMS", handledBy)
	}

	page := newBrowser(t).Get(st.ServiceURL + "/dev/messages").Last()
	if page.Status != http.StatusOK {
		t.Fatalf("/dev/messages: %d", page.Status)
	}
	if strings.Contains(page.Body, emailCode) || strings.Contains(page.Body, email) {
		t.Errorf("/dev/messages shows the email a real SMTP server delivered:\n%s", excerpt(page.Body))
	}
	if strings.Contains(devLog.String(), emailCode) {
		t.Error("the email code reached the log")
	}
	if !strings.Contains(page.Body, "+50375550303") {
		t.Fatalf("/dev/messages lacks the SMS the development logger handled:\n%s", excerpt(page.Body))
	}
	smsCode := codeIn(page.Body[strings.Index(page.Body, "+50375550303"):])
	_, claims := rp.tokens(t, texter.Post(st.ServiceURL+"/login/code", codeForm(codePage, smsCode)))
	if claims["sub"] == nil {
		t.Errorf("the code shown on /dev/messages did not sign in: %v", claims)
	}
}
