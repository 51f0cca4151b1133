package blinkcore

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/devstack/corestandin"
	"github.com/blinkbitcoin/blink-consent/internal/ids"
)

// The client against the stand-in: the same answers as mapping_test.go, but
// produced by the stand-in, so neither can drift from the other unseen.

func standin(t *testing.T) (*corestandin.Standin, *Client) {
	t.Helper()
	s, err := corestandin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, New(s.AuthURL(), s.GraphQLURL(), nil)
}

var ctx = context.Background()

func otherThan(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

func TestEmailSignIn(t *testing.T) {
	s, c := standin(t)
	id := s.AddIdentity("ana@example.com", "")
	flow, err := c.EmailCode(ctx, ip, "ana@example.com")
	if err != nil {
		t.Fatal(err)
	}
	code := s.Code("ana@example.com")
	_, err = c.EmailLogin(ctx, ip, flow, otherThan(code))
	check(t, err, ErrWrongCode)
	l, err := c.EmailLogin(ctx, ip, flow, code)
	if err != nil || l.ID != id || l.TOTPRequired || !strings.HasPrefix(l.AuthToken, "ory_st_") {
		t.Fatalf("EmailLogin: %+v %v", l, err)
	}
	_, err = c.EmailLogin(ctx, ip, flow, code)
	check(t, err, ErrWrongCode) // used

	me, err := c.Me(ctx, l.AuthToken)
	if err != nil || me != (Me{ID: id, Email: "ana@example.com", EmailVerified: true}) {
		t.Fatalf("Me: %+v %v", me, err)
	}
}

func TestEmailErrorsFromStandin(t *testing.T) {
	s, c := standin(t)
	s.AddIdentity("ana@example.com", "")

	_, err := c.EmailCode(ctx, ip, "")
	check(t, err, ErrInvalidInput)
	_, err = c.EmailCode(ctx, ip, "not an address")
	check(t, err, ErrInvalidInput)
	_, err = c.EmailLogin(ctx, ip, "not-a-uuid", "123456")
	check(t, err, ErrInvalidInput)

	flow, _ := c.EmailCode(ctx, ip, "ana@example.com")
	_, err = c.EmailLogin(ctx, ip, flow, "12345")
	check(t, err, ErrWrongCode)

	// unknown address: an id, then every code is wrong
	flow, err = c.EmailCode(ctx, ip, "nobody@example.com")
	if err != nil || !ids.IsUUID(flow) {
		t.Fatalf("EmailCode of an unknown address: %q %v", flow, err)
	}
	_, err = c.EmailLogin(ctx, ip, flow, s.Code("nobody@example.com"))
	check(t, err, ErrWrongCode)

	// expired
	now := time.Now()
	s.SetClock(func() time.Time { return now })
	flow, _ = c.EmailCode(ctx, ip, "ana@example.com")
	now = now.Add(corestandin.EmailCodeLifetime + time.Second)
	_, err = c.EmailLogin(ctx, ip, flow, s.Code("ana@example.com"))
	check(t, err, ErrCodeExpired)
	s.SetClock(time.Now)

	// unverified
	s.SetUnverified("ana@example.com")
	flow, _ = c.EmailCode(ctx, ip, "ana@example.com")
	_, err = c.EmailLogin(ctx, ip, flow, s.Code("ana@example.com"))
	check(t, err, ErrCodeExpired)
}

func TestPhoneSignInRegisters(t *testing.T) {
	s, c := standin(t)
	captcha, err := c.PhoneCaptcha(ctx, ip)
	if err != nil || captcha.ID != corestandin.GeetestID || captcha.ChallengeCode == "" || !captcha.NewCaptcha || captcha.FailbackMode {
		t.Fatalf("PhoneCaptcha: %+v %v", captcha, err)
	}
	var sent []string
	s.SetOnMessage(func(channel, to, text string) { sent = append(sent, channel+" "+to) })
	if err := c.PhoneCode(ctx, ip, "+16505554350", "whatsapp", GeetestResult{captcha.ChallengeCode, "v", "v|jordan"}); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 1 || sent[0] != "whatsapp +16505554350" {
		t.Fatalf("sent: %q", sent)
	}
	if s.Lookup("+16505554350") != "" {
		t.Fatal("an account exists before the code is typed")
	}
	_, err = c.PhoneLogin(ctx, ip, "+16505554350", "123456")
	check(t, err, ErrWrongCode)
	l, err := c.PhoneLogin(ctx, ip, "+16505554350", corestandin.DefaultPhoneCode)
	if err != nil || l.TOTPRequired || l.ID == "" || l.ID != s.Lookup("+16505554350") {
		t.Fatalf("PhoneLogin: %+v %v (account %q)", l, err, s.Lookup("+16505554350"))
	}
	me, err := c.Me(ctx, l.AuthToken)
	if err != nil || me != (Me{ID: l.ID, Phone: "+16505554350", PhoneVerified: true}) {
		t.Fatalf("Me: %+v %v", me, err)
	}
}

func TestPhoneErrorsFromStandin(t *testing.T) {
	s, c := standin(t)
	solved := func() GeetestResult {
		captcha, err := c.PhoneCaptcha(ctx, ip)
		if err != nil {
			t.Fatal(err)
		}
		return GeetestResult{captcha.ChallengeCode, "v", "s"}
	}
	check(t, c.PhoneCode(ctx, ip, "+16505554350", "sms", GeetestResult{"made-up", "v", "s"}), ErrCaptchaFailed)
	check(t, c.PhoneCode(ctx, ip, "+16505554350", "sms", GeetestResult{}), ErrInvalidInput)
	check(t, c.PhoneCode(ctx, ip, "+1", "sms", solved()), ErrInvalidPhone)
	check(t, c.PhoneCode(ctx, ip, "+16505554350", "telegram", solved()), ErrInvalidChannel)
	check(t, c.PhoneCode(ctx, ip, "+442071838750", "whatsapp", solved()), ErrInvalidChannel)
	check(t, c.PhoneCode(ctx, ip, "+442071838750", "SMS", solved()), nil)

	_, err := c.PhoneLogin(ctx, ip, "+16505554350", "12a456")
	check(t, err, ErrWrongCode)
	_, err = c.PhoneLogin(ctx, ip, "+1", "000000")
	check(t, err, ErrInvalidPhone)
	_, err = c.PhoneLogin(ctx, ip, "", "000000")
	check(t, err, ErrInvalidInput)

	s.DenyOnboardingPhone("+16505554351")
	_, err = c.PhoneLogin(ctx, ip, "+16505554351", "000000")
	check(t, err, ErrNotAllowedToRegister)
	s.DenyOnboardingIP("198.51.100.200")
	_, err = c.PhoneLogin(ctx, "198.51.100.200", "+16505554352", "000000")
	check(t, err, ErrNetworkNotAllowedToRegister)
	// an existing account still signs in from that IP
	s.AddIdentity("", "+16505554353")
	if _, err := c.PhoneLogin(ctx, "198.51.100.200", "+16505554353", "000000"); err != nil {
		t.Fatal(err)
	}
}

func TestLimitsFromStandin(t *testing.T) {
	s, c := standin(t)
	s.AddIdentity("ana@example.com", "")
	two := corestandin.Limit{Points: 2, Window: time.Hour, Block: time.Hour}
	s.SetLimits(corestandin.Limits{CodeRequestPerIP: two, CodeRequestPerIdentifier: two, FailedLoginPerIP: two, LoginPerIdentifier: two, EmailCodeTries: 2})
	solved := func() GeetestResult {
		captcha, _ := c.PhoneCaptcha(ctx, ip)
		return GeetestResult{captcha.ChallengeCode, "v", "s"}
	}

	// email code: per address, then per IP
	c.EmailCode(ctx, "192.0.2.1", "ana@example.com")
	c.EmailCode(ctx, "192.0.2.2", "ana@example.com")
	_, err := c.EmailCode(ctx, "192.0.2.3", "ana@example.com")
	check(t, err, limitIs(LimitUnknown))
	c.EmailCode(ctx, "192.0.2.4", "b@example.com")
	c.EmailCode(ctx, "192.0.2.4", "c@example.com")
	_, err = c.EmailCode(ctx, "192.0.2.4", "d@example.com")
	check(t, err, limitIs(LimitUnknown))
	// the per-IP budget is the phone's too
	check(t, c.PhoneCode(ctx, "192.0.2.4", "+16505554350", "sms", solved()), limitIs(LimitIP))
	// per phone
	check(t, c.PhoneCode(ctx, "192.0.2.5", "+16505554360", "sms", solved()), nil)
	check(t, c.PhoneCode(ctx, "192.0.2.6", "+16505554360", "sms", solved()), nil)
	check(t, c.PhoneCode(ctx, "192.0.2.7", "+16505554360", "sms", solved()), limitIs(LimitIdentifier))

	// phone login: per phone, then failed logins per IP
	c.PhoneLogin(ctx, "192.0.2.8", "+16505554361", "123456")
	c.PhoneLogin(ctx, "192.0.2.9", "+16505554361", "123456")
	_, err = c.PhoneLogin(ctx, "192.0.2.10", "+16505554361", "000000")
	check(t, err, limitIs(LimitIdentifier))
	c.PhoneLogin(ctx, "192.0.2.11", "+16505554362", "123456")
	c.PhoneLogin(ctx, "192.0.2.11", "+16505554363", "123456")
	_, err = c.PhoneLogin(ctx, "192.0.2.11", "+16505554364", "000000")
	check(t, err, limitIs(LimitIP))
	flow, _ := c.EmailCode(ctx, "192.0.2.12", "e@example.com")
	_, err = c.EmailLogin(ctx, "192.0.2.11", flow, "123456")
	check(t, err, limitIs(LimitUnknown))

	// TOTP: per token
	id := s.AddIdentity("totp@example.com", "")
	secret := s.EnrolTOTP(id)
	flow, _ = c.EmailCode(ctx, "192.0.2.13", "totp@example.com")
	l, err := c.EmailLogin(ctx, "192.0.2.13", flow, s.Code("totp@example.com"))
	if err != nil || !l.TOTPRequired {
		t.Fatalf("%+v %v", l, err)
	}
	right := corestandin.TOTPCode(secret, time.Now())
	check(t, c.TOTPValidate(ctx, "192.0.2.14", l.AuthToken, otherThan(right)), ErrWrongCode)
	check(t, c.TOTPValidate(ctx, "192.0.2.15", l.AuthToken, otherThan(right)), ErrWrongCode)
	check(t, c.TOTPValidate(ctx, "192.0.2.16", l.AuthToken, right), limitIs(LimitTOTP))
}

func TestTOTPElevationThenMe(t *testing.T) {
	s, c := standin(t)
	id := s.AddIdentity("ana@example.com", "+16505554350")
	secret := s.EnrolTOTP(id)

	l, err := c.PhoneLogin(ctx, ip, "+16505554350", corestandin.DefaultPhoneCode)
	if err != nil || !l.TOTPRequired || l.ID != "" {
		t.Fatalf("PhoneLogin of a TOTP account: %+v %v", l, err)
	}
	_, err = c.Me(ctx, l.AuthToken)
	check(t, err, ErrSessionRejected) // not before the second factor

	right := corestandin.TOTPCode(secret, time.Now())
	check(t, c.TOTPValidate(ctx, ip, l.AuthToken, otherThan(right)), ErrWrongCode)
	check(t, c.TOTPValidate(ctx, ip, l.AuthToken, "12345"), ErrWrongCode)
	check(t, c.TOTPValidate(ctx, ip, "short", right), ErrSessionRejected)
	check(t, c.TOTPValidate(ctx, ip, "ory_st_00000000000000000000000000000000", right), ErrSessionRejected)
	_, err = c.Me(ctx, l.AuthToken)
	check(t, err, ErrSessionRejected)

	check(t, c.TOTPValidate(ctx, ip, l.AuthToken, right), nil)
	me, err := c.Me(ctx, l.AuthToken)
	if err != nil || me != (Me{ID: id, Email: "ana@example.com", EmailVerified: true, Phone: "+16505554350", PhoneVerified: true}) {
		t.Fatalf("Me after TOTP: %+v %v", me, err)
	}
	_, err = c.Me(ctx, "ory_st_unknown")
	check(t, err, ErrSessionRejected)
}

func TestCountriesAndReady(t *testing.T) {
	s, c := standin(t)
	s.SetCountries([]corestandin.Country{{ID: "SV", Channels: []string{"SMS", "WHATSAPP"}}})
	got, err := c.SupportedCountries(ctx)
	if err != nil || len(got) != 1 || got[0].ID != "SV" || strings.Join(got[0].Channels, ",") != "sms,whatsapp" {
		t.Fatalf("SupportedCountries: %+v %v", got, err)
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	s.Down(true)
	check(t, c.Ready(ctx), ErrUnavailable)
}

func TestCoreDown(t *testing.T) {
	s, c := standin(t)
	id := s.AddIdentity("ana@example.com", "")
	s.EnrolTOTP(id)
	s.Down(true)
	_, err := c.EmailCode(ctx, ip, "ana@example.com")
	check(t, err, ErrUnavailable)
	_, err = c.EmailLogin(ctx, ip, uuid1, "123456")
	check(t, err, ErrUnavailable)
	check(t, c.TOTPValidate(ctx, ip, token1, "123456"), ErrUnavailable)
	_, err = c.PhoneCaptcha(ctx, ip)
	check(t, err, ErrUnavailable)
	check(t, c.PhoneCode(ctx, ip, "+16505554350", "sms", GeetestResult{"a", "b", "c"}), ErrUnavailable)
	_, err = c.PhoneLogin(ctx, ip, "+16505554350", "000000")
	check(t, err, ErrUnavailable)
	_, err = c.Me(ctx, token1)
	check(t, err, ErrUnavailable)

	// nothing listening
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	gone := New("http://"+addr+"/auth", "http://"+addr+"/graphql", nil)
	_, err = gone.EmailCode(ctx, ip, "ana@example.com")
	check(t, err, ErrUnavailable)
	check(t, gone.Ready(ctx), ErrUnavailable)
}

func TestXRealIPIsForwardedAndRequired(t *testing.T) {
	s, c := standin(t)
	s.AddIdentity("ana@example.com", "")
	flow, _ := c.EmailCode(ctx, "203.0.113.50", "ana@example.com")
	c.EmailLogin(ctx, "2001:db8::7", flow, s.Code("ana@example.com"))
	c.PhoneCaptcha(ctx, "203.0.113.51")
	if got := strings.Join(s.SeenIPs(), " "); got != "203.0.113.50 2001:db8::7 203.0.113.51" {
		t.Fatalf("core saw X-Real-IP %q", got)
	}
	before := len(s.Calls())
	for _, bad := range []string{"", "unknown", "203.0.113.50, 10.0.0.1"} {
		_, err := c.EmailCode(ctx, bad, "ana@example.com")
		check(t, err, ErrUnavailable)
	}
	if len(s.Calls()) != before {
		t.Fatal("the client called core without a client IP")
	}
}

func TestRedirectIsRefused(t *testing.T) {
	s, _ := standin(t)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, s.URL()+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	for _, hc := range []*http.Client{nil, http.DefaultClient, {}} {
		c := New(redirect.URL+"/auth", redirect.URL+"/graphql", hc)
		_, err := c.PhoneCaptcha(ctx, ip)
		check(t, err, ErrUnavailable)
		_, err = c.SupportedCountries(ctx)
		check(t, err, ErrUnavailable)
	}
	if n := len(s.Calls()); n != 0 {
		t.Fatalf("the redirect was followed: core got %d calls", n)
	}
	if http.DefaultClient.CheckRedirect != nil {
		t.Fatal("New changed the caller's http.Client")
	}
}

func TestTimeouts(t *testing.T) {
	if New("http://x/auth", "http://x/graphql", nil).http.Timeout != DefaultTimeout {
		t.Fatal("no default timeout")
	}
	if New("http://x/auth", "http://x/graphql", &http.Client{Timeout: time.Second}).http.Timeout != time.Second {
		t.Fatal("the caller's timeout was replaced")
	}
	stuck := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-stuck }))
	defer slow.Close()
	defer close(stuck)
	c := New(slow.URL+"/auth", slow.URL+"/graphql", &http.Client{Timeout: 100 * time.Millisecond})
	start := time.Now()
	_, err := c.EmailCode(ctx, ip, "ana@example.com")
	check(t, err, ErrUnavailable)
	if time.Since(start) > 2*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = New(slow.URL+"/auth", slow.URL+"/graphql", nil).Me(cctx, token1)
	check(t, err, ErrUnavailable)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the context's deadline is not in %v", err)
	}
}

