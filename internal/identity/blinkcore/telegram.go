package blinkcore

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/blinkbitcoin/blink-consent/internal/ids"
)

// Telegram Passport (core/api/src/servers/authentication/telegram-passport):
// request-params gives the browser what Telegram's Passport script needs and
// a nonce core keeps for 10 minutes; once the person shared their phone in
// Telegram, Telegram calls core's webhook (not us), and login signs the
// phone in with that nonce, once.

var (
	// ErrTelegramDisabled: core has no Telegram Passport configured.
	ErrTelegramDisabled = errors.New("blinkcore: telegram passport disabled")
	// ErrTelegramPending: Telegram has not confirmed the nonce yet; ask again later.
	ErrTelegramPending = errors.New("blinkcore: telegram authorization pending")
	// ErrTelegramNonce: the nonce is unknown, expired or already used.
	ErrTelegramNonce = errors.New("blinkcore: telegram nonce invalid or used")
	// ErrTelegramPhone: Telegram confirmed the nonce for another phone number.
	ErrTelegramPhone = errors.New("blinkcore: telegram confirmed another phone number")
)

// TelegramParams is request-params' answer, handed to Telegram's
// Passport.auth in the browser: bot_id (a string in core's answer), scope
// (passed on as core gave it), public_key and nonce.
type TelegramParams struct {
	BotID     string          `json:"bot_id"`
	Scope     json.RawMessage `json:"scope"`
	PublicKey string          `json:"public_key"`
	Nonce     string          `json:"nonce"`
}

// Texts of the two routes (error-map.ts); the login's limits and onboarding
// refusals are /phone/login's.
const (
	textTelegramDisabled   = "Telegram passport authentication is not enabled"
	textTelegramPending    = "Authorization data from Telegram is still pending. Please wait a few seconds and try again."
	textTelegramNonceIP    = "Too many nonce attempts on same network, please wait for a while and try again."
	textTelegramNoncePhone = "Too many nonce attempts, please wait for a while and try again."
	textTelegramPhone      = "Unknown error occurred (code: InvalidNoncePhoneTelegramPassportError)"
	textInvalidChannel     = "Invalid channel"
	textMissingInputsTP    = "missing inputs"
)

// TelegramRequestParams asks core for a nonce for phone (E.164).
func (c *Client) TelegramRequestParams(ctx context.Context, ip, phone string) (TelegramParams, error) {
	const route = "/telegram-passport/request-params"
	a, err := c.post(ctx, route, ip, map[string]string{"phone": phone})
	if err != nil {
		return TelegramParams{}, err
	}
	if a.status == http.StatusOK {
		var p TelegramParams
		if json.Unmarshal(a.body, &p) != nil || p.BotID == "" || p.PublicKey == "" || !ids.IsUUID(p.Nonce) || len(p.Scope) == 0 {
			// Not core's text: a success body carries the nonce, which must
			// not reach a log line through the error.
			return TelegramParams{}, unexpected(route, answer{status: a.status, header: a.header})
		}
		return p, nil
	}
	e, parsed := parseError(a.body)
	if !parsed || e.name != "" || a.status != http.StatusBadRequest {
		return TelegramParams{}, unexpected(route, a)
	}
	switch {
	case e.text == textTelegramDisabled:
		return TelegramParams{}, fail(ErrTelegramDisabled, route, a)
	case e.text == textTelegramNonceIP:
		return TelegramParams{}, limit(LimitIP, blockHour, route, a)
	case e.text == textTelegramNoncePhone:
		return TelegramParams{}, limit(LimitIdentifier, blockTelegramNoncePhone, route, a)
	case e.text == textInvalidChannel:
		return TelegramParams{}, fail(ErrInvalidChannel, route, a)
	case e.text == textMissingInputsTP, strings.Contains(e.text, "(code: InvalidPhoneNumber"):
		// An unparseable number: core's error map words it "Unexpected error
		// occurred, … (code: InvalidPhoneNumber: <the number>)".
		return TelegramParams{}, fail(ErrInvalidInput, route, a)
	}
	return TelegramParams{}, unexpected(route, a)
}

// TelegramLogin signs phone in with a nonce Telegram confirmed: core's answer
// is /phone/login's (no result wrapper). ErrTelegramPending until Telegram
// has called core's webhook.
func (c *Client) TelegramLogin(ctx context.Context, ip, nonce, phone string) (Login, error) {
	const route = "/telegram-passport/login"
	a, err := c.post(ctx, route, ip, map[string]string{"nonce": nonce, "phone": phone})
	if err != nil {
		return Login{}, err
	}
	if a.status == http.StatusOK {
		var ok loginJSON
		if json.Unmarshal(a.body, &ok) != nil {
			return Login{}, unexpected(route, a, nonce)
		}
		return ok.login(route, a)
	}
	e, parsed := parseError(a.body)
	if !parsed || e.name != "" {
		return Login{}, unexpected(route, a, nonce)
	}
	switch a.status {
	case http.StatusBadRequest:
		switch e.text {
		case textTelegramDisabled:
			return Login{}, fail(ErrTelegramDisabled, route, a, nonce)
		case textMissingInputsTP, "invalid phone":
			return Login{}, fail(ErrInvalidInput, route, a, nonce)
		case "invalid nonce":
			return Login{}, fail(ErrTelegramNonce, route, a, nonce)
		}
	case http.StatusUnauthorized:
		switch {
		case e.text == textTelegramPending:
			return Login{}, fail(ErrTelegramPending, route, a, nonce)
		case strings.HasPrefix(e.text, "Invalid nonce "):
			// "Invalid nonce <nonce>": unknown, expired or used (single use).
			return Login{}, fail(ErrTelegramNonce, route, a, nonce)
		case e.text == textTelegramPhone:
			return Login{}, fail(ErrTelegramPhone, route, a, nonce)
		case e.text == textInvalidChannel:
			return Login{}, fail(ErrInvalidChannel, route, a, nonce)
		case e.text == textLoginIPLimit:
			return Login{}, limit(LimitIP, blockFailedLoginIP, route, a, nonce)
		case e.text == textLoginPhoneLimit:
			return Login{}, limit(LimitIdentifier, blockHour, route, a, nonce)
		case e.text == textPhoneNotAllowed:
			return Login{}, fail(ErrNotAllowedToRegister, route, a, nonce)
		case e.text == textIPNotOnboarding:
			return Login{}, fail(ErrNetworkNotAllowedToRegister, route, a, nonce)
		}
	}
	return Login{}, unexpected(route, a, nonce)
}
