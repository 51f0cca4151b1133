package identity_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/devstack/corestandin"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/identity/blinkcore"
	"github.com/blinkbitcoin/blink-consent/internal/identity/identitytest"
	"github.com/blinkbitcoin/blink-consent/internal/identity/postgres"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// Every identity source passes the one conformance suite: the postgres source
// on a real PostgreSQL, the Blink core source against the wire-format stand-in
// of core (its flows in the same real PostgreSQL). When PostgreSQL cannot be
// started the run fails and says why; it never skips.
var testPG *devstack.Postgres

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "blink-consent-accounts-pg-*")
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	testPG, err = devstack.StartPostgres(context.Background(), dir, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the identity sources' tests need a real PostgreSQL: %v\n", err)
		return 1
	}
	defer testPG.Stop()
	return m.Run()
}

var databases atomic.Int64

// newStore is a fresh migrated database (opened with opts), and a plain
// connection to it for what the store has no method for (making enrolments
// expire, reading raw rows).
func newStore(t *testing.T, opts ...store.Option) (*store.Store, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	url, err := testPG.CreateDatabase(ctx, fmt.Sprintf("accounts_%d", databases.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return db, conn
}

const accountClient = "account-page"

func exec(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

var (
	keys   = secret.NewKeys([]byte("conformance-key-0123456789abcdef"))
	plenty = store.Limit{Max: 1000, Window: time.Hour}
	limits = identity.Limits{SendPerEmail: plenty, SendPerPhone: plenty, SendPerIP: plenty, FailPerIdentifier: plenty, FailPerIP: plenty,
		Code: store.CodeLimits{TriesPerCode: 5, FailuresPerIdentity: 100, Lockout: time.Hour}, TOTPTriesPerFlow: 5, MaxSends: 5}
	codePattern = regexp.MustCompile(`\b[0-9]{6}\b`)
)

func TestPostgresSource(t *testing.T) {
	ctx := context.Background()
	db, conn := newStore(t)
	src := postgres.Source{Store: db, Keys: keys, Limits: limits, CodeTTL: 10 * time.Minute, Domain: "login.blink.test", CreatePhoneUsers: true}
	// The newest message to email that may be sent (a decoy never is), opened as the worker would.
	message := func(t *testing.T, email string) (string, bool) {
		msgs, err := db.RecentMessages(ctx, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Destination != email || m.Status == "decoy" {
				continue
			}
			e, err := delivery.Open(keys, m)
			if err != nil {
				t.Fatal(err)
			}
			return codePattern.FindString(e.Text), true
		}
		return "", false
	}
	identitytest.Run(t, identitytest.Harness{
		Source: src,
		Store:  db,
		NewAccount: func(t *testing.T, email string, withTOTP bool) (string, func() string) {
			u, err := db.CreateUser(ctx, store.NewUser{Email: email})
			if err != nil {
				t.Fatal(err)
			}
			if !withTOTP {
				return u.ID, nil
			}
			s, err := totp.NewSecret()
			if err != nil {
				t.Fatal(err)
			}
			sealed, err := keys.Seal(s, []byte(u.ID))
			if err != nil {
				t.Fatal(err)
			}
			if err := db.SaveTOTP(ctx, u.ID, sealed, nil, "totp imported", "test", nil); err != nil {
				t.Fatal(err)
			}
			return u.ID, func() string { return totp.Code(s, time.Now()) }
		},
		LastCode:        func(t *testing.T, email string) string { c, _ := message(t, email); return c },
		CodeDelivered:   func(t *testing.T, email string) bool { _, ok := message(t, email); return ok },
		AccountClientID: accountClient,
		Keys:            keys,
		ExpireEnrollments: func(t *testing.T) {
			exec(t, conn, `UPDATE totp_enrollments SET expires_at = now() - interval '1 second'`)
		},
	})
}

func TestBlinkCoreSource(t *testing.T) {
	db, conn := newStore(t)
	core, err := corestandin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { core.Close() })
	var mu sync.Mutex
	delivered := map[string][]string{}
	core.SetOnMessage(func(channel, to, text string) {
		mu.Lock()
		defer mu.Unlock()
		delivered[strings.ToLower(to)] = append(delivered[strings.ToLower(to)], text)
	})
	calls := &recorder{}
	client := blinkcore.New(core.AuthURL(), core.GraphQLURL(), &http.Client{Transport: calls})
	src := blinkcore.NewSource(client, db, keys, limits, blinkcore.Options{AccountClientID: accountClient})
	identitytest.Run(t, identitytest.Harness{
		Source: src,
		Store:  db,
		NewAccount: func(t *testing.T, email string, withTOTP bool) (string, func() string) {
			id := core.AddIdentity(email, "")
			if !withTOTP {
				return id, nil
			}
			s := core.EnrolTOTP(id)
			return id, func() string { return corestandin.TOTPCode(s, time.Now()) }
		},
		LastCode: func(t *testing.T, email string) string { return core.Code(email) },
		CodeDelivered: func(t *testing.T, email string) bool {
			code := core.Code(email)
			mu.Lock()
			defer mu.Unlock()
			for _, text := range delivered[strings.ToLower(email)] {
				if code != "" && strings.Contains(text, code) {
					return true
				}
			}
			return false
		},
		AccountClientID:   accountClient,
		Keys:              keys,
		ExpireEnrollments: func(t *testing.T) { core.ExpireTOTPRegistrations() },
		NoLeak:            func(t *testing.T) { noTokenLeak(t, conn, core, calls) },
	})
}

// recorder sees every request the Blink source makes: where it went and
// whether it carried a core auth token.
type recorder struct {
	mu   sync.Mutex
	seen []string // "host token?"
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	carries := strings.Contains(string(body), "ory_st_") || strings.Contains(fmt.Sprint(req.Header), "ory_st_") || strings.Contains(req.URL.String(), "ory_st_")
	r.mu.Lock()
	r.seen = append(r.seen, fmt.Sprintf("%s %v", req.URL.Host, carries))
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

// noTokenLeak: the Blink source sent core's auth tokens to core only, and
// the tokens it keeps for the account page are sealed at rest: the stored
// bytes do not contain a token, and open (under the subject and sid) to one.
func noTokenLeak(t *testing.T, conn *pgx.Conn, core *corestandin.Standin, calls *recorder) {
	t.Helper()
	ctx := context.Background()
	coreHost := strings.TrimPrefix(core.URL(), "http://")
	calls.mu.Lock()
	carried := 0
	for _, s := range calls.seen {
		host, carries, _ := strings.Cut(s, " ")
		if carries == "true" {
			carried++
			if host != coreHost {
				t.Errorf("a core auth token went to %s, not core (%s)", host, coreHost)
			}
		}
	}
	calls.mu.Unlock()
	if carried == 0 {
		t.Error("no request carried a token: the recorder sees nothing")
	}
	rows, err := conn.Query(ctx, `SELECT session_id, user_id::text, sealed FROM core_tokens`)
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for rows.Next() {
		var sid, subject string
		var sealed []byte
		if err := rows.Scan(&sid, &subject, &sealed); err != nil {
			t.Fatal(err)
		}
		kept++
		if bytes.Contains(sealed, []byte("ory_st_")) {
			t.Errorf("the token of session %s is stored in the clear", sid)
		}
		if token, err := keys.Open(sealed, []byte("core token "+subject+" "+sid)); err != nil || !strings.HasPrefix(string(token), "ory_st_") {
			t.Errorf("the kept row of session %s does not open to a token under its subject and sid: %v", sid, err)
		}
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if kept == 0 {
		t.Error("no core token was kept for the account client's sign-ins")
	}
	var clear int
	if err := conn.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM login_flows WHERE position('ory_st_' in encode(coalesce(source_state, ''), 'escape')) > 0) +
		(SELECT count(*) FROM outbox WHERE position('ory_st_' in encode(sealed, 'escape')) > 0) +
		(SELECT count(*) FROM audit_events WHERE coalesce(details::text, '') LIKE '%ory_st_%')`).Scan(&clear); err != nil || clear != 0 {
		t.Errorf("%d rows hold a token in the clear (%v)", clear, err)
	}
}

// Only sign-ins to the account client keep the core token; every other
// client's sign-in keeps none, and a Who without the kept token's session
// needs a fresh sign-in.
func TestBlinkCoreKeepsTheTokenOnlyForTheAccountClient(t *testing.T) {
	db, conn := newStore(t)
	core, err := corestandin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { core.Close() })
	src := blinkcore.NewSource(blinkcore.New(core.AuthURL(), core.GraphQLURL(), nil), db, keys, limits, blinkcore.Options{AccountClientID: accountClient})
	ctx := context.Background()
	signIn := func(email, client, sid string) string {
		t.Helper()
		b := make([]byte, 16)
		rand.Read(b)
		f, err := db.StartFlow(ctx, store.Flow{BrowserHash: b, Challenge: "c-" + sid + client, RequestURL: "http://rp/", ClientID: client,
			ClientName: "x", Lang: "en", HydraSessionID: sid}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.SendCode(ctx, identity.SendRequest{Flow: f, Channel: "email", Identifier: email, Lang: i18n.English, ClientIP: "192.0.2.9", IPKey: "192.0.2.9"}); err != nil {
			t.Fatal(err)
		}
		if v, _, err := src.VerifyCode(ctx, identity.VerifyRequest{Flow: f, Code: core.Code(email), ClientIP: "192.0.2.9", IPKey: "192.0.2.9", NewBrowserHash: b}); err != nil || v != store.CodeAccepted {
			t.Fatalf("verify: %v %v", v, err)
		}
		a, _, err := db.CompleteFlow(ctx, f.ID, f.Challenge)
		if err != nil {
			t.Fatal(err)
		}
		return a.ID
	}
	core.AddIdentity("kept@example.com", "")
	id := signIn("kept@example.com", "another-app", "sid-other")
	var n int
	conn.QueryRow(ctx, `SELECT count(*) FROM core_tokens`).Scan(&n)
	if n != 0 {
		t.Fatalf("a sign-in to another client kept %d core tokens", n)
	}
	if _, err := src.TOTPStatus(ctx, identity.Who{Subject: id, SessionID: "sid-other"}); !errors.Is(err, identity.ErrFreshSignIn) {
		t.Errorf("TOTPStatus without a kept token: %v, want ErrFreshSignIn", err)
	}
	signIn("kept@example.com", accountClient, "sid-account")
	conn.QueryRow(ctx, `SELECT count(*) FROM core_tokens WHERE session_id = 'sid-account' AND user_id::text = $1`, id).Scan(&n)
	if n != 1 {
		t.Fatalf("the account client's sign-in kept %d core tokens for its session, want 1", n)
	}
	if on, err := src.TOTPStatus(ctx, identity.Who{Subject: id, SessionID: "sid-account"}); err != nil || on {
		t.Errorf("TOTPStatus with the kept token: %v %v", on, err)
	}
	if _, err := src.TOTPStatus(ctx, identity.Who{Subject: "00000000-0000-4000-8000-000000000000", SessionID: "sid-account"}); !errors.Is(err, identity.ErrFreshSignIn) {
		t.Errorf("another subject with that sid: %v, want ErrFreshSignIn", err)
	}
	// Core no longer takes the token (its session ended): a fresh sign-in.
	exec(t, conn, `UPDATE core_tokens SET expires_at = now() - interval '1 second'`)
	if _, err := src.TOTPStatus(ctx, identity.Who{Subject: id, SessionID: "sid-account"}); !errors.Is(err, identity.ErrFreshSignIn) {
		t.Errorf("an expired token: %v, want ErrFreshSignIn", err)
	}
}
