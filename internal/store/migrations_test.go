package store

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// The rule for writing migrations (docs/operations.md, "Writing a migration"):
// every file declares `-- compatible-with: K`, the oldest schema version whose
// code still runs on it. A file that keeps the K of the one before it says
// every binary that ran before it still runs after it, so it may only add:
// new tables, new nullable columns or columns with a default, new plain
// indexes. A file that raises K is a contract migration and may remove what
// code older than K used — only once the release that stopped using it has
// itself been replaced (K at most the previous release's last migration,
// PreviousRelease).
func TestMigrationsDeclareTheirCompatibility(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	floor := 0
	for _, m := range ms {
		if !m.declared {
			t.Errorf("%s has no `-- compatible-with: K` line: say which code still runs on it (the K of the migration before it, %d, when it only adds)", m.name, floor)
			continue
		}
		switch {
		case m.compatibleWith < floor:
			t.Errorf("%s declares compatible-with: %d, below the %d of an earlier migration: once a contract migration ran, older code cannot come back", m.name, m.compatibleWith, floor)
		case m.compatibleWith > m.version:
			t.Errorf("%s declares compatible-with: %d, a version after its own", m.name, m.compatibleWith)
		case m.version > PreviousRelease && m.compatibleWith > PreviousRelease:
			t.Errorf("%s declares compatible-with: %d, so the previous release (its last migration is %d, store.PreviousRelease) could not run on it during the rolling update or after a rollback: "+
				"contract only what the previous release no longer uses", m.name, m.compatibleWith, PreviousRelease)
		case m.compatibleWith == floor:
			for _, p := range contractStatements(m.sql) {
				t.Errorf("%s keeps compatible-with: %d, so code of version %d must still run on it, but %s. "+
					"Make it additive (expand now, contract in a later release), or make it a contract migration by raising compatible-with",
					m.name, floor, floor, p)
			}
		}
		floor = max(floor, m.compatibleWith)
	}
}

// The lint must find what breaks older code, and only that.
func TestContractStatementsAreFound(t *testing.T) {
	breaking := []string{
		`DROP TABLE users;`,
		`ALTER TABLE users DROP COLUMN phone;`,
		`ALTER TABLE users ALTER COLUMN email DROP DEFAULT;`,
		`DROP INDEX login_flows_browser;`,
		`ALTER TABLE users RENAME COLUMN phone TO msisdn;`,
		`ALTER TABLE users RENAME TO accounts;`,
		`ALTER TABLE outbox ALTER COLUMN attempts TYPE bigint;`,
		`ALTER TABLE outbox ALTER attempts SET DATA TYPE bigint;`,
		`ALTER TABLE users ALTER COLUMN email SET NOT NULL;`,
		`ALTER TABLE users ADD COLUMN locale text NOT NULL;`,
		`ALTER TABLE users ADD COLUMN a text, ADD COLUMN locale text NOT NULL;`,
		`ALTER TABLE users ADD CONSTRAINT users_email_check CHECK (email LIKE '%@%');`,
		`ALTER TABLE users ADD UNIQUE (email, phone);`,
		`CREATE UNIQUE INDEX users_lower ON users (lower(email));`,
		`CREATE TRIGGER t BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION f();`,
		`CREATE OR REPLACE FUNCTION login_flows_freeze_identity() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;`,
		`DELETE FROM outbox;`,
		`TRUNCATE rate_events;`,
	}
	for _, sql := range breaking {
		if got := contractStatements(sql); len(got) != 1 {
			t.Errorf("%s: found %q, want one problem", sql, got)
		}
	}
	additive := []string{
		`CREATE TABLE things (id bigserial PRIMARY KEY, name text NOT NULL UNIQUE, CHECK (name <> ''));
		 CREATE UNIQUE INDEX things_lower ON things (lower(name));
		 ALTER TABLE things ADD CONSTRAINT things_name_check CHECK (length(name) < 100);`,
		`ALTER TABLE users ADD COLUMN locale text;`,
		`ALTER TABLE users ADD COLUMN locale text NOT NULL DEFAULT 'en', ADD COLUMN note text;`,
		`ALTER TABLE users ALTER COLUMN email DROP NOT NULL;`,
		`CREATE INDEX users_created_at ON users (created_at);`,
		`UPDATE users SET email_verified = true WHERE email IS NOT NULL;`,
		`ALTER TABLE outbox ADD COLUMN channel_kind text CHECK (channel_kind IN ('a', 'b'));`,
		"-- expand: it refuses less than before\nCREATE OR REPLACE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DROP TABLE x; RETURN NEW; END $$;",
		"CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  DELETE FROM x; -- not run by the migration\n  RETURN NEW;\nEND\n$$;",
	}
	for _, sql := range additive {
		if got := contractStatements(sql); len(got) != 0 {
			t.Errorf("%s: found %q, want none", sql, got)
		}
	}
	// A waiver covers the statement right after it, not the next one.
	waived := "-- expand: reviewed\nALTER TABLE users ALTER COLUMN email SET NOT NULL;\nALTER TABLE users DROP COLUMN phone;"
	if got := contractStatements(waived); len(got) != 1 || !strings.Contains(got[0], "DROP") {
		t.Errorf("a waiver covered more than its statement: %q", got)
	}
}

