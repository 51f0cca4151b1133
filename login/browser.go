package login

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// The browser cookie binds a sign-in flow to the browser that started it. Its
// value is 256 random bits; only its SHA-256 is stored.
func cookieName(secure bool) string {
	if secure {
		return "__Host-blink_browser"
	}
	return "blink_browser" // DEV_MODE over http: __Host- needs Secure
}

func hashCookie(v string) []byte {
	h := sha256.Sum256([]byte(v))
	return h[:]
}

// browserHash returns the hash of the request's browser cookie, or nil.
func browserHash(r *http.Request, secure bool) []byte {
	c, err := r.Cookie(cookieName(secure))
	if err != nil || len(c.Value) < 40 || len(c.Value) > 64 {
		return nil
	}
	return hashCookie(c.Value)
}

// browserToken is a fresh cookie value and its hash. The cookie is set only
// once the hash is stored (setBrowserCookie), so a failed write never leaves
// the browser holding a cookie no flow knows.
type browserToken struct {
	value string
	hash  []byte
}

func newBrowserToken() browserToken {
	b := make([]byte, 32)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	return browserToken{value: v, hash: hashCookie(v)}
}

func setBrowserCookie(w http.ResponseWriter, t browserToken, secure bool) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName(secure), Value: t.value, Path: "/",
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	})
}

// ClearBrowserCookie removes the cookie; logout calls it.
func ClearBrowserCookie(w http.ResponseWriter, secure bool) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName(secure), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	})
}