// Codes and tokens never reach an error's text, CoreText or a log line, even
// where core echoes them back.
func TestSecretsStayOutOfErrorsAndLogs(t *testing.T) {
	s, c := standin(t)
	id := s.AddIdentity("ana@example.com", "")
	s.EnrolTOTP(id)
	flow, _ := c.EmailCode(ctx, ip, "ana@example.com")
	l, _ := c.EmailLogin(ctx, ip, flow, s.Code("ana@example.com"))
	unknownToken := "ory_st_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"

	cases := []struct {
		err     error
		secrets []string
	}{
		{c.TOTPValidate(ctx, ip, l.AuthToken, "98765"), []string{"98765", l.AuthToken}},     // core answers 422 {"error":"98765"}
		{c.TOTPValidate(ctx, ip, unknownToken, "987654"), []string{"987654", unknownToken}}, // 500
		{c.TOTPValidate(ctx, ip, l.AuthToken, "987654"), []string{"987654", l.AuthToken}},
		{func() error { _, err := c.EmailLogin(ctx, ip, flow, "987654"); return err }(), []string{"987654"}},
		{func() error { _, err := c.PhoneLogin(ctx, ip, "+16505554350", "987654"); return err }(), []string{"987654"}},
		{func() error { _, err := c.Me(ctx, unknownToken); return err }(), []string{unknownToken}},
	}
	for i, tc := range cases {
		if tc.err == nil {
			t.Fatalf("case %d: no error", i)
		}
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Error("sign-in", "err", tc.err)
		all := tc.err.Error() + " " + CoreText(tc.err) + " " + buf.String()
		for _, secret := range tc.secrets {
			if strings.Contains(all, secret) {
				t.Fatalf("case %d: %q shows up in %s", i, secret, all)
			}
		}
	}
	// core's text stays available to logs, scrubbed
	if got := CoreText(cases[0].err); got != "[redacted]" {
		t.Fatalf("CoreText of the echoed code: %q", got)
	}
	if got := CoreText(cases[2].err); got != "Request failed with status code 400" {
		t.Fatalf("CoreText: %q", got)
	}
}
