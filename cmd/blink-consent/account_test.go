//go:build devstack

package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/devstack/corestandin"
)

// The account page (/account) on the real Hydra and PostgreSQL: a stack of
// its own with the page's client registered, as `blink-consent dev` does.

var accountStackOnce struct {
	once sync.Once
	st   *stack
	spy  *hydraSpy
	err  error
}

func accountStack(t *testing.T) *stack {
	t.Helper()
	accountStackOnce.once.Do(func() {
		opts, err := testStackOptions("account", 0)
		if err != nil {
			accountStackOnce.err = err
			return
		}
		opts.Account = true
		// Hydra's admin API through a spy of its own, to read the accepts.
		if opts.HydraAdminPort, err = devstack.FreePort(); err != nil {
			accountStackOnce.err = err
			return
		}
		if accountStackOnce.spy, err = startHydraSpy("http://127.0.0.1:" + fmt.Sprint(opts.HydraAdminPort)); err != nil {
			accountStackOnce.err = err
			return
		}
		opts.Env["HYDRA_ADMIN_URL"] = accountStackOnce.spy.URL
		accountStackOnce.st, accountStackOnce.err = startStack(context.Background(), testPG, opts)
	})
	if accountStackOnce.err != nil {
		t.Fatalf("the account stack: %v", accountStackOnce.err)
	}
	return accountStackOnce.st
}

// accountSignIn opens /account in b and signs in as subject when Hydra asks
// (through its admin API), remembering the sign-in; it returns the journey
// ending on the account page.
func accountSignIn(t *testing.T, st *stack, b *browser, subject string) journey {
	t.Helper()
	j := b.Get(st.ServiceURL + "/account")
	if j.Last().URL.Path != "/account" {
		j = signInAsHydraAdmin(t, st, b, j, subject, true)
	}
	if last := j.Last(); last.URL.Path != "/account" || last.Status != http.StatusOK {
		t.Fatalf("signing in to /account ended on %s?%s %d: %v", last.URL.Path, last.URL.RawQuery, last.Status, paths(j))
	}
	return j
}

// accountCookie is the account session's Set-Cookie in j, or nil.
func accountCookie(t *testing.T, j journey) *http.Cookie {
	t.Helper()
	return lastSetCookie(t, j, "blink_account")
}

type accountRow struct {
	Subject, SID     string
	AuthTime, Expiry time.Time
	IDToken          string
}

// accountRows reads the account_sessions rows of subject.
func accountRows(t *testing.T, st *stack, subject string) map[string]accountRow {
	t.Helper()
	conn := connect(t, st.DatabaseURL)
	rows, err := conn.Query(context.Background(), `SELECT encode(token_hash, 'hex'), subject, sid, auth_time, expires_at, id_token FROM account_sessions WHERE subject = $1`, subject)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]accountRow{}
	for rows.Next() {
		var hash string
		var r accountRow
		if err := rows.Scan(&hash, &r.Subject, &r.SID, &r.AuthTime, &r.Expiry, &r.IDToken); err != nil {
			t.Fatal(err)
		}
		found[hash] = r
	}
	return found
}

func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func sqlExec(t *testing.T, dbURL, query string, args ...any) int64 {
	t.Helper()
	tag, err := connect(t, dbURL).Exec(context.Background(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	return tag.RowsAffected()
}

func hexHash(v string) string {
	h := sha256.Sum256([]byte(v))
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 64)
	for _, b := range h {
		out = append(out, digits[b>>4], digits[b&15])
	}
	return string(out)
}

// noFollow makes one request in b without following its redirect.
func noFollow(t *testing.T, b *browser, method, rawURL string, form url.Values) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	req.Header.Set("X-Forwarded-For", b.IP)
	resp, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// connectApp has subject allow a third-party app on its consent page with
// "Remember my decision" and returns the app and its tokens.
func connectApp(t *testing.T, st *stack, b *browser, subject, name string) (*relyingParty, *oauth2.Token) {
	t.Helper()
	rp := newRelyingParty(t, st, devstack.ClientSpec{Name: name, Scopes: []string{"openid", "offline", "read"}, ClientURI: "https://app.example/"})
	j := rp.start(b, oauth2.AccessTypeOffline)
	if j.Last().URL.Path != "/consent" {
		j = signInAsHydraAdmin(t, st, b, j, subject, true)
	}
	page := j.Last()
	if page.URL.Path != "/consent" {
		t.Fatalf("expected the consent page, got %s %d: %v", page.URL.Path, page.Status, paths(j))
	}
	j = b.Post(st.ServiceURL+"/consent", url.Values{"consent_challenge": {page.URL.Query().Get("consent_challenge")},
		"action": {"allow"}, "scope": {"openid", "offline", "read"}, "remember": {"true"}})
	tok, _ := rp.tokens(t, j)
	if tok.RefreshToken == "" {
		t.Fatal("the app got no refresh token")
	}
	return rp, tok
}

// consentedClients lists the clients Hydra's admin API has consent sessions
// of subject for.
func consentedClients(t *testing.T, st *stack, subject string) []string {
	t.Helper()
	sessions, err := hydraAdmin(t, st).ConsentSessions(context.Background(), subject)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range sessions {
		ids = append(ids, s.Client.ID)
	}
	return ids
}

func TestAccountPageIsOffWithoutItsClient(t *testing.T) {
	b := newBrowser(t)
	for _, path := range []string{"/account", "/account/callback?state=x&code=y", "/account/remove-all", "/account/signed-out"} {
		if got := b.Get(testStack.ServiceURL + path).Last(); got.Status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, got.Status)
		}
	}
	for _, path := range []string{"/account/apps", "/account/signout"} {
		if got := b.Post(testStack.ServiceURL+path, url.Values{"action": {"revoke_all"}}).Last(); got.Status != http.StatusNotFound {
			t.Errorf("POST %s: %d, want 404", path, got.Status)
		}
	}
	if page := b.Get(testStack.ServiceURL + "/nothing-here").Last(); strings.Contains(page.Body, `href="/account"`) {
		t.Error("an error page links to the account page although it is off")
	}
}

