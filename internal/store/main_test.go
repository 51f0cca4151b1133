package store

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
)

// The store's tests run on a real PostgreSQL: a throwaway cluster started once
// for the package. Each test takes a fresh, migrated database of its own from
// newTestStore, so tests neither see nor disturb each other's rows. When
// PostgreSQL cannot be started the run fails and says why; it never skips.
var testPG *devstack.Postgres

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	// Its own temp dir: as root, PostgreSQL runs as another user, who must be
	// able to enter it.
	dir, err := os.MkdirTemp("", "blink-consent-store-test-*")
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the store tests need a temp dir: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	testPG, err = devstack.StartPostgres(context.Background(), dir, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the store tests need a real PostgreSQL: %v\n", err)
		return 1
	}
	defer testPG.Stop()
	return m.Run()
}

var databases atomic.Int64

// newTestStore returns a Store (opened with opts) on a new database with
// every migration applied. Its pool is large enough for the concurrency
// tests' callers to really run at once instead of queueing for four connections.
func newTestStore(t testing.TB, opts ...Option) *Store {
	t.Helper()
	ctx := context.Background()
	url, err := testPG.CreateDatabase(ctx, fmt.Sprintf("store_test_%d", databases.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, url+"&pool_max_conns=32", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// queryInt runs a counting query on s's database.
func queryInt(t testing.TB, s *Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// concurrently runs f n times at once (all released together) and returns
// once every call has finished. f gets its caller's number.
func concurrently(n int, f func(i int)) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			f(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
}
