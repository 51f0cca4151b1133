package identity

import (
	"testing"

	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// A two-step notice goes only where a sender of ours serves it: email first,
// else SMS, else nowhere (no message queued, the change still made); an
// account with no email or phone at all still changes nothing.
func TestTOTPNoticeGoesOnlyWhereASenderIs(t *testing.T) {
	keys := secret.NewKeys(make([]byte, 32))
	both := store.User{Email: "ana@example.com", Phone: "+50370001234"}
	only := func(channels ...string) CanSend {
		return func(ch string) bool {
			for _, c := range channels {
				if c == ch {
					return true
				}
			}
			return false
		}
	}
	for _, c := range []struct {
		name    string
		can     CanSend
		channel string
	}{
		{"every channel", nil, "email"},
		{"SMTP only", only("email"), "email"},
		{"SMS only", only("sms"), "sms"},
		{"no sender (blink mode without SMTP)", only(), ""},
	} {
		m, err := TOTPNotice(keys, both, i18n.English, "notify.totp.added", nil, c.can)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		switch {
		case c.channel == "" && m != nil:
			t.Errorf("%s: a notice was made for %s with no sender to send it", c.name, m.Channel)
		case c.channel != "" && (m == nil || m.Channel != c.channel):
			t.Errorf("%s: notice %+v, want one by %s", c.name, m, c.channel)
		case m != nil:
			if e, err := delivery.Open(keys, store.OutboxMessage{Channel: m.Channel, Destination: m.Destination, Sealed: m.Sealed}); err != nil || e.Text == "" {
				t.Errorf("%s: the notice does not open: %v", c.name, err)
			}
		}
	}
	if _, err := TOTPNotice(keys, store.User{}, i18n.English, "notify.totp.added", nil, only()); err == nil {
		t.Error("an account with no email or phone: the change would be made untold")
	}
}
