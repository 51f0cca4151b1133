package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// An account-page sign-in is taken once, only by the browser that started it.
func TestAccountLoginIsSingleUseAndBoundToItsBrowser(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	l := AccountLogin{StateHash: []byte("state"), BrowserHash: []byte("browser"), Nonce: "n", CodeVerifier: "v", Fresh: true, ReturnTo: "/account/remove-all"}
	if err := s.StartAccountLogin(ctx, l, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeAccountLogin(ctx, []byte("state"), []byte("another browser")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another browser took it: %v", err)
	}
	got, err := s.TakeAccountLogin(ctx, []byte("state"), []byte("browser"))
	if err != nil || got.Nonce != "n" || got.CodeVerifier != "v" || !got.Fresh || got.ReturnTo != "/account/remove-all" {
		t.Fatalf("took %+v, %v", got, err)
	}
	if _, err := s.TakeAccountLogin(ctx, []byte("state"), []byte("browser")); !errors.Is(err, ErrNotFound) {
		t.Errorf("taken twice: %v", err)
	}
}

// Expired account-page rows go with the retention purge; live ones stay.
func TestPurgeAccountRows(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	mustExec(t, s, `
		INSERT INTO account_logins (state_hash, browser_hash, nonce, code_verifier, expires_at) VALUES
			('old', 'b', 'n', 'v', now() - interval '8 days'), ('live', 'b', 'n', 'v', now() + interval '10 minutes');
		INSERT INTO account_sessions (token_hash, subject, auth_time, id_token, expires_at) VALUES
			('old', 's', now(), 't', now() - interval '8 days'), ('live', 's', now(), 't', now() + interval '1 hour');`)
	purged, ran, err := s.Purge(ctx, Retention{Rows: 7 * 24 * time.Hour, LoginSessions: time.Hour})
	if err != nil || !ran {
		t.Fatalf("purge: ran=%v err=%v", ran, err)
	}
	if purged["account_logins"] != 1 || purged["account_sessions"] != 1 {
		t.Errorf("purged %v", purged)
	}
	if n := count(t, s, `SELECT count(*) FROM account_sessions WHERE token_hash = 'live'`); n != 1 {
		t.Error("a live session was purged")
	}
}
