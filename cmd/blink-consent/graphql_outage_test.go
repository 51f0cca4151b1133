//go:build devstack

package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/devstack/corestandin"
)

// graphqlSwitch stands where Blink's GraphQL router (behind Oathkeeper)
// stands: it passes requests on to the stand-in's /graphql, or — down —
// answers as the router does when its upstream is gone, while core's /auth
// routes keep answering. A GraphQL outage is exactly that.
type graphqlSwitch struct {
	srv  *httptest.Server
	down atomic.Bool
}

func newGraphQLSwitch(t *testing.T, target string) *graphqlSwitch {
	g := &graphqlSwitch{}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.down.Load() {
			http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, target, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// A GraphQL outage does not take sign-in down (issue 16, item 4; issue 15's
// "an account with both email and phone signing in by email keeps its
// phone"). The service starts while core's GraphQL is down: the email page
// is served without asking for countries, the phone tab says phone sign-in
// is unavailable for now; email sign-in completes with the subject from
// core's login answer. With `me` up, the ID token and the cached row carry
// the phone core knows; with `me` down again, an email sign-in keeps them.
// The country list, once loaded, is served stale; /readyz's body and the
// metric say GraphQL is failing.
func TestBlinkGraphQLOutageKeepsSignInUp(t *testing.T) {
	core, err := corestandin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	gql := newGraphQLSwitch(t, core.GraphQLURL())
	gql.down.Store(true)
	st, err := newTestStack(context.Background(), "blinkgraphql", 0, map[string]string{
		"IDENTITY_SOURCE":    "blink",
		"CORE_AUTH_URL":      core.AuthURL(),
		"GRAPHQL_ENDPOINT":   gql.srv.URL,
		"GEETEST_SCRIPT_URL": core.GeetestScriptURL(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop()
	const email, phone = "both.claims@example.com", "+50375551212"
	id := core.AddIdentity(email, phone)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "email", "phone"}, SkipConsent: true})

	signIn := func(what string) map[string]any {
		t.Helper()
		b := newBrowser(t)
		first := rp.start(b).Last()
		// With GraphQL down nobody's default tab (phone) can work: the page
		// opens on email. Up, it opens on phone, with the email tab beside it.
		if first.Status != http.StatusOK || !strings.Contains(first.Body, `method=email`) {
			t.Fatalf("%s: the email page: %d\n%s", what, first.Status, excerpt(first.Body))
		}
		codePage := blinkIdentify(t, st, b, first, url.Values{"method": {"email"}, "email": {email}})
		if codePage.URL.Path != "/login/code" {
			t.Fatalf("%s: asking for a code ended on %s %d\n%s", what, codePage.URL.Path, codePage.Status, excerpt(codePage.Body))
		}
		_, claims := rp.tokens(t, blinkCode(st, b, codePage, core.Code(email)))
		return claims
	}
	row := func() (gotEmail, gotPhone string, phoneVerified bool) {
		t.Helper()
		conn := connect(t, st.DatabaseURL)
		if err := conn.QueryRow(context.Background(), `SELECT coalesce(email, ''), coalesce(phone, ''), phone_verified FROM users WHERE id::text = $1`, id).
			Scan(&gotEmail, &gotPhone, &phoneVerified); err != nil {
			t.Fatalf("the cached row of %s: %v", id, err)
		}
		return
	}

	// Down from the start: no country list yet.
	b := newBrowser(t)
	start := rp.start(b).Last()
	if start.Status != http.StatusOK || !strings.Contains(start.Body, `name="email"`) {
		t.Errorf("with no country list the sign-in page does not open on email: %d\n%s", start.Status, excerpt(start.Body))
	}
	flow := flowID(t, start)
	phonePage := b.Get(st.ServiceURL + "/login/identify?flow=" + flow + "&method=phone").Last()
	if phonePage.Status != http.StatusServiceUnavailable || !strings.Contains(phonePage.Body, "phone number is unavailable for now") ||
		!strings.Contains(phonePage.Body, "method=email") || strings.Contains(phonePage.Body, `name="phone"`) {
		t.Errorf("the phone tab with no country list: %d\n%s", phonePage.Status, excerpt(phonePage.Body))
	}
	es := newBrowser(t)
	esFlow := flowID(t, rp.start(es, oauth2.SetAuthURLParam("ui_locales", "es")).Last())
	if p := es.Get(st.ServiceURL + "/login/identify?flow=" + esFlow + "&method=phone").Last(); !strings.Contains(p.Body, "no está disponible por ahora") {
		t.Errorf("the Spanish phone tab with no country list:\n%s", excerpt(p.Body))
	}
	// The page, as a person sees it in Chromium: accessible, and its email
	// link leads to a working email form.
	rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Outage App", Scopes: []string{"openid"}, SkipConsent: true})
	ctx := newChromium(t)
	browse(t, ctx, "open the phone tab with no country list", chromedp.Steps(
		chromedp.Navigate(rpURL+"/start?client="+c.ID),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.Click(chromedp.CSS(`nav.tabs a:nth-child(2)`)),
		chromedp.WaitVisible(chromedp.CSS(`#field-error`)),
	))
	assertAccessible(t, ctx, "phone tab, phone sign-in unavailable")
	browse(t, ctx, "go to the email form", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`#main form a[href*="method=email"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
	))
	if p := blinkIdentify(t, st, b, phonePage, url.Values{"method": {"phone"}, "country": {"SV"}, "phone": {"7555 1212"}, "channel": {"sms"}}); p.Status != http.StatusServiceUnavailable ||
		!strings.Contains(p.Body, "phone number is unavailable for now") {
		t.Errorf("a phone number posted with no country list: %d\n%s", p.Status, excerpt(p.Body))
	}

	// Email sign-in with `me` down, before the account was ever seen: the
	// subject is core's id from the login answer; the email is what we know.
	claims := signIn("me down, first sign-in")
	if claims["sub"] != id || claims["email"] != email {
		t.Errorf("me down: claims %v, want sub %s and the email", claims, id)
	}
	if code, status := getReadyz(t, st.HealthURL); status["blink_graphql"] != "failing" {
		t.Errorf("/readyz with GraphQL down: %d %v, want blink_graphql failing", code, status)
	}
	if _, fams := scrape(t, st); sample(fams, "blink_consent_core_graphql_up", nil) != 0 || fams["blink_consent_core_graphql_up"] == nil {
		t.Error("blink_consent_core_graphql_up is not 0 with GraphQL down")
	}

	// `me` up: the phone core knows reaches the token and the row.
	gql.down.Store(false)
	claims = signIn("me up")
	if claims["sub"] != id || claims["email"] != email || claims["phone_number"] != phone || claims["phone_number_verified"] != true {
		t.Errorf("me up: claims %v, want the phone %s too", claims, phone)
	}
	if e, p, v := row(); e != email || p != phone || !v {
		t.Errorf("me up: the cached row has %q %q verified=%v", e, p, v)
	}
	if code, status := getReadyz(t, st.HealthURL); status["blink_graphql"] != "ok" {
		t.Errorf("/readyz with GraphQL up: %d %v", code, status)
	}
	if _, fams := scrape(t, st); sample(fams, "blink_consent_core_graphql_up", nil) != 1 {
		t.Error("blink_consent_core_graphql_up is not 1 with GraphQL up")
	}
	// The phone tab now lists core's countries, which are kept.
	b = newBrowser(t)
	flow = flowID(t, rp.start(b).Last())
	if p := b.Get(st.ServiceURL + "/login/identify?flow=" + flow + "&method=phone").Last(); p.Status != http.StatusOK || !strings.Contains(p.Body, `name="phone"`) {
		t.Fatalf("the phone tab with GraphQL up: %d\n%s", p.Status, excerpt(p.Body))
	}

	// `me` down again: an email sign-in keeps the phone it does not prove.
	gql.down.Store(true)
	claims = signIn("me down, known account")
	if claims["sub"] != id || claims["email"] != email || claims["phone_number"] != phone || claims["phone_number_verified"] != true {
		t.Errorf("me down: claims %v, want the phone %s kept", claims, phone)
	}
	if e, p, v := row(); e != email || p != phone || !v {
		t.Errorf("me down: the cached row has %q %q verified=%v, want the phone kept", e, p, v)
	}
	// The country list is served stale.
	b = newBrowser(t)
	flow = flowID(t, rp.start(b).Last())
	if p := b.Get(st.ServiceURL + "/login/identify?flow=" + flow + "&method=phone").Last(); p.Status != http.StatusOK || !strings.Contains(p.Body, `value="SV"`) {
		t.Errorf("the phone tab with GraphQL down after a list was loaded: %d\n%s", p.Status, excerpt(p.Body))
	}
}
