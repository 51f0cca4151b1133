package store

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// db is the connection pool, made to ride out a PostgreSQL restart.
//
// pgxpool pings a connection that was idle for more than a second before
// handing it out, but a restart shorter than that (or a failover behind a
// proxy, or an administrator ending sessions) leaves connections that were in
// use a moment ago dead in the pool: the first statement sent on one reads
// "terminating connection due to administrator command" instead of its result.
// So when a statement fails because its connection is gone, every pooled
// connection is dropped (pgxpool's Reset, meant for this) and the statement
// runs once more on a fresh one — but only when that cannot apply a write
// twice: a read, or anything pgx reports it never sent (pgconn.SafeToRetry).
// Whole transactions go through inTx, which re-runs one only when it failed
// before its COMMIT was sent.
type db struct {
	pool *pgxpool.Pool
}

// Exec runs a write; it is retried only when pgx says nothing was sent.
func (d *db) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := d.pool.Exec(ctx, sql, args...)
	if d.again(ctx, sql, err) {
		tag, err = d.pool.Exec(ctx, sql, args...)
	}
	return tag, err
}

// Query runs a statement returning rows. A failure reported by Query itself is
// retried like Exec's; one met while reading the rows is returned.
func (d *db) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := d.pool.Query(ctx, sql, args...)
	if d.again(ctx, sql, err) {
		rows, err = d.pool.Query(ctx, sql, args...)
	}
	return rows, err
}

// QueryRow runs the statement when the row is scanned, so that a failure
// (which pgx reports at Scan) can be retried.
func (d *db) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return retriedRow{d: d, ctx: ctx, sql: sql, args: args}
}

type retriedRow struct {
	d    *db
	ctx  context.Context
	sql  string
	args []any
}

func (r retriedRow) Scan(dest ...any) error {
	err := r.d.pool.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
	if r.d.again(r.ctx, r.sql, err) {
		err = r.d.pool.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
	}
	return err
}

// Begin starts a transaction; a BEGIN that met a dead connection changed
// nothing, so it is retried on a fresh one.
func (d *db) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := d.pool.Begin(ctx)
	if ctx.Err() == nil && connectionLost(err) {
		d.pool.Reset()
		tx, err = d.pool.Begin(ctx)
	}
	return tx, err
}

// Acquire takes a connection of its own (migrations, locks held across statements).
func (d *db) Acquire(ctx context.Context) (*pgxpool.Conn, error) { return d.pool.Acquire(ctx) }

// Ping reports whether PostgreSQL answers.
func (d *db) Ping(ctx context.Context) error { return d.pool.Ping(ctx) }

// Close releases every connection.
func (d *db) Close() { d.pool.Close() }

// again reports whether a statement that failed with err should run once
// more, and when its connection was lost, drops every pooled connection first.
func (d *db) again(ctx context.Context, sql string, err error) bool {
	if ctx.Err() != nil || !connectionLost(err) {
		return false
	}
	d.pool.Reset()
	return readOnly(sql) || pgconn.SafeToRetry(err)
}

// inTx runs fn in a transaction. When the connection is lost before COMMIT
// was sent, PostgreSQL rolled the transaction back, so it is run once more,
// whole, on a fresh connection; fn must therefore do nothing but database
// work through tx, and set its results from scratch each time it runs.
func (d *db) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	committing, err := d.runTx(ctx, fn)
	if err == nil || ctx.Err() != nil || !connectionLost(err) {
		return err
	}
	d.pool.Reset()
	if committing && !pgconn.SafeToRetry(err) {
		return err // the COMMIT may have reached PostgreSQL: its outcome is unknown
	}
	_, err = d.runTx(ctx, fn)
	return err
}

func (d *db) runTx(ctx context.Context, fn func(pgx.Tx) error) (committing bool, err error) {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	if err := fn(tx); err != nil {
		tx.Rollback(context.WithoutCancel(ctx))
		return false, err
	}
	return true, tx.Commit(ctx)
}

// inTx is the store's one way to run a transaction (see db.inTx).
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return s.pool.inTx(ctx, fn)
}

// readOnly reports whether a statement only reads, so running it twice is harmless.
func readOnly(sql string) bool {
	s := strings.TrimSpace(sql)
	return len(s) >= len("select") && strings.EqualFold(s[:len("select")], "select")
}

// connectionLost reports whether err means the connection, not the statement,
// failed: nothing sent, the server shutting down or starting up (57P01–57P03),
// a connection exception (class 08), or the network.
func connectionLost(err error) bool {
	if err == nil {
		return false
	}
	if pgconn.SafeToRetry(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED)
}
