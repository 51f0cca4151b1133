//go:build devstack

package main

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// tlsProxy terminates TLS in front of a service, as the production load
// balancer does: it keeps the Host, appends the client to X-Forwarded-For
// and says X-Forwarded-Proto: https. Its address exists before the service
// starts, so the service's PUBLIC_URL can name it.
type tlsProxy struct {
	*httptest.Server
	target atomic.Pointer[url.URL]
}

func startTLSProxy(t *testing.T) *tlsProxy {
	p := &tlsProxy{}
	p.Server = httptest.NewTLSServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(p.target.Load())
		r.Out.Host = r.In.Host
		r.Out.Header["X-Forwarded-For"] = r.In.Header["X-Forwarded-For"]
		r.SetXForwarded()
	}})
	t.Cleanup(p.Close)
	return p
}

// browserCookie is the Set-Cookie of our browser cookie in j, parsed, or nil.
func browserCookie(t *testing.T, j journey) *http.Cookie {
	t.Helper()
	return lastSetCookie(t, j, "blink_browser")
}

// lastSetCookie is the last Set-Cookie in j of cookie name (bare or with the
// __Host- prefix), parsed, or nil.
func lastSetCookie(t *testing.T, j journey, name string) *http.Cookie {
	t.Helper()
	var found *http.Cookie
	for _, h := range j.Hops {
		for _, line := range h.Header.Values("Set-Cookie") {
			c, err := http.ParseSetCookie(line)
			if err != nil {
				t.Fatalf("Set-Cookie %q: %v", line, err)
			}
			if c.Name == name || c.Name == "__Host-"+name {
				found = c
			}
		}
	}
	return found
}

// Under https (PUBLIC_URL https, TLS ended by a proxy in front, DEV_MODE off)
// the browser cookie is __Host-, Secure, HttpOnly, SameSite=Lax, Path=/, no
// Domain, and it is replaced after each factor — the email code, then the authenticator code — with the flow bound
// to the new value in PostgreSQL each time.
func TestBrowserCookieUnderHTTPS(t *testing.T) {
	proxy := startTLSProxy(t)
	st, err := newTestStack(context.Background(), "https", 0, map[string]string{"PUBLIC_URL": proxy.URL, "DEV_MODE": "false"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop()
	service, _ := url.Parse(st.ServiceURL)
	proxy.target.Store(service)
	public, _ := url.Parse(proxy.URL)
	if public.Scheme != "https" {
		t.Fatalf("the proxy is %s", proxy.URL)
	}

	const email = "https.cookie@example.com"
	subject := addUser(t, st, email)
	secret, _ := totp.NewSecret()
	env := map[string]string{"DATABASE_URL": st.DatabaseURL, "SECRET_KEY": st.env["SECRET_KEY"]}
	if _, errOut, err := runCLI(t, env, "users", "totp", "import", "--user", subject, "--secret", totp.Base32(secret)); err != nil {
		t.Fatalf("totp import: %v %s", err, errOut)
	}

	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	b := newBrowser(t)
	b.http.Transport = proxy.Client().Transport // trusts the proxy's certificate
	// The jar, like browsers, treats loopback as a secure origin, so it cannot
	// show that plain http would not carry the cookie: the flags are read from
	// Set-Cookie instead.
	current := func() string {
		t.Helper()
		for _, c := range b.http.Jar.Cookies(public) {
			if c.Name == "__Host-blink_browser" {
				return c.Value
			}
		}
		t.Fatal("the browser holds no __Host-blink_browser cookie for the https origin")
		return ""
	}
	checkFlags := func(step string, j journey) {
		t.Helper()
		c := browserCookie(t, j)
		switch {
		case c == nil:
			t.Fatalf("%s: no browser cookie set (%v)", step, paths(j))
		case c.Name != "__Host-blink_browser" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "":
			t.Errorf("%s: cookie %s Secure=%v HttpOnly=%v SameSite=%v Path=%q Domain=%q, want __Host-blink_browser; Secure; HttpOnly; SameSite=Lax; Path=/; no Domain",
				step, c.Name, c.Secure, c.HttpOnly, c.SameSite, c.Path, c.Domain)
		}
	}
	boundTo := func(step, flow, value string) {
		t.Helper()
		h := sha256.Sum256([]byte(value))
		if n := queryIntOn(t, st, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND browser_hash = $2`, flow, h[:]); n != 1 {
			t.Errorf("%s: the flow is not bound to the cookie the browser holds", step)
		}
	}

	start := rp.start(b)
	page := start.Last()
	if page.URL.Scheme != "https" || page.URL.Path != "/login" || page.Status != http.StatusOK {
		t.Fatalf("the sign-in page: %s %d (%v)", page.URL, page.Status, paths(start))
	}
	if hsts := page.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") {
		t.Errorf("no HSTS under https: %q", hsts)
	}
	checkFlags("first visit", start)
	flow := flowID(t, page)
	first := current()
	boundTo("first visit", flow, first)

	codePage := b.Post(proxy.URL+"/login/identify", url.Values{"flow": {flow}, "action": {"continue"}, "method": {"email"}, "email": {email}}).Last()
	if codePage.URL.Path != "/login/code" || codePage.Status != http.StatusOK {
		t.Fatalf("asking for a code: %s %d\n%s", codePage.URL.Path, codePage.Status, excerpt(codePage.Body))
	}
	afterCode := b.Post(proxy.URL+"/login/code", codeForm(codePage, waitCode(t, testSMTP.inbox, email, 1)))
	if last := afterCode.Last(); last.URL.Path != "/login/totp" || last.Status != http.StatusOK {
		t.Fatalf("after the email code: %s %d (%v)", last.URL.Path, last.Status, paths(afterCode))
	}
	checkFlags("email code", afterCode)
	second := current()
	if second == first {
		t.Error("the cookie was not replaced after the email code")
	}
	boundTo("email code", flow, second)

	afterTOTP := b.Post(proxy.URL+"/login/totp", url.Values{"flow": {flow}, "code": {totp.Code(secret, time.Now())}, "action": {"continue"}})
	if _, claims := rp.tokens(t, afterTOTP); claims["sub"] != subject || claims["acr"] != "2" {
		t.Errorf("claims %v", claims)
	}
	checkFlags("authenticator code", afterTOTP)
	third := current()
	if third == second || third == first {
		t.Error("the cookie was not replaced after the authenticator code")
	}
	boundTo("authenticator code", flow, third)
}
