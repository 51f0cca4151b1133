package account

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
)

const (
	loginCookieName = "__Host-blink_account_login"
	sessionCookie   = "__Host-" + accountCookieName
)

// cookieOf returns the Set-Cookie of name in a response, nil when none.
func cookieOf(t *testing.T, w *httptest.ResponseRecorder, name string) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestSignInSealsTheRequestAndStartsASessionUnderAnOpaqueCookie(t *testing.T) {
	e := newEnv(t)
	b := e.browser("203.0.113.7")
	b.lang = i18n.Spanish
	w := b.get("/account")
	if w.Code != http.StatusSeeOther {
		t.Fatalf("GET /account without a session: %d", w.Code)
	}
	auth, _ := url.Parse(w.Header().Get("Location"))
	q := auth.Query()
	if q.Get("ui_locales") != "es" || q.Get("prompt") != "" || q.Get("max_age") != "" {
		t.Errorf("an ordinary sign-in asks Hydra %v", q)
	}
	lc := cookieOf(t, w, loginCookieName)
	if lc == nil || !lc.HttpOnly || !lc.Secure || lc.SameSite != http.SameSiteLaxMode || lc.Path != "/" || lc.MaxAge != int(loginTTL.Seconds()) {
		t.Fatalf("login cookie %+v", lc)
	}
	for _, v := range []string{q.Get("state"), q.Get("nonce")} {
		if strings.Contains(lc.Value, v) {
			t.Errorf("the login cookie shows its state or nonce in clear")
		}
	}
	if e.store.started != 0 || len(e.store.sessions) != 0 {
		t.Errorf("an anonymous visit wrote %d sessions", e.store.started)
	}

	authTime := time.Now().Add(-time.Minute).Truncate(time.Second)
	w = b.get(e.public.authorize(t, auth.String(), "ana", "sid-ana", authTime, nil))
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/account" {
		t.Fatalf("callback: %d %q", w.Code, w.Header().Get("Location"))
	}
	if c := cookieOf(t, w, loginCookieName); c == nil || c.MaxAge >= 0 {
		t.Errorf("the login cookie was not cleared: %+v", c)
	}
	ac := cookieOf(t, w, sessionCookie)
	if ac == nil || !ac.HttpOnly || !ac.Secure || ac.SameSite != http.SameSiteLaxMode || ac.Path != "/" {
		t.Fatalf("account cookie %+v", ac)
	}
	if ac.MaxAge != 0 || !ac.Expires.IsZero() {
		t.Errorf("a sign-in without Remember me got a lasting cookie: Max-Age %d", ac.MaxAge)
	}
	row, ok := e.store.sessions[string(web.HashToken(ac.Value))]
	if !ok || len(e.store.sessions) != 1 {
		t.Fatalf("no session row under the cookie's SHA-256: %v", e.store.sessions)
	}
	if row.Subject != "ana" || row.SID != "sid-ana" || !row.AuthTime.Equal(authTime) || row.IDToken == "" ||
		row.ExpiresAt.Sub(row.CreatedAt) != time.Hour {
		t.Errorf("session row %+v", row)
	}
	if strings.Contains(row.IDToken, ac.Value) {
		t.Error("the cookie value is stored")
	}
	if w := b.get("/account"); w.Code != http.StatusOK {
		t.Errorf("GET /account with the session: %d", w.Code)
	}
}

func TestRememberMeDecidesWhetherTheCookieOutlivesTheBrowser(t *testing.T) {
	for _, remembered := range []bool{false, true} {
		e := newEnv(t)
		e.store.remembered["sid-ana"] = remembered
		b := e.browser("203.0.113.7")
		w := b.get("/account")
		w = b.get(e.public.authorize(t, w.Header().Get("Location"), "ana", "sid-ana", time.Now(), nil))
		c := cookieOf(t, w, sessionCookie)
		want := 0
		if remembered {
			want = int(time.Hour.Seconds())
		}
		if c == nil || c.MaxAge != want {
			t.Errorf("remembered=%v: cookie %+v, want Max-Age %d", remembered, c, want)
		}
		for _, row := range e.store.sessions {
			if row.ExpiresAt.Sub(row.CreatedAt) != time.Hour {
				t.Errorf("remembered=%v: the row lasts %v, want ACCOUNT_SESSION_TTL either way", remembered, row.ExpiresAt.Sub(row.CreatedAt))
			}
		}
	}
}

