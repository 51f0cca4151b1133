package login

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/views"
)

// HandleDevSubmit answers POST /login from the development sign-in form: it
// signs in as the named user without any code. Outside DEV_MODE it does not exist.
func HandleDevSubmit(h Hydra, st Store, s Settings) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.DevMode {
			web.Problem(w, r, http.StatusNotFound, "notfound")
			return
		}
		if err := r.ParseForm(); err != nil {
			web.Problem(w, r, http.StatusBadRequest, "badrequest")
			return
		}
		lr, challenge, r, ok := web.Load(w, r, st, "login_challenge", h.Login, loginLocales)
		if !ok {
			return
		}

		done := func() {
			web.Render(w, r, http.StatusOK, views.Notice("consent.done.title", "consent.done.body", lr.Client.DisplayName()))
		}
		switch r.PostFormValue("action") {
		case "cancel":
			web.Answer(w, r, st, challenge, func() (string, error) {
				return h.RejectLogin(r.Context(), challenge, hydra.Rejection{
					Error: "access_denied", Description: "The resource owner denied the request",
				})
			}, done)
		case "continue":
			u, err := st.UserByIdentifier(r.Context(), r.PostFormValue("user"))
			if errors.Is(err, store.ErrNotFound) || (err == nil && !u.Active()) {
				web.Render(w, r, http.StatusUnprocessableEntity, views.DevLogin(challenge, lr.Client.DisplayName()))
				return
			}
			if err != nil {
				web.Fail(w, r, err)
				return
			}
			slog.WarnContext(r.Context(), "development sign-in without a code", "subject", u.ID)
			web.Answer(w, r, st, challenge, func() (string, error) {
				return h.AcceptLogin(r.Context(), challenge, hydra.AcceptLogin{
					Subject:     u.ID,
					Remember:    r.PostFormValue("remember") == "true",
					RememberFor: s.RememberFor,
					AMR:         []string{"dev"},
					ACR:         "0",
					Context:     map[string]any{"method": "dev"},
				})
			}, done)
		default:
			web.Problem(w, r, http.StatusBadRequest, "badrequest")
		}
	})
}
