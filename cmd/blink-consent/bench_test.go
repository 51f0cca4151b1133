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

	"github.com/blinkbitcoin/blink-consent/internal/captcha"
	"github.com/blinkbitcoin/blink-consent/internal/codes"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/identity/postgres"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/login"
	"github.com/jackc/pgx/v5"
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
