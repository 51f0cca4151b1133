package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// CookieName is name with the __Host- prefix over https; in DEV_MODE over
// http browsers refuse the prefix (it needs Secure), so the bare name.
func CookieName(name string, secure bool) string {
	if secure {
		return "__Host-" + name
	}
	return name
}

// Token is an opaque random cookie value (256 bits) and its SHA-256, the only
// part a server stores.
type Token struct {
	Value string
	Hash  []byte
}

// NewToken makes a fresh cookie value.
func NewToken() Token {
	b := make([]byte, 32)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	return Token{Value: v, Hash: HashToken(v)}
}

// HashToken is the stored form of a cookie value.
func HashToken(v string) []byte {
	h := sha256.Sum256([]byte(v))
	return h[:]
}

// TokenHash returns the hash of the request's cookie name (CookieName), or
// nil when it is missing or cannot be one of ours.
func TokenHash(r *http.Request, name string, secure bool) []byte {
	c, err := r.Cookie(CookieName(name, secure))
	if err != nil || len(c.Value) != 43 {
		return nil
	}
	return HashToken(c.Value)
}

// SetTokenCookie sets cookie name to t for maxAge: HttpOnly, Path=/,
// SameSite=Lax, Secure with the __Host- prefix over https.
// A maxAge of 0 makes a session cookie, which the browser drops when it closes.
func SetTokenCookie(w http.ResponseWriter, name string, t Token, maxAge time.Duration, secure bool) {
	SetCookie(w, name, t.Value, maxAge, secure)
}

// SetCookie sets cookie name to value with the attributes of SetTokenCookie.
func SetCookie(w http.ResponseWriter, name, value string, maxAge time.Duration, secure bool) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName(name, secure), Value: value, Path: "/", MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	})
}

// ClearCookie removes cookie name.
func ClearCookie(w http.ResponseWriter, name string, secure bool) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName(name, secure), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	})
}

// MaskIP shows the network of an address, never the host: 203.0.113.x for
// IPv4, the first three groups (its /48) for IPv6, "" for anything else.
func MaskIP(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return fmt.Sprintf("%d.%d.%d.x", b[0], b[1], b[2])
	}
	groups := strings.Split(a.StringExpanded(), ":")
	for i := range groups[:3] {
		groups[i] = strings.TrimLeft(groups[i], "0")
		if groups[i] == "" {
			groups[i] = "0"
		}
	}
	return strings.Join(groups[:3], ":") + ":…"
}

// The sign-in cookies. BrowserCookie binds a sign-in flow to the browser that
// started it; AccountCookie is the account page's session. Each value is 256
// random bits, of which only the SHA-256 is stored (Token).
const (
	BrowserCookie = "blink_browser"
	AccountCookie = "blink_account"
)

// ClearSignInCookies removes both sign-in cookies: signing out of Blink
// ends the browser's flows and its account page here.
func ClearSignInCookies(w http.ResponseWriter, secure bool) {
	ClearCookie(w, BrowserCookie, secure)
	ClearCookie(w, AccountCookie, secure)
}
