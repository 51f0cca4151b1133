package login

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/ids"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/views"
)

// loadFlow parses the form and finds the flow named by its "flow" field, if it
// belongs to this browser and is still open, and switches to its language.
// Otherwise it renders the right page and returns ok=false.
func (d Deps) loadFlow(w http.ResponseWriter, r *http.Request) (store.Flow, *http.Request, bool) {
	if err := r.ParseForm(); err != nil {
		web.Problem(w, r, http.StatusBadRequest, "badrequest")
		return store.Flow{}, r, false
	}
	id := r.FormValue("flow")
	bh := browserHash(r, d.Settings.SecureCookies)
	if !ids.IsUUID(id) || bh == nil {
		web.Problem(w, r, http.StatusGone, "flow")
		return store.Flow{}, r, false
	}
	f, err := d.Store.FlowForBrowser(r.Context(), id, bh)
	if errors.Is(err, store.ErrNotFound) {
		web.Problem(w, r, http.StatusGone, "flow")
		return f, r, false
	}
	if err != nil {
		web.Fail(w, r, err)
		return f, r, false
	}
	r = r.WithContext(i18n.WithLang(r.Context(), i18n.Lang(f.Lang)))
	if f.CompletedAt != nil {
		web.FailFlow(w, r, d.Store, f.Challenge, web.ErrChallengeUsed)
		return f, r, false
	}
	return f, r, true
}

// tooMany renders the 429 page with Retry-After.
func tooMany(w http.ResponseWriter, r *http.Request, retry time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
	web.Render(w, r, http.StatusTooManyRequests, views.TooMany(retry, web.RequestID(r.Context())))
}
