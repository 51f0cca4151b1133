// Package web holds the HTTP details every handler shares and that need no
// page: the request's language and id, redirects to Hydra, cookies, the
// client's address behind TRUSTED_PROXIES, CSP additions and URL checks.
// Rendering pages is the pages package's.
package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
)

type requestIDKey struct{}

// WithRequestID stores the request's id in ctx.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the id the server gave this request.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// SetLang switches the request's language, e.g. once Hydra's ui_locales are known.
func SetLang(r *http.Request, uiLocales []string) *http.Request {
	lang := i18n.Pick(uiLocales, r.Header.Get("Accept-Language"))
	return r.WithContext(i18n.WithLang(r.Context(), lang))
}

// SeeOther redirects to a URL Hydra returned, with 303 so a POST becomes a GET.
// Never call it with a URL taken from the request.
func SeeOther(w http.ResponseWriter, r *http.Request, hydraURL string) {
	http.Redirect(w, r, hydraURL, http.StatusSeeOther)
}

// AllowImagesFrom lets this response's page load images from one more origin
// (a client's https logo) without opening the page to anything else.
func AllowImagesFrom(w http.ResponseWriter, origin string) {
	csp := w.Header().Get("Content-Security-Policy")
	w.Header().Set("Content-Security-Policy", strings.Replace(csp, "img-src 'self'", "img-src 'self' "+origin, 1))
}

// HTTPURL returns u when it is an absolute http(s) URL, else "": a client's
// links are shown only when they cannot run script.
func HTTPURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return ""
	}
	return p.String()
}

var originPattern = regexp.MustCompile(`^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?$`)

// HTTPSOrigin returns the origin of an https URL, or "" when u is anything else.
func HTTPSOrigin(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "https" {
		return ""
	}
	origin := "https://" + p.Host
	if !originPattern.MatchString(origin) {
		return ""
	}
	return origin
}

// AllowScriptAndFrameFrom lets this response's page load scripts and frames
// from one more origin (the bot-check widget's).
func AllowScriptAndFrameFrom(w http.ResponseWriter, origin string) {
	csp := w.Header().Get("Content-Security-Policy")
	csp = strings.Replace(csp, "script-src 'self'", "script-src 'self' "+origin, 1)
	w.Header().Set("Content-Security-Policy", csp+"; frame-src "+origin)
}

// AllowFrom lets this response's page use more origins in the named CSP
// directives (a bot check's scripts, styles, images and frames), adding a
// directive the policy lacks.
func AllowFrom(w http.ResponseWriter, origins []string, directives ...string) {
	if len(origins) == 0 {
		return
	}
	csp := w.Header().Get("Content-Security-Policy")
	extra := strings.Join(origins, " ")
	for _, d := range directives {
		if i := strings.Index(csp, d+" "); i >= 0 {
			end := strings.Index(csp[i:], ";")
			if end < 0 {
				end = len(csp) - i
			}
			csp = csp[:i+end] + " " + extra + csp[i+end:]
		} else {
			csp += "; " + d + " " + extra
		}
	}
	w.Header().Set("Content-Security-Policy", csp)
}
