// Package oautherror answers GET /error, where Hydra sends the browser when an
// OAuth 2.0 flow fails.
package oautherror

import (
	"net/http"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/pages"
	"github.com/blinkbitcoin/blink-consent/views"
)

// maxDetail caps each piece of text taken from the URL: enough for Hydra's
// own descriptions, too little for a convincing letter on Blink's domain.
const maxDetail = 200

// Deps is what the error page stands on: nothing yet, but it is built like
// every other flow, so a setting it gains has one place to go.
type Deps struct{}

// Handle renders the error page. Anyone can craft an /error link, so the page
// leads with our own explanation of the error code (a general one for codes
// we do not know); the URL's error, error_description and error_hint appear
// only below it, capped and marked as technical details Blink did not write.
func Handle(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		code := q.Get("error")
		explanation := "oauth.unknown"
		if code != "" && i18n.Has("oauth."+code) {
			explanation = "oauth." + code
		}
		pages.Render(w, r, http.StatusBadRequest, views.OAuthErrorPage(views.OAuthError{
			ExplanationKey: explanation,
			Code:           capped(code),
			Description:    capped(q.Get("error_description")),
			Hint:           capped(q.Get("error_hint")),
			RequestID:      web.RequestID(r.Context()),
		}))
	})
}

// capped shortens s to maxDetail characters, marking the cut.
func capped(s string) string {
	r := []rune(s)
	if len(r) > maxDetail {
		return string(r[:maxDetail]) + "…"
	}
	return s
}
