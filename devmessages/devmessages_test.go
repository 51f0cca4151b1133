package devmessages

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

type fakeStore struct {
	messages []store.OutboxMessage
	err      error
	asked    []int // the limits asked for
}

func (s *fakeStore) DevMessages(ctx context.Context, limit int) ([]store.OutboxMessage, error) {
	s.asked = append(s.asked, limit)
	return s.messages, s.err
}

var keys = secret.NewKeys([]byte("0123456789abcdef0123456789abcdef"))

// sealed is a message as the outbox holds it, sealed with k.
func sealed(t *testing.T, k secret.Keys, e delivery.Envelope, at time.Time) store.OutboxMessage {
	t.Helper()
	m, err := delivery.Seal(k, e, at.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return store.OutboxMessage{Channel: m.Channel, Destination: m.Destination, Sealed: m.Sealed, Status: "sent", HandledBy: "dev", CreatedAt: at}
}

func serve(d Deps) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	Handle(d).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dev/messages", nil))
	return rec
}

// Outside DEV_MODE the page does not exist, and the outbox is not read.
func TestNotInDevMode(t *testing.T) {
	st := &fakeStore{messages: []store.OutboxMessage{sealed(t, keys, delivery.Envelope{Channel: "sms", To: "+50370000000", Text: "Your code is 424242"}, time.Now())}}
	rec := serve(Deps{Store: st, Keys: keys})
	body := rec.Body.String()
	if rec.Code != 404 || !strings.Contains(body, i18n.English.T("error.notfound.title")) {
		t.Errorf("%d\n%s", rec.Code, body)
	}
	if len(st.asked) != 0 || strings.Contains(body, "424242") || strings.Contains(body, "+50370000000") {
		t.Errorf("outside DEV_MODE: store asked %v, page holds the message", st.asked)
	}
}

// In DEV_MODE the newest 20 messages show, codes included; one sealed under
// another SECRET_KEY says it cannot be opened, and the others still show.
func TestListsMessages(t *testing.T) {
	at := time.Date(2026, 12, 5, 1, 2, 3, 0, time.UTC)
	other := secret.NewKeys([]byte("another key, another key, anothe"))
	st := &fakeStore{messages: []store.OutboxMessage{
		sealed(t, keys, delivery.Envelope{Channel: "email", To: "maria@example.com", Subject: "Your Blink code", Text: "Your code is 123456 <b>"}, at),
		sealed(t, other, delivery.Envelope{Channel: "sms", To: "+50370000000", Text: "Your code is 999999"}, at.Add(time.Second)),
		sealed(t, keys, delivery.Envelope{Channel: "whatsapp", To: "+50371111111", Text: "Tu código es 654321"}, at.Add(2*time.Second)),
	}}
	rec := serve(Deps{Store: st, Keys: keys, DevMode: true})
	body := rec.Body.String()
	if rec.Code != 200 || len(st.asked) != 1 || st.asked[0] != 20 {
		t.Fatalf("%d, asked %v\n%s", rec.Code, st.asked, body)
	}
	for _, want := range []string{
		"01:02:03 · email · sent", "maria@example.com", "Your Blink code", "Your code is 123456 &lt;b&gt;",
		"01:02:04 · sms · sent", "+50370000000", "(cannot be opened with this SECRET_KEY)",
		"01:02:05 · whatsapp · sent", "Tu código es 654321",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "999999") || strings.Contains(body, i18n.English.T("dev.messages.none")) {
		t.Error("the unopenable message's text, or 'no messages', shows")
	}
}

func TestNoMessagesYet(t *testing.T) {
	rec := serve(Deps{Store: &fakeStore{}, Keys: keys, DevMode: true})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), i18n.English.T("dev.messages.none")) {
		t.Errorf("%d\n%s", rec.Code, rec.Body)
	}
}

// The outbox unreadable: the error page, not an empty list.
func TestStoreDown(t *testing.T) {
	rec := serve(Deps{Store: &fakeStore{err: errors.New("connection refused")}, Keys: keys, DevMode: true})
	if rec.Code != 500 || strings.Contains(rec.Body.String(), i18n.English.T("dev.messages.none")) {
		t.Errorf("%d\n%s", rec.Code, rec.Body)
	}
}
