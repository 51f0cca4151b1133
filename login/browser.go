package login

import (
	"net/http"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/web"
)

// browserHash returns the hash of the request's browser cookie, or nil.
func browserHash(r *http.Request, secure bool) []byte {
	return web.TokenHash(r, web.BrowserCookie, secure)
}

// setBrowserCookie hands the browser a cookie whose hash is already stored:
// it is set only after the write, so a failed write never leaves the browser
// holding a cookie no flow knows. It lasts as long as the browser session.
func setBrowserCookie(w http.ResponseWriter, t web.Token, secure bool) {
	web.SetTokenCookie(w, web.BrowserCookie, t, 0, secure)
}

// methodCookie remembers the tab (email or phone) this browser last asked a
// code with, so the next sign-in opens on it. It says nothing about whom:
// one of two words, no identifier.
const methodCookie = "blink_method"

// lastMethod is asked when given, else the tab this browser used last, else "".
func lastMethod(r *http.Request, asked string, secure bool) string {
	if asked != "" {
		return asked
	}
	if c, err := r.Cookie(web.CookieName(methodCookie, secure)); err == nil && (c.Value == "email" || c.Value == "phone") {
		return c.Value
	}
	return ""
}

// setLastMethod remembers the tab for a year.
func setLastMethod(w http.ResponseWriter, method string, secure bool) {
	web.SetCookie(w, methodCookie, method, 365*24*time.Hour, secure)
}
