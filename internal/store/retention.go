package store

import (
	"context"
	"fmt"
	"time"
)

// Retention is how long rows are kept once they can no longer be used.
type Retention struct {
	// Rows (RETENTION) keeps sign-in flows and their codes, single-use
	// challenge markers, finished outbox messages, identity failure counters
	// and rate-limit events, for support and investigations. It is at least
	// every rate-limit window, so no limit forgets an event it counts.
	Rows time.Duration
	// LoginSessions keeps what each remembered sign-in was (amr, acr) for as
	// long as Hydra can skip the sign-in page for it.
	LoginSessions time.Duration
	// Audit (AUDIT_RETENTION) keeps the security audit trail; 0 keeps it forever.
	Audit time.Duration
	// SourceTables are the identity source's own tables of secrets waiting to
	// be used (an expires_at column each): their rows go as soon as they
	// expire, like pending enrolments.
	SourceTables []string
}

// retentionLock is the advisory lock that lets one replica at a time purge.
const retentionLock = 0x626c696e6b01 // "blink" 01

// purgeBatch bounds how many rows one DELETE removes, so no purge holds locks for long.
const purgeBatch = 5000

// Purge deletes the rows Retention no longer keeps and returns how many went
// per table. When another replica is purging (it holds the advisory lock)
// nothing is done and ran is false.
func (s *Store) Purge(ctx context.Context, r Retention) (purged map[string]int64, ran bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("store: unable to acquire a connection: %w", err)
	}
	defer conn.Release()
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, retentionLock).Scan(&ran); err != nil || !ran {
		return nil, false, err
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, retentionLock); err != nil {
			// Never give the pool a connection that may still hold the lock.
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()

	purged = map[string]int64{}
	for _, p := range []struct {
		table, where string
		keep         time.Duration
	}{
		// A flow's codes go with it (ON DELETE CASCADE); codes of a flow still
		// kept go on their own once expired as long.
		{"login_flows", "expires_at < now() - $1::interval", r.Rows},
		{"login_codes", "expires_at < now() - $1::interval", r.Rows},
		{"used_challenges", "used_at < now() - $1::interval", r.Rows},
		{"seen_challenges", "seen_at < now() - $1::interval", r.Rows},
		{"outbox", "(status <> 'queued' AND created_at < now() - $1::interval) OR (status = 'queued' AND not_after < now() - $1::interval)", r.Rows},
		{"identity_failures", "updated_at < now() - $1::interval AND (locked_until IS NULL OR locked_until < now())", r.Rows},
		{"rate_events", "at < now() - $1::interval", r.Rows},
		{"login_sessions", "created_at < now() - $1::interval", r.LoginSessions},
		{"account_logins", "expires_at < now() - $1::interval", r.Rows},
		{"account_sessions", "expires_at < now() - $1::interval", r.Rows},
		{"audit_events", "at < now() - $1::interval", r.Audit},
	} {
		if p.keep == 0 {
			continue
		}
		for {
			tag, err := conn.Exec(ctx, `DELETE FROM `+p.table+` WHERE ctid IN (SELECT ctid FROM `+p.table+` WHERE `+p.where+` LIMIT `+fmt.Sprint(purgeBatch)+`)`, p.keep)
			if err != nil {
				return purged, true, fmt.Errorf("store: unable to purge %s: %w", p.table, err)
			}
			purged[p.table] += tag.RowsAffected()
			if tag.RowsAffected() < purgeBatch {
				break
			}
		}
	}
	// Secrets waiting to be used go as soon as they expire, whatever RETENTION says:
	// the sealed state a remote source kept in an expired flow, while the flow
	// itself stays for RETENTION, pending enrolments, passkey ceremonies
	// (their challenges), and the identity source's own (SourceTables).
	for {
		tag, err := conn.Exec(ctx, `UPDATE login_flows SET source_state = NULL WHERE ctid IN (SELECT ctid FROM login_flows
			WHERE source_state IS NOT NULL AND expires_at < now() LIMIT `+fmt.Sprint(purgeBatch)+`)`)
		if err != nil {
			return purged, true, fmt.Errorf("store: unable to purge login_flows.source_state: %w", err)
		}
		purged["login_flows.source_state"] += tag.RowsAffected()
		if tag.RowsAffected() < purgeBatch {
			break
		}
	}
	for _, table := range append([]string{"totp_enrollments", "passkey_ceremonies"}, r.SourceTables...) {
		for {
			tag, err := conn.Exec(ctx, `DELETE FROM `+table+` WHERE ctid IN (SELECT ctid FROM `+table+` WHERE expires_at < now() LIMIT `+fmt.Sprint(purgeBatch)+`)`)
			if err != nil {
				return purged, true, fmt.Errorf("store: unable to purge %s: %w", table, err)
			}
			purged[table] += tag.RowsAffected()
			if tag.RowsAffected() < purgeBatch {
				break
			}
		}
	}
	return purged, true, nil
}
