package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Limit is at most Max events per sliding Window; Max 0 is no limit (with a
// remote identity source, its own limits are the only ones unless an
// operator sets ours), and then no event is recorded either.
type Limit struct {
	Max    int
	Window time.Duration
}

// checkLimits takes each limit's lock (held until the transaction ends) and
// returns a *LimitError for the first one already reached. Callers that go on
// record their event in the same transaction, so concurrent requests cannot
// pass a limit between the check and the record. Locks are always taken in
// the order given (per-IP first), so two transactions never wait on each other.
func checkLimits(ctx context.Context, tx pgx.Tx, limits []LimitKey) error {
	for _, l := range limits {
		if l.Limit.Max <= 0 {
			continue
		}
		ok, retry, err := over(ctx, tx, l.Bucket, l.Key, l.Limit)
		if err != nil {
			return fmt.Errorf("store: rate limit %s: %w", l.Bucket, err)
		}
		if !ok {
			return &LimitError{Bucket: l.Bucket, RetryAfter: retry}
		}
	}
	return nil
}

// recordEvents counts one event against each limit.
func recordEvents(ctx context.Context, tx pgx.Tx, limits []LimitKey) error {
	for _, l := range limits {
		if l.Limit.Max <= 0 {
			continue
		}
		if _, err := tx.Exec(ctx, `INSERT INTO rate_events (bucket, key) VALUES ($1, $2)`, l.Bucket, l.Key); err != nil {
			return fmt.Errorf("store: rate event %s: %w", l.Bucket, err)
		}
	}
	return nil
}

func over(ctx context.Context, tx pgx.Tx, bucket, key string, l Limit) (ok bool, retryAfter time.Duration, err error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1 || ' ' || $2, 0))`, bucket, key); err != nil {
		return false, 0, err
	}
	var count int
	var oldest *time.Time
	var now time.Time
	err = tx.QueryRow(ctx, `SELECT count(*), min(at), now() FROM rate_events
		WHERE bucket = $1 AND key = $2 AND at > now() - $3::interval`, bucket, key, l.Window).Scan(&count, &oldest, &now)
	if err != nil {
		return false, 0, err
	}
	if count < l.Max {
		return true, 0, nil
	}
	if oldest == nil {
		return false, l.Window, nil
	}
	return false, oldest.Add(l.Window).Sub(now), nil
}

// TriesLeft is how many more wrong codes the flow may get before a limit
// refuses them: the fewest of the live code's tries left (of triesPerCode)
// and what the failure limits have left for their keys. ofCode says the
// code's own tries are the fewest (a new code gets new ones). A limit that
// is off, or a flow without a live code, counts nothing; none counting is 0.
// It only reads: the check that counts is VerifyCode's, under the locks.
func (s *Store) TriesLeft(ctx context.Context, flowID string, limits []LimitKey, triesPerCode int) (left int, ofCode bool, err error) {
	var attempts int
	// Our own codes count their tries on the code's row; a remote source's
	// on the flow, which has no code row.
	err = s.pool.QueryRow(ctx, `SELECT coalesce((SELECT attempts FROM login_codes
		WHERE flow_id = $1::uuid AND superseded_at IS NULL AND used_at IS NULL ORDER BY id DESC LIMIT 1),
		(SELECT code_attempts FROM login_flows WHERE id = $1::uuid AND channel IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM login_codes WHERE flow_id = $1::uuid)), -1)`,
		uuidArg(flowID)).Scan(&attempts)
	if err != nil {
		return 0, false, fmt.Errorf("store: unable to read a code's tries: %w", err)
	}
	counted := false
	if attempts >= 0 && triesPerCode > 0 {
		left, ofCode, counted = max(triesPerCode-attempts, 0), true, true
	}
	for _, l := range limits {
		if l.Limit.Max <= 0 {
			continue
		}
		var count int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM rate_events
			WHERE bucket = $1 AND key = $2 AND at > now() - $3::interval`, l.Bucket, l.Key, l.Limit.Window).Scan(&count); err != nil {
			return 0, false, fmt.Errorf("store: rate limit %s: %w", l.Bucket, err)
		}
		if n := max(l.Limit.Max-count, 0); !counted || n < left {
			left, ofCode, counted = n, false, true
		}
	}
	return left, ofCode, nil
}