// The callback finishes only the sign-in this browser started, once.
func TestCallbackRefusesAnotherStateAnotherBrowserAndAReplay(t *testing.T) {
	e := newEnv(t)
	b := e.browser("203.0.113.7")
	callback := e.public.authorize(t, b.get("/account").Header().Get("Location"), "ana", "sid-ana", time.Now(), nil)

	refused := func(name string, w *httptest.ResponseRecorder, code, started, tokenCalls int) {
		t.Helper()
		if w.Code != code {
			t.Errorf("%s: %d, want %d", name, w.Code, code)
		}
		if cookieOf(t, w, sessionCookie) != nil {
			t.Errorf("%s: a session cookie was set", name)
		}
		if e.store.started != started || e.public.tokenCalls != tokenCalls {
			t.Errorf("%s: %d sessions started, %d token calls; want %d, %d", name, e.store.started, e.public.tokenCalls, started, tokenCalls)
		}
	}

	// Another state: an attacker's callback in this browser, or a stale tab.
	u, _ := url.Parse(callback)
	q := u.Query()
	q.Set("state", web.NewToken().Value)
	w := b.get("/account/callback?" + q.Encode())
	refused("another state", w, http.StatusBadRequest, 0, 0)
	if !says(w, "account.callback.lost.title") {
		t.Errorf("another state: the page does not say the sign-in could not be finished")
	}
	// No state at all.
	q.Del("state")
	refused("no state", b.get("/account/callback?"+q.Encode()), http.StatusBadRequest, 0, 0)

	// The right callback in another browser (login CSRF): no login cookie there.
	other := e.browser("198.51.100.9")
	w = other.get(callback)
	refused("another browser", w, http.StatusBadRequest, 0, 0)

	// An altered login cookie.
	saved := *b.cookies[loginCookieName]
	b.cookies[loginCookieName].Value = saved.Value[:len(saved.Value)-2] + "AA"
	refused("altered login cookie", b.get(callback), http.StatusBadRequest, 0, 0)
	b.cookies[loginCookieName] = &saved

	// The real one, once.
	if w := b.get(callback); w.Code != http.StatusSeeOther || e.store.started != 1 {
		t.Fatalf("the sign-in did not finish: %d\n%s", w.Code, w.Body)
	}
	if b.cookies[loginCookieName] != nil {
		t.Fatal("the login cookie outlived its callback")
	}
	// Replayed by the browser: its login cookie is gone.
	refused("replay", b.get(callback), http.StatusBadRequest, 1, 1)
	// Replayed with the login cookie copied before: Hydra's code is used up.
	thief := e.browser("198.51.100.9")
	thief.cookies[loginCookieName] = &saved
	w = thief.get(callback)
	refused("replay with the copied cookie", w, http.StatusBadRequest, 1, 2)
	if !says(w, "account.callback.refused.title") {
		t.Error("replay with the copied cookie: the page does not say the sign-in could not be verified")
	}
	if n := len(e.store.sessionsOf("ana")); n != 1 {
		t.Errorf("%d sessions of ana, want the one", n)
	}
}

// The ID token is Hydra's, for this client, of this sign-in (nonce), with an
// auth_time; anything else starts no session.
func TestCallbackChecksTheIDToken(t *testing.T) {
	for name, edit := range map[string]func(map[string]any){
		"another nonce":        func(c map[string]any) { c["nonce"] = "a-nonce-of-another-sign-in" },
		"no nonce":             func(c map[string]any) { delete(c, "nonce") },
		"another audience":     func(c map[string]any) { c["aud"] = []string{"another-app"} },
		"another issuer":       func(c map[string]any) { c["iss"] = "https://evil.example/" },
		"expired":              func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() },
		"no auth_time":         func(c map[string]any) { delete(c, "auth_time") },
		"forged signature":     nil,
		"issuer without end /": func(c map[string]any) { c["iss"] = strings.TrimSuffix(c["iss"].(string), "/") },
	} {
		e := newEnv(t)
		e.public.forge = name == "forged signature"
		b := e.browser("203.0.113.7")
		w := b.get(e.public.authorize(t, b.get("/account").Header().Get("Location"), "ana", "sid-ana", time.Now(), edit))
		if name == "issuer without end /" {
			// Hydra writes its issuer as configured, with or without the slash.
			if w.Code != http.StatusSeeOther || e.store.started != 1 {
				t.Errorf("%s: %d, %d sessions", name, w.Code, e.store.started)
			}
			continue
		}
		if w.Code != http.StatusBadRequest || !says(w, "account.callback.refused.title") {
			t.Errorf("%s: %d, want 400 with the refused page", name, w.Code)
		}
		if e.store.started != 0 || cookieOf(t, w, sessionCookie) != nil {
			t.Errorf("%s: a session was started", name)
		}
	}
}

