package blinkcore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/blinkbitcoin/blink-consent/internal/devstack/corestandin"
)

// Every answer of core's two Telegram Passport routes (core's
// telegram-passport/*.ts and error-map.ts), from a fake core.

func TestTelegramRequestParamsAnswers(t *testing.T) {
	f := run(t, []row{
		{"200", 200, `{"bot_id":"7000000001","scope":{"data":["phone_number"],"v":1},"public_key":"-----BEGIN PUBLIC KEY-----\nX\n-----END PUBLIC KEY-----","nonce":"` + uuid1 + `"}`, nil},
		{"200 without nonce", 200, `{"bot_id":"7000000001","scope":{"data":["phone_number"],"v":1},"public_key":"k"}`, ErrUnavailable},
		{"200 bot_id a number", 200, `{"bot_id":7000000001,"scope":{"data":["phone_number"],"v":1},"public_key":"k","nonce":"` + uuid1 + `"}`, ErrUnavailable},
		{"disabled", 400, `{"error":"Telegram passport authentication is not enabled"}`, ErrTelegramDisabled},
		{"missing", 400, `{"error":"missing inputs"}`, ErrInvalidInput},
		{"invalid phone", 400, `{"error":"Unexpected error occurred, please try again or contact support if it persists (code: InvalidPhoneNumber: +1999)"}`, ErrInvalidInput},
		{"channel", 400, `{"error":"Invalid channel"}`, ErrInvalidChannel},
		{"ip limit", 400, `{"error":"Too many nonce attempts on same network, please wait for a while and try again."}`, limitIs(LimitIP)},
		{"phone limit", 400, `{"error":"Too many nonce attempts, please wait for a while and try again."}`, limitIs(LimitIdentifier)},
		{"other 400", 400, `{"error":"Request failed with status code 500"}`, ErrUnavailable},
	}, func(c *Client) error {
		_, err := c.TelegramRequestParams(context.Background(), ip, "+12015550123")
		return err
	})
	if f.path != "/auth/telegram-passport/request-params" || f.body["phone"] != "+12015550123" || f.header.Get("X-Real-IP") != ip {
		t.Errorf("sent %s %v with X-Real-IP %q", f.path, f.body, f.header.Get("X-Real-IP"))
	}
}

func TestTelegramLoginAnswers(t *testing.T) {
	f := run(t, []row{
		{"200", 200, `{"authToken":"` + token1 + `","totpRequired":false,"id":"` + uuid1 + `"}`, nil},
		{"200 totp", 200, `{"authToken":"` + token1 + `","totpRequired":true}`, nil},
		{"pending", 401, `{"error":"Authorization data from Telegram is still pending. Please wait a few seconds and try again."}`, ErrTelegramPending},
		{"invalid nonce", 401, `{"error":"Invalid nonce ` + uuid1 + `"}`, ErrTelegramNonce},
		{"another phone", 401, `{"error":"Unknown error occurred (code: InvalidNoncePhoneTelegramPassportError)"}`, ErrTelegramPhone},
		{"channel", 401, `{"error":"Invalid channel"}`, ErrInvalidChannel},
		{"ip limit", 401, `{"error":"Too many login attempts on same network, please wait for a while and try again."}`, limitIs(LimitIP)},
		{"phone limit", 401, `{"error":"Too many login attempts, please wait for a while and try again."}`, limitIs(LimitIdentifier)},
		{"onboarding ip", 401, `{"error":"This IP address is not allowed to onboard."}`, ErrNetworkNotAllowedToRegister},
		{"onboarding phone", 401, `{"error":"This phone number is not allowed to onboard."}`, ErrNotAllowedToRegister},
		{"disabled", 400, `{"error":"Telegram passport authentication is not enabled"}`, ErrTelegramDisabled},
		{"missing", 400, `{"error":"missing inputs"}`, ErrInvalidInput},
		{"malformed nonce", 400, `{"error":"invalid nonce"}`, ErrTelegramNonce},
		{"invalid phone", 400, `{"error":"invalid phone"}`, ErrInvalidInput},
	}, func(c *Client) error {
		_, err := c.TelegramLogin(context.Background(), ip, uuid1, "+12015550123")
		return err
	})
	if f.path != "/auth/telegram-passport/login" || f.body["nonce"] != uuid1 || f.body["phone"] != "+12015550123" {
		t.Errorf("sent %s %v", f.path, f.body)
	}
}

// The client against the stand-in: a nonce is pending until Telegram's
// webhook confirms it, then signs in once, and never for another phone; the
// nonce never shows in an error.
func TestTelegramAgainstTheStandin(t *testing.T) {
	core, err := corestandin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	c := New(core.AuthURL(), core.GraphQLURL(), nil)
	ctx := context.Background()
	const phone = "+12015550123"
	p, err := c.TelegramRequestParams(ctx, ip, phone)
	if err != nil || p.BotID != corestandin.TelegramBotID || string(p.Scope) != `{"data":["phone_number"],"v":1}` {
		t.Fatalf("request-params: %+v %v", p, err)
	}
	if _, err := c.TelegramLogin(ctx, ip, p.Nonce, phone); !strings.Contains(err.Error(), "pending") || !errors.Is(err, ErrTelegramPending) {
		t.Errorf("before the webhook: %v", err)
	}
	core.AuthorizeTelegram(p.Nonce, phone)
	if _, err := c.TelegramLogin(ctx, ip, p.Nonce, "+12015550124"); !errors.Is(err, ErrTelegramPhone) {
		t.Errorf("another phone: %v", err)
	}
	login, err := c.TelegramLogin(ctx, ip, p.Nonce, phone)
	if err != nil || login.ID != core.Lookup(phone) || login.AuthToken == "" {
		t.Fatalf("after the webhook: %+v %v", login, err)
	}
	_, err = c.TelegramLogin(ctx, ip, p.Nonce, phone)
	if !errors.Is(err, ErrTelegramNonce) || strings.Contains(err.Error(), p.Nonce) {
		t.Errorf("the nonce used twice: %v", err)
	}
	if _, err := c.TelegramRequestParams(ctx, ip, "+50375551234"); !errors.Is(err, ErrInvalidChannel) {
		t.Errorf("a country without Telegram: %v", err)
	}
	core.SetTelegramDisabled(true)
	if _, err := c.TelegramRequestParams(ctx, ip, phone); !errors.Is(err, ErrTelegramDisabled) {
		t.Errorf("disabled: %v", err)
	}
}

// A success answer that does not hold together is unexpected, and its body —
// the nonce that lets its holder finish the sign-in — stays out of the error
// a log line would show.
func TestTelegramRequestParamsKeepsTheNonceOutOfErrors(t *testing.T) {
	f := newFakeCore(t)
	f.answer = canned{status: 200, body: `{"bot_id":7000000001,"scope":{"data":["phone_number"],"v":1},"public_key":"k","nonce":"` + uuid1 + `"}`}
	_, err := f.client().TelegramRequestParams(context.Background(), ip, "+12015550123")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a 200 with a numeric bot_id: %v, want ErrUnavailable", err)
	}
	if text := CoreText(err) + err.Error() + fmt.Sprint(err.(interface{ LogValue() slog.Value }).LogValue()); strings.Contains(text, uuid1) {
		t.Errorf("the nonce reached the error: %s", text)
	}
}
