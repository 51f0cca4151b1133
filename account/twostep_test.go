package account

import (
	"errors"
	"testing"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
)

func TestTOTPErrorKeys(t *testing.T) {
	for err, want := range map[error]string{
		nil:                        "",
		identity.ErrWrongCode:      "account.totp.error.wrong_code",
		identity.ErrEnrollmentGone: "account.totp.error.expired",
		identity.ErrFreshSignIn:    "account.totp.error.fresh_sign_in",
		identity.ErrTOTPOn:         "account.totp.error.already_on",
		identity.ErrTOTPOff:        "account.totp.error.already_off",
		identity.ErrNotFound:       "account.totp.error.not_found",
		identity.ErrUnavailable:    "account.totp.error.unavailable",
		errors.New("anything"):     "account.totp.error.unavailable",
	} {
		if got := totpErrorKey(err); got != want {
			t.Errorf("totpErrorKey(%v) = %q, want %q", err, got, want)
		}
		if want != "" && !i18n.Has(want) {
			t.Errorf("%s is not in the catalog", want)
		}
	}
}
