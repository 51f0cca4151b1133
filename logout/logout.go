// Package logout answers Hydra's logout challenges: it signs the user out of
// Blink, at once for a client trusted with skip_logout_consent, else after the
// user confirms.
package logout

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/pages"
	"github.com/blinkbitcoin/blink-consent/views"
)

// Hydra is the part of Hydra's admin API the logout flow uses. Hydra
// itself makes logout challenges single-use (410 once accepted, 404 once rejected).
type Hydra interface {
	Logout(ctx context.Context, challenge string) (hydra.LogoutRequest, error)
	AcceptLogout(ctx context.Context, challenge string) (string, error)
	RejectLogout(ctx context.Context, challenge string) error
}

// Store ends what this service keeps for a Hydra login session once it ends:
// the account page's sessions of that sid and their Blink core token.
type Store interface {
	EndLoginSession(ctx context.Context, sid string) (int64, error)
}

// Deps is everything the logout handlers stand on.
type Deps struct {
	Hydra    Hydra
	Store    Store
	Settings Settings
}

// Settings are the logout flow's knobs.
type Settings struct {
	// SecureCookies: the cookies cleared carry the __Host- prefix (https PUBLIC_URL).
	SecureCookies bool
}

func loadLogout(w http.ResponseWriter, r *http.Request, h Hydra) (hydra.LogoutRequest, string, bool) {
	challenge, ok := pages.RequireChallenge(w, r, "logout_challenge")
	if !ok {
		return hydra.LogoutRequest{}, "", false
	}
	lr, err := h.Logout(r.Context(), challenge)
	if err != nil {
		pages.Fail(w, r, err)
		return lr, "", false
	}
	return lr, challenge, true
}

// HandleShow answers GET /logout?logout_challenge=…: a client trusted with
// skip_logout_consent signs the user out at once; otherwise the user confirms.
func HandleShow(d Deps) http.Handler {
	h, st, secureCookies := d.Hydra, d.Store, d.Settings.SecureCookies
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lr, challenge, ok := loadLogout(w, r, h)
		if !ok {
			return
		}
		if lr.Client.SkipLogoutConsent {
			acceptLogout(w, r, h, st, challenge, lr, secureCookies)
			return
		}
		pages.Render(w, r, http.StatusOK, views.LogoutConfirm(challenge, lr.Client.DisplayName()))
	})
}

// HandleSubmit answers POST /logout: yes signs out, no keeps the user
// signed in and says so, with a link back to the app when it has one.
func HandleSubmit(d Deps) http.Handler {
	h, st, secureCookies := d.Hydra, d.Store, d.Settings.SecureCookies
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			pages.Problem(w, r, http.StatusBadRequest, "badrequest")
			return
		}
		lr, challenge, ok := loadLogout(w, r, h)
		if !ok {
			return
		}
		switch r.PostFormValue("action") {
		case "yes":
			acceptLogout(w, r, h, st, challenge, lr, secureCookies)
		case "no":
			if err := h.RejectLogout(r.Context(), challenge); err != nil {
				pages.Fail(w, r, err)
				return
			}
			slog.InfoContext(r.Context(), "logout declined", "client", lr.Client.ID, "subject", lr.Subject)
			pages.Render(w, r, http.StatusOK, views.LogoutKept(lr.Client.DisplayName(), web.HTTPURL(lr.Client.ClientURI)))
		default:
			pages.Problem(w, r, http.StatusBadRequest, "badrequest")
		}
	})
}

// acceptLogout signs the person out: first the account page's sessions of
// this login session (and, with Blink core, the core token kept for them)
// end here, then Hydra ends the login session. In that order, so that a
// failure here leaves the person signed in everywhere and able to retry,
// never signed out of Hydra but still in /account (security review, issue 15).
func acceptLogout(w http.ResponseWriter, r *http.Request, h Hydra, st Store, challenge string, lr hydra.LogoutRequest, secureCookies bool) {
	ended, err := st.EndLoginSession(r.Context(), lr.SessionID)
	if err != nil {
		pages.Fail(w, r, err)
		return
	}
	redirect, err := h.AcceptLogout(r.Context(), challenge)
	var handled *hydra.HandledError
	if errors.As(err, &handled) && handled.RedirectTo != "" {
		// A double submit: Hydra already signed the user out and says where to go.
		redirect, err = handled.RedirectTo, nil
	}
	if err != nil {
		pages.Fail(w, r, err)
		return
	}
	slog.InfoContext(r.Context(), "logout accepted", "client", lr.Client.ID, "subject", lr.Subject, "account_sessions_ended", ended)
	web.ClearSignInCookies(w, secureCookies)
	web.SeeOther(w, r, redirect)
}
