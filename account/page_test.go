package account

import (
	"testing"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// The confirmation of a two-step change says "we told you by email or SMS"
// only when a sender serves the account's email or phone: with
// IDENTITY_SOURCE=blink and no SMTP or SMS settings of ours, nothing was sent.
func TestDoneKeySaysTheUserWasToldOnlyWhenTheyWere(t *testing.T) {
	none := func(string) bool { return false }
	emailOnly := func(ch string) bool { return ch == "email" }
	ana := &store.User{Email: "ana@example.com"}
	phone := &store.User{Phone: "+50370001234"}
	for _, c := range []struct {
		done string
		user *store.User
		can  func(string) bool
		want string
	}{
		{"totp_on", ana, nil, "account.done.totp_on"},
		{"totp_on", ana, emailOnly, "account.done.totp_on"},
		{"totp_on", ana, none, "account.done.totp_on_untold"},
		{"totp_off", phone, emailOnly, "account.done.totp_off_untold"},
		{"totp_off", nil, nil, "account.done.totp_off_untold"},
		{"revoked", ana, none, "account.done.revoked"},
		{"<script>", ana, nil, ""},
	} {
		if got := doneKey(c.done, c.user, c.can); got != c.want {
			t.Errorf("doneKey(%q, %v): %q, want %q", c.done, c.user, got, c.want)
		}
		if c.want != "" && (!i18n.Has(c.want) || i18n.English.T(c.want) == i18n.Spanish.T(c.want)) {
			t.Errorf("%s is not in the catalog in both languages", c.want)
		}
	}
}
