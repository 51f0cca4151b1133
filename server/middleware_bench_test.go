package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The middleware chain every request goes through (request id, access log,
// security headers, language, recovery, body limit, cross-origin check)
// around the smallest page there is: docs/performance.md, "The CPU floor,
// again".
func BenchmarkMiddlewareChain(b *testing.B) {
	h := NewHandler(testDeps("https://login.blink.sv"))
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("/healthz: %d", rec.Code)
		}
	}
}