func TestCallbackWithoutACodeOrWithHydraUnreachableStartsNothing(t *testing.T) {
	e := newEnv(t)
	b := e.browser("203.0.113.7")
	auth, _ := url.Parse(b.get("/account").Header().Get("Location"))
	state := auth.Query().Get("state")
	// The person cancelled at Hydra (or Hydra refused): an error, no code.
	w := b.get("/account/callback?" + url.Values{"error": {"access_denied"}, "state": {state}}.Encode())
	if w.Code != http.StatusOK || !says(w, "account.callback.cancelled.title") || e.public.tokenCalls != 0 || e.store.started != 0 {
		t.Errorf("cancelled: %d, %d token calls, %d sessions", w.Code, e.public.tokenCalls, e.store.started)
	}

	callback := e.public.authorize(t, b.get("/account").Header().Get("Location"), "ana", "sid-ana", time.Now(), nil)
	e.public.srv.Close()
	w = b.get(callback)
	if w.Code != http.StatusServiceUnavailable || !says(w, "error.unavailable.title") || e.store.started != 0 {
		t.Errorf("Hydra unreachable: %d, %d sessions", w.Code, e.store.started)
	}
}

func TestCallbackStartsNothingWhenTheStoreFails(t *testing.T) {
	for _, method := range []string{"LoginSessionRemembered", "StartAccountSession"} {
		e := newEnv(t)
		e.store.fail[method] = errOutage
		b := e.browser("203.0.113.7")
		w := b.get(e.public.authorize(t, b.get("/account").Header().Get("Location"), "ana", "sid-ana", time.Now(), nil))
		if w.Code != http.StatusInternalServerError || cookieOf(t, w, sessionCookie) != nil || len(e.store.sessions) != 0 {
			t.Errorf("%s failing: %d, cookie %v", method, w.Code, cookieOf(t, w, sessionCookie))
		}
	}
}

// A missing, altered, unknown or expired cookie means a new sign-in; a form
// posted from it changes nothing and goes back to the page.
func TestWithoutALiveSessionThePageSignsInAgainAndFormsChangeNothing(t *testing.T) {
	e := newEnv(t)
	f := e.withTOTP(true)
	e.admin.connect("ana", appOf("wallet-app"), time.Now(), "openid")
	b := e.browser("203.0.113.7")
	b.signIn("ana", "sid-ana", time.Now())
	f.on["ana"] = true
	live := *b.cookies[sessionCookie]

	for name, prepare := range map[string]func(){
		"expired": func() {
			for h, a := range e.store.sessions {
				a.ExpiresAt = time.Now().Add(-time.Second)
				e.store.sessions[h] = a
			}
		},
		"unknown": func() { b.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: web.NewToken().Value} },
		"altered": func() { b.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: live.Value + "x"} },
		"missing": func() { delete(b.cookies, sessionCookie) },
	} {
		b.cookies[sessionCookie] = &live
		prepare()
		w := b.get("/account")
		if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), e.public.srv.URL+"/oauth2/auth?") {
			t.Errorf("%s: GET /account %d to %q, want a sign-in at Hydra", name, w.Code, w.Header().Get("Location"))
		}
		w = b.post("/account/apps", url.Values{"action": {"revoke"}, "client_id": {"wallet-app"}})
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/account" {
			t.Errorf("%s: a form: %d to %q, want back to the page", name, w.Code, w.Header().Get("Location"))
		}
		for _, form := range []url.Values{{"action": {"revoke_all"}}, {"action": {"remove_totp"}}, {"action": {"new_recovery_codes"}}} {
			path := "/account/apps"
			if form.Get("action") != "revoke_all" {
				path = "/account/two-step"
			}
			if w := b.post(path, form); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/account" {
				t.Errorf("%s: %v: %d to %q, want back to the page", name, form, w.Code, w.Header().Get("Location"))
			}
		}
		for _, page := range []string{"/account/remove-all", twoStepOnURL, twoStepOffURL, recoveryURL} {
			if w := b.get(page); w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), e.public.srv.URL+"/oauth2/auth?") {
				t.Errorf("%s: GET %s: %d to %q, want a sign-in", name, page, w.Code, w.Header().Get("Location"))
			}
		}
		if len(e.admin.revoked) != 0 || len(e.admin.revokedAll) != 0 || len(e.store.audits) != 0 || f.changes() != 0 || !f.on["ana"] {
			t.Errorf("%s: a form changed something: %v %v %v %v", name, e.admin.revoked, e.admin.revokedAll, e.store.audits, f.calls)
		}
	}
}

