package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
)

// ErrChallengeUsed means this service already accepted or rejected the challenge.
var ErrChallengeUsed = errors.New("the challenge was already used")

// ChallengeStore makes Hydra's challenges single-use.
type ChallengeStore interface {
	ChallengeUsed(ctx context.Context, challenge string) (bool, error)
	UseChallenge(ctx context.Context, challenge string) (first bool, err error)
	ReleaseChallenge(ctx context.Context, challenge string) error
}

// UsedOr returns ErrChallengeUsed when used, else err.
func UsedOr(used bool, err error) error {
	if used {
		return ErrChallengeUsed
	}
	return err
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

// Finish runs tell for a challenge already marked used, releasing the mark if tell fails.
func Finish(ctx context.Context, st ChallengeStore, challenge string, tell func() (string, error)) (string, error) {
	redirect, err := tell()
	if err != nil {
		if rerr := st.ReleaseChallenge(ctx, challenge); rerr != nil {
			slog.ErrorContext(ctx, "could not release a challenge after Hydra failed", "err", rerr)
		}
		return "", err
	}
	return redirect, nil
}

// Load reads the challenge named param, fetches its request from Hydra with
// get, and switches the page language to the request's ui_locales. On any
// problem it renders the error page and returns ok=false.
func Load[T any](w http.ResponseWriter, r *http.Request, param string,
	get func(ctx context.Context, challenge string) (T, error), uiLocales func(T) []string,
) (req T, challenge string, _ *http.Request, ok bool) {
	challenge, ok = RequireChallenge(w, r, param)
	if !ok {
		return req, "", r, false
	}
	req, err := get(r.Context(), challenge)
	if err != nil {
		Fail(w, r, err)
		return req, "", r, false
	}
	return req, challenge, SetLang(r, uiLocales(req)), true
}
