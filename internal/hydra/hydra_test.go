package hydra

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fakeAdmin answers every admin call with one status and body, as Hydra v2.3.0 would.
func fakeAdmin(t *testing.T, status int, body string, delay time.Duration) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return New(u, 200*time.Millisecond)
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		check  func(error) bool
	}{
		{"expired", 401, `{"error":"request_unauthorized","error_description":"The login request has expired, please try again."}`,
			func(err error) bool { return errors.Is(err, ErrExpired) }},
		{"unknown", 404, `{"error":"Not Found","error_description":"Unable to locate the requested resource"}`,
			func(err error) bool { return errors.Is(err, ErrNotFound) }},
		{"handled", 410, `{"redirect_to":"http://127.0.0.1:4444/oauth2/auth?client_id=x&login_verifier=y"}`,
			func(err error) bool {
				var h *HandledError
				return errors.As(err, &h) && strings.Contains(h.RedirectTo, "login_verifier=y")
			}},
		{"server error", 500, `{"error":"server_error"}`,
			func(err error) bool { return errors.Is(err, ErrUnavailable) }},
		{"bad request", 400, `{"error":"invalid_request"}`,
			func(err error) bool { return errors.Is(err, ErrInvalid) }},
		{"html from a proxy", 502, `<html>bad gateway</html>`,
			func(err error) bool { return errors.Is(err, ErrUnavailable) }},
		{"garbage 200", 200, `not json`,
			func(err error) bool { return errors.Is(err, ErrUnavailable) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fakeAdmin(t, tt.status, tt.body, 0)
			_, err := c.Login(context.Background(), "challenge")
			if err == nil || !tt.check(err) {
				t.Fatalf("Login error = %v", err)
			}
			_, err = c.AcceptLogin(context.Background(), "challenge", AcceptLogin{Subject: "s"})
			if err == nil || !tt.check(err) {
				t.Fatalf("AcceptLogin error = %v", err)
			}
		})
	}
}

func TestUnreachableAndSlow(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u, _ := url.Parse(srv.URL)
	srv.Close() // nothing listens there any more
	_, err := New(u, time.Second).Consent(context.Background(), "c")
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("unreachable: %v", err)
	}

	slow := fakeAdmin(t, 200, `{}`, 2*time.Second)
	start := time.Now()
	_, err = slow.Login(context.Background(), "c")
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("slow: %v", err)
	}
	if time.Since(start) > 1500*time.Millisecond {
		t.Errorf("the timeout did not cut the call short")
	}
}

func TestRequestContextIsPassedThrough(t *testing.T) {
	c := fakeAdmin(t, 200, `{}`, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Login(ctx, "c")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestLoginDecodes(t *testing.T) {
	c := fakeAdmin(t, 200, `{"challenge":"ch","skip":true,"subject":"u1","session_id":"sid",
		"request_url":"http://127.0.0.1:4444/oauth2/auth?client_id=a","requested_scope":["openid","read"],
		"client":{"client_id":"a","client_name":"App","skip_consent":true},
		"oidc_context":{"ui_locales":["es"],"login_hint":"x@y.z"}}`, 0)
	lr, err := c.Login(context.Background(), "ch")
	if err != nil {
		t.Fatal(err)
	}
	if !lr.Skip || lr.Subject != "u1" || lr.Client.DisplayName() != "App" || !lr.Client.SkipConsent ||
		len(lr.UILocales) != 1 || lr.UILocales[0] != "es" || lr.LoginHint != "x@y.z" || lr.SessionID != "sid" {
		t.Errorf("decoded %+v", lr)
	}
}

func TestConsentSessionsDecode(t *testing.T) {
	c := fakeAdmin(t, 200, `[{"consent_request":{"challenge":"c1","client":{"client_id":"app","client_name":"App","logo_uri":"https://app.example/logo.png"},
		"login_session_id":"ls1"},"grant_scope":["openid","read"],"handled_at":"2026-11-01T10:00:00Z","remember":true}]`, 0)
	sessions, err := c.ConsentSessions(context.Background(), "u1")
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 1 || sessions[0].Client.ID != "app" || sessions[0].Client.LogoURI != "https://app.example/logo.png" ||
		len(sessions[0].GrantScope) != 2 || sessions[0].GrantedAt.Year() != 2026 || sessions[0].LoginSessID != "ls1" {
		t.Errorf("decoded %+v", sessions)
	}
}

func TestConsentCallsMapErrors(t *testing.T) {
	if err := fakeAdmin(t, 404, `{"error":"Not Found"}`, 0).RevokeConsent(context.Background(), "u1", "app"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke 404: %v", err)
	}
	if err := fakeAdmin(t, 204, ``, 0).RevokeConsent(context.Background(), "u1", "app"); err != nil {
		t.Errorf("revoke 204: %v", err)
	}
	if _, err := fakeAdmin(t, 503, `{"error":"server_error"}`, 0).ConsentSessions(context.Background(), "u1"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("list 503: %v", err)
	}
	if _, err := fakeAdmin(t, 404, `{"error":"Not Found"}`, 0).OAuthClient(context.Background(), "gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("client 404: %v", err)
	}
}

// The consent-session listing is read page by page, up to Hydra's
// X-Total-Count, through a page whose flows Hydra filtered out entirely
// (an empty page without the header, as Hydra v2.3.0 answers it).
func TestConsentSessionsReadsEveryPage(t *testing.T) {
	var offsets []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		offset := "0"
		if tok := r.URL.Query().Get("page_token"); tok != "" {
			raw, err := base64.RawURLEncoding.DecodeString(tok)
			if err != nil {
				t.Errorf("page_token %q", tok)
			}
			var v struct{ Offset string }
			json.Unmarshal(raw, &v)
			offset = v.Offset
		}
		offsets = append(offsets, offset)
		if r.URL.Query().Get("page_size") != "500" || r.URL.Query().Get("subject") != "sub" {
			t.Errorf("query %v", r.URL.Query())
		}
		w.Header().Set("Content-Type", "application/json")
		session := func(client string) string {
			return `{"consent_request":{"challenge":"c","client":{"client_id":"` + client + `"}},"grant_scope":["openid"]}`
		}
		switch offset {
		case "0":
			w.Header().Set("X-Total-Count", "1100")
			io.WriteString(w, "["+session("a")+","+session("b")+"]")
		case "500":
			io.WriteString(w, "[]")
		case "1000":
			w.Header().Set("X-Total-Count", "1100")
			io.WriteString(w, "["+session("c")+"]")
		default:
			t.Errorf("asked for offset %s", offset)
			io.WriteString(w, "[]")
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	sessions, err := New(u, time.Second).ConsentSessions(context.Background(), "sub")
	if err != nil {
		t.Fatal(err)
	}
	var clients []string
	for _, s := range sessions {
		clients = append(clients, s.Client.ID)
	}
	if strings.Join(clients, ",") != "a,b,c" || strings.Join(offsets, ",") != "0,500,1000" {
		t.Errorf("clients %v from offsets %v, want a,b,c from 0,500,1000", clients, offsets)
	}
}
