package main

import (
	"context"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/codes"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// BenchmarkIssueAndVerifyCode is the database work of one code sign-in step
// on the real PostgreSQL: issue a code (supersede, insert, update the flow, no
// message) and verify it (lock, count the try, compare, consume, clear).
func BenchmarkIssueAndVerifyCode(b *testing.B) {
	ctx := context.Background()
	db := openStore(b, testStack)
	key := []byte("0123456789abcdef0123456789abcdef")
	f, err := db.StartFlow(ctx, store.Flow{BrowserHash: []byte("bench"), Challenge: "bench-" + time.Now().String(),
		RequestURL: "http://x", ClientID: "c", ClientName: "c", Lang: "en"}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	limits := store.CodeLimits{TriesPerCode: 5, FailuresPerIdentity: 100}
	b.ReportAllocs()
	for b.Loop() {
		code, _ := codes.Generate()
		if err := db.IssueCode(ctx, store.CodeIssue{FlowID: f.ID, Channel: "email", Identifier: "bench@example.com",
			MAC: codes.MAC(key, f.ID, "bench@example.com", code), TTL: 10 * time.Minute}); err != nil {
			b.Fatal(err)
		}
		v, err := db.VerifyCode(ctx, f.ID, limits, func(id string, mac []byte) bool {
			return codes.Match([][]byte{key}, f.ID, id, code, mac)
		})
		if err != nil || v != store.CodeAccepted {
			b.Fatalf("%v %v", v, err)
		}
	}
}
