//go:build devstack

package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/config"
	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// Edges of the account page a deliberate bug slipped past (security review,
// issue 15): its cookies under https, and security changes posted directly
// with a session too old for them.

// Under https (PUBLIC_URL https behind a TLS proxy, as in production) both
// account cookies are __Host-, Secure, HttpOnly, SameSite=Lax, Path=/, host
// only; Sign out clears the __Host- one.
func TestAccountCookiesUnderHTTPS(t *testing.T) {
	proxy := startTLSProxy(t)
	opts, err := testStackOptions("account_https", 0, map[string]string{"PUBLIC_URL": proxy.URL})
	if err != nil {
		t.Fatal(err)
	}
	opts.Account = true
	st, err := startStack(context.Background(), testPG, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop()
	service, _ := url.Parse(st.ServiceURL)
	proxy.target.Store(service)
	subject := addUser(t, st, "account.https@example.com")
	b := newBrowser(t)
	b.http.Transport = proxy.Client().Transport // trusts the proxy's certificate
	check := func(what string, c *http.Cookie, name string) {
		t.Helper()
		switch {
		case c == nil:
			t.Errorf("%s: no %s cookie set", what, name)
		case c.Name != name || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "":
			t.Errorf("%s: cookie %s Secure=%v HttpOnly=%v SameSite=%v Path=%q Domain=%q, want %s; Secure; HttpOnly; SameSite=Lax; Path=/; no Domain",
				what, c.Name, c.Secure, c.HttpOnly, c.SameSite, c.Path, c.Domain, name)
		}
	}
	start := b.Get(proxy.URL + "/account")
	check("the sign-in in flight", lastSetCookie(t, start, "blink_account_login"), "__Host-blink_account_login")
	j := signInAsHydraAdmin(t, st, b, start, subject, true)
	if last := j.Last(); last.URL.Scheme != "https" || last.URL.Path != "/account" || last.Status != http.StatusOK {
		t.Fatalf("signing in over https ended on %s %d: %v", last.URL, last.Status, paths(j))
	}
	check("the session", accountCookie(t, j), "__Host-blink_account")
	if len(accountRows(t, st, subject)) != 1 {
		t.Error("no account session row")
	}
	out := b.Post(proxy.URL+"/account/signout", url.Values{})
	if c := lastSetCookie(t, out, "blink_account"); c == nil || c.Name != "__Host-blink_account" || c.MaxAge >= 0 || !c.Secure {
		t.Errorf("sign out over https: %+v, want __Host-blink_account cleared", c)
	}
	if len(accountRows(t, st, subject)) != 0 {
		t.Error("sign out over https left the session row")
	}
}

// Turning two-step sign-in on (confirm_totp, with a right code of a real
// enrolment) or off (remove_totp) posted directly with a session older than
// the fresh window: the browser goes to Hydra for a new sign-in, nothing
// changes and nothing is audited. Only the GET pages were tested before.
func TestAccountTwoStepPostsNeedAFreshSignIn(t *testing.T) {
	st := accountStack(t)
	const email = "account.stale.post@example.com"
	subject := addUser(t, st, email)
	count := func(query string) int { t.Helper(); return queryIntOn(t, st, query, subject) }
	credentials := func() int { return count(`SELECT count(*) FROM totp_credentials WHERE user_id::text = $1`) }
	audited := func(action string) int {
		t.Helper()
		return queryIntOn(t, st, `SELECT count(*) FROM audit_events WHERE user_id::text = $1 AND action = $2`, subject, action)
	}
	b := newBrowser(t)
	accountSignIn(t, st, b, subject)
	toHydra := func(what string, form url.Values) {
		t.Helper()
		resp := noFollow(t, b, http.MethodPost, st.ServiceURL+"/account/two-step", form)
		auth, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(auth.Path, "/oauth2/auth") || auth.Query().Get("prompt") != "login" || auth.Query().Get("max_age") != "0" {
			t.Errorf("%s with an old sign-in: %d to %v, want Hydra with prompt=login and max_age=0", what, resp.StatusCode, auth)
		}
	}

	// A real enrolment begun while fresh, confirmed with its right code
	// after the session got old: nothing is saved.
	enrol := b.Post(st.ServiceURL+"/account/two-step", url.Values{"action": {"enable_totp"}}).Last()
	secret, err := totp.ParseURI(setupURI(t, enrol))
	if err != nil {
		t.Fatal(err)
	}
	form := enrolForm(t, enrol, totp.Code(secret, time.Now()))
	ageAccountSession(t, st, subject)
	toHydra("confirm_totp", form)
	if n := credentials(); n != 0 {
		t.Errorf("confirm_totp with an old sign-in saved %d authenticators", n)
	}
	if n := audited("totp enrolled"); n != 0 {
		t.Errorf("confirm_totp with an old sign-in audited %d enrolments", n)
	}

	// An account with an authenticator, turned off with an old sign-in: it stays.
	other, _ := totp.NewSecret()
	env := map[string]string{"DATABASE_URL": st.DatabaseURL, "SECRET_KEY": st.env["SECRET_KEY"]}
	if _, errOut, err := runCLI(t, env, "users", "totp", "import", "--user", subject, "--secret", totp.Base32(other)); err != nil {
		t.Fatalf("totp import: %v %s", err, errOut)
	}
	toHydra("remove_totp", url.Values{"action": {"remove_totp"}})
	if n := credentials(); n != 1 {
		t.Errorf("remove_totp with an old sign-in left %d authenticators, want 1", n)
	}
	if n := audited("totp removed"); n != 0 {
		t.Errorf("remove_totp with an old sign-in audited %d removals", n)
	}
}

// serve warns at start when the account page's client in Hydra has no
// back-channel logout URI pointing here (a client registered before it
// existed), and is quiet when it has (the stack's, registered as documented).
func TestServeWarnsWhenTheAccountClientHasNoBackChannelLogout(t *testing.T) {
	st := accountStack(t)
	const warning = "the account page's client has no back-channel logout URI pointing here"
	for _, line := range strings.Split(serviceLog.String(), "\n") {
		if strings.Contains(line, warning) && strings.Contains(line, st.Account.ID) {
			t.Errorf("serve warned about a client registered with its back-channel URI: %s", line)
		}
	}
	public, _ := url.Parse(st.ServiceURL)
	old := newRelyingParty(t, st, devstack.ClientSpec{Name: "Blink account (old registration)", Scopes: []string{"openid"}, SkipConsent: true})
	var log bytes.Buffer
	checkAccountClient(context.Background(), hydraAdmin(t, st), config.Config{PublicURL: public, Account: config.Account{ClientID: old.client.ID}},
		slog.New(slog.NewTextHandler(&log, nil)))
	if !strings.Contains(log.String(), warning) || !strings.Contains(log.String(), "want="+st.ServiceURL+"/account/backchannel-logout") {
		t.Errorf("no warning for a client without a back-channel logout URI: %q", log.String())
	}
	log.Reset()
	checkAccountClient(context.Background(), hydraAdmin(t, st), config.Config{PublicURL: public, Account: config.Account{ClientID: st.Account.ID}},
		slog.New(slog.NewTextHandler(&log, nil)))
	if log.Len() != 0 {
		t.Errorf("a warning for the client registered as documented: %q", log.String())
	}
}
