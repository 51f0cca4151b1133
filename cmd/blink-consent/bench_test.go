package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/accounts"
	"github.com/blinkbitcoin/blink-consent/internal/accounts/postgres"
	"github.com/blinkbitcoin/blink-consent/internal/captcha"
	"github.com/blinkbitcoin/blink-consent/internal/codes"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/login"
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

// BenchmarkCodeStep is the database work of one code sign-in on the real
// PostgreSQL: send a code (one transaction: lock the flow, limits, supersede,
// insert, queue) and verify it (one transaction: lock, limits, count the try,
// compare, consume, bind the account, verify the flow). A new flow each time:
// a verified flow sends nothing more.
func BenchmarkCodeStep(b *testing.B) {
	ctx := context.Background()
	db := openStore(b, testStack)
	email := fmt.Sprintf("bench.%d@example.com", time.Now().UnixNano())
	addUser(b, testStack, email)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		exec(b, `DELETE FROM rate_events WHERE bucket = 'bench-ip'`)
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
// timing cannot tell who has a Blink account; compare their medians with
// `go test -run '^$' -bench SendCode -count 10 ./cmd/blink-consent | benchstat -col /email -`.
func BenchmarkSendCode(b *testing.B) {
	db := openStore(b, testStack)
	exec(b, `INSERT INTO users (email) VALUES ('known.bench@example.com') ON CONFLICT DO NOTHING`)
	d := login.Deps{
		Store: db, Captcha: captcha.Off{},
		Accounts: postgres.Source{Store: db, Keys: secret.NewKeys(benchKey), CodeTTL: 10 * time.Minute, Domain: "login.blink.test",
			Limits: accounts.Limits{SendPerEmail: noLimit, SendPerPhone: noLimit, SendPerIP: noLimit, MaxSends: 5}},
		Settings: login.Settings{FlowTTL: time.Hour, Email: true, SMSCountries: []string{"SV"}},
	}
	h := login.HandleIdentify(d)
	const cookie = "bench-browser-cookie-value-0123456789abcdef"
	for _, email := range []string{"known", "unknown"} {
		b.Run("email="+email, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				// Both paths start from the same state: no earlier events to count.
				exec(b, `DELETE FROM rate_events WHERE bucket LIKE 'send-%'`)
				f := benchFlow(b, db, cookie)
				form := url.Values{"flow": {f.ID}, "action": {"continue"}, "method": {"email"}, "email": {email + ".bench@example.com"}}
				req := httptest.NewRequest(http.MethodPost, "/login/identify", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.AddCookie(&http.Cookie{Name: "blink_browser", Value: cookie})
				rec := httptest.NewRecorder()
				b.StartTimer()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusSeeOther {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
