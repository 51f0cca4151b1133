//go:build devstack

package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"errors"
	"github.com/blinkbitcoin/blink-consent/internal/captcha"
	"github.com/blinkbitcoin/blink-consent/internal/codes"
	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/identity/postgres"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/login"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"sync/atomic"
)

var benchKey = []byte("0123456789abcdef0123456789abcdef")

// benchFlow starts a fresh flow bound to a browser whose cookie value is cookie.
func benchFlow(b *testing.B, db *store.Store, cookie string) store.Flow {
	b.Helper()
	h := sha256.Sum256([]byte(cookie))
	f, err := db.StartFlow(context.Background(), store.Flow{BrowserHash: h[:], Challenge: fmt.Sprintf("bench-%d", time.Now().UnixNano()),
		RequestURL: "http://x", ClientID: "c", ClientName: "c", Lang: "en"}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

var noLimit = store.Limit{Max: 1 << 30, Window: time.Hour}

// benchStore is a migrated database of its own on the test cluster, so no
// running service's outbox worker adds its own queries to what is measured.
// forget deletes its rate events between iterations (outside the timer), so
// every iteration counts from the same state.
func benchStore(b *testing.B) (db *store.Store, forget func()) {
	b.Helper()
	ctx := context.Background()
	url, err := testPG.CreateDatabase(ctx, fmt.Sprintf("bench_%d", time.Now().UnixNano()))
	if err != nil {
		b.Fatal(err)
	}
	if db, err = store.Open(ctx, url); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(ctx) })
	return db, func() {
		if _, err := conn.Exec(ctx, `DELETE FROM rate_events`); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCodeStep is the database work of one code sign-in on the real
// PostgreSQL: send a code (one transaction: lock the flow, limits, supersede,
// insert, queue) and verify it (one transaction: lock, limits, count the try,
// compare, consume, bind the account, verify the flow). A new flow each time:
// a verified flow sends nothing more.
func BenchmarkCodeStep(b *testing.B) {
	ctx := context.Background()
	db, forget := benchStore(b)
	email := "bench@example.com"
	if _, err := db.CreateUser(ctx, store.NewUser{Email: email}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		forget()
		f := benchFlow(b, db, "bench-browser-cookie-value-0123456789abcdef")
		b.StartTimer()
		code, _ := codes.Generate()
		_, err := db.SendCode(ctx, store.SendRequest{FlowID: f.ID, BrowserHash: f.BrowserHash, Channel: "email", Identifier: email,
			MAC: codes.MAC(benchKey, f.ID, email, code), DecoyMAC: []byte("x"), TTL: 10 * time.Minute, MaxSends: 5,
			Message: store.Message{Channel: "email", Destination: email, Sealed: []byte("sealed"), NotAfter: time.Now()},
			Limits:  []store.LimitKey{{Bucket: "bench-ip", Key: "192.0.2.1", Limit: noLimit}}})
		if err != nil {
			b.Fatal(err)
		}
		v, _, err := db.VerifyCode(ctx, store.VerifyRequest{FlowID: f.ID, BrowserHash: f.BrowserHash, NewBrowserHash: []byte("new"),
			IPKey: "192.0.2.1", PerIP: noLimit, PerIdentifier: noLimit,
			Limits: store.CodeLimits{TriesPerCode: 5, FailuresPerIdentity: 100, Lockout: time.Hour},
			Match: func(id string, mac []byte) bool {
				return codes.Match([][]byte{benchKey}, f.ID, id, code, mac)
			}})
		if err != nil || v != store.CodeAccepted {
			b.Fatalf("%v %v", v, err)
		}
	}
}

// BenchmarkSendCode asks for a code on the identifier page, in process, on the
// real PostgreSQL: for an email with an account (a message is queued) and for
// one without (a decoy is stored). The two must do the same work, so that
// timing cannot tell who has a Blink account. They alternate within one loop,
// so both meet the same database (its tables and dead rows grow as it runs),
// and each path's median goes out as a metric:
// `go test -tags devstack -run '^$' -bench SendCode -benchtime 400x -count 5 ./cmd/blink-consent`.
func BenchmarkSendCode(b *testing.B) {
	db, forget := benchStore(b)
	if _, err := db.CreateUser(context.Background(), store.NewUser{Email: "known.bench@example.com"}); err != nil {
		b.Fatal(err)
	}
	d := login.Deps{
		Store: db, Captcha: captcha.Off{},
		Accounts: postgres.Source{Store: db, Keys: secret.NewKeys(benchKey), CodeTTL: 10 * time.Minute, Domain: "login.blink.test",
			Limits: identity.Limits{SendPerEmail: noLimit, SendPerPhone: noLimit, SendPerIP: noLimit, MaxSends: 5}},
		Settings: login.Settings{FlowTTL: time.Hour, Email: true, SMSCountries: []string{"SV"}},
	}
	h := login.HandleIdentify(d)
	const cookie = "bench-browser-cookie-value-0123456789abcdef"
	took := map[string][]time.Duration{}
	send := func(who string) {
		forget()
		f := benchFlow(b, db, cookie)
		form := url.Values{"flow": {f.ID}, "action": {"continue"}, "method": {"email"}, "email": {who + ".bench@example.com"}}
		req := httptest.NewRequest(http.MethodPost, "/login/identify", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "blink_browser", Value: cookie})
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		took[who] = append(took[who], time.Since(start))
		if rec.Code != http.StatusSeeOther {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Alternate which goes first, so neither always follows the other.
		if i++; i%2 == 0 {
			send("known")
			send("unknown")
		} else {
			send("unknown")
			send("known")
		}
	}
	b.ReportMetric(float64(median(took["known"]).Microseconds()), "known-µs/median")
	b.ReportMetric(float64(median(took["unknown"]).Microseconds()), "unknown-µs/median")
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// roundTrips counts what a request asks of PostgreSQL: Calls are the
// connections taken from the pool (one per store call: a single statement or
// one transaction), Statements every statement sent (BEGIN and COMMIT too).
type roundTrips struct{ Calls, Statements atomic.Int64 }

func (c *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.Statements.Add(1)
	return ctx
}
func (c *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *roundTrips) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	c.Calls.Add(1)
	return ctx
}
func (c *roundTrips) TraceAcquireEnd(context.Context, *pgxpool.Pool, pgxpool.TraceAcquireEndData) {}

// acceptingHydra accepts every login at once, so what is measured is ours.
type acceptingHydra struct{ accepts atomic.Int64 }

func (h *acceptingHydra) Login(ctx context.Context, challenge string) (hydra.LoginRequest, error) {
	return hydra.LoginRequest{Challenge: challenge}, nil
}
func (h *acceptingHydra) AcceptLogin(ctx context.Context, challenge string, a hydra.AcceptLogin) (string, error) {
	h.accepts.Add(1)
	return "http://hydra.test/oauth2/auth?login_verifier=v", nil
}
func (h *acceptingHydra) RejectLogin(ctx context.Context, challenge string, rj hydra.Rejection) (string, error) {
	return "", errors.New("not expected")
}

// BenchmarkCodeSignIn is the code step's happy path through the handler, on
// the real PostgreSQL: POST /login/code with the right code, for an account
// without two-step, to Hydra's accept. It reports the PostgreSQL round trips
// it takes (docs/performance.md, "The code step's round trips"):
// `go test -tags devstack -run '^$' -bench CodeSignIn -benchtime 200x ./cmd/blink-consent`.
func BenchmarkCodeSignIn(b *testing.B) {
	ctx := context.Background()
	dbURL, err := testPG.CreateDatabase(ctx, fmt.Sprintf("bench_%d", time.Now().UnixNano()))
	if err != nil {
		b.Fatal(err)
	}
	trips := &roundTrips{}
	db, err := store.Open(ctx, dbURL, store.WithTracer(trips))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	email := "code.bench@example.com"
	if _, err := db.CreateUser(ctx, store.NewUser{Email: email}); err != nil {
		b.Fatal(err)
	}
	keys := secret.NewKeys(benchKey)
	hy := &acceptingHydra{}
	h := login.HandleCode(login.Deps{
		Hydra: hy, Store: db, Captcha: captcha.Off{},
		Accounts: postgres.Source{Store: db, Keys: keys, CodeTTL: 10 * time.Minute, Domain: "login.blink.test",
			Limits: identity.Limits{FailPerIP: noLimit, FailPerIdentifier: noLimit, MaxSends: 5,
				Code: store.CodeLimits{TriesPerCode: 5, FailuresPerIdentity: 100, Lockout: time.Hour}}},
		Settings: login.Settings{FlowTTL: time.Hour, Email: true, RememberFor: time.Hour},
	})
	const cookie = "bench-browser-cookie-value-0123456789abcdef"
	var calls, statements int64
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		f := benchFlow(b, db, cookie)
		code, _ := codes.Generate()
		if _, err := db.SendCode(ctx, store.SendRequest{FlowID: f.ID, BrowserHash: f.BrowserHash, Channel: "email", Identifier: email,
			MAC: codes.MAC(keys.Derive("code"), f.ID, email, code), DecoyMAC: []byte("x"), TTL: 10 * time.Minute, MaxSends: 5,
			Message: store.Message{Channel: "email", Destination: email, Sealed: []byte("sealed"), NotAfter: time.Now()}}); err != nil {
			b.Fatal(err)
		}
		form := url.Values{"flow": {f.ID}, "action": {"continue"}, "code": {code}}
		req := httptest.NewRequest(http.MethodPost, "/login/code", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "blink_browser", Value: cookie})
		rec := httptest.NewRecorder()
		startCalls, startStatements := trips.Calls.Load(), trips.Statements.Load()
		b.StartTimer()
		h.ServeHTTP(rec, req)
		b.StopTimer()
		calls += trips.Calls.Load() - startCalls
		statements += trips.Statements.Load() - startStatements
		if rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), "login_verifier") {
			b.Fatalf("the code step: %d %s %s", rec.Code, rec.Header().Get("Location"), rec.Body)
		}
		b.StartTimer()
	}
	if got := hy.accepts.Load(); got != int64(b.N) {
		b.Fatalf("Hydra got %d accepts for %d sign-ins", got, b.N)
	}
	b.ReportMetric(float64(calls)/float64(b.N), "pg-calls/op")
	b.ReportMetric(float64(statements)/float64(b.N), "pg-statements/op")
}
