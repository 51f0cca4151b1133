package captcha

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// fakeSiteverify speaks Turnstile's siteverify wire format: a form POST with
// secret, response and remoteip; a JSON answer.
func fakeSiteverify(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "bad request", 400)
			return
		}
		ok := r.PostFormValue("secret") == "sekret" && r.PostFormValue("response") == "solved" && r.PostFormValue("remoteip") == "203.0.113.7"
		w.Header().Set("Content-Type", "application/json")
		if ok {
			w.Write([]byte(`{"success":true,"challenge_ts":"2026-11-27T16:00:00Z","hostname":"login.blink.sv","error-codes":[]}`))
		} else {
			w.Write([]byte(`{"success":false,"error-codes":["invalid-input-response"]}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestTurnstile(t *testing.T) {
	srv := fakeSiteverify(t)
	ts := Turnstile{Key: "site", Secret: "sekret", VerifyURL: srv.URL}
	if ok, err := ts.Verify(context.Background(), "solved", "203.0.113.7"); !ok || err != nil {
		t.Errorf("solved: %v %v", ok, err)
	}
	for _, token := range []string{"forged", ""} {
		if ok, _ := ts.Verify(context.Background(), token, "203.0.113.7"); ok {
			t.Errorf("token %q passed", token)
		}
	}
	down := Turnstile{Key: "site", Secret: "sekret", VerifyURL: "http://127.0.0.1:1/siteverify"}
	if ok, err := down.Verify(context.Background(), "solved", ""); ok || err == nil {
		t.Errorf("provider down: %v %v", ok, err)
	}
	if (Off{}).SiteKey() != "" {
		t.Error("Off shows a widget")
	}
}
