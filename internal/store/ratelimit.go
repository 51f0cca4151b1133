package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Limit is at most Max events per sliding Window.
type Limit struct {
	Max    int
	Window time.Duration
}

// Hit records one event in bucket for key unless the limit is reached. When it
// is, nothing is recorded and retryAfter says when the oldest event leaves the
// window. Concurrent hits on one key are serialised, so the limit holds exactly.
func (s *Store) Hit(ctx context.Context, bucket, key string, l Limit) (ok bool, retryAfter time.Duration, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var e error
		ok, retryAfter, e = over(ctx, tx, bucket, key, l)
		if e != nil || !ok {
			return e
		}
		_, e = tx.Exec(ctx, `INSERT INTO rate_events (bucket, key) VALUES ($1, $2)`, bucket, key)
		return e
	})
	if err != nil {
		return false, 0, fmt.Errorf("store: rate limit %s: %w", bucket, err)
	}
	return ok, retryAfter, nil
}

// Check reports whether one more event would be allowed, recording nothing.
func (s *Store) Check(ctx context.Context, bucket, key string, l Limit) (ok bool, retryAfter time.Duration, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var e error
		ok, retryAfter, e = over(ctx, tx, bucket, key, l)
		return e
	})
	if err != nil {
		return false, 0, fmt.Errorf("store: rate limit %s: %w", bucket, err)
	}
	return ok, retryAfter, nil
}

// Record adds an event whatever the count (a failure that happened).
func (s *Store) Record(ctx context.Context, bucket, key string) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO rate_events (bucket, key) VALUES ($1, $2)`, bucket, key); err != nil {
		return fmt.Errorf("store: rate event %s: %w", bucket, err)
	}
	return nil
}

// Forget deletes bucket's events for key (a success refunds earlier failures).
func (s *Store) Forget(ctx context.Context, bucket, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM rate_events WHERE bucket = $1 AND key = $2`, bucket, key); err != nil {
		return fmt.Errorf("store: rate events %s: %w", bucket, err)
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
