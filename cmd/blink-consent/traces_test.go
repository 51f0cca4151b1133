//go:build devstack

package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/devstack/corestandin"
	"github.com/blinkbitcoin/blink-consent/internal/tracing/otlptest"
)

// otelpgxScope is the instrumentation scope of the database query spans.
const otelpgxScope = "github.com/exaring/otelpgx"

// tracedStack is a stack exporting traces to endpoint, reaching Hydra's
// admin API through a spy that records each call's traceparent.
func tracedStack(t *testing.T, name string, env map[string]string) (*stack, *hydraSpy) {
	t.Helper()
	opts, err := testStackOptions(name, 0, env)
	if err != nil {
		t.Fatal(err)
	}
	if opts.HydraAdminPort, err = devstack.FreePort(); err != nil {
		t.Fatal(err)
	}
	spy, err := startHydraSpy(fmt.Sprintf("http://127.0.0.1:%d", opts.HydraAdminPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(spy.Close)
	opts.Env["HYDRA_ADMIN_URL"] = spy.URL
	st, err := startStack(context.Background(), testPG, opts)
	if err != nil {
		t.Fatal(err)
	}
	return st, spy
}

// browserUserAgent is the user agent of the traced browsers: it must not
// leave the process (otelhttp records it as user_agent.original).
const browserUserAgent = "Mozilla/5.0 (BlinkReviewPhone 15) TracedBrowser/15.0"

// tracedBrowser is a browser whose requests come through the trusted proxy
// with its own user agent and baggage, as an ingress that does not strip the
// browser's headers would pass them on.
func tracedBrowser(t *testing.T) *browser {
	b := newBrowser(t)
	b.Header = http.Header{"User-Agent": {browserUserAgent}, "Baggage": {"chosen=by-the-browser"}}
	return b
}

// checkNothingOfTheBrowserLeft fails when the collector received the
// browser's user agent (or any user_agent attribute), or when Hydra or core
// received baggage: inbound baggage is never passed on, even from a trusted
// proxy.
func checkNothingOfTheBrowserLeft(t *testing.T, rcv *otlptest.Receiver, hydra []spyCall, core []corestandin.Call) {
	t.Helper()
	for _, s := range []string{browserUserAgent, "TracedBrowser", "user_agent"} {
		if rcv.Contains(s) {
			t.Errorf("the collector received %q (the browser's user agent)", s)
		}
	}
	for _, c := range hydra {
		if c.Baggage != "" {
			t.Errorf("Hydra's %s %s received baggage %q", c.Method, c.Path, c.Baggage)
		}
	}
	for _, c := range core {
		if c.Baggage != "" {
			t.Errorf("core's %s received baggage %q", c.Path, c.Baggage)
		}
	}
	if len(hydra) == 0 {
		t.Error("the spy saw no call to Hydra: the check would prove nothing")
	}
}

// One email sign-in with a consent page, exported to an in-process OTLP
// collector: each request's trace holds its route span, the Hydra calls and
// the queries made for it; the outbox delivery has its span; Hydra received
// the trace context; and no name or attribute anywhere holds the email, the
// code, a challenge, the flow id, a cookie or the browser's address. Every
// span reaches the collector only through the flush at graceful shutdown
// (the batch delay is a minute).
func TestTracesOfAnEmailSignIn(t *testing.T) {
	rcv := otlptest.Start()
	t.Cleanup(rcv.Close)
	st, spy := tracedStack(t, "traces", map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL,
		"OTEL_BSP_SCHEDULE_DELAY":     "60000",
		"TRACING_SERVICE_NAME":        "consent",
	})
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			st.Stop()
		}
	})
	const email = "traced.sign.in@example.com"
	addUser(t, st, email)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "email"}})
	b := tracedBrowser(t)

	start, codePage, code := askCode(t, st, rp, b, st.ServiceURL, email)
	consentPage := b.Post(st.ServiceURL+"/login/code", codeForm(codePage, code)).Last()
	if consentPage.URL.Path != "/consent" || consentPage.Status != http.StatusOK {
		t.Fatalf("the code led to %s %d, want the consent page", consentPage.URL.Path, consentPage.Status)
	}
	consentChallenge := consentPage.URL.Query().Get("consent_challenge")
	done := b.Post(st.ServiceURL+"/consent", url.Values{"consent_challenge": {consentChallenge}, "action": {"allow"}, "scope": {"openid", "email"}})
	if _, claims := rp.tokens(t, done); claims["email"] != email {
		t.Fatalf("the sign-in did not finish: %v", claims)
	}
	serviceURL, _ := url.Parse(st.ServiceURL)
	cookies := b.http.Jar.Cookies(serviceURL)
	if err := st.Stop(); err != nil {
		t.Fatalf("the service did not stop cleanly: %v", err)
	}
	stopped = true

	spans := rcv.Spans()
	if len(spans) == 0 {
		t.Fatal("the collector received no span (nothing flushed at shutdown?)")
	}
	for _, s := range spans {
		if s.Service != "consent" {
			t.Fatalf("span %q has service.name %q, want TRACING_SERVICE_NAME's consent", s.Name, s.Service)
		}
	}
	// children are the spans whose parent is the span, and queries are the
	// database spans anywhere in its trace.
	children := func(parent otlptest.Span) (names []string, queries int) {
		for _, s := range spans {
			if s.TraceID != parent.TraceID {
				continue
			}
			if s.ParentID == parent.SpanID {
				names = append(names, s.Name)
			}
			if s.Scope == otelpgxScope {
				queries++
			}
		}
		return names, queries
	}
	for _, want := range []struct{ route, hydraCall string }{
		{"GET /login", "hydra GET /admin/oauth2/auth/requests/login"},
		{"POST /login/identify", ""},
		{"GET /login/code", ""},
		{"POST /login/code", "hydra PUT /admin/oauth2/auth/requests/login/accept"},
		{"GET /consent", "hydra GET /admin/oauth2/auth/requests/consent"},
		{"POST /consent", "hydra PUT /admin/oauth2/auth/requests/consent/accept"},
	} {
		found := rcv.Named(want.route)
		if len(found) == 0 {
			t.Errorf("no %q span", want.route)
			continue
		}
		route := found[len(found)-1]
		if route.ParentID != "" || route.Attributes["http.route"] == "" {
			t.Errorf("%q: not a root span with its route: %+v", want.route, route)
		}
		names, queries := children(route)
		if queries == 0 {
			t.Errorf("%q: no database query in its trace (children %v)", want.route, names)
		}
		if want.hydraCall != "" && !contains(names, want.hydraCall) {
			t.Errorf("%q: no %q child (children %v)", want.route, want.hydraCall, names)
		}
	}
	deliveries := rcv.Named("outbox deliver")
	if len(deliveries) != 1 || deliveries[0].Attributes["blink.outbox.channel"] != "email" || deliveries[0].Attributes["blink.outbox.outcome"] != "sent" {
		t.Errorf("outbox deliveries: %+v, want one email sent", deliveries)
	} else if _, queries := children(deliveries[0]); queries == 0 {
		t.Error("the delivery's trace has no query (recording its outcome)")
	}
	// Queries carry their statement (ours, values as $n) and never their arguments.
	texts := 0
	for _, s := range spans {
		if s.Scope != otelpgxScope {
			continue
		}
		if s.Attributes["db.query.text"] != "" {
			texts++
		}
		if _, ok := s.Attributes["pgx.query.parameters"]; ok {
			t.Errorf("query span %q carries its arguments", s.Name)
		}
	}
	if texts == 0 {
		t.Error("no query span carries its statement")
	}

	// Hydra received the trace context of the request that called it.
	accept := rcv.Named("POST /login/code")
	var sawAccept bool
	for _, c := range spy.Calls() {
		if c.Path != "/admin/oauth2/auth/requests/login/accept" {
			continue
		}
		sawAccept = true
		if len(accept) == 0 || !strings.HasPrefix(c.Traceparent, "00-"+accept[0].TraceID+"-") {
			t.Errorf("Hydra's login accept came with traceparent %q, want the trace of POST /login/code", c.Traceparent)
		}
	}
	if !sawAccept {
		t.Error("the spy saw no login accept")
	}

	// A challenge may end in "=", which a URL writes %3D: look for it without.
	login, consent := strings.TrimRight(loginChallenge(t, start), "="), strings.TrimRight(consentChallenge, "=")
	secrets := map[string]string{
		"the email": email, "the email's local part": "traced.sign.in", "the code": code,
		"the login challenge": login, "its start": login[:16], "the consent challenge": consent, "the consent challenge's start": consent[:16],
		"the flow id": flowID(t, codePage), "the browser's address": b.IP,
	}
	for _, c := range cookies {
		if c.Name == "blink_method" {
			// Only "email" or "phone", the tab used last: no secret (the
			// method is a span attribute).
			continue
		}
		secrets["the cookie "+c.Name] = c.Value
	}
	for what, secret := range secrets {
		if secret == "" {
			t.Errorf("%s is empty: the check would prove nothing", what)
			continue
		}
		if rcv.Contains(secret) {
			t.Errorf("the collector received %s", what)
		}
	}
	checkNothingOfTheBrowserLeft(t, rcv, spy.Calls(), nil)
}

