package hydra

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// The consent request as every consent page reads it: one admin call whose
// answer is decoded into ConsentRequest (docs/performance.md, "The CPU floor,
// again": the lean decode). The local server's own allocations are in the
// figure too, the same before and after a change to the decode.
func BenchmarkConsentRequest(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, consentRequestBody)
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	c := New(u, time.Second)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Consent(ctx, "ch-consent"); err != nil {
			b.Fatal(err)
		}
	}
}
