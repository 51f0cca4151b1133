package account

import (
	"bytes"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// captureLogs sends slog's default logger, at debug level, to a buffer for
// the test.
func captureLogs(t *testing.T) *lockedBuffer {
	buf := &lockedBuffer{}
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}})))
	t.Cleanup(func() { slog.SetDefault(old) })
	return buf
}

// No cookie value, state, nonce, code, token, TOTP secret or recovery code
// reaches the log, along the page's whole life.
func TestTheLogHoldsNoSecrets(t *testing.T) {
	logs := captureLogs(t)
	e := newEnv(t)
	f := e.withTOTP(true)
	f.rightCode = "271828"
	e.admin.connect("ana", appOf("shop"), time.Now(), "openid")
	b := e.browser("203.0.113.7")

	w := b.get("/account")
	authURL := w.Header().Get("Location")
	auth, _ := url.Parse(authURL)
	loginValue := b.cookies[loginCookieName].Value
	callback := e.public.authorize(t, authURL, "ana", "sid-ana", time.Now(), nil)
	cb, _ := url.Parse(callback)
	b.get(callback)
	b.get(callback) // a replay, refused and logged
	idToken := e.store.sessionsOf("ana")[0].IDToken
	session := b.cookies[sessionCookie].Value

	b.post("/account/two-step", url.Values{"action": {"enable_totp"}})
	b.post("/account/two-step", url.Values{"action": {"confirm_totp"}, "enrollment": {"enr-1"}, "code": {"314159"}})
	b.post("/account/two-step", url.Values{"action": {"confirm_totp"}, "enrollment": {"enr-1"}, "code": {f.rightCode}})
	b.post("/account/two-step", url.Values{"action": {"new_recovery_codes"}})
	b.post("/account/apps", url.Values{"action": {"revoke"}, "client_id": {"shop"}})
	forged := signJWT(rogueKey, e.public.kid, e.public.logoutTokenClaims("sid-ana"))
	postLogoutToken(e, forged)
	logout := signJWT(e.public.key, e.public.kid, e.public.logoutTokenClaims("sid-other"))
	postLogoutToken(e, logout)
	b.post("/account/signout", url.Values{})

	got := logs.String()
	if !strings.Contains(got, "account page signed in") || !strings.Contains(got, "back-channel logout refused") {
		t.Fatalf("the journey logged nothing of itself:\n%s", got)
	}
	for name, secret := range map[string]string{
		"session cookie": session, "login cookie": loginValue, "state": auth.Query().Get("state"),
		"nonce": auth.Query().Get("nonce"), "code challenge": auth.Query().Get("code_challenge"),
		"authorization code": cb.Query().Get("code"), "ID token": idToken, "ID token signature": idToken[strings.LastIndex(idToken, ".")+1:],
		"client secret": testClientSecret, "TOTP secret": f.enrolment.Secret, "right code": f.rightCode, "wrong code": "314159",
		"recovery code": tenCodes[0], "forged logout token": forged, "logout token": logout,
	} {
		if secret == "" {
			t.Errorf("%s: nothing to look for", name)
			continue
		}
		if strings.Contains(got, secret) {
			t.Errorf("the log holds the %s", name)
		}
	}
}
