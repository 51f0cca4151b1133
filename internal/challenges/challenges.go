// Package challenges makes Hydra's login, consent and logout challenges
// single-use: a challenge is claimed in PostgreSQL before Hydra is told, so of
// two requests for one challenge (a double click, a second tab) exactly one
// accepts or rejects it, and the other learns where the first one went.
// Rendering the pages around it is the pages package's.
package challenges

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
)

// ErrUsed means this service already accepted or rejected the challenge.
var ErrUsed = errors.New("the challenge was already used")

// ErrAccountDisabled means the account may not sign in: Hydra was told so (a
// reject), and the challenge stays used.
var ErrAccountDisabled = errors.New("the account is disabled")

// Store makes challenges single-use and remembers where each flow started
// and where it went.
type Store interface {
	ChallengeUsed(ctx context.Context, challenge string) (bool, error)
	UseChallenge(ctx context.Context, challenge string) (first bool, err error)
	ReleaseChallenge(ctx context.Context, challenge string) error
	SetChallengeRedirect(ctx context.Context, challenge, redirectTo string) error
	ChallengeRedirect(ctx context.Context, challenge string) (string, error)
	SeeChallenge(ctx context.Context, challenge, requestURL string) error
	SeenRequestURL(ctx context.Context, challenge string) (string, error)
}

// Use marks the challenge used and then runs tell (Hydra's accept or reject).
// A challenge already used gives ErrUsed and tell never runs; when tell fails
// the mark is released so the user can try again.
func Use(ctx context.Context, st Store, challenge string, tell func() (string, error)) (string, error) {
	first, err := st.UseChallenge(ctx, challenge)
	if err != nil {
		return "", err
	}
	if !first {
		return "", ErrUsed
	}
	return Finish(ctx, st, challenge, tell)
}

// Finish runs tell for a challenge already marked used, releasing the mark if
// tell fails — unless it failed with ErrAccountDisabled, which Hydra was told.
func Finish(ctx context.Context, st Store, challenge string, tell func() (string, error)) (string, error) {
	redirect, err := tell()
	if err != nil {
		Release(ctx, st, challenge, err)
		return "", err
	}
	return redirect, nil
}

// Release undoes a claim after Hydra could not be told (err), so the user
// can try the same step again; a disabled account's reject was told, and
// its claim stays.
func Release(ctx context.Context, st Store, challenge string, err error) {
	if errors.Is(err, ErrAccountDisabled) {
		return
	}
	if rerr := st.ReleaseChallenge(ctx, challenge); rerr != nil {
		slog.ErrorContext(ctx, "could not release a challenge after Hydra failed", "err", rerr)
	}
}

// Parse reads a Hydra challenge from the query or form. ok is false when it
// is missing; malformed is true when it cannot be a Hydra challenge, so the
// caller can answer "unknown" without asking Hydra.
func Parse(r *http.Request, name string) (challenge string, ok, malformed bool) {
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
