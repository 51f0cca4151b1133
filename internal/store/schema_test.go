package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// emptyStore opens a store on a new, unmigrated database of the test cluster.
func emptyStore(t *testing.T) (*Store, string) {
	t.Helper()
	ctx := context.Background()
	url, err := testPG.CreateDatabase(ctx, fmt.Sprintf("schema_test_%d", databases.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, url
}

// asRelease opens another store on url that knows only the migrations up to last.
func asRelease(t *testing.T, url string, last int) *Store {
	t.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.ActAsRelease(last); err != nil {
		t.Fatal(err)
	}
	return s
}

func latestMigration(t *testing.T) migration {
	t.Helper()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	return ms[len(ms)-1]
}

// previousRelease is the binary the tests run beside the newest: the previous
// release, or, while no migration follows it yet, the one before the newest.
func previousRelease(t *testing.T) int {
	return min(PreviousRelease, latestMigration(t).version-1)
}

func wantErr(t *testing.T, what string, err, kind error, parts ...string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: %v, want %v", what, err, kind)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %q does not say %q", what, err, p)
		}
	}
}

// A binary runs on its own schema, and on a newer one whose migrations it does
// not know all declare it compatible; it refuses an older one, and a newer one
// holding a contract migration it predates. The errors name both versions and
// say what to do.
func TestSchemaCompatibility(t *testing.T) {
	ctx := context.Background()
	latest := latestMigration(t)
	previous := previousRelease(t)
	if latest.compatibleWith > previous {
		t.Fatalf("%s declares compatible-with: %d: the previous release's binary (knowing %d) could not run on it during the rolling update", latest.name, latest.compatibleWith, previous)
	}

	s, url := emptyStore(t)
	wantErr(t, "an empty database", s.CheckSchema(ctx), ErrSchemaBehind, "version 0", "run `blink-consent migrate`")

	// The previous release migrated: the new binary refuses until its own migrate ran.
	old := asRelease(t, url, previous)
	if _, err := old.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := old.CheckSchema(ctx); err != nil {
		t.Fatalf("the previous release on its own schema: %v", err)
	}
	wantErr(t, "the new binary on the previous schema", s.CheckSchema(ctx), ErrSchemaBehind,
		fmt.Sprintf("version %d", previous), fmt.Sprintf("version %d (%s)", latest.version, latest.name), "run `blink-consent migrate`")
	if v := queryInt(t, s, `SELECT max(version) FROM schema_migrations`); v != previous {
		t.Fatalf("the schema is at %d after the refusal, want %d untouched", v, previous)
	}

	// The new release migrates: both binaries run on it, side by side.
	applied, err := s.Migrate(ctx)
	if err != nil || len(applied) != latest.version-previous || applied[len(applied)-1] != latest.name {
		t.Fatalf("migrate after the previous release: %v %v", applied, err)
	}
	if err := s.CheckSchema(ctx); err != nil {
		t.Errorf("the new binary on its schema: %v", err)
	}
	if err := old.CheckSchema(ctx); err != nil {
		t.Errorf("the previous release on the new schema (its migrations declare it compatible): %v", err)
	}
	// The previous release's migrate (a rollback's hook) applies nothing and succeeds.
	if applied, err := old.Migrate(ctx); err != nil || len(applied) != 0 {
		t.Errorf("the previous release's migrate on the newer schema: %v %v", applied, err)
	}
	// What each file declared is in the database, where an older binary reads it.
	ms, _ := migrations()
	for _, m := range ms {
		if got := queryInt(t, s, `SELECT compatible_with FROM schema_migrations WHERE version = $1`, m.version); got != m.compatibleWith {
			t.Errorf("schema_migrations says %s is compatible with %d, the file says %d", m.name, got, m.compatibleWith)
		}
	}

	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := s.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// A next release's additive migration leaves this binary running…
	next := latest.version + 1
	exec(`INSERT INTO schema_migrations (version, name, compatible_with) VALUES ($1, 'future_additive.sql', $2)`, next, latest.compatibleWith)
	if err := s.CheckSchema(ctx); err != nil {
		t.Errorf("the binary on a newer additive schema: %v", err)
	}
	// …and a contract migration that drops what it uses stops it, naming both versions.
	exec(`INSERT INTO schema_migrations (version, name, compatible_with) VALUES ($1, 'future_contract.sql', $1)`, next+1)
	wantErr(t, "the binary on a schema with a contract it predates", s.CheckSchema(ctx), ErrSchemaAhead,
		fmt.Sprintf("version %d", next+1), fmt.Sprintf("up to version %d (%s)", latest.version, latest.name),
		"future_contract.sql", fmt.Sprintf("knows version %d or later", next+1), "restore a backup")
	if _, err := s.Migrate(ctx); !errors.Is(err, ErrSchemaAhead) {
		t.Errorf("migrate on a schema with a contract it predates: %v, want ErrSchemaAhead", err)
	}
	// A migration recorded without a compatibility is taken as breaking.
	exec(`UPDATE schema_migrations SET compatible_with = NULL WHERE version = $1`, next)
	wantErr(t, "a newer migration with no declared compatibility", s.CheckSchema(ctx), ErrSchemaAhead, "future_additive.sql", "without saying")
}

// A database migrated before compatible_with existed gets the column, and the
// values of the migrations this binary knows, from the next migrate.
func TestMigrateRecordsTheCompatibilityOfEarlierMigrations(t *testing.T) {
	ctx := context.Background()
	s, _ := emptyStore(t)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	mustExec(t, s, `ALTER TABLE schema_migrations DROP COLUMN compatible_with`)
	if applied, err := s.Migrate(ctx); err != nil || len(applied) != 0 {
		t.Fatalf("migrate again: %v %v", applied, err)
	}
	latest := latestMigration(t)
	if n := queryInt(t, s, `SELECT count(*) FROM schema_migrations WHERE compatible_with IS NOT NULL`); n != latest.version {
		t.Errorf("%d migrations have their compatibility recorded, want all %d", n, latest.version)
	}
	if got := queryInt(t, s, `SELECT compatible_with FROM schema_migrations WHERE version = $1`, latest.version); got != latest.compatibleWith {
		t.Errorf("%s recorded as compatible with %d, want %d", latest.name, got, latest.compatibleWith)
	}
}
