package store

import (
	"testing"
)

// NewTestStore is newTestStore for the package's external tests (store_test),
// which may import packages that import this one (the delivery worker).
func NewTestStore(t testing.TB) *Store { return newTestStore(t) }

// KillOutboxListeners ends the sessions listening for queued messages on s's
// database, as an administrator or a failover would, and says how many.
func KillOutboxListeners(t testing.TB, s *Store) int {
	t.Helper()
	return queryInt(t, s, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN `+outboxChannel+`' AND pid <> pg_backend_pid()`)
}
