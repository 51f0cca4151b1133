// Package login answers Hydra's login challenges.
package login

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/views"
)

// Hydra is the part of Hydra's admin API the login flow uses.
type Hydra interface {
	Login(ctx context.Context, challenge string) (hydra.LoginRequest, error)
	AcceptLogin(ctx context.Context, challenge string, a hydra.AcceptLogin) (string, error)
	RejectLogin(ctx context.Context, challenge string, rj hydra.Rejection) (string, error)
}

// Store is the state the login flow keeps. Hydra accepts a challenge as often
// as it is asked, so the store makes each one single-use.
type Store interface {
	web.ChallengeStore
	UseChallengeForUser(ctx context.Context, challenge, subject string) (store.User, bool, error)
	UserByIdentifier(ctx context.Context, idEmailOrPhone string) (store.User, error)
}

// Settings are the login flow's knobs.
type Settings struct {
	// RememberFor is how long Hydra remembers a sign-in, in seconds.
	RememberFor int64
	// DevMode shows the development sign-in form instead of the code sign-in.
	DevMode bool
}

// HandleShow answers GET /login?login_challenge=…. A remembered sign-in
// (skip=true) is accepted at once with exactly Hydra's subject, unless the
// account was disabled or deleted since, in which case the login is rejected.
func HandleShow(h Hydra, st Store, s Settings) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lr, challenge, r, ok := web.Load(w, r, st, "login_challenge", h.Login, loginLocales)
		if !ok {
			return
		}

		if lr.Skip {
			redirect, err := acceptRemembered(r.Context(), h, st, lr)
			if err != nil {
				web.FailFlow(w, r, st, challenge, err)
				return
			}
			web.SeeOther(w, r, redirect)
			return
		}

		if !web.ShowPage(w, r, st, challenge, lr.RequestURL) {
			return
		}
		if s.DevMode {
			web.Render(w, r, http.StatusOK, views.DevLogin(challenge, lr.Client.DisplayName()))
			return
		}
		web.Render(w, r, http.StatusOK, views.Notice("login.unavailable.title", "login.unavailable.body", lr.Client.DisplayName()))
	})
}

// acceptRemembered accepts a skip=true login after checking the account, or
// rejects it when the account may no longer sign in. One Hydra get (done by
// the caller), one database round trip, one Hydra accept or reject.
func acceptRemembered(ctx context.Context, h Hydra, st Store, lr hydra.LoginRequest) (string, error) {
	u, first, err := st.UseChallengeForUser(ctx, lr.Challenge, lr.Subject)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	if !first {
		return "", web.ErrChallengeUsed
	}
	if errors.Is(err, store.ErrNotFound) || !u.Active() {
		slog.InfoContext(ctx, "remembered sign-in refused", "reason", "account disabled or deleted", "client", lr.Client.ID)
		return web.Finish(ctx, st, lr.Challenge, func() (string, error) {
			return h.RejectLogin(ctx, lr.Challenge, hydra.Rejection{
				Error:       "access_denied",
				Description: "This account can no longer sign in.",
			})
		})
	}
	slog.InfoContext(ctx, "remembered sign-in accepted", "client", lr.Client.ID, "subject", lr.Subject)
	// Hydra takes acr, amr and context from this body only, so say what this step is.
	return web.Finish(ctx, st, lr.Challenge, func() (string, error) {
		return h.AcceptLogin(ctx, lr.Challenge, hydra.AcceptLogin{
			Subject: lr.Subject,
			Context: map[string]any{"remembered": true},
		})
	})
}

func loginLocales(lr hydra.LoginRequest) []string { return lr.UILocales }