func TestAccountSignInStartsASessionRow(t *testing.T) {
	st := accountStack(t)
	subject := addUser(t, st, "account.signin@example.com")
	b := newBrowser(t)
	start := b.Get(st.ServiceURL + "/account")
	auth, err := url.Parse(start.Hops[0].Location)
	if err != nil || !strings.HasSuffix(auth.Path, "/oauth2/auth") {
		t.Fatalf("/account did not send the browser to Hydra: %v", start.Hops[0].Location)
	}
	q := auth.Query()
	if q.Get("client_id") != st.Account.ID || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
		len(q.Get("state")) < 40 || len(q.Get("nonce")) < 40 || q.Get("redirect_uri") != st.ServiceURL+"/account/callback" {
		t.Errorf("authorization request %v", q)
	}
	// The sign-in in flight is sealed into the browser's login cookie: no
	// row, and neither state, nonce nor verifier readable in the cookie.
	if rows := sqlExec(t, st.DatabaseURL, `SELECT 1 FROM account_logins`); rows != 0 {
		t.Errorf("an anonymous visit wrote %d account_logins rows", rows)
	}
	if lc := lastSetCookie(t, start, "blink_account_login"); lc == nil || !lc.HttpOnly || lc.MaxAge != 1800 {
		t.Errorf("login cookie %+v: want HttpOnly, Max-Age 30 minutes", lc)
	} else if strings.Contains(lc.Value, q.Get("state")) || strings.Contains(lc.Value, q.Get("nonce")) {
		t.Error("the login cookie carries the state or nonce in clear")
	}
	j := signInAsHydraAdmin(t, st, b, start, subject, true)
	if last := j.Last(); last.URL.Path != "/account" || last.Status != http.StatusOK || !strings.Contains(last.Body, "Your Blink account") {
		for _, l := range strings.Split(serviceLog.String(), "\n") {
			if strings.Contains(l, "account sign-in") || strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
				t.Log(l)
			}
		}
		t.Fatalf("ended on %s?%s %d: %v\n%s", last.URL.Path, last.URL.RawQuery, last.Status, paths(j), title(last.Body))
	}
	if !strings.Contains(j.Last().Body, "Off: signing in needs only the code we send you.") {
		t.Error("the page does not say this account has no two-step sign-in")
	}
	c := accountCookie(t, j)
	if c == nil {
		t.Fatal("no account cookie was set")
	}
	// Hydra's admin accepted this sign-in, so no "Remember me" was ticked on
	// our sign-in page: a session cookie (TestAccountCookieOutlivesTheBrowserOnlyWhenRemembered).
	if !c.HttpOnly || c.Path != "/" || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Domain != "" || len(c.Value) != 43 || c.MaxAge != 0 {
		t.Errorf("cookie %+v: want HttpOnly, Path=/, SameSite=Lax, host-only, a 256-bit value, no Max-Age (no Secure over http)", c)
	}
	rows := accountRows(t, st, subject)
	row, ok := rows[hexHash(c.Value)]
	if len(rows) != 1 || !ok {
		t.Fatalf("account_sessions rows %v: want one, under the cookie's SHA-256", rows)
	}
	if row.SID == "" || time.Since(row.AuthTime) > time.Minute || time.Until(row.Expiry) < 59*time.Minute || time.Until(row.Expiry) > time.Hour+time.Minute || row.IDToken == "" {
		t.Errorf("session row %+v", row)
	}
	for what, secret := range map[string]string{"the cookie": c.Value, "the ID token": row.IDToken, "the state": q.Get("state"), "the nonce": q.Get("nonce")} {
		if strings.Contains(serviceLog.String(), secret) {
			t.Errorf("the service log holds %s", what)
		}
	}
	if n := sqlExec(t, st.DatabaseURL, `SELECT 1 FROM account_sessions WHERE id_token = $1 OR encode(token_hash, 'escape') = $1`, c.Value); n != 0 {
		t.Error("the cookie's value is stored as it is")
	}
	if lc := lastSetCookie(t, j, "blink_account_login"); lc == nil || lc.MaxAge >= 0 {
		t.Errorf("the callback did not clear the login cookie: %+v", lc)
	}
	// The callback is single use: replaying it starts nothing.
	var callback string
	for _, h := range j.Hops {
		if h.URL.Path == "/account/callback" {
			callback = h.URL.String()
		}
	}
	if again := b.Get(callback).Last(); again.Status != http.StatusBadRequest || len(accountRows(t, st, subject)) != 1 {
		t.Errorf("replayed callback: %d with %d session rows", again.Status, len(accountRows(t, st, subject)))
	}
	// A browser cannot finish a sign-in another one started (login CSRF):
	// the attacker's own sign-in cookie does not match the victim's state.
	victim, attacker := newBrowser(t), newBrowser(t)
	victimAuth, _ := url.Parse(victim.Get(st.ServiceURL + "/account").Hops[0].Location)
	attacker.Get(st.ServiceURL + "/account")
	stolen := st.ServiceURL + "/account/callback?code=x&state=" + url.QueryEscape(victimAuth.Query().Get("state"))
	if got := attacker.Get(stolen); got.Last().Status != http.StatusBadRequest || accountCookie(t, got) != nil {
		t.Errorf("a callback in a browser that did not start the sign-in: %d, want 400 and no session", got.Last().Status)
	}
}

