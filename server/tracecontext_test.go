package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/tracing"
	"github.com/blinkbitcoin/blink-consent/internal/tracing/otlptest"
)

// A trace context sent by a browser is dropped: the request's span starts a
// trace of its own. The same header from a proxy in TRUSTED_PROXIES (a
// tracing ingress) is continued.
func TestTraceContextIsTakenOnlyFromTrustedProxies(t *testing.T) {
	const (
		incomingTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		traceparent   = "00-" + incomingTrace + "-00f067aa0ba902b7-01"
	)
	rcv := otlptest.Start()
	defer rcv.Close()
	endpoint, _ := url.Parse(rcv.URL + "/v1/traces")
	tr, err := tracing.New(context.Background(), tracing.Settings{Endpoint: endpoint, Protocol: tracing.ProtocolHTTP, ServiceName: "consent-test"}, "v-test")
	if err != nil || tr == nil {
		t.Fatalf("tracing: %v %v", tr, err)
	}
	s := Settings{Secure: true, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	h := NewHandler(Deps{Settings: s, Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), Tracing: tr})

	for _, peer := range []string{"203.0.113.9:4000", "10.1.2.3:4000"} {
		req := httptest.NewRequest(http.MethodGet, "/no-such-page?from="+peer, nil)
		req.RemoteAddr = peer
		req.Header.Set("traceparent", traceparent)
		req.Header.Set("baggage", "chosen=by-the-client")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	spans := rcv.Spans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want one per request: %+v", len(spans), spans)
	}
	continued := 0
	for _, s := range spans {
		if s.TraceID == incomingTrace {
			continued++
		}
	}
	if continued != 1 {
		t.Errorf("%d of the 2 requests continued the incoming trace, want 1 (the trusted proxy's): %+v", continued, spans)
	}
}
