package identity

import (
	"errors"

	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// TelegramPassport is a source that can sign a phone number in with Telegram
// Passport (Blink core), where the source's country list offers the
// "telegram" channel. Its SendCode with Channel "telegram" asks for a
// Telegram request (no message is sent: the person confirms in Telegram) and
// keeps it in the flow; its VerifyCode of such a flow asks whether Telegram
// confirmed it, answering store.CodePending until it has.
type TelegramPassport interface {
	// TelegramParams is the flow's request, for Telegram's script in the browser.
	TelegramParams(f store.Flow) (TelegramParams, error)
}

// TelegramParams are what Telegram's Passport.auth takes: the bot's id, the
// scope (JSON, as the source gave it), the public key and the nonce.
type TelegramParams struct {
	BotID, Scope, PublicKey, Nonce string
}

// Telegram Passport's own refusals.
var (
	// ErrTelegramOff: the source does not offer Telegram Passport now.
	ErrTelegramOff = errors.New("accounts: telegram passport is not available")
	// ErrTelegramGone: the flow's Telegram request expired or was used.
	ErrTelegramGone = errors.New("accounts: the telegram request expired or was already used")
	// ErrTelegramPhone: Telegram confirmed another phone number than the flow's.
	ErrTelegramPhone = errors.New("accounts: telegram confirmed another phone number")
)
