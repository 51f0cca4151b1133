// Package devmessages is the development page /dev/messages: in DEV_MODE,
// the messages the development logger handled, codes included, so a person
// trying the service signs in without a mail server or an SMS provider.
package devmessages

import (
	"context"
	"net/http"

	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/pages"
	"github.com/blinkbitcoin/blink-consent/views"
)

// Store lists what the development logger handled.
type Store interface {
	DevMessages(ctx context.Context, limit int) ([]store.OutboxMessage, error)
}

// Deps is what the page stands on.
type Deps struct {
	Store Store
	// Keys open the messages' sealed bodies.
	Keys secret.Keys
	// DevMode: outside it the page does not exist.
	DevMode bool
}

// Handle answers GET /dev/messages in DEV_MODE: the newest messages
// the development logger handled, with their codes. A message given to a real
// sender (SMTP, Twilio, webhook) never shows here, even in DEV_MODE. Outside
// DEV_MODE the page does not exist (404).
func Handle(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.DevMode {
			pages.Problem(w, r, http.StatusNotFound, "notfound")
			return
		}
		ms, err := d.Store.DevMessages(r.Context(), 20)
		if err != nil {
			pages.Fail(w, r, err)
			return
		}
		var list []views.DevMessage
		for _, m := range ms {
			e, err := delivery.Open(d.Keys, m)
			if err != nil {
				e.Text = "(cannot be opened with this SECRET_KEY)"
			}
			list = append(list, views.DevMessage{When: m.CreatedAt.Format("15:04:05"), Channel: m.Channel,
				To: m.Destination, Subject: e.Subject, Text: e.Text, Status: m.Status})
		}
		pages.Render(w, r, http.StatusOK, views.DevMessages(list))
	})
}
