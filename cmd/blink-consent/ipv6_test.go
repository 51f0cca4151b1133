//go:build devstack

package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// Per-IP limits count an IPv6 client by its /64: a subscriber holds a whole
// /64, so new addresses in it must not buy new budgets. The addresses come
// through X-Forwarded-For from the trusted proxy (127.0.0.1), as in production.
func TestPerIPLimitsKeyIPv6ByItsSlash64(t *testing.T) {
	st, err := newTestStack(context.Background(), "ipv6", 0, map[string]string{"RATE_SEND_IP": "3/1h", "RATE_FAIL_IP": "2/6h"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop()
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	askCode := func(b *browser, email string) hop {
		t.Helper()
		page := rp.start(b).Last()
		return b.Post(st.ServiceURL+"/login/identify", url.Values{
			"flow": {flowID(t, page)}, "action": {"continue"}, "method": {"email"}, "email": {email},
		}).Last()
	}

	b := newBrowser(t)
	for i, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:fffe"} {
		b.IP = ip
		if h := askCode(b, fmt.Sprintf("v6.%d@example.com", i)); h.URL.Path != "/login/code" {
			t.Fatalf("code %d from %s refused: %s %d", i+1, ip, h.URL.Path, h.Status)
		}
	}
	b.IP = "2001:db8:1:2:abcd::77" // a fourth address, same /64
	if h := askCode(b, "v6.3@example.com"); !isTooMany(h) {
		t.Errorf("a fourth code from the same /64: %s %d", h.URL.Path, h.Status)
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM rate_events WHERE bucket = 'send-ip' AND key = '2001:db8:1:2::/64'`); n != 3 {
		t.Errorf("%d send-ip events keyed 2001:db8:1:2::/64, want 3", n)
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM rate_events WHERE key LIKE '2001:db8:%' AND key NOT LIKE '%/64'`); n != 0 {
		t.Errorf("%d rate events keyed by a single IPv6 address", n)
	}
	b.IP = "2001:db8:1:3::1" // the neighbouring /64 has its own budget
	if h := askCode(b, "v6.other@example.com"); h.URL.Path != "/login/code" {
		t.Errorf("the next /64 was limited too: %s %d", h.URL.Path, h.Status)
	}
	b.IP = "::ffff:203.0.113.50" // IPv4-mapped: counted as the IPv4 address
	if h := askCode(b, "v6.mapped@example.com"); h.URL.Path != "/login/code" {
		t.Fatalf("an IPv4-mapped address: %s %d", h.URL.Path, h.Status)
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM rate_events WHERE bucket = 'send-ip' AND key = '203.0.113.50'`); n != 1 {
		t.Errorf("%d send-ip events keyed 203.0.113.50, want 1", n)
	}

	// Failed code checks: two wrong codes from two addresses of one /64 use
	// up its budget of 2; a third address of the /64 is refused.
	w := newBrowser(t)
	w.IP = "2001:db8:9:9::1"
	codePage := askCode(w, "v6.wrong@example.com")
	for i, ip := range []string{"2001:db8:9:9::1", "2001:db8:9:9::2"} {
		w.IP = ip
		if h := w.Post(st.ServiceURL+"/login/code", codeForm(codePage, "000000")).Last(); h.Status != http.StatusUnprocessableEntity {
			t.Fatalf("wrong code %d: %d", i+1, h.Status)
		}
	}
	w.IP = "2001:db8:9:9::3"
	if h := w.Post(st.ServiceURL+"/login/code", codeForm(codePage, "000000")).Last(); !isTooMany(h) {
		t.Errorf("a third failure from the same /64: %d", h.Status)
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM rate_events WHERE bucket = 'fail-ip' AND key = '2001:db8:9:9::/64'`); n != 2 {
		t.Errorf("%d fail-ip events keyed 2001:db8:9:9::/64, want 2", n)
	}

	// Wrong authenticator codes count against the /64 the same way.
	const email = "v6.totp@example.com"
	subject := addUser(t, st, email)
	secret, _ := totp.NewSecret()
	env := map[string]string{"DATABASE_URL": st.DatabaseURL, "SECRET_KEY": st.env["SECRET_KEY"]}
	if _, errOut, err := runCLI(t, env, "users", "totp", "import", "--user", subject, "--secret", totp.Base32(secret)); err != nil {
		t.Fatalf("totp import: %v %s", err, errOut)
	}
	a := newBrowser(t)
	a.IP = "2001:db8:7:7::1"
	page := askCode(a, email)
	totpPage := a.Post(st.ServiceURL+"/login/code", codeForm(page, waitCode(t, testSMTP.inbox, email, 1))).Last()
	if totpPage.URL.Path != "/login/totp" {
		t.Fatalf("after the email code: %s %d", totpPage.URL.Path, totpPage.Status)
	}
	wrongTOTP := url.Values{"flow": {flowID(t, totpPage)}, "code": {otherCode(totp.Code(secret, time.Now()))}, "action": {"continue"}}
	for i, ip := range []string{"2001:db8:7:7::1", "2001:db8:7:7::2"} {
		a.IP = ip
		if h := a.Post(st.ServiceURL+"/login/totp", wrongTOTP).Last(); h.Status != http.StatusUnprocessableEntity {
			t.Fatalf("wrong authenticator code %d: %d", i+1, h.Status)
		}
	}
	a.IP = "2001:db8:7:7::3"
	if h := a.Post(st.ServiceURL+"/login/totp", wrongTOTP).Last(); !isTooMany(h) {
		t.Errorf("a third authenticator failure from the same /64: %d", h.Status)
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM rate_events WHERE bucket = 'fail-ip' AND key = '2001:db8:7:7::/64'`); n != 2 {
		t.Errorf("%d fail-ip events keyed 2001:db8:7:7::/64, want 2", n)
	}
}
