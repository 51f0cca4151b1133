package store

import (
	"context"
	"strconv"
	"testing"
)

// BenchmarkUseRememberedLogin is the skip path's one statement on the real
// PostgreSQL of the tests: mark a fresh challenge used and read the account
// and the session's sign-in (docs/performance.md, "The CPU floor, again").
func BenchmarkUseRememberedLogin(b *testing.B) {
	s := newTestStore(b)
	ctx := context.Background()
	u, err := s.CreateUser(ctx, NewUser{Email: "bench@example.com", EmailVerified: true})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		got, _, first, err := s.UseRememberedLogin(ctx, "bench-challenge-"+strconv.Itoa(i), u.ID, "sid")
		if err != nil || !first || got.ID != u.ID {
			b.Fatal(got, first, err)
		}
	}
}
