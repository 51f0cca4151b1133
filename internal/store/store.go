// Package store keeps every piece of the service's state in PostgreSQL.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is the service's PostgreSQL database.
type Store struct {
	pool *db
	// known is how many migrations this code knows: all it embeds, unless a
	// test makes it act as an older release (ActAsRelease).
	known int
	// sessionState forgets what the identity source keeps for a Hydra login
	// session (WithSessionState); nil when it keeps nothing.
	sessionState SessionState
}

// Querier runs statements: a transaction (pgx.Tx) or the store's pool
// (Conn). An identity source writes and reads its own tables through it, in
// the store's transaction when the store calls it.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Conn runs single statements on the pool (retried like the store's own when
// a connection was lost), for an identity source's own tables.
func (s *Store) Conn() Querier { return s.pool }

// SessionState forgets what an identity source keeps for Hydra login session
// sid (a remote source's credential kept for the account page), through q.
type SessionState func(ctx context.Context, q Querier, sid string) error

// options are what Open's Options set.
type options struct {
	pool         *pgxpool.Config
	sessionState SessionState
}

// Option changes how Open connects, or what the store does for the identity source.
type Option func(*options)

// WithTracer has every query reported to tracer (the tracing's otelpgx); a
// nil tracer is none.
func WithTracer(tracer pgx.QueryTracer) Option {
	return func(o *options) { o.pool.ConnConfig.Tracer = tracer }
}

// WithMaxConns sizes the pool at n connections (DATABASE_MAX_CONNS); 0 keeps
// the size Open chose.
func WithMaxConns(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.pool.MaxConns = int32(n)
		}
	}
}

// WithSessionState has the store forget what the identity source keeps for a
// Hydra login session: in EndLoginSession's transaction (with the account
// sessions of that login session) and in ForgetSessionState. The store
// itself knows no source's tables.
func WithSessionState(forget SessionState) Option {
	return func(o *options) { o.sessionState = forget }
}

// DefaultMaxConns is the pool's size when neither DATABASE_MAX_CONNS nor the
// URL's pool_max_conns says: the larger of 4 and GOMAXPROCS. pgx's own default
// uses runtime.NumCPU(), the node's cores, which in a container with a CPU
// limit of 1 on a 64-core node gives 64 connections per replica; GOMAXPROCS
// follows the container's CPU limit (Go 1.25 and later), so the pool grows
// with what the pod may use, not with the node it lands on.
func DefaultMaxConns() int { return max(4, runtime.GOMAXPROCS(0)) }

// Open connects to PostgreSQL and checks that it answers.
func Open(ctx context.Context, databaseURL string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// pgx errors can quote the URL, password included: keep them out.
		return nil, errors.New("store: DATABASE_URL could not be parsed")
	}
	if u, err := url.Parse(databaseURL); err != nil || !u.Query().Has("pool_max_conns") {
		cfg.MaxConns = int32(DefaultMaxConns())
	}
	o := options{pool: cfg}
	for _, opt := range opts {
		opt(&o)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: unable to create the pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: unable to reach PostgreSQL at %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return &Store{pool: &db{pool: pool}, sessionState: o.sessionState}, nil
}

// Close releases every connection.
func (s *Store) Close() { s.pool.Close() }

// Ping reports whether PostgreSQL answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// PoolStat is the connection pool's statistics, for the metrics.
func (s *Store) PoolStat() *pgxpool.Stat { return s.pool.pool.Stat() }