// Anonymous visits cannot fill the database: each GET /account without a
// session seals its sign-in into a cookie and writes no row (security
// review, issue 15: 2000 visits wrote 2000 account_logins rows).
func TestAnonymousAccountVisitsWriteNoRows(t *testing.T) {
	st := accountStack(t)
	before := queryIntOn(t, st, `SELECT count(*) FROM account_logins`)
	b := newBrowser(t)
	for i := range 1000 {
		resp := noFollow(t, b, http.MethodGet, st.ServiceURL+"/account", nil)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), st.Hydra.PublicURL+"/oauth2/auth") {
			t.Fatalf("visit %d: %d to %q, want a sign-in at Hydra", i, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if after := queryIntOn(t, st, `SELECT count(*) FROM account_logins`); after != before {
		t.Errorf("1000 anonymous visits left %d account_logins rows (before: %d)", after, before)
	}
}

func TestAccountTamperedOrExpiredSessionSignsInAgain(t *testing.T) {
	st := accountStack(t)
	subject := addUser(t, st, "account.tamper@example.com")
	b := newBrowser(t)
	c := accountCookie(t, accountSignIn(t, st, b, subject))
	service, _ := url.Parse(st.ServiceURL)
	toHydra := func(what string) {
		t.Helper()
		resp := noFollow(t, b, http.MethodGet, st.ServiceURL+"/account", nil)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), st.Hydra.PublicURL+"/oauth2/auth") {
			t.Errorf("%s: /account answered %d to %q, want a new sign-in at Hydra", what, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if resp := noFollow(t, b, http.MethodGet, st.ServiceURL+"/account", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("with its cookie /account answered %d", resp.StatusCode)
	}
	tampered := []byte(c.Value)
	tampered[5] ^= 1
	b.http.Jar.SetCookies(service, []*http.Cookie{{Name: c.Name, Value: string(tampered), Path: "/"}})
	toHydra("a tampered cookie")
	b.http.Jar.SetCookies(service, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/"}})
	if n := sqlExec(t, st.DatabaseURL, `UPDATE account_sessions SET expires_at = now() - interval '1 second' WHERE subject = $1`, subject); n != 1 {
		t.Fatalf("expired %d rows", n)
	}
	toHydra("an expired session")
	// An account disabled since its sign-in loses its session at once.
	b2 := newBrowser(t)
	accountSignIn(t, st, b2, subject)
	sqlExec(t, st.DatabaseURL, `UPDATE users SET disabled_at = now() WHERE id = $1`, subject)
	if page := b2.Get(st.ServiceURL + "/account").Last(); page.Status != http.StatusForbidden || !strings.Contains(page.Body, "This account cannot sign in") {
		t.Errorf("a disabled account's session: %d", page.Status)
	}
	if n := sqlExec(t, st.DatabaseURL, `SELECT 1 FROM account_sessions WHERE subject = $1 AND expires_at > now()`, subject); n != 0 {
		t.Errorf("a disabled account keeps %d account sessions", n)
	}
	// A form from the expired session changes nothing and goes back to the page.
	resp := noFollow(t, b, http.MethodPost, st.ServiceURL+"/account/apps", url.Values{"action": {"revoke_all"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
		t.Errorf("a form from an expired session: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestAccountListsAndRemovesAConnectedApp(t *testing.T) {
	st := accountStack(t)
	subject := addUser(t, st, "account.revoke@example.com")
	b := newBrowser(t)
	rp, tok := connectApp(t, st, b, subject, "Budget Buddy")
	page := accountSignIn(t, st, b, subject).Last()
	for _, want := range []string{"Budget Buddy", "See your balance and transaction history", "Know who you are on Blink",
		`name="client_id" value="` + rp.client.ID + `"`, `name="action" value="revoke"`, "Allowed on"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	if strings.Contains(page.Body, `name="client_id" value="`+st.Account.ID+`"`) {
		t.Error("the account page lists itself as a connected app")
	}
	// Hydra rotates refresh tokens: keep the new one, so that the check
	// after the removal fails only because of the removal.
	tok, err := refreshed(rp, tok)
	if err != nil {
		t.Fatalf("before the removal the app's refresh token must work: %v", err)
	}
	// A cross-site form (another site posting in this browser) removes nothing.
	req, _ := http.NewRequest(http.MethodPost, st.ServiceURL+"/account/apps", strings.NewReader(url.Values{"action": {"revoke"}, "client_id": {rp.client.ID}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site removal answered %d, want 403", resp.StatusCode)
	}
	if !strings.Contains(strings.Join(consentedClients(t, st, subject), " "), rp.client.ID) {
		t.Fatal("a cross-site form removed the app's access")
	}
	j := b.Post(st.ServiceURL+"/account/apps", url.Values{"action": {"revoke"}, "client_id": {rp.client.ID}})
	if last := j.Last(); last.URL.Path != "/account" || !strings.Contains(last.Body, "The app&#39;s access was removed") || strings.Contains(last.Body, "Budget Buddy</h3>") ||
		!strings.Contains(last.Body, "You removed the access of Budget Buddy") || !strings.Contains(last.Body, "You allowed Budget Buddy to use your account") {
		t.Errorf("after removing: %s %d\n%s", last.URL.Path, last.Status, excerpt(last.Body))
	}
	for _, id := range consentedClients(t, st, subject) {
		if id == rp.client.ID {
			t.Error("Hydra still has a consent session for the removed app")
		}
	}
	if _, err := refreshed(rp, tok); !isInvalidGrant(err) {
		t.Errorf("refreshing with the removed app's token: %v, want invalid_grant", err)
	}
	if next := rp.start(b, oauth2.AccessTypeOffline).Last(); next.URL.Path != "/consent" || next.Status != http.StatusOK {
		t.Errorf("the app's next authorization ended on %s %d, want the consent page", next.URL.Path, next.Status)
	}
	if n := sqlExec(t, st.DatabaseURL, `SELECT 1 FROM audit_events WHERE user_id = $1 AND action = 'consent removed' AND client_id = $2 AND actor = 'user' AND ip = $3`,
		subject, rp.client.ID, b.IP); n != 1 {
		t.Errorf("%d audit events for the removal, want 1", n)
	}
}

func TestAccountRemoveAllNeedsAFreshSignIn(t *testing.T) {
	st := accountStack(t)
	subject := addUser(t, st, "account.removeall@example.com")
	b := newBrowser(t)
	rp1, _ := connectApp(t, st, b, subject, "First App")
	rp2, _ := connectApp(t, st, b, subject, "Second App")
	accountSignIn(t, st, b, subject)
	bothThere := func(when string) {
		t.Helper()
		got := strings.Join(consentedClients(t, st, subject), " ")
		if !strings.Contains(got, rp1.client.ID) || !strings.Contains(got, rp2.client.ID) {
			t.Fatalf("%s: Hydra's consent sessions are %q, want both apps", when, got)
		}
	}
	// A sign-in ten minutes old, as Hydra dated it.
	sqlExec(t, st.DatabaseURL, `UPDATE account_sessions SET auth_time = now() - interval '10 minutes' WHERE subject = $1`, subject)
	resp := noFollow(t, b, http.MethodPost, st.ServiceURL+"/account/apps", url.Values{"action": {"revoke_all"}})
	auth, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(auth.Path, "/oauth2/auth") || auth.Query().Get("prompt") != "login" || auth.Query().Get("max_age") != "0" {
		t.Fatalf("remove all with an old sign-in: %d to %v, want Hydra with prompt=login and max_age=0", resp.StatusCode, auth)
	}
	bothThere("after remove all with an old sign-in")
	if n := sqlExec(t, st.DatabaseURL, `SELECT 1 FROM audit_events WHERE user_id = $1 AND action = 'consent removed'`, subject); n != 0 {
		t.Errorf("remove all with an old sign-in audited %d removals", n)
	}

	// prompt=login and max_age dropped on the way: Hydra skips the sign-in,
	// its ID token says when the remembered sign-in was (an hour ago), and
	// nothing may be confirmed on it.
	if n := sqlExec(t, hydraDatabaseURL(st), `UPDATE hydra_oauth2_authentication_session SET authenticated_at = authenticated_at - interval '1 hour' WHERE subject = $1`, subject); n == 0 {
		t.Fatal("no Hydra login session to age")
	}
	q := auth.Query()
	q.Del("prompt")
	q.Del("max_age")
	auth.RawQuery = q.Encode()
	stripped := b.Get(auth.String())
	if stripped.Visited("/login/identify") != 0 || stripped.Last().Status != http.StatusForbidden || stripped.Visited("/account/remove-all") != 0 {
		t.Errorf("a sign-in without prompt=login ended on %s %d: %v", stripped.Last().URL.Path, stripped.Last().Status, paths(stripped))
	}
	bothThere("after a stale sign-in")

	// The real fresh sign-in: Hydra asks again, then the change is shown again.
	resp = noFollow(t, b, http.MethodPost, st.ServiceURL+"/account/apps", url.Values{"action": {"revoke_all"}})
	j := b.Get(resp.Header.Get("Location"))
	if j.Visited("/login") == 0 {
		t.Fatalf("Hydra did not ask for a sign-in: %v", paths(j))
	}
	j = signInAsHydraAdmin(t, st, b, j, subject, true)
	confirm := j.Last()
	if confirm.URL.Path != "/account/remove-all" || !strings.Contains(confirm.Body, "Remove every app&#39;s access?") || !strings.Contains(confirm.Body, `value="revoke_all"`) {
		t.Fatalf("after the fresh sign-in: %s %d\n%s", confirm.URL.Path, confirm.Status, excerpt(confirm.Body))
	}
	bothThere("on the confirmation page")
	if rows := accountRows(t, st, subject); len(rows) != 1 {
		t.Errorf("%d session rows after the fresh sign-in, want 1: the new session replaces the old one", len(rows))
	}
	done := b.Post(st.ServiceURL+"/account/apps", url.Values{"action": {"revoke_all"}}).Last()
	if done.URL.Path != "/account" || !strings.Contains(done.Body, "Every app&#39;s access was removed") {
		t.Errorf("after confirming: %s %d", done.URL.Path, done.Status)
	}
	for _, id := range consentedClients(t, st, subject) {
		if id != st.Account.ID {
			t.Errorf("Hydra still has a consent session for %s", id)
		}
	}
	if n := sqlExec(t, st.DatabaseURL, `SELECT 1 FROM audit_events WHERE user_id = $1 AND action = 'consent removed'`, subject); n != 2 {
		t.Errorf("%d removal audit events, want 2", n)
	}
}

func TestAccountSignOutEndsBothSessions(t *testing.T) {
	st := accountStack(t)
	subject := addUser(t, st, "account.signout@example.com")
	b := newBrowser(t)
	accountSignIn(t, st, b, subject)
	if len(accountRows(t, st, subject)) != 1 {
		t.Fatal("no session row")
	}
	j := b.Post(st.ServiceURL+"/account/signout", url.Values{})
	logout, _ := url.Parse(j.Hops[0].Location)
	if !strings.HasSuffix(logout.Path, "/oauth2/sessions/logout") || logout.Query().Get("id_token_hint") == "" {
		t.Errorf("sign out went to %v, want Hydra's logout with id_token_hint", logout)
	}
	if last := j.Last(); last.URL.Path != "/account/signed-out" || last.Status != http.StatusOK {
		t.Errorf("sign out ended on %s %d: %v", last.URL.Path, last.Status, paths(j))
	}
	if rows := accountRows(t, st, subject); len(rows) != 0 {
		t.Errorf("session rows after sign out: %v", rows)
	}
	service, _ := url.Parse(st.ServiceURL)
	for _, c := range b.http.Jar.Cookies(service) {
		if c.Name == "blink_account" {
			t.Error("the browser still holds the account cookie")
		}
	}
	// Hydra's login session ended too: the next visit asks who you are.
	if again := b.Get(st.ServiceURL + "/account"); again.Visited("/login") == 0 || again.Last().URL.Path == "/account" {
		t.Errorf("after sign out /account went %v, want Hydra to ask for a sign-in", paths(again))
	}
}

// The account cookie outlives the browser only when the person ticked
// "Remember me" on the sign-in page; otherwise it is a session cookie, like
// Hydra's (security review, issue 15: it had a 1 h Max-Age either way).
func TestAccountCookieOutlivesTheBrowserOnlyWhenRemembered(t *testing.T) {
	st := accountStack(t)
	for _, remember := range []bool{false, true} {
		email := fmt.Sprintf("account.cookie.%v@example.com", remember)
		subject := addUser(t, st, email)
		b := newBrowser(t)
		page := b.Get(st.ServiceURL + "/account").Last()
		if page.URL.Path != "/login" {
			t.Fatalf("/account went to %s", page.URL.Path)
		}
		form := url.Values{"flow": {flowID(t, page)}, "action": {"continue"}, "method": {"email"}, "email": {email}}
		if remember {
			form.Set("remember", "true")
		}
		codePage := b.Post(st.ServiceURL+"/login/identify", form).Last()
		j := b.Post(st.ServiceURL+"/login/code", codeForm(codePage, waitCode(t, testSMTP.inbox, email, 1)))
		if last := j.Last(); last.URL.Path != "/account" || last.Status != http.StatusOK {
			t.Fatalf("remember=%v: the sign-in ended on %s %d: %v", remember, last.URL.Path, last.Status, paths(j))
		}
		c := accountCookie(t, j)
		switch {
		case c == nil:
			t.Fatalf("remember=%v: no account cookie", remember)
		case !remember && c.MaxAge != 0:
			t.Errorf("not remembered: the account cookie has Max-Age %d, want a session cookie", c.MaxAge)
		case remember && (c.MaxAge < 3500 || c.MaxAge > 3600):
			t.Errorf("remembered: the account cookie has Max-Age %d, want ACCOUNT_SESSION_TTL (1h)", c.MaxAge)
		}
		if n := queryIntOn(t, st, `SELECT count(*) FROM login_sessions WHERE user_id::text = $1 AND remember = $2`, subject, remember); n != 1 {
			t.Errorf("remember=%v: %d login_sessions rows saying so", remember, n)
		}
	}
}

// Signing out of Blink signs out of the account page: accepting a logout on
// our logout page ends every account session of that Hydra login session
// (security review, issue 15: GET /account still answered 200 and the next
// person at the browser could turn on two-step sign-in).
func TestSignOutOfBlinkEndsTheAccountSession(t *testing.T) {
	st := accountStack(t)
	subject := addUser(t, st, "account.logout@example.com")
	b := newBrowser(t)
	accountSignIn(t, st, b, subject)
	if n := len(accountRows(t, st, subject)); n != 1 {
		t.Fatalf("%d account sessions after signing in", n)
	}
	// A logout started at Hydra without id_token_hint (as any app can) comes
	// to our confirmation page; "Yes" signs out.
	confirm := b.Get(st.Hydra.PublicURL + "/oauth2/sessions/logout").Last()
	if confirm.URL.Path != "/logout" || confirm.Status != http.StatusOK {
		t.Fatalf("Hydra's logout ended on %s %d", confirm.URL.Path, confirm.Status)
	}
	// Not followed: Hydra's back-channel logout runs only once the browser
	// reaches its logout verifier, so this checks our logout page alone.
	yes := noFollow(t, b, http.MethodPost, st.ServiceURL+"/logout", url.Values{"logout_challenge": {confirm.URL.Query().Get("logout_challenge")}, "action": {"yes"}})
	if yes.StatusCode != http.StatusSeeOther {
		t.Fatalf("yes answered %d", yes.StatusCode)
	}
	cleared := false
	for _, c := range yes.Cookies() {
		cleared = cleared || (c.Name == "blink_account" && c.MaxAge < 0)
	}
	if !cleared {
		t.Error("the logout did not clear the account cookie")
	}
	if rows := accountRows(t, st, subject); len(rows) != 0 {
		t.Errorf("%d account sessions after the logout, want 0", len(rows))
	}
	b.Get(yes.Header.Get("Location"))
	again := b.Get(st.ServiceURL + "/account")
	if again.Visited("/login") == 0 || again.Last().URL.Path == "/account" {
		t.Errorf("after the logout /account went %v, want Hydra to ask for a sign-in", paths(again))
	}
}

// A login session that ends without our logout page — an admin revoking it
// by sid, another app's logout — ends the account session through Hydra's
// back-channel logout; a logout token that is not Hydra's, or not for this
// client, or not a logout token, ends nothing.
func TestBackChannelLogoutEndsTheAccountSession(t *testing.T) {
	st := accountStack(t)
	subject := addUser(t, st, "account.backchannel@example.com")
	b := newBrowser(t)
	accountSignIn(t, st, b, subject)
	var row accountRow
	for _, r := range accountRows(t, st, subject) {
		row = r
	}
	if row.SID == "" {
		t.Fatal("the account session has no sid")
	}
	post := func(token string) int {
		t.Helper()
		resp, err := http.PostForm(st.ServiceURL+"/account/backchannel-logout", url.Values{"logout_token": {token}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	parts := strings.Split(row.IDToken, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := strings.Replace(string(payload), `{`, `{"events":{"http://schemas.openid.net/event/backchannel-logout":{}},`, 1)
	for what, token := range map[string]string{
		"no token":                              "",
		"garbage":                               "a.b.c",
		"an ID token":                           row.IDToken, // Hydra's signature, this client, this sid, but no logout event
		"an ID token with a logout event added": parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2],
	} {
		if status := post(token); status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", what, status)
		}
	}
	if rows := accountRows(t, st, subject); len(rows) != 1 {
		t.Fatalf("refused logout tokens ended the session: %v", rows)
	}
	if resp := noFollow(t, b, http.MethodGet, st.ServiceURL+"/account", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("before the revocation /account answered %d", resp.StatusCode)
	}

	// The admin revokes the login session by sid: Hydra posts the logout token.
	req, _ := http.NewRequest(http.MethodDelete, st.Hydra.AdminURL+"/admin/oauth2/auth/sessions/login?sid="+url.QueryEscape(row.SID), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoking the login session: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(accountRows(t, st, subject)) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("15 s after Hydra revoked its login session the account session is still there")
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp = noFollow(t, b, http.MethodGet, st.ServiceURL+"/account", nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), st.Hydra.PublicURL+"/oauth2/auth") {
		t.Errorf("after the back-channel logout /account answered %d to %q, want a new sign-in", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestAccountActivityShowsSignInsWithAMaskedIP(t *testing.T) {
	st := accountStack(t)
	const email = "account.activity@example.com"
	addUser(t, st, email)
	b := newBrowser(t)
	page := b.Get(st.ServiceURL + "/account").Last()
	before := codeCount(testSMTP.inbox, email)
	codePage := b.Post(st.ServiceURL+"/login/identify", url.Values{"flow": {flowID(t, page)}, "action": {"continue"},
		"method": {"email"}, "email": {email}}).Last()
	j := b.Post(st.ServiceURL+"/login/code", codeForm(codePage, waitCode(t, testSMTP.inbox, email, before+1)))
	account := j.Last()
	if account.URL.Path != "/account" || account.Status != http.StatusOK {
		t.Fatalf("the email sign-in ended on %s %d: %v", account.URL.Path, account.Status, paths(j))
	}
	masked := b.IP[:strings.LastIndex(b.IP, ".")] + ".x"
	for _, want := range []string{"Recent activity", "Signed in to Blink account", "with an email code", "from " + masked} {
		if !strings.Contains(account.Body, want) {
			t.Errorf("activity lacks %q:\n%s", want, excerpt(account.Body[strings.Index(account.Body, "Recent activity"):]))
		}
	}
	if strings.Contains(account.Body, b.IP) {
		t.Errorf("the page shows the full IP %s", b.IP)
	}
	if n := sqlExec(t, st.DatabaseURL, `SELECT 1 FROM audit_events a JOIN users u ON u.id = a.user_id WHERE u.email = $1 AND a.ip = $2`, email, b.IP); n == 0 {
		t.Error("the audit trail has no sign-in with the client's IP to mask")
	}
	// In Spanish, with the same words from the one catalog.
	req, _ := http.NewRequest(http.MethodGet, st.ServiceURL+"/account", nil)
	req.Header.Set("Accept-Language", "es")
	resp, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	for _, want := range []string{"Actividad reciente", "Iniciaste sesión en Blink account", "con un código por correo", "desde " + masked} {
		if !strings.Contains(body, want) {
			t.Errorf("Spanish activity lacks %q", want)
		}
	}
}

func TestManageYourAccountLinks(t *testing.T) {
	st := accountStack(t)
	b := newBrowser(t)
	if page := b.Get(st.ServiceURL + "/error?error=access_denied").Last(); !strings.Contains(page.Body, `<a href="/account">Manage your account</a>`) {
		t.Error("the OAuth error page has no Manage your account link")
	}
	if page := b.Get(st.ServiceURL + "/nothing-here").Last(); !strings.Contains(page.Body, `<a href="/account">Manage your account</a>`) {
		t.Error("the not-found page has no Manage your account link")
	}
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	subject := addUser(t, st, "account.logoutlink@example.com")
	j := signInAsHydraAdmin(t, st, b, rp.start(b), subject, true)
	tok, _ := rp.tokens(t, j)
	idToken, _ := tok.Extra("id_token").(string)
	confirm := b.Get(st.Hydra.PublicURL + "/oauth2/sessions/logout?id_token_hint=" + url.QueryEscape(idToken)).Last()
	if confirm.URL.Path != "/logout" || !strings.Contains(confirm.Body, `<a href="/account">Manage your account</a>`) {
		t.Errorf("the logout confirmation (%s) has no Manage your account link", confirm.URL.Path)
	}
}

func title(body string) string {
	start, end := strings.Index(body, "<title>"), strings.Index(body, "</title>")
	if start < 0 || end < start {
		return ""
	}
	return body[start+7 : end]
}

var accountBlinkOnce struct {
	once sync.Once
	st   *stack
	core *corestandin.Standin
	err  error
}

// accountBlinkStack is a stack with IDENTITY_SOURCE=blink, the core
// stand-in and the account page on.
func accountBlinkStack(t *testing.T) (*stack, *corestandin.Standin) {
	t.Helper()
	accountBlinkOnce.once.Do(func() {
		core, err := corestandin.Start("127.0.0.1:0")
		if err != nil {
			accountBlinkOnce.err = err
			return
		}
		accountBlinkOnce.core = core
		opts, err := testStackOptions("account_blink", 0, map[string]string{
			"IDENTITY_SOURCE": "blink", "CORE_AUTH_URL": core.AuthURL(), "GRAPHQL_ENDPOINT": core.GraphQLURL(), "GEETEST_SCRIPT_URL": core.GeetestScriptURL(),
		})
		if err != nil {
			accountBlinkOnce.err = err
			return
		}
		opts.Account = true
		accountBlinkOnce.st, accountBlinkOnce.err = startStack(context.Background(), testPG, opts)
	})
	if accountBlinkOnce.err != nil {
		t.Fatalf("the blink-mode account stack: %v", accountBlinkOnce.err)
	}
	return accountBlinkOnce.st, accountBlinkOnce.core
}

// With IDENTITY_SOURCE=blink the page works the same on core's accounts: a
// core account signs in with core's code, sees and removes a connected app.
// Whether it has two-step sign-in is core's to know, with the core token of a
// sign-in to this page: after a remembered sign-in the page offers that
// sign-in instead of an answer.
func TestAccountPageWithBlinkCore(t *testing.T) {
	st, core := accountBlinkStack(t)
	const email = "account.blink@example.com"
	id := core.AddIdentity(email, "")
	b := newBrowser(t)
	rp := func() *relyingParty {
		rp := newRelyingParty(t, st, devstack.ClientSpec{Name: "Core Companion", Scopes: []string{"openid", "read"}})
		page := blinkIdentify(t, st, b, rp.start(b).Last(), url.Values{"method": {"email"}, "email": {email}, "remember": {"true"}})
		consent := blinkCode(st, b, page, core.Code(email)).Last()
		if consent.URL.Path != "/consent" {
			t.Fatalf("the core sign-in ended on %s %d", consent.URL.Path, consent.Status)
		}
		b.Post(st.ServiceURL+"/consent", url.Values{"consent_challenge": {consent.URL.Query().Get("consent_challenge")},
			"action": {"allow"}, "scope": {"openid", "read"}, "remember": {"true"}})
		return rp
	}()
	page := b.Get(st.ServiceURL + "/account").Last()
	if page.URL.Path != "/account" || page.Status != http.StatusOK || !strings.Contains(page.Body, "Core Companion") || !strings.Contains(page.Body, "Signed in as "+email) {
		t.Fatalf("the account page of a core account: %s %d\n%s", page.URL.Path, page.Status, excerpt(page.Body))
	}
	if !strings.Contains(page.Body, `value="sign_in_again"`) || strings.Contains(page.Body, `value="enable_totp"`) || strings.Contains(page.Body, "Off: signing in") {
		t.Errorf("after a remembered sign-in the page claims to know the core account's two-step sign-in:\n%s", excerpt(page.Body[strings.Index(page.Body, "twostep-heading"):]))
	}
	if rows := accountRows(t, st, id); len(rows) != 1 {
		t.Errorf("%d session rows for core's subject %s, want 1", len(rows), id)
	}
	b.Post(st.ServiceURL+"/account/apps", url.Values{"action": {"revoke"}, "client_id": {rp.client.ID}})
	for _, c := range consentedClients(t, st, id) {
		if c == rp.client.ID {
			t.Error("Hydra still has the core account's consent for the removed app")
		}
	}

	// "Sign in again": Hydra asks (prompt=login), core signs in, and the new
	// session, under Hydra's new sid, has a core token to ask core with.
	j := b.Post(st.ServiceURL+"/account/two-step", url.Values{"action": {"sign_in_again"}})
	if j.Last().URL.Path != "/login" {
		t.Fatalf("sign in again did not ask for a sign-in: %v", paths(j))
	}
	// Remembered, so that Hydra keeps a login session to sign out of below.
	codePage := blinkIdentify(t, st, b, j.Last(), url.Values{"method": {"email"}, "email": {email}, "remember": {"true"}})
	page = blinkCode(st, b, codePage, core.Code(email)).Last()
	if page.URL.Path != "/account" || !strings.Contains(page.Body, `value="enable_totp"`) || !strings.Contains(page.Body, "Off: signing in needs only the code we send you.") {
		t.Fatalf("after signing in again: %s %d\n%s", page.URL.Path, page.Status, excerpt(page.Body))
	}
	rows := accountRows(t, st, id)
	if len(rows) != 1 {
		t.Fatalf("%d account sessions, want 1", len(rows))
	}
	var sid string
	for _, r := range rows {
		sid = r.SID
		if n := queryIntOn(t, st, `SELECT count(*) FROM core_tokens WHERE session_id = $1`, r.SID); n != 1 {
			t.Errorf("%d core tokens kept for the new session's sid, want 1", n)
		}
	}

	// Signing out of Blink (Hydra's logout, confirmed on our page) forgets
	// the kept core token with the account session, before Hydra's
	// back-channel logout could (security review, issue 15).
	confirm := b.Get(st.Hydra.PublicURL + "/oauth2/sessions/logout").Last()
	if confirm.URL.Path != "/logout" {
		t.Fatalf("Hydra's logout ended on %s %d", confirm.URL.Path, confirm.Status)
	}
	noFollow(t, b, http.MethodPost, st.ServiceURL+"/logout", url.Values{"logout_challenge": {confirm.URL.Query().Get("logout_challenge")}, "action": {"yes"}})
	if n := queryIntOn(t, st, `SELECT count(*) FROM core_tokens WHERE session_id = $1`, sid); n != 0 {
		t.Errorf("%d core tokens kept after signing out of Blink, want 0", n)
	}
	if rows := accountRows(t, st, id); len(rows) != 0 {
		t.Errorf("%d account sessions after signing out of Blink, want 0", len(rows))
	}
}
