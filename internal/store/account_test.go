package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Expired account-page rows go with the retention purge; live ones stay.
// account_logins is no longer written (the sign-in in flight is sealed in
// its cookie), but rows a previous release left are still purged.
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

// A Hydra login session that ends takes every account session of its sid and,
// in the same transaction, what the identity source keeps for it (the
// WithSessionState hook, here the test's own table); another sid's keep
// theirs. When the source cannot forget, no account session ends either.
func TestEndLoginSessionEndsItsAccountSessionsAndSourceState(t *testing.T) {
	var failForget bool
	s := newTestStore(t, WithSessionState(func(ctx context.Context, q Querier, sid string) error {
		if _, err := q.Exec(ctx, `DELETE FROM source_sessions WHERE sid = $1`, sid); err != nil {
			return err
		}
		if failForget {
			return errors.New("the source could not forget")
		}
		return nil
	}))
	ctx := context.Background()
	mustExec(t, s, `
		CREATE TABLE source_sessions (sid text NOT NULL);
		INSERT INTO source_sessions (sid) VALUES ('sid-a'), ('sid-b'), ('sid-c');
		INSERT INTO account_sessions (token_hash, subject, sid, auth_time, id_token, expires_at) VALUES
			('a1', 's', 'sid-a', now(), 't', now() + interval '1 hour'),
			('a2', 's', 'sid-a', now(), 't', now() + interval '1 hour'),
			('b1', 's', 'sid-b', now(), 't', now() + interval '1 hour'),
			('c1', 's', 'sid-c', now(), 't', now() + interval '1 hour');`)
	left := func(sid string) int64 {
		return count(t, s, `SELECT count(*) FROM account_sessions WHERE sid = '`+sid+`'`) +
			count(t, s, `SELECT count(*) FROM source_sessions WHERE sid = '`+sid+`'`)
	}
	ended, err := s.EndLoginSession(ctx, "sid-a")
	if err != nil || ended != 2 {
		t.Fatalf("ended %d, %v; want 2", ended, err)
	}
	if n := left("sid-a"); n != 0 {
		t.Errorf("%d rows of the ended login session are left", n)
	}
	if n := left("sid-b"); n != 2 {
		t.Errorf("another login session lost rows: %d left of 2", n)
	}
	if ended, err := s.EndLoginSession(ctx, ""); err != nil || ended != 0 {
		t.Errorf("an empty sid ended %d, %v", ended, err)
	}
	// The account page's session ended alone: only the source's state goes.
	if err := s.ForgetSessionState(ctx, "sid-b"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT count(*) FROM source_sessions WHERE sid = 'sid-b'`); n != 0 {
		t.Error("ForgetSessionState left the source's state")
	}
	if n := count(t, s, `SELECT count(*) FROM account_sessions WHERE sid = 'sid-b'`); n != 1 {
		t.Error("ForgetSessionState ended an account session")
	}
	failForget = true
	if _, err := s.EndLoginSession(ctx, "sid-c"); err == nil {
		t.Fatal("EndLoginSession succeeded though the source could not forget")
	}
	if n := left("sid-c"); n != 2 {
		t.Errorf("a failed EndLoginSession changed rows: %d left of 2", n)
	}
}

// The audit trail's granted apps: the latest decision per app counts, and
// revoking every Hydra session of the user ends all grants before it.
func TestGrantedClients(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	mustExec(t, s, `
		INSERT INTO users (id, email) VALUES ('6f1c1d1e-0000-4000-8000-000000000002', 'granted@example.com'),
			('6f1c1d1e-0000-4000-8000-000000000003', 'other@example.com');
		INSERT INTO audit_events (user_id, action, actor, client_id, at, details) VALUES
			('6f1c1d1e-0000-4000-8000-000000000002', 'consent granted', 'user', 'kept', now() - interval '40 days', '{"scopes": ["openid", "offline"]}'),
			('6f1c1d1e-0000-4000-8000-000000000002', 'consent granted', 'user', 'removed', now() - interval '3 days', '{"scopes": ["openid"]}'),
			('6f1c1d1e-0000-4000-8000-000000000002', 'consent removed', 'user', 'removed', now() - interval '2 days', NULL),
			('6f1c1d1e-0000-4000-8000-000000000002', 'consent granted', 'user', 'before-revocation', now() - interval '50 days', NULL),
			('6f1c1d1e-0000-4000-8000-000000000002', 'hydra sessions revoked', 'cli', NULL, now() - interval '45 days', NULL),
			('6f1c1d1e-0000-4000-8000-000000000002', 'consent denied', 'user', 'denied', now(), NULL),
			('6f1c1d1e-0000-4000-8000-000000000003', 'consent granted', 'user', 'someone-elses', now(), NULL);`)
	got, err := s.GrantedClients(ctx, "6f1c1d1e-0000-4000-8000-000000000002")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ClientID != "kept" || len(got[0].Scopes) != 2 || time.Since(got[0].At) < 39*24*time.Hour {
		t.Errorf("granted %+v, want only kept (openid offline, 40 days ago)", got)
	}
}
