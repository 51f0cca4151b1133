package store

import (
	"context"
	"testing"
	"time"
)

// Old rows of every purged table go, and expired ones of the identity
// source's tables (here the test's own); fresh ones, and what is still in
// use, stay; one replica at a time purges.
func TestPurge(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	r := Retention{Rows: 7 * 24 * time.Hour, LoginSessions: 31 * 24 * time.Hour, Audit: 90 * 24 * time.Hour,
		SourceTables: []string{"source_secrets"}}
	mustExec(t, s, `
		INSERT INTO users (id, email) VALUES ('00000000-0000-4000-8000-000000000001', 'kept@example.com');
		INSERT INTO login_flows (id, browser_hash, challenge, challenge_hash, request_url, client_id, client_name, lang, expires_at) VALUES
			('00000000-0000-4000-8000-0000000000a1', 'b', 'old', 'old', 'u', 'c', 'c', 'en', now() - interval '8 days'),
			('00000000-0000-4000-8000-0000000000a2', 'b', 'fresh', 'fresh', 'u', 'c', 'c', 'en', now() - interval '6 days');
		INSERT INTO login_codes (flow_id, identifier, code_hmac, expires_at) VALUES
			('00000000-0000-4000-8000-0000000000a1', 'old-flow', 'm', now() - interval '8 days'),
			('00000000-0000-4000-8000-0000000000a2', 'old', 'm', now() - interval '8 days'),
			('00000000-0000-4000-8000-0000000000a2', 'fresh', 'm', now() - interval '6 days');
		INSERT INTO used_challenges (hash, used_at) VALUES ('old', now() - interval '8 days'), ('fresh', now() - interval '6 days');
		INSERT INTO seen_challenges (hash, request_url, seen_at) VALUES ('old', 'u', now() - interval '8 days'), ('fresh', 'u', now() - interval '6 days');
		INSERT INTO outbox (channel, destination, sealed, status, not_after, created_at) VALUES
			('email', 'old-sent', 's', 'sent', now() - interval '8 days', now() - interval '8 days'),
			('email', 'old-abandoned', 's', 'abandoned', now() - interval '8 days', now() - interval '8 days'),
			('email', 'old-expired-queued', 's', 'queued', now() - interval '8 days', now() - interval '9 days'),
			('email', 'fresh-failed', 's', 'failed', now() - interval '6 days', now() - interval '6 days'),
			('email', 'old-but-due', 's', 'queued', now() + interval '1 hour', now() - interval '9 days');
		INSERT INTO identity_failures (identifier, failures, updated_at) VALUES ('old', 100, now() - interval '8 days'), ('fresh', 3, now() - interval '6 days');
		INSERT INTO identity_failures (identifier, failures, updated_at, locked_until) VALUES ('locked', 100, now() - interval '8 days', now() + interval '1 hour');
		INSERT INTO rate_events (bucket, key, at) VALUES ('send-email', 'old', now() - interval '8 days'), ('send-email', 'fresh', now() - interval '6 days');
		INSERT INTO login_sessions (session_id, user_id, amr, acr, created_at) VALUES
			('old', '00000000-0000-4000-8000-000000000001', '{otp}', '1', now() - interval '32 days'),
			('fresh', '00000000-0000-4000-8000-000000000001', '{otp}', '1', now() - interval '30 days');
		INSERT INTO audit_events (user_id, action, actor, at) VALUES ('00000000-0000-4000-8000-000000000001', 'totp enrolled', 'cli', now() - interval '400 days'),
			('00000000-0000-4000-8000-000000000001', 'fresh', 'cli', now() - interval '89 days');
		INSERT INTO totp_enrollments (id, user_id, sealed, expires_at) VALUES
			('00000000-0000-4000-8000-0000000000e1', '00000000-0000-4000-8000-000000000001', 'old', now() - interval '1 second'),
			('00000000-0000-4000-8000-0000000000e2', '00000000-0000-4000-8000-000000000001', 'fresh', now() + interval '1 minute');
		CREATE TABLE source_secrets (name text NOT NULL, expires_at timestamptz NOT NULL);
		INSERT INTO source_secrets (name, expires_at) VALUES ('old', now() - interval '1 second'), ('fresh', now() + interval '1 minute');`)

	// Another replica holds the lock: nothing is purged.
	other, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	released := false
	defer func() {
		if !released {
			other.Release()
		}
	}()
	if _, err := other.Exec(ctx, `SELECT pg_advisory_lock($1)`, retentionLock); err != nil {
		t.Fatal(err)
	}
	if _, ran, err := s.Purge(ctx, r); err != nil || ran {
		t.Fatalf("a purge while another replica purges: ran=%v err=%v", ran, err)
	}
	if n := count(t, s, `SELECT count(*) FROM rate_events`); n != 2 {
		t.Fatalf("%d rate events after a skipped purge, want 2", n)
	}
	other.Exec(ctx, `SELECT pg_advisory_unlock($1)`, retentionLock)
	other.Release()
	released = true

	purged, ran, err := s.Purge(ctx, r)
	if err != nil || !ran {
		t.Fatalf("purge: ran=%v err=%v", ran, err)
	}
	for table, want := range map[string]int64{"login_flows": 1, "login_codes": 1, // the old flow's code went with it
		"used_challenges": 1, "seen_challenges": 1,
		"outbox": 3, "identity_failures": 1, "rate_events": 1, "login_sessions": 1, "audit_events": 1,
		"totp_enrollments": 1, "source_secrets": 1} { // expired secrets go at once, whatever the retention
		if purged[table] != want {
			t.Errorf("purged %d rows of %s, want %d", purged[table], table, want)
		}
	}
	for what, query := range map[string]string{
		"flows":              `SELECT string_agg(challenge, ',') FROM login_flows`,
		"codes":              `SELECT string_agg(identifier, ',') FROM login_codes`,
		"used challenges":    `SELECT string_agg(convert_from(hash, 'UTF8'), ',') FROM used_challenges`,
		"seen challenges":    `SELECT string_agg(convert_from(hash, 'UTF8'), ',') FROM seen_challenges`,
		"outbox":             `SELECT string_agg(destination, ',' ORDER BY destination) FROM outbox`,
		"identity failures":  `SELECT string_agg(identifier, ',' ORDER BY identifier) FROM identity_failures`,
		"rate events":        `SELECT string_agg(key, ',') FROM rate_events`,
		"login sessions":     `SELECT string_agg(session_id, ',') FROM login_sessions`,
		"audit events":       `SELECT string_agg(action, ',') FROM audit_events`,
		"pending enrolments": `SELECT string_agg(convert_from(sealed, 'UTF8'), ',') FROM totp_enrollments`,
		"source's secrets":   `SELECT string_agg(name, ',') FROM source_secrets`,
	} {
		want := "fresh"
		switch what {
		case "outbox":
			want = "fresh-failed,old-but-due"
		case "identity failures":
			want = "fresh,locked" // a lock in force stays, however old its last failure
		}
		var got string
		if err := s.pool.pool.QueryRow(ctx, query).Scan(&got); err != nil || got != want {
			t.Errorf("%s kept: %q (%v), want %q", what, got, err, want)
		}
	}
	// The lock was let go: the next purge runs (and finds nothing).
	if purged, ran, err := s.Purge(ctx, r); err != nil || !ran || purged["outbox"] != 0 {
		t.Errorf("second purge: ran=%v err=%v purged=%v", ran, err, purged)
	}
}
