package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Migrations are expand-then-contract, so that during a rolling update the
// previous release's replicas keep running on the schema the new release's
// `migrate` just moved forward, and a rollback of the Deployment needs no
// database restore. Each file says, on a line of its own,
//
//	-- compatible-with: K
//
// K is the oldest schema version whose code still works on a database with
// this migration applied. An additive migration (new tables, new nullable
// columns or columns with a default) keeps the K of the migration before it;
// a contract migration (it drops, renames, retypes or tightens something)
// raises K to the first version whose code no longer uses what it removes.
// `migrate` records K in schema_migrations.compatible_with, so that a binary
// that does not know a migration can still read what it declared: `serve`
// runs on a schema newer than its own exactly when every migration it does
// not know declares a K at or below its own version. TestMigrationsDeclare-
// TheirCompatibility holds the files to this rule; docs/operations.md says how
// to write them.

// PreviousRelease is the last migration of the release before the one being
// built. Its binary runs on this release's schema during the rolling update
// and after a rollback, so no migration after it may declare a compatible-with
// above it (TestMigrationsDeclareTheirCompatibility). Raise it to the newest
// migration when a release is cut.
const PreviousRelease = 11

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrSchemaBehind means the database needs `blink-consent migrate`.
var ErrSchemaBehind = errors.New("the database schema is behind this binary")

// ErrSchemaAhead means the database was migrated by a newer binary whose
// migrations this one cannot run on.
var ErrSchemaAhead = errors.New("the database schema is newer than this binary and not compatible with it")

type migration struct {
	version int
	name    string
	sql     string
	// compatibleWith is the file's `-- compatible-with:` K; a file without
	// one counts as a contract of its own version (no older code runs on it).
	compatibleWith int
	declared       bool
}

var compatibleWithLine = regexp.MustCompile(`(?m)^--\s*compatible-with:\s*(\d+)\s*$`)

func migrations() ([]migration, error) {
	entries, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, path := range entries {
		name := strings.TrimPrefix(path, "migrations/")
		num, _, ok := strings.Cut(name, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("store: migration %s is not named NNNN_name.sql", name)
		}
		body, err := migrationFiles.ReadFile(path)
		if err != nil {
			return nil, err
		}
		m := migration{version: version, name: name, sql: string(body), compatibleWith: version}
		if match := compatibleWithLine.FindStringSubmatch(m.sql); match != nil {
			m.compatibleWith, _ = strconv.Atoi(match[1])
			m.declared = true
		}
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("store: migration versions must run 1, 2, 3…; %s breaks the sequence", m.name)
		}
	}
	return ms, nil
}

// knownMigrations are the migrations this code knows, oldest first.
func (s *Store) knownMigrations() ([]migration, error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	if s.known > 0 && s.known < len(ms) {
		ms = ms[:s.known]
	}
	return ms, nil
}

// ActAsRelease makes s know only the migrations up to lastMigration, as the
// binary of the release that shipped it: Migrate applies none after it and
// CheckSchema judges the database as that binary would. The upgrade and
// rollback tests run the previous release's code path this way.
func (s *Store) ActAsRelease(lastMigration int) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	if lastMigration < 1 || lastMigration > len(ms) {
		return fmt.Errorf("store: there is no migration %d to act as (1–%d)", lastMigration, len(ms))
	}
	s.known = lastMigration
	return nil
}

// migrationLock is the advisory lock key that serialises concurrent `migrate` runs.
const migrationLock = 0x626c696e6b // "blink"

