package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/blinkbitcoin/blink-consent/internal/hydra"
)

// ErrChallengeUsed means this service already accepted or rejected the challenge.
var ErrChallengeUsed = errors.New("the challenge was already used")

// ErrAccountDisabled means the account may not sign in: Hydra was told so (a
// reject), and the challenge stays used.
var ErrAccountDisabled = errors.New("the account is disabled")

// ChallengeStore makes Hydra's challenges single-use and remembers where
// each flow started and where it went.
type ChallengeStore interface {
	ChallengeUsed(ctx context.Context, challenge string) (bool, error)
	UseChallenge(ctx context.Context, challenge string) (first bool, err error)
	ReleaseChallenge(ctx context.Context, challenge string) error
	SetChallengeRedirect(ctx context.Context, challenge, redirectTo string) error
	ChallengeRedirect(ctx context.Context, challenge string) (string, error)
	SeeChallenge(ctx context.Context, challenge, requestURL string) error
	SeenRequestURL(ctx context.Context, challenge string) (string, error)
}

// Use marks the challenge used and then runs tell (Hydra's accept or reject).
// A challenge already used gives ErrChallengeUsed and tell never runs; when
// tell fails the mark is released so the user can try again.
func Use(ctx context.Context, st ChallengeStore, challenge string, tell func() (string, error)) (string, error) {
	first, err := st.UseChallenge(ctx, challenge)
	if err != nil {
		return "", err
	}
	if !first {
		return "", ErrChallengeUsed
	}
	return Finish(ctx, st, challenge, tell)
}

// Finish runs tell for a challenge already marked used, releasing the mark if
// tell fails — unless it failed with ErrAccountDisabled, which Hydra was told.
func Finish(ctx context.Context, st ChallengeStore, challenge string, tell func() (string, error)) (string, error) {
	redirect, err := tell()
	if err != nil {
		if !errors.Is(err, ErrAccountDisabled) {
			if rerr := st.ReleaseChallenge(ctx, challenge); rerr != nil {
				slog.ErrorContext(ctx, "could not release a challenge after Hydra failed", "err", rerr)
			}
		}
		return "", err
	}
	return redirect, nil
}

// Load reads the challenge named param, fetches its request from Hydra with
// get, and switches the page language to the request's ui_locales. On any
// problem it renders the error page (with "Start again" when the flow's
// start is known) and returns ok=false.
func Load[T any](w http.ResponseWriter, r *http.Request, st ChallengeStore, param string,
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
	return req, challenge, SetLang(r, uiLocales(req)), true
}

// FailFlow is Fail for a known challenge, with the page's way forward: a
// used flow goes back to the app where Hydra (or this service's first
// answer) sent it; a used, expired or unreachable flow whose start was kept
// gets "Start again" to it.
func FailFlow(w http.ResponseWriter, r *http.Request, st ChallengeStore, challenge string, err error) {
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
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			slog.Log(r.Context(), level, "request failed", "status", status, "kind", kind, "err", err)
			problem(w, r, status, kind, start, back)
			return
		}
	}
	Fail(w, r, err)
}

// ShowPage keeps the flow's start (so an expiry can offer "Start again") and
// refuses a challenge this service already answered. ok=false means the error
// page was rendered.
func ShowPage(w http.ResponseWriter, r *http.Request, st ChallengeStore, challenge, requestURL string) bool {
	used, err := st.ChallengeUsed(r.Context(), challenge)
	if err == nil && used {
		err = ErrChallengeUsed
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

// Answer is Use for a form post, and handles a double submit (back button,
// double click): the second post goes where the first one went, without telling
// Hydra twice. When that place is unknown, done renders instead.
func Answer(w http.ResponseWriter, r *http.Request, st ChallengeStore, challenge string,
	tell func() (string, error), done func(),
) {
	redirect, err := Use(r.Context(), st, challenge, tell)
	if errors.Is(err, ErrChallengeUsed) {
		if prev, perr := st.ChallengeRedirect(r.Context(), challenge); perr == nil && prev != "" {
			SeeOther(w, r, prev)
			return
		}
		done()
		return
	}
	if err != nil {
		FailFlow(w, r, st, challenge, err)
		return
	}
	if err := st.SetChallengeRedirect(r.Context(), challenge, redirect); err != nil {
		slog.WarnContext(r.Context(), "could not record a redirect", "err", err)
	}
	SeeOther(w, r, redirect)
}
