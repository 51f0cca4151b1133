package tracing

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/blinkbitcoin/blink-consent/internal/tracing/otlptest"
)

const challenge = "c0ffee5ecretchallenge0123456789"

func newTracing(t *testing.T, endpoint string, delay time.Duration) *Tracing {
	t.Helper()
	u, err := url.Parse(endpoint + "/v1/traces")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(context.Background(), Settings{Endpoint: u, Protocol: ProtocolHTTP, ServiceName: "consent-test", BatchDelay: delay}, "v-test")
	if err != nil || tr == nil {
		t.Fatalf("New: %v %v", tr, err)
	}
	return tr
}

func shutdown(t *testing.T, tr *Tracing) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// app is a chi router like the service's: the tracing first, one route that
// calls "Hydra" with the challenge in the query, as the admin API is called.
func app(tr *Tracing, hydraURL string) http.Handler {
	hydra := &http.Client{Transport: tr.Transport("hydra", nil)}
	r := chi.NewRouter()
	r.Use(tr.Requests)
	r.Get("/login", func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet,
			hydraURL+"/admin/oauth2/auth/requests/login?login_challenge="+r.URL.Query().Get("login_challenge"), nil)
		resp, err := hydra.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		w.Write([]byte("ok"))
	})
	return r
}

// The request's span is named by its route, Hydra's call is its child and
// carries the trace context to Hydra, and nothing the browser sent — the
// challenge in the URL, its user agent, its cookie, its address — nor the
// admin call's URL reaches the collector.
func TestSpansCarryTheRouteAndNoSecret(t *testing.T) {
	rcv := otlptest.Start()
	defer rcv.Close()
	var traceparent string
	hydra := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		traceparent = r.Header.Get("traceparent")
	}))
	defer hydra.Close()
	tr := newTracing(t, rcv.URL, 0)
	srv := httptest.NewServer(app(tr, hydra.URL))
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/login?login_challenge="+challenge, nil)
	req.Header.Set("User-Agent", "agent-"+challenge[:8])
	req.Header.Set("Cookie", "__Host-blink_flow=cookie-"+challenge[8:16])
	req.Header.Set("X-Forwarded-For", "198.51.100.77")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /login: %v %v", resp, err)
	}
	resp.Body.Close()
	shutdown(t, tr)

	servers, clients := rcv.Named("GET /login"), rcv.Named("hydra GET /admin/oauth2/auth/requests/login")
	if len(servers) != 1 || len(clients) != 1 {
		t.Fatalf("want one request span and one Hydra span, got %+v", rcv.Spans())
	}
	server, client := servers[0], clients[0]
	if client.TraceID != server.TraceID || client.ParentID != server.SpanID {
		t.Errorf("the Hydra span is not the request span's child: %+v / %+v", client, server)
	}
	if server.Attributes["http.route"] != "/login" || server.Attributes["http.response.status_code"] != "200" || server.Service != "consent-test" {
		t.Errorf("request span: %+v", server)
	}
	if !strings.Contains(traceparent, "-"+server.TraceID+"-"+client.SpanID+"-") {
		t.Errorf("Hydra got traceparent %q, want trace %s and the client span %s", traceparent, server.TraceID, client.SpanID)
	}
	for what, secret := range map[string]string{"the challenge": challenge, "its start": challenge[:12], "the user agent": "agent-" + challenge[:8],
		"the cookie": "cookie-" + challenge[8:16], "the client address": "198.51.100.77", "the query": "login_challenge"} {
		if rcv.Contains(secret) {
			t.Errorf("the collector received %s (%q)", what, secret)
		}
	}
}