// contractStatements lists the statements of a migration that could break code
// written before it, each with its line and why, unless a comment line
// starting `-- expand:` right before it says why it cannot.
func contractStatements(sql string) []string {
	stmts := splitStatements(sql)
	created := map[string]bool{}
	for _, s := range stmts {
		if m := createTable.FindStringSubmatch(s.text); m != nil {
			created[m[1]] = true
		}
	}
	var problems []string
	for _, s := range stmts {
		if s.waived {
			continue
		}
		if why := breaksOlderCode(s.text, created); why != "" {
			problems = append(problems, fmt.Sprintf("line %d %s: %s", s.line, why, firstWords(s.text)))
		}
	}
	return problems
}

var (
	createTable     = regexp.MustCompile(`^CREATE TABLE (?:IF NOT EXISTS )?(\w+)`)
	alterTable      = regexp.MustCompile(`^ALTER TABLE (?:IF EXISTS )?(?:ONLY )?(\w+)`)
	onTable         = regexp.MustCompile(` ON (?:ONLY )?(\w+)`)
	dropNotNull     = regexp.MustCompile(`DROP NOT NULL`)
	drop            = regexp.MustCompile(`\bDROP\b`)
	rename          = regexp.MustCompile(`\bRENAME\b`)
	retype          = regexp.MustCompile(`\bALTER (?:COLUMN )?\w+ (?:SET DATA )?TYPE\b`)
	setNotNull      = regexp.MustCompile(`\bSET NOT NULL\b`)
	addConstraint   = regexp.MustCompile(`^ADD (?:CONSTRAINT \w+ )?(?:CHECK|UNIQUE|PRIMARY KEY|FOREIGN KEY|EXCLUDE)\b`)
	addColumn       = regexp.MustCompile(`^ADD (?:COLUMN )?`)
	uniqueIndex     = regexp.MustCompile(`^CREATE UNIQUE INDEX`)
	trigger         = regexp.MustCompile(`^CREATE (?:OR REPLACE )?(?:CONSTRAINT )?TRIGGER`)
	orReplace       = regexp.MustCompile(`^CREATE OR REPLACE\b`)
	deletesRows     = regexp.MustCompile(`^(?:TRUNCATE|DELETE FROM)\b`)
	notNull         = regexp.MustCompile(`\bNOT NULL\b`)
	defaultValue    = regexp.MustCompile(`\bDEFAULT\b`)
	dollarQuoted    = regexp.MustCompile(`(?s)\$\$.*?\$\$`)
	whitespaceRuns  = regexp.MustCompile(`\s+`)
	spaceInParens   = regexp.MustCompile(`\(\s+|\s+\)`)
	lineComment     = regexp.MustCompile(`--[^\n]*`)
	expandComment   = regexp.MustCompile(`^\s*-- expand:`)
	commentOrBlank  = regexp.MustCompile(`^\s*(--.*)?$`)
	statementEnding = regexp.MustCompile(`;\s*$`)
)

