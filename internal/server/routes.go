package server

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/blinkbitcoin/blink-consent/consent"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/login"
	"github.com/blinkbitcoin/blink-consent/views"
)

// routes lists every endpoint of the public listener.
func routes(r chi.Router, d Deps) {
	loginSettings := login.Settings{RememberFor: d.LoginRememberFor, DevMode: d.Config.DevMode}
	consentSettings := consent.Settings{RememberFor: int64(d.Config.ConsentRememberFor.Seconds())}

	r.Method(http.MethodGet, "/login", login.HandleShow(d.Hydra, d.Store, loginSettings))
	r.Method(http.MethodPost, "/login", login.HandleDevSubmit(d.Hydra, d.Store, loginSettings))
	r.Method(http.MethodGet, "/consent", consent.HandleShow(d.Hydra, d.Store, consentSettings))
	r.Method(http.MethodPost, "/consent", consent.HandleSubmit(d.Hydra, d.Store, consentSettings))
	r.Method(http.MethodGet, "/logout", login.HandleLogout(d.Hydra))
	r.Method(http.MethodPost, "/logout", login.HandleLogoutSubmit(d.Hydra))
	r.Method(http.MethodGet, "/error", web.HandleOAuthError())

	r.Method(http.MethodGet, "/healthz", handleHealthz())
	r.Method(http.MethodGet, views.AssetPrefix+"*", views.Assets())
	r.Method(http.MethodGet, "/favicon.ico", http.RedirectHandler(views.Asset("logo.svg"), http.StatusMovedPermanently))

	r.NotFound(func(w http.ResponseWriter, r *http.Request) { web.Problem(w, r, http.StatusNotFound, "notfound") })
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		web.Problem(w, r, http.StatusMethodNotAllowed, "badrequest")
	})
}

// healthRoutes lists the endpoints of the health and metrics listener.
func healthRoutes(r chi.Router, d Deps) {
	r.Method(http.MethodGet, "/healthz", handleHealthz())
	r.Method(http.MethodGet, "/readyz", handleReadyz(d.Store, d.Hydra))
}
