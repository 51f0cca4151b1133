package server

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/blinkbitcoin/blink-consent/internal/metrics"
)

// forwardingHandler is the public handler with its log captured in buf.
func forwardingHandler(buf *bytes.Buffer, trusted ...string) http.Handler {
	s := Settings{Secure: true}
	for _, p := range trusted {
		s.TrustedProxies = append(s.TrustedProxies, netip.MustParsePrefix(p))
	}
	return NewHandler(Deps{Settings: s, Logger: slog.New(slog.NewTextHandler(buf, nil))})
}

func getFrom(h http.Handler, peer, xff string) {
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	req.RemoteAddr = peer
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	h.ServeHTTP(httptest.NewRecorder(), req)
}

const untrustedWarning = "X-Forwarded-For from a peer not in TRUSTED_PROXIES is ignored"

// Behind a proxy left out of TRUSTED_PROXIES every client has the proxy's
// address: the operator is told, once.
func TestUntrustedForwardingIsLoggedOnce(t *testing.T) {
	var log bytes.Buffer
	h := forwardingHandler(&log)
	getFrom(h, "10.0.0.5:4000", "")
	if strings.Contains(log.String(), untrustedWarning) {
		t.Fatal("warned about a request without X-Forwarded-For")
	}
	getFrom(h, "10.0.0.5:4000", "198.51.100.7")
	getFrom(h, "10.0.0.6:4000", "198.51.100.8")
	if n := strings.Count(log.String(), untrustedWarning); n != 1 {
		t.Errorf("%d warnings after two forwarded requests from untrusted peers, want 1:\n%s", n, log.String())
	}
	if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "peer=10.0.0.5:4000") {
		t.Errorf("the warning does not name the peer at WARN level:\n%s", log.String())
	}
}

func TestTrustedForwardingIsNotWarnedAbout(t *testing.T) {
	var log bytes.Buffer
	h := forwardingHandler(&log, "10.0.0.0/8")
	getFrom(h, "10.0.0.5:4000", "198.51.100.7")
	getFrom(h, "[::ffff:10.0.0.6]:4000", "198.51.100.8")
	if strings.Contains(log.String(), untrustedWarning) {
		t.Errorf("warned about a trusted proxy:\n%s", log.String())
	}
}

// Every request carrying X-Forwarded-For from a peer outside TRUSTED_PROXIES
// is counted, in blink_consent_untrusted_forwarded_requests_total and in
// /readyz's body, so a proxy missing from the list shows beyond one log line.
func TestUntrustedForwardingIsCounted(t *testing.T) {
	m := metrics.New()
	s := Settings{Secure: true, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	h := NewHandler(Deps{Settings: s, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: m})
	getFrom(h, "192.0.2.9:4000", "198.51.100.7") // untrusted peer, forwarded: counted
	getFrom(h, "192.0.2.9:4000", "198.51.100.8") // again
	getFrom(h, "192.0.2.9:4000", "")             // no header: not counted
	getFrom(h, "10.0.0.5:4000", "198.51.100.7")  // trusted proxy: not counted

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "blink_consent_untrusted_forwarded_requests_total 2\n") {
		t.Errorf("metric not 2:\n%s", grepLines(rec.Body.String(), "untrusted"))
	}
	_, status := readyz(t, handleReadyz(answers{}, answers{}, nil, new(atomic.Bool), m))
	if status["untrusted_forwarded_requests"] != "2" {
		t.Errorf("/readyz body %v: untrusted_forwarded_requests is not 2", status)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
