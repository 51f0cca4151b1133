package blinkcore

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Every documented answer of every route (reference §2), served by a fake
// core, and the typed error the client makes of it.

type canned struct {
	status int
	body   string
	header http.Header
}

// fakeCore answers every request with one canned answer and keeps the last request.
type fakeCore struct {
	srv     *httptest.Server
	answer  canned
	path    string
	header  http.Header
	body    map[string]any
	rawBody string
}

func newFakeCore(t *testing.T) *fakeCore {
	f := &fakeCore{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.path, f.header, f.rawBody = r.URL.Path, r.Header.Clone(), string(b)
		f.body = nil
		json.Unmarshal(b, &f.body)
		for k, v := range f.answer.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(f.answer.status)
		io.WriteString(w, f.answer.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCore) client() *Client {
	return New(f.srv.URL+"/auth", f.srv.URL+"/graphql", nil)
}

// limitIs is the expectation of a *LimitError with this What.
type limitIs string

type row struct {
	name   string
	status int
	body   string
	want   any // nil, a sentinel error, or limitIs
}

func check(t *testing.T, err error, want any) {
	t.Helper()
	switch w := want.(type) {
	case nil:
		if err != nil {
			t.Fatalf("got %v, want success", err)
		}
	case limitIs:
		var le *LimitError
		if !errors.As(err, &le) || le.What != string(w) {
			t.Fatalf("got %v, want a LimitError on %q", err, w)
		}
	case error:
		if !errors.Is(err, w) {
			t.Fatalf("got %v, want %v", err, w)
		}
		for _, other := range allKinds {
			if other != w && errors.Is(err, other) {
				t.Fatalf("%v is also %v", err, other)
			}
		}
	}
}

// allKinds are every kind of answer; each answer is exactly one.
var allKinds = []error{ErrWrongCode, ErrCodeExpired, ErrCaptchaFailed, ErrCaptchaUnavailable, ErrNotAllowedToRegister,
	ErrNetworkNotAllowedToRegister, ErrInvalidChannel, ErrInvalidInput, ErrInvalidPhone, ErrNotMobile, ErrRegionRestricted,
	ErrOptedOut, ErrPhoneCheck, ErrProviderUnavailable, ErrSessionRejected, ErrUnavailable}

// undocumented answers every route must take as core being unavailable
var broken = []row{
	{"500 (S)", 500, `{"error":"boom"}`, ErrUnavailable},
	{"502 from a proxy", 502, `<html>Bad Gateway</html>`, ErrUnavailable},
	{"503 empty", 503, ``, ErrUnavailable},
	{"IP is not defined", 400, `{"error":"IP is not defined"}`, ErrUnavailable},
	{"unparseable", 400, `{"error":`, ErrUnavailable},
	{"307", 307, ``, ErrUnavailable},
	{"404 from Express", 404, `Cannot POST /auth/x`, ErrUnavailable},
}

func run(t *testing.T, rows []row, call func(*Client) error) *fakeCore {
	t.Helper()
	f := newFakeCore(t)
	c := f.client()
	for _, r := range append(rows, broken...) {
		t.Run(r.name, func(t *testing.T) {
			f.answer = canned{status: r.status, body: r.body}
			check(t, call(c), r.want)
		})
	}
	return f
}

const (
	ip     = "203.0.113.9"
	uuid1  = "6f1c7a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
	token1 = "ory_st_AbCdEfGhIjKlMnOpQrStUvWxYz012345"
)

func TestEmailCodeAnswers(t *testing.T) {
	var got string
	f := run(t, []row{
		{"200", 200, `{"result":"` + uuid1 + `"}`, nil},
		{"200 without result", 200, `{}`, ErrUnavailable},
		{"422 missing", 422, `{"error":"Missing input"}`, ErrInvalidInput},
		{"422 bad address", 422, `{"error":"not-an-email"}`, ErrInvalidInput},
		{"400 limit", 400, `{"error":"Unknown error"}`, limitIs(LimitUnknown)},
		{"400 Kratos", 400, `{"error":"Request failed with status code 502"}`, ErrUnavailable},
		{"400 (O)", 400, `{"error":{"name":"UnknownKratosError","level":"warn"}}`, ErrUnavailable},
	}, func(c *Client) (err error) {
		got, err = c.EmailCode(context.Background(), ip, "ana@example.com")
		return err
	})
	f.answer = canned{status: 200, body: `{"result":"` + uuid1 + `"}`}
	got, _ = f.client().EmailCode(context.Background(), ip, "ana@example.com")
	if got != uuid1 || f.path != "/auth/email/code" || f.rawBody != `{"email":"ana@example.com"}` {
		t.Fatalf("EmailCode sent %s %s, returned %q", f.path, f.rawBody, got)
	}
}

func TestEmailLoginAnswers(t *testing.T) {
	f := run(t, []row{
		{"200", 200, `{"result":{"authToken":"` + token1 + `","totpRequired":false,"id":"` + uuid1 + `"}}`, nil},
		{"200 TOTP, no id", 200, `{"result":{"authToken":"` + token1 + `","totpRequired":true}}`, nil},
		{"200 without the result wrapper", 200, `{"authToken":"` + token1 + `","totpRequired":false,"id":"` + uuid1 + `"}`, ErrUnavailable},
		{"200 without token", 200, `{"result":{"totpRequired":false,"id":"` + uuid1 + `"}}`, ErrUnavailable},
		{"200 id not a UUID", 200, `{"result":{"authToken":"` + token1 + `","totpRequired":false,"id":"42"}}`, ErrUnavailable},
		{"422 missing", 422, `{"error":"Missing input"}`, ErrInvalidInput},
		{"422 login id echoed", 422, `{"error":"not-a-uuid"}`, ErrInvalidInput},
		{"422 code not six digits", 422, `{"error":"Unknown error"}`, ErrWrongCode},
		{"401 invalid code", 401, `{"error":"invalid code"}`, ErrWrongCode},
		{"401 other", 401, `{"error":"something"}`, ErrUnavailable},
		{"429", 429, `{"error":"too many requests"}`, limitIs(LimitUnknown)},
		{"400 expired or unverified", 400, `{"error":"Unknown error"}`, ErrCodeExpired},
		{"400 other", 400, `{"error":"Request failed with status code 500"}`, ErrUnavailable},
	}, func(c *Client) error {
		_, err := c.EmailLogin(context.Background(), ip, uuid1, "123456")
		return err
	})
	f.answer = canned{status: 200, body: `{"result":{"authToken":"` + token1 + `","totpRequired":true,"id":"` + uuid1 + `"}}`}
	l, err := f.client().EmailLogin(context.Background(), ip, uuid1, "123456")
	if err != nil || l != (Login{AuthToken: token1, TOTPRequired: true}) {
		t.Fatalf("a TOTP login keeps no id: %+v %v", l, err)
	}
	if f.path != "/auth/email/login" || f.body["emailLoginId"] != uuid1 || f.body["code"] != "123456" || len(f.body) != 2 {
		t.Fatalf("EmailLogin sent %s %s", f.path, f.rawBody)
	}
}

func TestTOTPValidateAnswers(t *testing.T) {
	f := run(t, []row{
		{"200 empty", 200, ``, nil},
		{"422 missing", 422, `{"error":"Missing input"}`, ErrInvalidInput},
		{"422 code echoed", 422, `{"error":"12345"}`, ErrWrongCode},
		{"422 token", 422, `{"error":"Invalid value for AuthToken"}`, ErrSessionRejected},
		{"400 wrong code", 400, `{"error":"Request failed with status code 400"}`, ErrWrongCode},
		{"400 limit", 400, `{"error":"Unknown error"}`, limitIs(LimitTOTP)},
		{"400 other", 400, `{"error":"other"}`, ErrUnavailable},
		{"500 bad token", 500, `{"error":"Request failed with status code 401"}`, ErrSessionRejected},
	}, func(c *Client) error {
		return c.TOTPValidate(context.Background(), ip, token1, "123456")
	})
	if f.path != "/auth/totp/validate" || f.body["totpCode"] != "123456" || f.body["authToken"] != token1 || len(f.body) != 2 {
		t.Fatalf("TOTPValidate sent %s %s", f.path, f.rawBody)
	}
}

func TestPhoneCaptchaAnswers(t *testing.T) {
	var got Captcha
	f := run(t, []row{
		{"200", 200, `{"result":{"id":"gt1","challengeCode":"ch1","newCaptcha":true,"failbackMode":false}}`, nil},
		{"200 v4 extra field", 200, `{"result":{"id":"gt1","challengeCode":"ch1","newCaptcha":true,"failbackMode":false,"version":"v3"}}`, nil},
		{"200 failback", 200, `{"result":{"id":"gt1","challengeCode":"ch1","newCaptcha":true,"failbackMode":true}}`, nil},
		{"200 no challenge", 200, `{"result":{"id":"gt1"}}`, ErrUnavailable},
		{"500 challenge", 500, `{"error":"error creating challenge"}`, ErrUnavailable},
	}, func(c *Client) (err error) {
		got, err = c.PhoneCaptcha(context.Background(), ip)
		return err
	})
	f.answer = canned{status: 200, body: `{"result":{"id":"gt1","challengeCode":"ch1","newCaptcha":true,"failbackMode":true}}`}
	got, _ = f.client().PhoneCaptcha(context.Background(), ip)
	if got != (Captcha{ID: "gt1", ChallengeCode: "ch1", NewCaptcha: true, FailbackMode: true}) || f.rawBody != `{}` {
		t.Fatalf("PhoneCaptcha: %+v (sent %s)", got, f.rawBody)
	}
}

func errO(name string) string { return `{"error":{"name":"` + name + `","level":"info"}}` }

func TestPhoneCodeAnswers(t *testing.T) {
	f := run(t, []row{
		{"200", 200, `{"success":true}`, nil},
		{"200 not success", 200, `{"success":false}`, ErrUnavailable},
		{"400 missing inputs", 400, `{"error":"missing inputs"}`, ErrInvalidInput},
		{"400 invalid phone", 400, `{"error":"invalid phone"}`, ErrInvalidPhone},
		{"captcha failed", 400, errO("CaptchaUserFailToPassError"), ErrCaptchaFailed},
		{"captcha unknown", 400, errO("UnknownCaptchaError"), ErrCaptchaUnavailable},
		{"ip limit", 400, errO("UserCodeAttemptIpRateLimiterExceededError"), limitIs(LimitIP)},
		{"phone limit", 400, errO("UserAttemptPhoneIdentifierRateLimiterExceededError"), limitIs(LimitIdentifier)},
		{"phone limit, older name", 400, errO("UserCodeAttemptIdentifierRateLimiterExceededError"), limitIs(LimitIdentifier)},
		{"other limit", 400, errO("UserCodeAttemptBlockedCountryIpRateLimiterExceededError"), limitIs(LimitUnknown)},
		{"invalid channel", 400, errO("InvalidChannel"), ErrInvalidChannel},
		{"channel for country", 400, errO("InvalidChannelForCountry"), ErrInvalidChannel},
		{"provider unavailable", 400, `{"error":{"name":"PhoneProviderUnavailableError","level":"critical"}}`, ErrProviderUnavailable},
		{"provider connection", 400, `{"error":{"name":"PhoneProviderConnectionError","level":"warn"}}`, ErrProviderUnavailable},
		{"provider unknown", 400, `{"error":{"name":"UnknownPhoneProviderServiceError","level":"critical"}}`, ErrProviderUnavailable},
		{"provider limit", 400, errO("PhoneProviderRateLimitExceededError"), limitIs(LimitProvider)},
		{"InvalidPhoneNumber", 400, errO("InvalidPhoneNumber"), ErrInvalidPhone},
		{"provider: invalid number", 400, errO("InvalidPhoneNumberPhoneProviderError"), ErrInvalidPhone},
		{"provider: not mobile", 400, errO("InvalidTypePhoneProviderError"), ErrNotMobile},
		{"provider: type unknown", 400, `{"error":{"name":"MissingTypePhoneProviderError","level":"critical"}}`, ErrPhoneCheck},
		{"provider: region", 400, errO("RestrictedRegionPhoneProviderError"), ErrRegionRestricted},
		{"provider: opted out", 400, errO("UnsubscribedRecipientPhoneProviderError"), ErrOptedOut},
		{"provider: fraud block", 400, errO("RestrictedRecipientPhoneNumberError"), ErrPhoneCheck},
		{"not implemented", 400, errO("NotImplementedError"), ErrUnavailable},
	}, func(c *Client) error {
		return c.PhoneCode(context.Background(), ip, "+16505554350", "whatsapp", GeetestResult{Challenge: "ch", Validate: "va", Seccode: "va|jordan"})
	})
	want := map[string]any{"phone": "+16505554350", "challengeCode": "ch", "validationCode": "va", "secCode": "va|jordan", "channel": "whatsapp"}
	if f.path != "/auth/phone/code" || len(f.body) != len(want) {
		t.Fatalf("PhoneCode sent %s %s", f.path, f.rawBody)
	}
	for k, v := range want {
		if f.body[k] != v {
			t.Fatalf("PhoneCode sent %s", f.rawBody)
		}
	}
}

func TestPhoneLoginAnswers(t *testing.T) {
	f := run(t, []row{
		{"200, no wrapper", 200, `{"authToken":"` + token1 + `","totpRequired":false,"id":"` + uuid1 + `"}`, nil},
		{"200 TOTP", 200, `{"authToken":"` + token1 + `","totpRequired":true}`, nil},
		{"200 with a result wrapper", 200, `{"result":{"authToken":"` + token1 + `","totpRequired":false,"id":"` + uuid1 + `"}}`, ErrUnavailable},
		{"400 missing inputs", 400, `{"error":"missing inputs"}`, ErrInvalidInput},
		{"400 invalid code", 400, `{"error":"invalid code"}`, ErrWrongCode},
		{"400 invalid phone", 400, `{"error":"invalid phone"}`, ErrInvalidPhone},
		{"401 wrong code", 401, `{"error":"Invalid or incorrect code entered."}`, ErrWrongCode},
		{"401 verification expired, used or unknown", 401, `{"error":"Invalid or incorrect phone entered."}`, ErrCodeExpired},
		{"401 verification approved or invalid", 401, `{"error":"Issue detected with verification. Please try again later or contact support."}`, ErrCodeExpired},
		{"401 provider unreachable", 401, `{"error":"Phone provider temporarily unreachable"}`, ErrProviderUnavailable},
		{"401 provider limit", 401, `{"error":"Too many phone number attempts, please try again in a few minutes."}`, limitIs(LimitProvider)},
		{"401 provider: invalid number", 401, `{"error":"Phone number is not a valid phone number"}`, ErrInvalidPhone},
		{"401 provider: not mobile", 401, `{"error":"Invalid phone number type. Please use a mobile number."}`, ErrNotMobile},
		{"401 provider: type unknown", 401, `{"error":"Issue checking phone number. Please try again later or contact support."}`, ErrPhoneCheck},
		{"401 provider: region", 401, `{"error":"Phone number is not from a valid region"}`, ErrRegionRestricted},
		{"401 provider: fraud block", 401, `{"error":"Issue detected with phone number. Please try again later or contact support."}`, ErrPhoneCheck},
		{"401 provider: opted out", 401, `{"error":"Phone number has opted out of receiving messages"}`, ErrOptedOut},
		{"401 phone metadata for onboarding", 401, `{"error":"Error fetching phone information."}`, ErrPhoneCheck},
		{"401 unexpected", 401, `{"error":"Unknown error occurred (code: CouldNotFindUserFromPhoneError)"}`, ErrUnavailable},
		{"401 ip limit", 401, `{"error":"Too many login attempts on same network, please wait for a while and try again."}`, limitIs(LimitIP)},
		{"401 phone limit", 401, `{"error":"Too many login attempts, please wait for a while and try again."}`, limitIs(LimitIdentifier)},
		{"401 ip not onboarding", 401, `{"error":"This IP address is not allowed to onboard."}`, ErrNetworkNotAllowedToRegister},
		{"401 phone not onboarding", 401, `{"error":"This phone number is not allowed to onboard."}`, ErrNotAllowedToRegister},
		{"401 other", 401, `{"error":"Unknown error"}`, ErrUnavailable},
	}, func(c *Client) error {
		_, err := c.PhoneLogin(context.Background(), ip, "+16505554350", "000000")
		return err
	})
	if f.path != "/auth/phone/login" || f.body["phone"] != "+16505554350" || f.body["code"] != "000000" || len(f.body) != 2 {
		t.Fatalf("PhoneLogin sent %s %s", f.path, f.rawBody)
	}
}

func TestMeAnswers(t *testing.T) {
	var got Me
	f := run(t, []row{
		{"200", 200, `{"data":{"me":{"id":"` + uuid1 + `","phone":"+16505554350","email":{"address":"ana@example.com","verified":true}}}}`, nil},
		{"200 no contacts", 200, `{"data":{"me":{"id":"` + uuid1 + `","phone":null,"email":null}}}`, nil},
		{"200 me null", 200, `{"data":{"me":null},"errors":[{"message":"Not authorized","path":["me"]}]}`, ErrSessionRejected},
		{"401 from oathkeeper", 401, `{"error":{"code":401,"status":"Unauthorized"}}`, ErrSessionRejected},
		{"200 id not a UUID", 200, `{"data":{"me":{"id":"abc"}}}`, ErrUnavailable},
		{"200 errors only", 200, `{"errors":[{"message":"boom"}]}`, ErrUnavailable},
	}, func(c *Client) (err error) {
		got, err = c.Me(context.Background(), token1)
		return err
	})
	if f.path != "/graphql" || f.header.Get("Authorization") != "Bearer "+token1 || f.body["query"] != meQuery || f.header.Get("X-Real-IP") != "" {
		t.Fatalf("Me sent %s %v %s", f.path, f.header, f.rawBody)
	}
	f.answer = canned{status: 200, body: `{"data":{"me":{"id":"` + uuid1 + `","phone":"+16505554350","email":{"address":"ana@example.com","verified":false}}}}`}
	got, _ = f.client().Me(context.Background(), token1)
	if got != (Me{ID: uuid1, Email: "ana@example.com", Phone: "+16505554350", PhoneVerified: true}) {
		t.Fatalf("Me: %+v", got)
	}
}

func TestSupportedCountriesAnswers(t *testing.T) {
	var got []Country
	f := run(t, []row{
		{"200", 200, `{"data":{"globals":{"supportedCountries":[{"id":"US","supportedAuthChannels":["TELEGRAM","SMS","WHATSAPP"]}]}}}`, nil},
		{"200 null globals", 200, `{"data":{"globals":null}}`, ErrUnavailable},
		{"200 errors only", 200, `{"errors":[{"message":"boom"}]}`, ErrUnavailable},
	}, func(c *Client) (err error) {
		got, err = c.SupportedCountries(context.Background())
		return err
	})
	f.answer = canned{status: 200, body: `{"data":{"globals":{"supportedCountries":[{"id":"US","supportedAuthChannels":["TELEGRAM","SMS","WHATSAPP"]}]}}}`}
	got, _ = f.client().SupportedCountries(context.Background())
	if len(got) != 1 || got[0].ID != "US" || strings.Join(got[0].Channels, ",") != "telegram,sms,whatsapp" {
		t.Fatalf("SupportedCountries: %+v", got)
	}
	if f.header.Get("Authorization") != "" || f.body["query"] != countriesQuery {
		t.Fatalf("SupportedCountries sent %v %s", f.header, f.rawBody)
	}
}

func TestRetryAfterIsKeptWhenCoreSendsOne(t *testing.T) {
	f := newFakeCore(t)
	f.answer = canned{status: 400, body: errO("UserCodeAttemptIpRateLimiterExceededError"), header: http.Header{"Retry-After": {"120"}}}
	err := f.client().PhoneCode(context.Background(), ip, "+16505554350", "sms", GeetestResult{"a", "b", "c"})
	var le *LimitError
	if !errors.As(err, &le) || le.RetryAfter != 2*time.Minute || le.What != LimitIP {
		t.Fatalf("got %#v", err)
	}
	f.answer.header = nil
	err = f.client().PhoneCode(context.Background(), ip, "+16505554350", "sms", GeetestResult{"a", "b", "c"})
	if !errors.As(err, &le) || le.RetryAfter != 0 {
		t.Fatalf("without Retry-After: %#v", err)
	}
}

func TestHeadersOnEveryAuthCall(t *testing.T) {
	f := newFakeCore(t)
	f.answer = canned{status: 200, body: `{}`}
	c := f.client()
	ctx := context.Background()
	calls := []func(){
		func() { c.EmailCode(ctx, ip, "a@example.com") },
		func() { c.EmailLogin(ctx, ip, uuid1, "123456") },
		func() { c.TOTPValidate(ctx, ip, token1, "123456") },
		func() { c.PhoneCaptcha(ctx, ip) },
		func() { c.PhoneCode(ctx, ip, "+16505554350", "sms", GeetestResult{"a", "b", "c"}) },
		func() { c.PhoneLogin(ctx, ip, "+16505554350", "000000") },
	}
	for i, call := range calls {
		f.header = nil
		call()
		if f.header.Get("X-Real-IP") != ip || f.header.Get("Content-Type") != "application/json" ||
			f.header.Get("X-Forwarded-For") != "" || f.header.Get("Authorization") != "" {
			t.Fatalf("call %d sent %v", i, f.header)
		}
	}
}
