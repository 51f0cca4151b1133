//go:build devstack

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/hydra"
)

// callbackURL is the demo clients' redirect_uri. Nothing listens there: the
// test browser stops when it is redirected to it and reads the code itself.
const callbackURL = "http://127.0.0.1:1/callback"

// relyingParty is an OAuth 2.0 client app, as golang.org/x/oauth2 plays it.
type relyingParty struct {
	client devstack.OAuthClient
	oauth  *oauth2.Config
}

func newRelyingParty(t testing.TB, st *stack, spec devstack.ClientSpec) *relyingParty {
	t.Helper()
	if spec.RedirectURI == "" {
		spec.RedirectURI = callbackURL
	}
	if spec.Name == "" {
		spec.Name = t.Name()
	}
	c, err := devstack.CreateClient(context.Background(), st.Hydra.AdminURL, spec)
	if err != nil {
		t.Fatal(err)
	}
	return &relyingParty{client: c, oauth: &oauth2.Config{
		ClientID: c.ID, ClientSecret: c.Secret, RedirectURL: c.RedirectURI, Scopes: c.Scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL: st.Hydra.PublicURL + "/oauth2/auth", TokenURL: st.Hydra.PublicURL + "/oauth2/token",
			AuthStyle: oauth2.AuthStyleInHeader,
		},
	}}
}

// browser is a cookie-keeping HTTP client that follows redirects one hop at a
// time, so a test sees every page and redirect on the way.
type browser struct {
	t    testing.TB
	http *http.Client
	// IP is the client address the service sees: tests run through a trusted
	// proxy (127.0.0.1), which names it in X-Forwarded-For. Each browser gets
	// its own from the documentation ranges, so rate limits are per test.
	IP string
	// Lang, when set, is sent as Accept-Language.
	Lang string
	// Header is sent on every request as well (a browser's own headers).
	Header http.Header
}

var browserCount atomic.Int64

func newBrowser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	n := browserCount.Add(1)
	// From 198.51.101.0 up: the browser tests' people (personBrowser) have
	// fixed addresses in 198.51.100.0/24, and a browser here sharing one
	// would share its per-IP limits (TestParallelWrongCodesStayWithinTheLimit
	// once counted 8 failures for its IP: two were a Chromium test's).
	return &browser{t: t, IP: fmt.Sprintf("198.51.%d.%d", 101+n/250, 1+n%250), http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// hop is one response on the way.
type hop struct {
	URL      *url.URL
	Status   int
	Location string
	Body     string
	Header   http.Header
}

// journey is the hops of one navigation, ending on a page or on the callback.
type journey struct {
	Hops     []hop
	Callback *url.URL // set when the browser was sent to the relying party (redirect_uri or post-logout URL)
}

// Last is the final page (the last hop that was not a redirect).
func (j journey) Last() hop { return j.Hops[len(j.Hops)-1] }

// Pages lists the hops that rendered something instead of redirecting.
func (j journey) Pages() []hop {
	var pages []hop
	for _, h := range j.Hops {
		if h.Status < 300 || h.Status >= 400 {
			pages = append(pages, h)
		}
	}
	return pages
}

// Visited reports the status of the first hop whose path is path, or 0.
func (j journey) Visited(path string) int {
	for _, h := range j.Hops {
		if h.URL.Path == path {
			return h.Status
		}
	}
	return 0
}

// Get navigates to rawURL and follows redirects until a page or the callback.
func (b *browser) Get(rawURL string) journey {
	b.t.Helper()
	return b.do(func() (*http.Request, error) { return http.NewRequest(http.MethodGet, rawURL, nil) })
}

// Post submits a form like a browser on the service's own page would.
func (b *browser) Post(rawURL string, form url.Values) journey {
	b.t.Helper()
	return b.do(func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
		}
		return req, err
	})
}

func (b *browser) do(first func() (*http.Request, error)) journey {
	b.t.Helper()
	var j journey
	req, err := first()
	if err != nil {
		b.t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		// Nothing listens on the relying party's host: stop where it would be reached.
		if req.URL.Host == "127.0.0.1:1" {
			j.Callback = req.URL
			return j
		}
		for k, v := range b.Header {
			req.Header[k] = v
		}
		req.Header.Set("X-Forwarded-For", b.IP)
		if b.Lang != "" {
			req.Header.Set("Accept-Language", b.Lang)
		}
		resp, err := b.http.Do(req)
		if err != nil {
			b.t.Fatalf("%s %s: %v", req.Method, req.URL.Redacted(), err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := hop{URL: req.URL, Status: resp.StatusCode, Location: resp.Header.Get("Location"), Body: string(body), Header: resp.Header}
		j.Hops = append(j.Hops, h)
		if resp.StatusCode < 300 || resp.StatusCode >= 400 || h.Location == "" {
			return j
		}
		next, err := req.URL.Parse(h.Location)
		if err != nil {
			b.t.Fatalf("bad Location %q: %v", h.Location, err)
		}
		req, _ = http.NewRequest(http.MethodGet, next.String(), nil)
	}
	b.t.Fatal("more than 20 redirects")
	return j
}

// start begins an authorization-code flow and returns the journey.
func (rp *relyingParty) start(b *browser, opts ...oauth2.AuthCodeOption) journey {
	return b.Get(rp.oauth.AuthCodeURL("state-"+rp.client.ID, opts...))
}

// tokens exchanges the code of a journey that reached the callback.
func (rp *relyingParty) tokens(t testing.TB, j journey) (*oauth2.Token, map[string]any) {
	t.Helper()
	if j.Callback == nil {
		t.Fatalf("the flow did not reach the client; it ended on %s with %d:\n%s", j.Last().URL.Path, j.Last().Status, excerpt(j.Last().Body))
	}
	q := j.Callback.Query()
	if e := q.Get("error"); e != "" {
		t.Fatalf("the client got error=%s (%s)", e, q.Get("error_description"))
	}
	if q.Get("state") != "state-"+rp.client.ID {
		t.Fatalf("state %q came back, want %q", q.Get("state"), "state-"+rp.client.ID)
	}
	tok, err := rp.oauth.Exchange(context.Background(), q.Get("code"))
	if err != nil {
		t.Fatalf("token exchange: %v", err)
	}
	return tok, devstack.IDTokenClaims(tok)
}

// loginChallenge returns the login_challenge of the journey's /login hop.
func loginChallenge(t testing.TB, j journey) string {
	t.Helper()
	for _, h := range j.Hops {
		if h.URL.Path == "/login" {
			if c := h.URL.Query().Get("login_challenge"); c != "" {
				return c
			}
		}
	}
	t.Fatalf("the flow never reached /login: %v", paths(j))
	return ""
}

// signInAsHydraAdmin plays the first sign-in: it accepts the login challenge
// through Hydra's admin API (the sign-in pages come in a later issue) and
// follows Hydra's redirect in the browser.
func signInAsHydraAdmin(t testing.TB, st *stack, b *browser, j journey, subject string, remember bool) journey {
	t.Helper()
	admin := hydraAdmin(t, st)
	redirect, err := admin.AcceptLogin(context.Background(), loginChallenge(t, j), hydra.AcceptLogin{
		Subject: subject, Remember: remember, RememberFor: 3600,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.Get(redirect)
}

func hydraAdmin(t testing.TB, st *stack) *hydra.Client {
	u, err := url.Parse(st.Hydra.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	return hydra.New(u, 10*time.Second)
}

func paths(j journey) []string {
	var ps []string
	for _, h := range j.Hops {
		ps = append(ps, h.URL.Host+h.URL.Path)
	}
	return ps
}

func excerpt(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}