// With IDENTITY_SOURCE=blink, each call to Blink core is a child span of the
// request that made it and carries its trace context to core; nothing of the
// sign-in (email, code, flow) reaches the collector.
func TestTracesOfABlinkEmailSignIn(t *testing.T) {
	core, err := corestandin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { core.Close() })
	rcv := otlptest.Start()
	t.Cleanup(rcv.Close)
	st, spy := tracedStack(t, "traces_blink", map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL,
		"OTEL_BSP_SCHEDULE_DELAY":     "60000",
		"IDENTITY_SOURCE":             "blink",
		"CORE_AUTH_URL":               core.AuthURL(),
		"GRAPHQL_ENDPOINT":            core.GraphQLURL(),
		"GEETEST_SCRIPT_URL":          core.GeetestScriptURL(),
	})
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			st.Stop()
		}
	})
	const email = "traced.blink@example.com"
	core.AddIdentity(email, "")
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "email"}, SkipConsent: true})
	b := tracedBrowser(t)
	codePage := blinkIdentify(t, st, b, rp.start(b).Last(), url.Values{"method": {"email"}, "email": {email}})
	if codePage.URL.Path != "/login/code" || codePage.Status != http.StatusOK {
		t.Fatalf("asking for a code ended on %s %d", codePage.URL.Path, codePage.Status)
	}
	code := core.Code(email)
	if _, claims := rp.tokens(t, blinkCode(st, b, codePage, code)); claims["email"] != email {
		t.Fatalf("the sign-in did not finish: %v", claims)
	}
	if err := st.Stop(); err != nil {
		t.Fatalf("the service did not stop cleanly: %v", err)
	}
	stopped = true

	spanOf := map[string]otlptest.Span{} // span id → span
	for _, s := range rcv.Spans() {
		spanOf[s.SpanID] = s
	}
	for _, want := range []struct{ route, call, path string }{
		{"POST /login/identify", "core POST /auth/email/code", "/auth/email/code"},
		{"POST /login/code", "core POST /auth/email/login", "/auth/email/login"},
		{"POST /login/code", "core POST /graphql", "/graphql"},
	} {
		var call otlptest.Span
		var parents []string
		for _, c := range rcv.Named(want.call) {
			parent := spanOf[c.ParentID]
			parents = append(parents, parent.Name)
			if parent.Name == want.route && parent.TraceID == c.TraceID {
				call = c
			}
		}
		if call.SpanID == "" {
			t.Errorf("no %q span under %q (under %v)", want.call, want.route, parents)
			continue
		}
		var carried bool
		for _, c := range core.Calls() {
			if c.Path == want.path && strings.HasPrefix(c.Traceparent, "00-"+call.TraceID+"-") {
				carried = true
			}
		}
		if !carried {
			t.Errorf("core received no %s call with the trace context of %q: %+v", want.path, want.route, core.Calls())
		}
	}
	for what, secret := range map[string]string{"the email": email, "the code": code, "the flow id": flowID(t, codePage)} {
		if rcv.Contains(secret) {
			t.Errorf("the collector received %s", what)
		}
	}
	checkNothingOfTheBrowserLeft(t, rcv, spy.Calls(), core.Calls())
}

// A collector that takes the export and never answers holds no request: a
// whole sign-in finishes while its handler is still blocked.
func TestASignInCompletesWhileTheCollectorHangs(t *testing.T) {
	collector := otlptest.StartHanging()
	st, _ := tracedStack(t, "traces_hang", map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL,
		"OTEL_BSP_SCHEDULE_DELAY":     "10",
	})
	t.Cleanup(func() {
		collector.Release()
		st.Stop()
	})
	const email = "hanging.collector@example.com"
	addUser(t, st, email)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "email"}, SkipConsent: true})
	b := newBrowser(t)

	_, codePage, code := askCode(t, st, rp, b, st.ServiceURL, email)
	<-collector.FirstRequest()
	done := b.Post(st.ServiceURL+"/login/code", codeForm(codePage, code))
	if _, claims := rp.tokens(t, done); claims["email"] != email {
		t.Fatalf("the sign-in did not finish: %v", claims)
	}
	if received, returned := collector.Counts(); received < 1 || returned != 0 {
		t.Fatalf("collector: %d received, %d returned; want the first export still hanging when the sign-in finished", received, returned)
	}
}
