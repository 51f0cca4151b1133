package account

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// logoutSetup signs ana (sid-ana) and bob (sid-bob) in, each with a kept core token.
func logoutSetup(t *testing.T) (*env, *browser) {
	e := newEnv(t)
	ana, bob := e.browser("203.0.113.7"), e.browser("198.51.100.9")
	ana.signIn("ana", "sid-ana", time.Now())
	bob.signIn("bob", "sid-bob", time.Now())
	e.store.kept["sid-ana"], e.store.kept["sid-bob"] = true, true
	return e, ana
}

// postLogoutToken is Hydra's POST, server to server: no cookies.
func postLogoutToken(e *env, token string) *httptest.ResponseRecorder {
	return e.browser("10.0.0.5").post(BackChannelLogoutPath, url.Values{"logout_token": {token}})
}

func TestBackChannelLogoutEndsEverySessionOfThatLoginSession(t *testing.T) {
	e, ana := logoutSetup(t)
	// A second browser of ana's under the same login session.
	laptop := e.browser("203.0.113.8")
	laptop.signIn("ana", "sid-ana", time.Now())
	if n := len(e.store.sessionsOf("ana")); n != 2 {
		t.Fatalf("%d sessions of ana", n)
	}
	w := postLogoutToken(e, signJWT(e.public.key, e.public.kid, e.public.logoutTokenClaims("sid-ana")))
	if w.Code != http.StatusOK {
		t.Fatalf("a valid logout token: %d %s", w.Code, w.Body)
	}
	if len(e.store.sessionsOf("ana")) != 0 || e.store.kept["sid-ana"] {
		t.Errorf("ana's sessions or core token survived: %v %v", e.store.sessionsOf("ana"), e.store.kept)
	}
	if len(e.store.sessionsOf("bob")) != 1 || !e.store.kept["sid-bob"] {
		t.Error("bob's session ended with ana's")
	}
	if w := ana.get("/account"); w.Code != http.StatusSeeOther {
		t.Errorf("ana's page after it: %d, want a sign-in", w.Code)
	}

	// Hydra's issuer written without the trailing slash is the same issuer.
	claims := e.public.logoutTokenClaims("sid-bob")
	claims["iss"] = strings.TrimSuffix(e.public.issuer, "/")
	if w := postLogoutToken(e, signJWT(e.public.key, e.public.kid, claims)); w.Code != http.StatusOK || len(e.store.sessionsOf("bob")) != 0 {
		t.Errorf("issuer without the slash: %d", w.Code)
	}
}

// A token that fails any check ends nothing: Back-Channel Logout 1.0's 400
// invalid_request.
func TestBackChannelLogoutRefusesAnythingButHydrasLogoutToken(t *testing.T) {
	e, _ := logoutSetup(t)
	p := e.public
	logout := func(edit func(map[string]any)) string {
		c := p.logoutTokenClaims("sid-ana")
		edit(c)
		return signJWT(p.key, p.kid, c)
	}
	unsigned := func() string {
		tok := signJWT(p.key, p.kid, p.logoutTokenClaims("sid-ana"))
		parts := strings.Split(tok, ".")
		return b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	}()
	for name, token := range map[string]string{
		// An ID token of the same login session, from Hydra, for this client.
		"an ID token": signJWT(p.key, p.kid, p.idTokenClaims("ana", "sid-ana", "n-1", time.Now())),
		"an ID token no nonce": signJWT(p.key, p.kid, func() map[string]any {
			c := p.idTokenClaims("ana", "sid-ana", "", time.Now())
			delete(c, "nonce")
			return c
		}()),
		"another issuer":   logout(func(c map[string]any) { c["iss"] = "https://evil.example/" }),
		"another audience": logout(func(c map[string]any) { c["aud"] = []string{"another-app"} }),
		"no audience":      logout(func(c map[string]any) { delete(c, "aud") }),
		"no events claim":  logout(func(c map[string]any) { delete(c, "events") }),
		"another event": logout(func(c map[string]any) {
			c["events"] = map[string]any{"http://schemas.openid.net/event/other": map[string]any{}}
		}),
		"a nonce":             logout(func(c map[string]any) { c["nonce"] = "n-1" }),
		"no sid":              logout(func(c map[string]any) { delete(c, "sid") }),
		"stale iat":           logout(func(c map[string]any) { c["iat"] = time.Now().Add(-logoutTokenMaxAge - time.Minute).Unix() }),
		"iat in the future":   logout(func(c map[string]any) { c["iat"] = time.Now().Add(5 * time.Minute).Unix() }),
		"no iat":              logout(func(c map[string]any) { delete(c, "iat") }),
		"forged signature":    signJWT(rogueKey, p.kid, p.logoutTokenClaims("sid-ana")),
		"unsigned (alg none)": unsigned,
		"garbage":             "not-a-jwt",
		"three dots":          "a.b.c",
		"empty":               "",
	} {
		w := postLogoutToken(e, token)
		if w.Code != http.StatusBadRequest || strings.TrimSpace(w.Body.String()) != `{"error":"invalid_request"}` || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q, want 400 invalid_request", name, w.Code, w.Body)
		}
	}
	if len(e.store.endedLogin) != 0 || len(e.store.sessionsOf("ana")) != 1 || !e.store.kept["sid-ana"] {
		t.Errorf("a refused token ended something: %v", e.store.endedLogin)
	}
	// A body that is not a form at all.
	before := len(e.store.endedLogin)
	r := httptest.NewRequest(http.MethodPost, BackChannelLogoutPath, strings.NewReader("%zz"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	HandleBackChannelLogout(e.deps).ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest || len(e.store.endedLogin) != before {
		t.Errorf("a malformed body: %d", w.Code)
	}
}

// When the sessions cannot be ended Hydra is told so (it retries), not 200.
func TestBackChannelLogoutSaysSoWhenTheStoreFails(t *testing.T) {
	e, _ := logoutSetup(t)
	e.store.fail["EndLoginSession"] = errOutage
	w := postLogoutToken(e, signJWT(e.public.key, e.public.kid, e.public.logoutTokenClaims("sid-ana")))
	if w.Code != http.StatusInternalServerError || len(e.store.sessionsOf("ana")) != 1 {
		t.Errorf("store down: %d", w.Code)
	}
}
