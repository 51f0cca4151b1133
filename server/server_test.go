package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/blinkbitcoin/blink-consent/views"
)

func testDeps(publicURL string) Deps {
	u, _ := url.Parse(publicURL)
	return Deps{Settings: Settings{PublicURL: u.String(), Secure: u.Scheme == "https"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func TestHeadersOnErrorPages(t *testing.T) {
	for _, tc := range []struct {
		publicURL string
		hsts      bool
	}{{"https://login.blink.sv", true}, {"http://127.0.0.1:3000", false}} {
		h := NewHandler(testDeps(tc.publicURL))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/no-such-page", nil))
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "Page not found") {
			t.Errorf("404 page: %d %q", rec.Code, rec.Body.String())
		}
		if got := rec.Header().Get("Strict-Transport-Security") != ""; got != tc.hsts {
			t.Errorf("%s: HSTS sent = %v, want %v", tc.publicURL, got, tc.hsts)
		}
		if rec.Header().Get("X-Request-Id") == "" || !strings.Contains(rec.Body.String(), rec.Header().Get("X-Request-Id")) {
			t.Error("the error page does not show the request id")
		}
	}
}

func TestMethodNotAllowedPage(t *testing.T) {
	rec := httptest.NewRecorder()
	NewHandler(testDeps("https://x.example")).ServeHTTP(rec, httptest.NewRequest(http.MethodDelete, "/login", nil))
	if rec.Code != http.StatusMethodNotAllowed || !strings.Contains(rec.Body.String(), "<html") {
		t.Errorf("DELETE /login: %d", rec.Code)
	}
}

func TestPanicBecomesTheErrorPage(t *testing.T) {
	r := chi.NewRouter()
	r.Use(requestID, securityHeaders(true), language, recoverPanics)
	r.Get("/boom", func(http.ResponseWriter, *http.Request) { panic("secret-internal-detail") })
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/boom", nil)
	req.Header.Set("Accept-Language", "es")
	r.ServeHTTP(rec, req)
	body := rec.Body.String()
	if rec.Code != 500 || !strings.Contains(body, "Algo salió mal de nuestro lado") {
		t.Errorf("panic: %d %q", rec.Code, body)
	}
	if strings.Contains(body, "secret-internal-detail") || strings.Contains(body, "goroutine") {
		t.Error("the panic's details reached the user")
	}
	if rec.Header().Get("Content-Security-Policy") == "" {
		t.Error("the panic page has no security headers")
	}
}

func TestBodyLimit(t *testing.T) {
	var readErr error
	h := limitBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, readErr = io.ReadAll(r.Body)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("a", maxBodyBytes+1))))
	if readErr == nil {
		t.Error("a body over the limit was read whole")
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", strings.NewReader("small=1")))
	if readErr != nil {
		t.Errorf("a small body was refused: %v", readErr)
	}
}

func TestCrossOriginPostRefusedSameOriginAllowed(t *testing.T) {
	h := crossOriginProtection(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	for _, tc := range []struct {
		site string
		want int
	}{{"cross-site", 403}, {"same-site", 403}, {"same-origin", 204}, {"none", 204}} {
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader("a=b"))
		req.Header.Set("Sec-Fetch-Site", tc.site)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("Sec-Fetch-Site %s: %d, want %d", tc.site, rec.Code, tc.want)
		}
	}
}

func TestAssetsAreCachedLongAndVersioned(t *testing.T) {
	h := NewHandler(testDeps("https://x.example"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, views.Asset("style.css"), nil))
	if rec.Code != 200 || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") {
		t.Errorf("current asset: %d %q %q", rec.Code, rec.Header().Get("Cache-Control"), rec.Header().Get("Content-Type"))
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/assets/oldversion/style.css", nil))
	if rec.Code != 200 || strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
		t.Errorf("old version: %d %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	for _, p := range []string{"/assets/x/../../go.mod", "/assets/x/", "/assets/x/nope.css"} {
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		if rec.Code != 404 && rec.Code != 301 {
			t.Errorf("%s: %d", p, rec.Code)
		}
	}
}