func TestAStoreOutageIsAnErrorPageNotASignIn(t *testing.T) {
	e := newEnv(t)
	b := e.browser("203.0.113.7")
	b.signIn("ana", "sid-ana", time.Now())
	e.store.fail["AccountSession"] = errOutage
	if w := b.get("/account"); w.Code != http.StatusInternalServerError || !says(w, "error.internal.title") {
		t.Errorf("GET /account with the store down: %d", w.Code)
	}
	delete(e.store.fail, "AccountSession")
	e.store.fail["UserByID"] = errOutage
	if w := b.get("/account"); w.Code != http.StatusInternalServerError {
		t.Errorf("GET /account with the users table down: %d", w.Code)
	}
}

// A sign-in in the same browser replaces its session, and the replaced
// session's core token (another sid) is forgotten.
func TestANewSignInReplacesTheSessionAndForgetsItsCoreToken(t *testing.T) {
	e := newEnv(t)
	b := e.browser("203.0.113.7")
	b.signIn("ana", "sid-1", time.Now().Add(-time.Hour))
	e.store.kept["sid-1"] = true
	first := b.cookies[sessionCookie].Value

	// "Remove all" with an old sign-in: a new sign-in, in the same browser.
	w := b.post("/account/apps", url.Values{"action": {"revoke_all"}})
	b.finishSignIn(w.Header().Get("Location"), "ana", "sid-2", time.Now(), "/account/remove-all")
	rows := e.store.sessionsOf("ana")
	if len(rows) != 1 || rows[0].SID != "sid-2" {
		t.Fatalf("sessions after the new sign-in: %+v", rows)
	}
	if _, ok := e.store.sessions[string(web.HashToken(first))]; ok || b.cookies[sessionCookie].Value == first {
		t.Error("the first session survived its replacement")
	}
	if e.store.kept["sid-1"] || len(e.store.forgotten) != 1 || e.store.forgotten[0] != "sid-1" {
		t.Errorf("the replaced session's core token: kept %v, forgotten %v", e.store.kept, e.store.forgotten)
	}

	// The same login session again (same sid): its token is still in use.
	w = b.post("/account/two-step", url.Values{"action": {"sign_in_again"}})
	if w.Code != http.StatusNotFound {
		t.Fatalf("sign_in_again without a two-step source: %d", w.Code)
	}
	e.store.kept["sid-2"] = true
	forgotten := len(e.store.forgotten)
	for h, a := range e.store.sessions {
		a.AuthTime = time.Now().Add(-time.Hour)
		e.store.sessions[h] = a
	}
	w = b.post("/account/apps", url.Values{"action": {"revoke_all"}})
	b.finishSignIn(w.Header().Get("Location"), "ana", "sid-2", time.Now(), "/account/remove-all")
	if !e.store.kept["sid-2"] || len(e.store.forgotten) != forgotten {
		t.Errorf("a new sign-in under the same sid forgot its token: %v", e.store.forgotten)
	}
}

func TestADisabledAccountLosesItsSession(t *testing.T) {
	e := newEnv(t)
	b := e.browser("203.0.113.7")
	b.signIn("ana", "sid-ana", time.Now())
	e.store.kept["sid-ana"] = true
	disabled := time.Now()
	e.store.users["ana"] = store.User{ID: "ana", Email: "ana@example.com", DisabledAt: &disabled}
	w := b.get("/account")
	if w.Code != http.StatusForbidden || !says(w, "error.disabled.title") {
		t.Errorf("GET /account of a disabled account: %d", w.Code)
	}
	if len(e.store.sessionsOf("ana")) != 0 || e.store.kept["sid-ana"] || b.cookies[sessionCookie] != nil {
		t.Errorf("the session survived: %d rows, core token kept %v, cookie kept %v", len(e.store.sessionsOf("ana")), e.store.kept["sid-ana"], b.cookies[sessionCookie] != nil)
	}
	if w := b.get("/account"); w.Code != http.StatusSeeOther {
		t.Errorf("after it: %d, want a sign-in", w.Code)
	}
}

