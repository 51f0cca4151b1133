package blinkcore

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/devstack/corestandin"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
)

// meanings are the conformance table's words for this client's answers.
var meanings = map[string]error{
	"wrong_code":           ErrWrongCode,
	"code_expired":         ErrCodeExpired,
	"invalid_input":        ErrInvalidInput,
	"invalid_phone":        ErrInvalidPhone,
	"not_mobile":           ErrNotMobile,
	"region":               ErrRegionRestricted,
	"opted_out":            ErrOptedOut,
	"phone_check":          ErrPhoneCheck,
	"provider_unavailable": ErrProviderUnavailable,
	"captcha":              ErrCaptchaFailed,
	"captcha_unchecked":    ErrCaptchaUnavailable,
	"channel":              ErrInvalidChannel,
	"registration":         ErrNotAllowedToRegister,
	"registration_network": ErrNetworkNotAllowedToRegister,
	"session_rejected":     ErrSessionRejected,
	"unavailable":          ErrUnavailable,
}

// Every case of core's conformance table, asked through this client of a
// stand-in set up for it, means what the table says: core's answers and our
// reading of them cannot drift apart unseen (the stand-in's side checks its
// answers against the same table).
func TestClientReadsCoreAsTheConformanceTableSays(t *testing.T) {
	for _, c := range corestandin.Conformance() {
		t.Run(c.Name, func(t *testing.T) {
			s, client := standin(t)
			var values map[string]string
			if c.Setup != nil {
				values = c.Setup(s)
			}
			var body map[string]string
			json.Unmarshal([]byte(corestandin.Expand(c.Body, values)), &body)
			ip := c.IP
			if ip == "" {
				// The client refuses to call without an IP (core would say
				// "IP is not defined"): the same meaning, unavailable.
				ip = "not an ip"
			}
			var err error
			switch c.Route {
			case "/auth/phone/login":
				_, err = client.PhoneLogin(ctx, ip, body["phone"], body["code"])
			case "/auth/phone/code":
				err = client.PhoneCode(ctx, ip, body["phone"], body["channel"], GeetestResult{body["challengeCode"], body["validationCode"], body["secCode"]})
			case "/auth/email/code":
				_, err = client.EmailCode(ctx, ip, body["email"])
			case "/auth/email/login":
				_, err = client.EmailLogin(ctx, ip, body["emailLoginId"], body["code"])
			case "/graphql":
				var me Me
				me, err = client.Me(ctx, strings.TrimPrefix(corestandin.Expand(c.Header["Authorization"], values), "Bearer "))
				if err == nil && me.ID != values["id"] {
					t.Fatalf("me.id %q, want %q", me.ID, values["id"])
				}
			default:
				t.Fatalf("no client call for %s", c.Route)
			}
			checkMeaning(t, err, c.Means)
		})
	}
}

func checkMeaning(t *testing.T, err error, means string) {
	t.Helper()
	if means == "ok" {
		if err != nil {
			t.Fatalf("got %v, want success", err)
		}
		return
	}
	if rest, ok := strings.CutPrefix(means, "limit:"); ok {
		what, block, _ := strings.Cut(rest, ":")
		want, perr := time.ParseDuration(block)
		var le *LimitError
		if perr != nil || !errors.As(err, &le) || le.What != what || le.Block != want {
			t.Fatalf("got %v (%+v), want a limit on %q blocking %s", err, le, what, block)
		}
		return
	}
	want, ok := meanings[means]
	if !ok {
		t.Fatalf("the table's meaning %q has no error here", means)
	}
	check(t, err, want)
}

// Every refusal of core's has its own message in the catalog (both
// languages: the catalog's own test keeps their keys equal), and a refused
// registration its error page.
func TestEveryRefusalHasItsMessage(t *testing.T) {
	for _, r := range refusals {
		if r.reason == "" {
			continue // the login page's default for the channel
		}
		if !i18n.Has("login.error." + r.reason) {
			t.Errorf("%v: no login.error.%s in the catalog", r.core, r.reason)
		}
		if errors.Is(r.kind, identity.ErrRegistrationRefused) && !i18n.Has("error."+r.reason+".title") {
			t.Errorf("%v: no error page error.%s.*", r.core, r.reason)
		}
	}
}
