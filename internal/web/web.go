// Package web holds what every page handler shares: rendering, the error page,
// the request's language and id, and redirects.
package web

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/a-h/templ"

	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/views"
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

// Render writes a component with the given status. It renders into a buffer
// first, so a failing component never leaves half a page behind.
func Render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		slog.ErrorContext(r.Context(), "render failed", "err", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// Problem renders the error page for one of the catalog's error kinds
// ("missing", "expired", …) with its status.
func Problem(w http.ResponseWriter, r *http.Request, status int, kind string) {
	problem(w, r, status, kind, "", "")
}

// ProblemStartAgain is Problem with a "Start again" button to startURL (Hydra's
// request_url, kept server-side), which begins a new sign-in.
func ProblemStartAgain(w http.ResponseWriter, r *http.Request, status int, kind, startURL string) {
	problem(w, r, status, kind, startURL, "")
}

func problem(w http.ResponseWriter, r *http.Request, status int, kind, startAgain, backToApp string) {
	Render(w, r, status, views.ErrorPage(views.Problem{
		TitleKey:   "error." + kind + ".title",
		BodyKey:    "error." + kind + ".body",
		RequestID:  RequestID(r.Context()),
		StartAgain: startAgain,
		BackToApp:  backToApp,
	}))
}

// Fail renders the page that fits err, most often one of hydra's typed errors,
// and logs it. Unknown errors become a 500 page with the request id, never a trace.
func Fail(w http.ResponseWriter, r *http.Request, err error) {
	status, kind := Classify(err)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	slog.Log(r.Context(), level, "request failed", "status", status, "kind", kind, "err", err)
	Problem(w, r, status, kind)
}

// Classify maps an error to the status and error-page kind the user sees.
func Classify(err error) (status int, kind string) {
	var handled *hydra.HandledError
	switch {
	case errors.As(err, &handled), errors.Is(err, ErrChallengeUsed):
		return http.StatusGone, "used"
	case errors.Is(err, ErrAccountDisabled):
		return http.StatusForbidden, "disabled"
	case errors.Is(err, hydra.ErrExpired):
		return http.StatusGone, "expired"
	case errors.Is(err, hydra.ErrNotFound):
		return http.StatusNotFound, "unknown"
	case errors.Is(err, hydra.ErrInvalid):
		return http.StatusBadRequest, "badrequest"
	case errors.Is(err, hydra.ErrUnavailable):
		return http.StatusServiceUnavailable, "unavailable"
	}
	return http.StatusInternalServerError, "internal"
}

// SeeOther redirects to a URL Hydra returned, with 303 so a POST becomes a GET.
// Never call it with a URL taken from the request.
func SeeOther(w http.ResponseWriter, r *http.Request, hydraURL string) {
	http.Redirect(w, r, hydraURL, http.StatusSeeOther)
}

// Challenge reads a Hydra challenge from the query or form. ok is false when it
// is missing; malformed is true when it cannot be a Hydra challenge, so the
// caller can answer "unknown" without asking Hydra.
func Challenge(r *http.Request, name string) (challenge string, ok, malformed bool) {
	challenge = r.FormValue(name)
	if challenge == "" {
		return "", false, false
	}
	if len(challenge) > 8192 {
		return "", true, true
	}
	for _, c := range challenge {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '=' || c == '~') {
			return "", true, true
		}
	}
	return challenge, true, false
}

// RequireChallenge reads the challenge and, when it is missing or malformed,
// renders the error page and returns ok=false.
func RequireChallenge(w http.ResponseWriter, r *http.Request, name string) (string, bool) {
	challenge, present, malformed := Challenge(r, name)
	switch {
	case !present:
		Problem(w, r, http.StatusBadRequest, "missing")
		return "", false
	case malformed:
		Problem(w, r, http.StatusNotFound, "unknown")
		return "", false
	}
	return challenge, true
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
