package web

import (
	"net/http"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/views"
)

// HandleOAuthError answers GET /error, where Hydra sends the browser when a
// flow fails: it explains Hydra's error, error_description and error_hint in
// words. The values are shown as text (escaped), never as markup.
func HandleOAuthError() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		code := truncate(q.Get("error"), 100)
		bodyKey := "oauth.unknown"
		if code != "" && i18n.Has("oauth."+code) {
			bodyKey = "oauth." + code
		}
		Render(w, r, http.StatusBadRequest, views.ErrorPage(views.Problem{
			TitleKey:    "error.title",
			BodyKey:     bodyKey,
			OAuthError:  code,
			Description: truncate(q.Get("error_description"), 500),
			Hint:        truncate(q.Get("error_hint"), 500),
			RequestID:   RequestID(r.Context()),
		}))
	})
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
