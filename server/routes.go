package server

import (
	"net/http"
	"sync/atomic"

	"github.com/go-chi/chi/v5"

	"github.com/blinkbitcoin/blink-consent/account"
	"github.com/blinkbitcoin/blink-consent/consent"
	"github.com/blinkbitcoin/blink-consent/devmessages"
	"github.com/blinkbitcoin/blink-consent/login"
	"github.com/blinkbitcoin/blink-consent/logout"
	"github.com/blinkbitcoin/blink-consent/oautherror"
	"github.com/blinkbitcoin/blink-consent/pages"
	"github.com/blinkbitcoin/blink-consent/views"
)

// routes lists every endpoint of the public listener.
func routes(r chi.Router, d Deps) {
	r.Method(http.MethodGet, "/login", login.HandleShow(d.Login))
	r.Method(http.MethodGet, "/login/identify", login.HandleIdentifyPage(d.Login))
	r.Method(http.MethodPost, "/login/identify", login.HandleIdentify(d.Login))
	r.Method(http.MethodGet, "/login/code", login.HandleCodePage(d.Login))
	r.Method(http.MethodPost, "/login/code", login.HandleCode(d.Login))
	r.Method(http.MethodGet, "/login/telegram", login.HandleTelegramPage(d.Login))
	r.Method(http.MethodPost, "/login/telegram", login.HandleTelegram(d.Login))
	r.Method(http.MethodGet, "/login/passkey/options", login.HandlePasskeyOptions(d.Login))
	r.Method(http.MethodPost, "/login/passkey", login.HandlePasskey(d.Login))
	r.Method(http.MethodGet, "/login/totp", login.HandleTOTPPage(d.Login))
	r.Method(http.MethodPost, "/login/totp", login.HandleTOTP(d.Login))
	r.Method(http.MethodGet, login.OfferPath, login.HandleOfferPage(d.Login))
	r.Method(http.MethodPost, login.OfferPath, login.HandleOffer(d.Login))
	r.Method(http.MethodGet, "/consent", consent.HandleShow(d.Consent))
	r.Method(http.MethodPost, "/consent", consent.HandleSubmit(d.Consent))
	r.Method(http.MethodGet, "/logout", logout.HandleShow(d.Logout))
	r.Method(http.MethodPost, "/logout", logout.HandleSubmit(d.Logout))
	r.Method(http.MethodGet, "/dev/messages", devmessages.Handle(d.DevMessages))
	r.Method(http.MethodGet, "/error", oautherror.Handle(d.Errors))
	if a := d.Account; a != nil {
		r.Method(http.MethodGet, "/account", account.HandleShow(*a))
		r.Method(http.MethodGet, "/account/callback", account.HandleCallback(*a))
		r.Method(http.MethodPost, "/account/apps", account.HandleApps(*a))
		r.Method(http.MethodGet, "/account/remove-all", account.HandleConfirmRemoveAll(*a))
		r.Method(http.MethodPost, "/account/two-step", account.HandleTwoStep(*a))
		r.Method(http.MethodGet, "/account/two-step/on", account.HandleTwoStepOn(*a))
		r.Method(http.MethodGet, "/account/two-step/off", account.HandleTwoStepOff(*a))
		r.Method(http.MethodGet, "/account/two-step/recovery", account.HandleRecoveryCodes(*a))
		r.Method(http.MethodPost, "/account/passkeys", account.HandlePasskeys(*a))
		r.Method(http.MethodGet, "/account/passkeys/add", account.HandlePasskeyAdd(*a))
		r.Method(http.MethodGet, "/account/passkeys/remove", account.HandlePasskeyRemove(*a))
		r.Method(http.MethodPost, "/account/signout", account.HandleSignOut(*a))
		r.Method(http.MethodGet, "/account/signed-out", account.HandleSignedOut(*a))
		r.Method(http.MethodPost, account.BackChannelLogoutPath, account.HandleBackChannelLogout(*a))
	}

	r.Method(http.MethodGet, "/healthz", handleHealthz())
	r.Method(http.MethodGet, views.AssetPrefix+"*", views.Assets())
	r.Method(http.MethodGet, "/favicon.ico", http.RedirectHandler(views.Asset("logo.svg"), http.StatusMovedPermanently))

	r.NotFound(func(w http.ResponseWriter, r *http.Request) { pages.Problem(w, r, http.StatusNotFound, "notfound") })
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		pages.Problem(w, r, http.StatusMethodNotAllowed, "badrequest")
	})
}

// healthRoutes lists the endpoints of the health and metrics listener.
func healthRoutes(r chi.Router, d Deps, stopping *atomic.Bool) {
	r.Method(http.MethodGet, "/healthz", handleHealthz())
	var core readier
	if d.Core != nil {
		core = d.Core
	}
	r.Method(http.MethodGet, "/readyz", handleReadyz(d.Store, d.Hydra, core, stopping, d.Metrics))
	r.Method(http.MethodGet, "/metrics", handleMetrics(d.Metrics))
}