func TestSignOutEndsTheSessionForgetsTheCoreTokenAndGoesToHydrasLogout(t *testing.T) {
	e := newEnv(t)
	ana, bob := e.browser("203.0.113.7"), e.browser("198.51.100.9")
	ana.signIn("ana", "sid-ana", time.Now())
	bob.signIn("bob", "sid-bob", time.Now())
	e.store.kept["sid-ana"], e.store.kept["sid-bob"] = true, true
	idToken := e.store.sessionsOf("ana")[0].IDToken

	w := ana.post("/account/signout", url.Values{})
	loc, _ := url.Parse(w.Header().Get("Location"))
	if w.Code != http.StatusSeeOther || loc.Scheme+"://"+loc.Host+loc.Path != e.public.srv.URL+"/oauth2/sessions/logout" {
		t.Fatalf("sign out: %d to %q", w.Code, loc)
	}
	if loc.Query().Get("id_token_hint") != idToken || loc.Query().Get("post_logout_redirect_uri") != testPublicURL+"/account/signed-out" {
		t.Errorf("Hydra's logout asked with %v", loc.Query())
	}
	if len(e.store.sessionsOf("ana")) != 0 || e.store.kept["sid-ana"] || ana.cookies[sessionCookie] != nil {
		t.Error("ana's session, core token or cookie survived her sign out")
	}
	if len(e.store.sessionsOf("bob")) != 1 || !e.store.kept["sid-bob"] {
		t.Error("ana's sign out ended bob's session")
	}
	if w := ana.get("/account"); w.Code != http.StatusSeeOther {
		t.Errorf("after signing out: %d, want a sign-in", w.Code)
	}
	// Again, with no session: straight to the signed-out page, nothing ended.
	w = ana.post("/account/signout", url.Values{})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != testPublicURL+"/account/signed-out" || len(e.store.forgotten) != 1 {
		t.Errorf("sign out without a session: %d to %q", w.Code, w.Header().Get("Location"))
	}
	ana.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: web.NewToken().Value}
	if w := ana.post("/account/signout", url.Values{}); w.Header().Get("Location") != testPublicURL+"/account/signed-out" {
		t.Errorf("sign out with an unknown session: to %q", w.Header().Get("Location"))
	}
	if w := ana.get("/account/signed-out"); w.Code != http.StatusOK || !says(w, "account.signed_out.title") {
		t.Errorf("signed-out page: %d", w.Code)
	}

	// A core token that cannot be forgotten now expires by itself: the
	// sign out goes on.
	e.store.forgetErr = errOutage
	w = bob.post("/account/signout", url.Values{})
	if w.Code != http.StatusSeeOther || !strings.Contains(w.Header().Get("Location"), "/oauth2/sessions/logout") || len(e.store.sessionsOf("bob")) != 0 {
		t.Errorf("sign out with the core token store failing: %d", w.Code)
	}
}

// When the session cannot be ended, the page does not say it was.
func TestSignOutClaimsNothingWhenTheStoreFails(t *testing.T) {
	e := newEnv(t)
	b := e.browser("203.0.113.7")
	b.signIn("ana", "sid-ana", time.Now())
	e.store.kept["sid-ana"] = true
	e.store.fail["EndAccountSession"] = errOutage
	w := b.post("/account/signout", url.Values{})
	if w.Code != http.StatusInternalServerError || w.Header().Get("Location") != "" || !says(w, "error.internal.title") {
		t.Errorf("sign out with the store down: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if says(w, "account.signed_out.title") {
		t.Error("the page says the person is signed out")
	}
	if !e.store.kept["sid-ana"] || len(e.store.forgotten) != 0 || len(e.store.sessionsOf("ana")) != 1 {
		t.Errorf("something was ended: forgotten %v", e.store.forgotten)
	}
}

func TestFreshMeansSignedInWithinFiveMinutesByHydrasClock(t *testing.T) {
	now := time.Now()
	for ago, want := range map[time.Duration]bool{
		0: true, 4 * time.Minute: true, FreshFor: true, FreshFor + time.Second: false, time.Hour: false,
		-30 * time.Second: true, -2 * time.Minute: false, // an auth_time in the future is not believed
	} {
		s := Session{AccountSession: store.AccountSession{AuthTime: now.Add(-ago)}}
		if got := s.Fresh(now); got != want {
			t.Errorf("signed in %v ago: fresh %v, want %v", ago, got, want)
		}
	}
}
