package login

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	// The zone database in the binary: a limit page names the time in the
	// person's zone, whatever the image carries.
	_ "time/tzdata"

	"github.com/blinkbitcoin/blink-consent/internal/challenges"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/ids"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/pages"
	"github.com/blinkbitcoin/blink-consent/views"
)

// loadFlow parses the form and finds the flow named by its "flow" field, if it
// belongs to this browser and is still open, and switches to its language.
// Otherwise it renders the right page and returns ok=false.
func (d Deps) loadFlow(w http.ResponseWriter, r *http.Request) (store.Flow, *http.Request, bool) {
	if err := r.ParseForm(); err != nil {
		pages.Problem(w, r, http.StatusBadRequest, "badrequest")
		return store.Flow{}, r, false
	}
	id := r.FormValue("flow")
	bh := browserHash(r, d.Settings.SecureCookies)
	if !ids.IsUUID(id) || bh == nil {
		pages.Problem(w, r, http.StatusGone, "flow")
		return store.Flow{}, r, false
	}
	f, err := d.Store.FlowForBrowser(r.Context(), id, bh)
	if errors.Is(err, store.ErrNotFound) {
		pages.Problem(w, r, http.StatusGone, "flow")
		return f, r, false
	}
	if err != nil {
		pages.Fail(w, r, err)
		return f, r, false
	}
	r = r.WithContext(i18n.WithLang(r.Context(), i18n.Lang(f.Lang)))
	if f.CompletedAt != nil {
		pages.FailFlow(w, r, d.Store, f.Challenge, challenges.ErrUsed)
		return f, r, false
	}
	return f, r, true
}

// tooMany renders the 429 page with Retry-After: when the person can try
// again (in their time zone when the form carried it), and the ways still
// open — another email or phone when the limit counts the identifier, and
// "Start again".
func (d Deps) tooMany(w http.ResponseWriter, r *http.Request, f store.Flow, limited *store.LimitError) {
	w.Header().Set("Retry-After", strconv.Itoa(int(limited.RetryAfter.Seconds())+1))
	v := views.LimitView{
		Wait: limited.RetryAfter, Now: time.Now(), Zone: browserZone(r), RequestID: web.RequestID(r.Context()),
		StartAgain: f.RequestURL, HasEmail: d.Settings.Email, HasPhone: d.Settings.SMS || d.Settings.WhatsApp,
	}
	if f.VerifiedAt == nil {
		v.FlowID = f.ID
		v.Limited = limitedIdentifier(limited.Bucket, f.Channel)
	}
	pages.Render(w, r, http.StatusTooManyRequests, views.TooMany(v))
}

// limitedIdentifier says what a limit counts, "email" or "phone" when it is
// the identifier (another one is a way still open), "" when it is the
// connection or the account (no other email or phone helps).
func limitedIdentifier(bucket, channel string) string {
	switch bucket {
	case "send-email":
		return "email"
	case "send-phone", "core-provider":
		return "phone"
	case "fail-identifier", "core-identifier":
		if channel == "" {
			return ""
		}
		return channelKind(channel)
	}
	return ""
}

// browserZone is the time zone the page's script put in the form's "tz"
// field (an IANA name such as America/El_Salvador), or nil.
func browserZone(r *http.Request) *time.Location {
	name := r.PostFormValue("tz")
	if name == "" || len(name) > 64 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_+-") != "" {
		return nil
	}
	zone, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	return zone
}