// breaksOlderCode says how one statement (upper case, single-spaced) could
// break code that does not know it, or "" when it only adds. Changes to
// tables created in the same file break nobody: no older code uses them.
func breaksOlderCode(stmt string, created map[string]bool) string {
	if orReplace.MatchString(stmt) && !trigger.MatchString(stmt) {
		return "replaces a function or view older code relies on"
	}
	stmt = dollarQuoted.ReplaceAllString(stmt, "$$$$") // a function body is not run by the migration
	existing := func(re *regexp.Regexp) bool {
		m := re.FindStringSubmatch(stmt)
		return m != nil && !created[m[1]]
	}
	switch {
	case deletesRows.MatchString(stmt):
		return "deletes rows older code may need"
	case drop.MatchString(dropNotNull.ReplaceAllString(stmt, "")):
		return "drops something older code may use"
	case rename.MatchString(stmt):
		return "renames something older code uses by its name"
	case retype.MatchString(stmt):
		return "changes a column's type"
	case setNotNull.MatchString(stmt):
		return "makes a column NOT NULL, which older code's inserts may leave empty"
	case uniqueIndex.MatchString(stmt) && existing(onTable):
		return "adds a unique index older code's writes may break"
	case trigger.MatchString(stmt) && existing(onTable):
		return "adds a trigger that may refuse older code's writes"
	}
	if !existing(alterTable) {
		return ""
	}
	_, actions, _ := strings.Cut(stmt, alterTable.FindString(stmt)+" ")
	for _, action := range splitTopLevel(actions) {
		switch {
		case addConstraint.MatchString(action):
			return "adds a constraint older code's writes may break"
		case addColumn.MatchString(action) && notNull.MatchString(action) && !defaultValue.MatchString(action):
			return "adds a NOT NULL column without a default, which older code's inserts leave empty"
		}
	}
	return ""
}

type statement struct {
	text   string // upper case, comments out, single-spaced
	line   int
	waived bool
}

// splitStatements splits a migration at the semicolons outside $$ bodies,
// remembering whether an `-- expand:` comment line came right before each.
func splitStatements(sql string) []statement {
	var stmts []statement
	var cur strings.Builder
	start, waived, inBody := 0, false, false
	for i, line := range strings.Split(sql, "\n") {
		if cur.Len() == 0 && !inBody && commentOrBlank.MatchString(line) {
			if expandComment.MatchString(line) {
				waived = true
			}
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.Count(line, "$$")%2 == 1 {
			inBody = !inBody
		}
		if !inBody {
			line = lineComment.ReplaceAllString(line, "")
		}
		cur.WriteString(line + "\n")
		if !inBody && statementEnding.MatchString(line) {
			stmts = append(stmts, statement{text: normalise(cur.String()), line: start, waived: waived})
			cur.Reset()
			waived = false
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		stmts = append(stmts, statement{text: normalise(cur.String()), line: start, waived: waived})
	}
	return stmts
}

func normalise(s string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), ";")
	s = whitespaceRuns.ReplaceAllString(strings.ToUpper(s), " ")
	return spaceInParens.ReplaceAllStringFunc(s, strings.TrimSpace)
}

// splitTopLevel splits an ALTER TABLE's actions at the commas outside parentheses.
func splitTopLevel(s string) []string {
	var parts []string
	depth, from := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, strings.TrimSpace(s[from:i]))
				from = i + 1
			}
		}
	}
	return append(parts, strings.TrimSpace(s[from:]))
}

func firstWords(stmt string) string {
	if len(stmt) > 80 {
		return stmt[:80] + "…"
	}
	return stmt
}
