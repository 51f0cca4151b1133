package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
)

// connectionLossCluster is one throwaway PostgreSQL cluster for the
// connection-loss tests; each gets a database of its own on it.
func connectionLossCluster(t *testing.T) *devstack.Postgres {
	t.Helper()
	dir, err := os.MkdirTemp("", "blink-consent-store-pg-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pg, err := devstack.StartPostgres(context.Background(), dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	return pg
}

// freshStore opens an unmigrated store on a new database of pg.
func freshStore(t *testing.T, pg *devstack.Postgres) *Store {
	t.Helper()
	ctx := context.Background()
	url, err := pg.CreateDatabase(ctx, fmt.Sprintf("db%d", databases.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// A dead connection is found by the statement that uses it. These check what
// happens then, statement by statement, on a real PostgreSQL.
func TestConnectionLoss(t *testing.T) {
	pg := connectionLossCluster(t)
	t.Run("a read is retried on a fresh connection", func(t *testing.T) { readIsRetried(t, freshStore(t, pg)) })
	t.Run("a sent write is not retried", func(t *testing.T) { sentWriteIsNotRetried(t, freshStore(t, pg)) })
	t.Run("a restart's dead connections are dropped", func(t *testing.T) { deadConnectionsAreDropped(t, freshStore(t, pg), pg) })
	t.Run("a transaction is re-run whole when it failed before COMMIT", func(t *testing.T) { transactionIsRerun(t, freshStore(t, pg)) })
	t.Run("a transaction is not re-run once COMMIT was sent", func(t *testing.T) { transactionIsNotRerunAfterCommit(t, freshStore(t, pg)) })
}

func mustExec(t *testing.T, s *Store, sql string) {
	t.Helper()
	if _, err := s.pool.pool.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func count(t *testing.T, s *Store, sql string) int64 {
	t.Helper()
	var n int64
	if err := s.pool.pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func isAdminShutdown(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "57P01"
}

// Every statement below ends its own connection the first time it runs
// (pg_terminate_backend of its own backend: "terminating connection due to
// administrator command", as a restart says), counting its runs in a sequence,
// which no rollback undoes.
const killFirstRun = `CASE WHEN nextval('runs') = 1 THEN pg_terminate_backend(pg_backend_pid()) ELSE true END`

func readIsRetried(t *testing.T, s *Store) {
	mustExec(t, s, `CREATE SEQUENCE runs`)
	var ok bool
	if err := s.pool.QueryRow(context.Background(), `SELECT `+killFirstRun).Scan(&ok); err != nil || !ok {
		t.Fatalf("the read failed: %v", err)
	}
	if n := count(t, s, `SELECT last_value FROM runs`); n != 2 {
		t.Errorf("the read ran %d times, want 2 (once more after its connection died)", n)
	}
}

func sentWriteIsNotRetried(t *testing.T, s *Store) {
	mustExec(t, s, `CREATE SEQUENCE runs; CREATE TABLE t (v int)`)
	_, err := s.pool.Exec(context.Background(), `INSERT INTO t SELECT 1 WHERE `+killFirstRun)
	if !isAdminShutdown(err) {
		t.Fatalf("a write whose connection died after it was sent: %v, want the 57P01 error", err)
	}
	if n := count(t, s, `SELECT last_value FROM runs`); n != 1 {
		t.Errorf("the write ran %d times, want 1", n)
	}
	// The pool was reset: the next statement gets a live connection.
	if _, err := s.pool.Exec(context.Background(), `INSERT INTO t VALUES (2)`); err != nil {
		t.Errorf("the next write: %v", err)
	}
}

func deadConnectionsAreDropped(t *testing.T, s *Store, pg *devstack.Postgres) {
	ctx := context.Background()
	mustExec(t, s, `CREATE TABLE t (v int)`)
	// Four connections in use a moment ago: pgxpool will not ping them.
	var conns []*pgxpool.Conn
	for range 4 {
		c, err := s.pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
	if err := pg.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
		t.Fatalf("the first read after the restart: %v", err)
	}
	// Dropped with the dead connection that failed the read, the other three
	// never reach a write.
	for i := range 3 {
		if _, err := s.pool.Exec(ctx, `INSERT INTO t VALUES (1)`); err != nil {
			t.Fatalf("write %d after the restart: %v", i+1, err)
		}
	}
}

func transactionIsRerun(t *testing.T, s *Store) {
	mustExec(t, s, `CREATE SEQUENCE runs; CREATE TABLE t (v text)`)
	ctx := context.Background()
	runs := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		runs++
		if _, err := tx.Exec(ctx, `INSERT INTO t VALUES ('a')`); err != nil {
			return err
		}
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT `+killFirstRun).Scan(&ok); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO t VALUES ('b')`)
		return err
	})
	if err != nil {
		t.Fatalf("inTx: %v", err)
	}
	if runs != 2 {
		t.Errorf("fn ran %d times, want 2", runs)
	}
	if n := count(t, s, `SELECT count(*) FROM t`); n != 2 {
		t.Errorf("%d rows, want exactly the second run's 2 (the first run rolled back whole)", n)
	}
}

func transactionIsNotRerunAfterCommit(t *testing.T, s *Store) {
	// A deferred trigger ends the connection during COMMIT: the client cannot
	// know whether it committed, so inTx must not run it again.
	mustExec(t, s, `CREATE SEQUENCE runs; CREATE TABLE t (v int);
		CREATE FUNCTION die() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM `+killFirstRun+`; RETURN NULL; END $$;
		CREATE CONSTRAINT TRIGGER die_at_commit AFTER INSERT ON t DEFERRABLE INITIALLY DEFERRED
		FOR EACH ROW EXECUTE FUNCTION die()`)
	ctx := context.Background()
	runs := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		runs++
		_, err := tx.Exec(ctx, `INSERT INTO t VALUES (1)`)
		return err
	})
	if !isAdminShutdown(err) {
		t.Fatalf("inTx whose COMMIT met a dead connection: %v, want the 57P01 error", err)
	}
	if runs != 1 {
		t.Errorf("fn ran %d times, want 1", runs)
	}
}

func TestReadOnly(t *testing.T) {
	for sql, want := range map[string]bool{
		"SELECT 1":                     true,
		"\n\t\tselect count(*) FROM t": true,
		"UPDATE t SET v = 1":           false,
		"WITH m AS (INSERT INTO t VALUES (1) RETURNING 1) SELECT * FROM m": false,
		"INSERT INTO t VALUES (1)": false,
		"sel":                      false,
	} {
		if readOnly(sql) != want {
			t.Errorf("readOnly(%q) = %v", sql, !want)
		}
	}
}

// The pool is sized from GOMAXPROCS (which follows the container's CPU limit),
// not from the node's cores as pgx's default is; the URL's pool_max_conns and
// DATABASE_MAX_CONNS (WithMaxConns, which wins) still size it when given.
func TestPoolSizeFollowsGOMAXPROCS(t *testing.T) {
	ctx := context.Background()
	url, err := testPG.CreateDatabase(ctx, "store_pool_size")
	if err != nil {
		t.Fatal(err)
	}
	size := func(url string, opts ...Option) int32 {
		t.Helper()
		s, err := Open(ctx, url, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		return s.PoolStat().MaxConns()
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(1)
	if n := size(url); n != 4 {
		t.Errorf("GOMAXPROCS 1: pool of %d, want 4", n)
	}
	procs := runtime.NumCPU() + 5
	runtime.GOMAXPROCS(procs)
	if n := size(url); n != int32(procs) {
		t.Errorf("GOMAXPROCS %d on %d CPUs: pool of %d, want %d", procs, runtime.NumCPU(), n, procs)
	}
	if n := size(url + "&pool_max_conns=7"); n != 7 {
		t.Errorf("pool_max_conns=7: pool of %d", n)
	}
	if n := size(url+"&pool_max_conns=7", WithMaxConns(3)); n != 3 {
		t.Errorf("DATABASE_MAX_CONNS=3 with pool_max_conns=7: pool of %d, want 3", n)
	}
}