// Migrate applies every migration the database lacks, each in its own
// transaction, recording what each declared it is compatible with. Running it
// again changes nothing. On a database already migrated further by a newer
// binary it applies nothing, and fails unless that schema is compatible with
// this binary (see CheckSchema).
func (s *Store) Migrate(ctx context.Context) (applied []string, err error) {
	ms, err := s.knownMigrations()
	if err != nil {
		return nil, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: unable to acquire a connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return nil, fmt.Errorf("store: unable to take the migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)

	// compatible_with came after the table: databases migrated before it get
	// the column here, and the rows of the migrations this binary knows get
	// their values from the files below.
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version         integer PRIMARY KEY,
		name            text NOT NULL,
		applied_at      timestamptz NOT NULL DEFAULT now(),
		compatible_with integer);
		ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS compatible_with integer`); err != nil {
		return nil, fmt.Errorf("store: unable to create schema_migrations: %w", err)
	}
	current, err := schemaVersion(ctx, conn)
	if err != nil {
		return nil, err
	}
	if current > len(ms) {
		return nil, checkAhead(ctx, conn, ms, current)
	}
	for _, m := range ms[:current] {
		if _, err := conn.Exec(ctx, `UPDATE schema_migrations SET compatible_with = $2 WHERE version = $1 AND compatible_with IS NULL`,
			m.version, m.compatibleWith); err != nil {
			return nil, fmt.Errorf("store: unable to record the compatibility of %s: %w", m.name, err)
		}
	}
	for _, m := range ms[current:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, compatible_with) VALUES ($1, $2, $3)`,
				m.version, m.name, m.compatibleWith)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("store: migration %s failed: %w", m.name, err)
		}
		applied = append(applied, m.name)
	}
	return applied, nil
}

// CheckSchema says whether this binary can run on the database: nil when the
// schema is its own, or newer and every migration it does not know declared
// itself compatible with it; ErrSchemaBehind when a migration it knows is
// missing; ErrSchemaAhead when a newer migration needs newer code. The errors
// name both versions and what to do.
func (s *Store) CheckSchema(ctx context.Context) error {
	ms, err := s.knownMigrations()
	if err != nil {
		return err
	}
	current, err := s.databaseVersion(ctx)
	if err != nil {
		return err
	}
	switch {
	case current < len(ms):
		return fmt.Errorf("store: %w: the database is at version %d (%s) and this binary needs version %d (%s): run `blink-consent migrate` with this binary first",
			ErrSchemaBehind, current, versionName(ms, current), len(ms), ms[len(ms)-1].name)
	case current > len(ms):
		return checkAhead(ctx, s.pool, ms, current)
	}
	return nil
}

// SchemaVersions are the database's schema version and this binary's.
func (s *Store) SchemaVersions(ctx context.Context) (database, code int, err error) {
	ms, err := s.knownMigrations()
	if err != nil {
		return 0, 0, err
	}
	database, err = s.databaseVersion(ctx)
	return database, len(ms), err
}

func (s *Store) databaseVersion(ctx context.Context) (int, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("store: unable to read the schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	return schemaVersion(ctx, s.pool)
}

func versionName(ms []migration, version int) string {
	if version == 0 {
		return "empty"
	}
	return ms[version-1].name
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func schemaVersion(ctx context.Context, q querier) (int, error) {
	var v int
	if err := q.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: unable to read the schema version: %w", err)
	}
	return v, nil
}

// checkAhead judges a database at version current, newer than the known
// migrations, by what each migration this binary does not know declared.
func checkAhead(ctx context.Context, q querier, known []migration, current int) error {
	code := len(known)
	rows, err := q.Query(ctx, `SELECT version, name, compatible_with FROM schema_migrations WHERE version > $1 ORDER BY version`, code)
	if err != nil {
		return fmt.Errorf("store: unable to read the schema's migrations: %w", err)
	}
	type applied struct {
		version        int
		name           string
		compatibleWith *int
	}
	newer, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (applied, error) {
		var a applied
		err := r.Scan(&a.version, &a.name, &a.compatibleWith)
		return a, err
	})
	if err != nil {
		return fmt.Errorf("store: unable to read the schema's migrations: %w", err)
	}
	for _, a := range newer {
		if a.compatibleWith != nil && *a.compatibleWith <= code {
			continue
		}
		why := "was recorded without saying which code it is compatible with"
		if a.compatibleWith != nil {
			why = fmt.Sprintf("works only with code that knows version %d or later (a contract migration)", *a.compatibleWith)
		}
		return fmt.Errorf("store: %w: the database is at version %d and this binary knows up to version %d (%s); migration %s %s. "+
			"Deploy a release that knows version %d, or restore a backup taken before %s to run this one (docs/operations.md, \"Rolling back\")",
			ErrSchemaAhead, current, code, known[code-1].name, a.name, why, current, a.name)
	}
	return nil
}
