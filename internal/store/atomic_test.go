package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The store's atomic promises, each under 20 concurrent callers. A failure
// here names the statement that broke its promise.

const callers = 20

// UseChallenge: INSERT … ON CONFLICT DO NOTHING, first = one row inserted.
func TestUseChallengeIsSingleUseUnderConcurrency(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	for round := range 5 {
		challenge := fmt.Sprintf("challenge-%d", round)
		var firsts atomic.Int64
		var errs []error
		var mu sync.Mutex
		concurrently(callers, func(int) {
			first, err := s.UseChallenge(ctx, challenge)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			if first {
				firsts.Add(1)
			}
		})
		if len(errs) > 0 {
			t.Fatalf("UseChallenge failed: %v", errors.Join(errs...))
		}
		if n := firsts.Load(); n != 1 {
			t.Errorf("UseChallenge (INSERT INTO used_challenges … ON CONFLICT DO NOTHING): %d of %d concurrent callers were first, want exactly 1", n, callers)
		}
		if n := queryInt(t, s, `SELECT count(*) FROM used_challenges WHERE hash = $1`, challengeHash(challenge)); n != 1 {
			t.Errorf("used_challenges holds %d rows for the challenge, want 1", n)
		}
		if used, err := s.ChallengeUsed(ctx, challenge); err != nil || !used {
			t.Errorf("ChallengeUsed after use = %v, %v", used, err)
		}
	}
	// Released (Hydra could not be told), the step can be taken again, once.
	if err := s.ReleaseChallenge(ctx, "challenge-0"); err != nil {
		t.Fatal(err)
	}
	if first, err := s.UseChallenge(ctx, "challenge-0"); err != nil || !first {
		t.Errorf("UseChallenge after ReleaseChallenge = %v, %v; want first", first, err)
	}
}

func TestClaimMessageNeverHandsOneMessageToTwoWorkers(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	const messages = 60
	for i := range messages {
		err := s.QueueMessage(ctx, Message{Channel: "sms", Destination: fmt.Sprintf("+1555000%04d", i), Sealed: []byte("sealed"), NotAfter: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
	}
	claims := map[int64]int{}
	var mu sync.Mutex
	var errs []error
	concurrently(callers, func(int) {
		for {
			m, err := s.ClaimMessage(ctx, time.Minute)
			if errors.Is(err, ErrNotFound) {
				return
			}
			mu.Lock()
			if err != nil {
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			claims[m.ID]++
			mu.Unlock()
		}
	})
	if len(errs) > 0 {
		t.Fatalf("ClaimMessage failed: %v", errors.Join(errs...))
	}
	for id, n := range claims {
		if n != 1 {
			t.Errorf("ClaimMessage (UPDATE outbox … FOR UPDATE SKIP LOCKED) handed message %d to %d workers", id, n)
		}
	}
	if len(claims) != messages {
		t.Errorf("%d of %d messages were claimed", len(claims), messages)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM outbox WHERE attempts <> 1`); n != 0 {
		t.Errorf("%d messages counted other than one attempt", n)
	}
	// Leased messages are not due again until the lease ends.
	if _, err := s.ClaimMessage(ctx, time.Minute); !errors.Is(err, ErrNotFound) {
		t.Errorf("a message was claimed again during its lease: %v", err)
	}
}
