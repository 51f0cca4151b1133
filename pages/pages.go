// Package pages is what every flow's page handler shares: rendering, the
// error page with its way forward, and a flow's pages around Hydra's
// challenge (load it, show it once, answer it once). It stands between the
// flows and views; the single-use rule itself is internal/challenges'.
package pages

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/a-h/templ"

	"github.com/blinkbitcoin/blink-consent/internal/challenges"
	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/views"
)

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
		RequestID:  web.RequestID(r.Context()),
		StartAgain: startAgain,
		BackToApp:  backToApp,
	}))
}

// Fail renders the page that fits err, most often one of hydra's typed errors,
// and logs it. Unknown errors become a 500 page with the request id, never a trace.
func Fail(w http.ResponseWriter, r *http.Request, err error) {
	status, kind := Classify(err)
	logFailure(r.Context(), status, kind, err)
	Problem(w, r, status, kind)
}

func logFailure(ctx context.Context, status int, kind string, err error) {
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	slog.Log(ctx, level, "request failed", "status", status, "kind", kind, "err", err)
}

// Classify maps an error to the status and error-page kind the user sees.
func Classify(err error) (status int, kind string) {
	var handled *hydra.HandledError
	switch {
	case errors.As(err, &handled), errors.Is(err, challenges.ErrUsed):
		return http.StatusGone, "used"
	case errors.Is(err, challenges.ErrAccountDisabled):
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

// RequireChallenge reads the challenge and, when it is missing or malformed,
// renders the error page and returns ok=false.
func RequireChallenge(w http.ResponseWriter, r *http.Request, name string) (string, bool) {
	challenge, present, malformed := challenges.Parse(r, name)
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

// Load reads the challenge named param, fetches its request from Hydra with
// get, and switches the page language to the request's ui_locales. On any
// problem it renders the error page (with "Start again" when the flow's
// start is known) and returns ok=false.
func Load[T any](w http.ResponseWriter, r *http.Request, st challenges.Store, param string,
	get func(ctx context.Context, challenge string) (T, error), uiLocales func(T) []string,
) (req T, challenge string, _ *http.Request, ok bool) {
	challenge, ok = RequireChallenge(w, r, param)
	if !ok {
		return req, "", r, false
	}
	req, err := get(r.Context(), challenge)
	if err != nil {
		FailFlow(w, r, st, challenge, err)
		return req, "", r, false
	}
	return req, challenge, web.SetLang(r, uiLocales(req)), true
}

// FailFlow is Fail for a known challenge, with the page's way forward: a
// used flow goes back to the app where Hydra (or this service's first
// answer) sent it; a used, expired or unreachable flow whose start was kept
// gets "Start again" to it.
func FailFlow(w http.ResponseWriter, r *http.Request, st challenges.Store, challenge string, err error) {
	status, kind := Classify(err)
	if kind == "expired" || kind == "used" || kind == "unavailable" {
		start, _ := st.SeenRequestURL(r.Context(), challenge)
		back := ""
		if kind == "used" {
			var handled *hydra.HandledError
			if errors.As(err, &handled) {
				back = handled.RedirectTo
			}
			if back == "" {
				back, _ = st.ChallengeRedirect(r.Context(), challenge)
			}
		}
		if start != "" || back != "" {
			logFailure(r.Context(), status, kind, err)
			problem(w, r, status, kind, start, back)
			return
		}
	}
	Fail(w, r, err)
}

// ShowPage keeps the flow's start (so an expiry can offer "Start again") and
// refuses a challenge this service already answered. ok=false means the error
// page was rendered.
func ShowPage(w http.ResponseWriter, r *http.Request, st challenges.Store, challenge, requestURL string) bool {
	used, err := st.ChallengeUsed(r.Context(), challenge)
	if err == nil && used {
		err = challenges.ErrUsed
	}
	if err == nil && requestURL != "" {
		err = st.SeeChallenge(r.Context(), challenge, requestURL)
	}
	if err != nil {
		FailFlow(w, r, st, challenge, err)
		return false
	}
	return true
}

// Answer is challenges.Use for a form post, and handles a double submit
// (back button, double click): the second post goes where the first one
// went, without telling Hydra twice. When that place is unknown, done
// renders instead.
func Answer(w http.ResponseWriter, r *http.Request, st challenges.Store, challenge string,
	tell func() (string, error), done func(),
) {
	redirect, err := challenges.Use(r.Context(), st, challenge, tell)
	if errors.Is(err, challenges.ErrUsed) {
		GoWhereItWent(w, r, st, challenge, done)
		return
	}
	if err != nil {
		FailFlow(w, r, st, challenge, err)
		return
	}
	if err := st.SetChallengeRedirect(r.Context(), challenge, redirect); err != nil {
		slog.WarnContext(r.Context(), "could not record a redirect", "err", err)
	}
	web.SeeOther(w, r, redirect)
}

// GoWhereItWent answers a second post of a used challenge: it goes where
// the first one went, or done renders when that is unknown.
func GoWhereItWent(w http.ResponseWriter, r *http.Request, st challenges.Store, challenge string, done func()) {
	if prev, err := st.ChallengeRedirect(r.Context(), challenge); err == nil && prev != "" {
		web.SeeOther(w, r, prev)
		return
	}
	done()
}