// Tracing off is nothing: no wrapping of handlers, transports or queries.
func TestOffWrapsNothing(t *testing.T) {
	tr, err := New(context.Background(), Settings{ServiceName: "x"}, "v")
	if err != nil || tr != nil {
		t.Fatalf("New without an endpoint: %v %v, want nil", tr, err)
	}
	h := http.NotFoundHandler()
	next := &struct{ http.Handler }{h}
	if got := tr.Requests(next); got != http.Handler(next) {
		t.Error("Requests wrapped the handler with tracing off")
	}
	if got := tr.Transport("hydra", http.DefaultTransport); got != http.DefaultTransport {
		t.Error("Transport wrapped the transport with tracing off")
	}
	if tr.QueryTracer() != nil {
		t.Error("a query tracer with tracing off")
	}
	ctx := context.Background()
	if got, end := tr.StartDelivery(ctx, "email", 0); got != ctx {
		t.Error("StartDelivery changed the context with tracing off")
	} else {
		end("sent")
	}
	if err := tr.Shutdown(ctx); err != nil {
		t.Error(err)
	}
}

// A collector that takes the export and never answers holds no request: they
// all finish while its handler is still blocked.
func TestAHangingCollectorHoldsNoRequest(t *testing.T) {
	collector := otlptest.StartHanging()
	defer collector.Release()
	hydra := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer hydra.Close()
	tr := newTracing(t, collector.URL, time.Millisecond)
	srv := httptest.NewServer(app(tr, hydra.URL))
	defer srv.Close()

	get := func() {
		resp, err := http.Get(srv.URL + "/login?login_challenge=x")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /login: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	get()
	<-collector.FirstRequest()
	// More requests than the queue holds: spans beyond it are dropped.
	for range maxQueue/2 + 10 {
		get()
	}
	if received, returned := collector.Counts(); received < 1 || returned != 0 {
		t.Fatalf("collector: %d received, %d returned; want the first still hanging", received, returned)
	}
}

// A collector that refuses connections changes nothing for requests, and
// shutting down still returns.
func TestARefusingCollectorHoldsNoRequest(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	refused := closed.URL
	closed.Close()
	hydra := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer hydra.Close()
	tr := newTracing(t, refused, time.Millisecond)
	srv := httptest.NewServer(app(tr, hydra.URL))
	defer srv.Close()
	for range 50 {
		resp, err := http.Get(srv.URL + "/login?login_challenge=x")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /login: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	tr.Shutdown(ctx) // an error: the spans could not be sent; it returns all the same
}

// Spans still queued at shutdown are sent then: with a minute's batch delay
// only Shutdown can have sent them.
func TestShutdownSendsQueuedSpans(t *testing.T) {
	rcv := otlptest.Start()
	defer rcv.Close()
	tr := newTracing(t, rcv.URL, time.Minute)
	_, end := tr.StartDelivery(context.Background(), "sms", 2)
	end("retry")
	if n := len(rcv.Spans()); n != 0 {
		t.Fatalf("%d spans sent before the batch delay", n)
	}
	shutdown(t, tr)
	spans := rcv.Named("outbox deliver")
	if len(spans) != 1 {
		t.Fatalf("after Shutdown: %+v", rcv.Spans())
	}
	a := spans[0].Attributes
	if a["blink.outbox.channel"] != "sms" || a["blink.outbox.attempt"] != "2" || a["blink.outbox.outcome"] != "retry" || !strings.HasPrefix(spans[0].Status, "STATUS_CODE_ERROR") {
		t.Errorf("delivery span: %+v", spans[0])
	}
}

// BenchmarkRequests is the cost tracing adds to one request through a chi
// router like the service's: nothing when off; when on, the request's span
// (exported to an in-process collector in the background).
func BenchmarkRequests(b *testing.B) {
	rcv := otlptest.Start()
	defer rcv.Close()
	u, _ := url.Parse(rcv.URL + "/v1/traces")
	on, err := New(context.Background(), Settings{Endpoint: u, Protocol: ProtocolHTTP, ServiceName: "bench"}, "v")
	if err != nil {
		b.Fatal(err)
	}
	defer on.Shutdown(context.Background())
	for _, tc := range []struct {
		name string
		tr   *Tracing
	}{{"off", nil}, {"on", on}} {
		b.Run(tc.name, func(b *testing.B) {
			r := chi.NewRouter()
			r.Use(tc.tr.Requests)
			r.Get("/login/code", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
			req := httptest.NewRequest(http.MethodGet, "/login/code?flow=x", nil)
			b.ReportAllocs()
			for b.Loop() {
				r.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
