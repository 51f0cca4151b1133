package store

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// The sign-in flow's transitions, on a real PostgreSQL: each is one
// transaction that checks the state it starts from, so concurrency and
// replays cannot move a flow where it must not go.

var (
	browserA = []byte("browser-a-hash")
	browserB = []byte("browser-b-hash")
	plenty   = Limit{Max: 1000, Window: time.Hour}
	rightMAC = []byte("right")
)

// sentFlow starts a flow for email (an account is created) and sends it a
// code whose MAC is rightMAC.
func sentFlow(t *testing.T, s *Store, email string) Flow {
	t.Helper()
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, NewUser{Email: email}); err != nil && !errors.Is(err, ErrDuplicate) {
		t.Fatal(err)
	}
	f, err := s.StartFlow(ctx, Flow{BrowserHash: browserA, Challenge: "challenge-" + email, RequestURL: "http://x",
		ClientID: "c", ClientName: "c", Lang: "en"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SendCode(ctx, SendRequest{FlowID: f.ID, BrowserHash: browserA, Channel: "email", Identifier: email,
		MAC: rightMAC, DecoyMAC: []byte("decoy"), TTL: time.Minute, MaxSends: 5,
		Message: Message{Channel: "email", Destination: email, Sealed: []byte("sealed"), NotAfter: time.Now().Add(time.Minute)},
	}); err != nil {
		t.Fatal(err)
	}
	return f
}

func verifyReq(f Flow, ipKey string, perIdentifier Limit, right bool) VerifyRequest {
	return VerifyRequest{FlowID: f.ID, BrowserHash: browserA, NewBrowserHash: browserB, IPKey: ipKey,
		PerIP: plenty, PerIdentifier: perIdentifier,
		Limits: CodeLimits{TriesPerCode: 1000, FailuresPerIdentity: 100, Lockout: time.Hour},
		Match:  func(_ string, mac []byte) bool { return right && bytes.Equal(mac, rightMAC) }}
}

// Of 20 concurrent right answers exactly one verifies the flow; the others
// find it verified (a double submit) and change nothing.
func TestVerifyCodeIsSingleUseUnderConcurrency(t *testing.T) {
	s := newTestStore(t)
	f := sentFlow(t, s, "single@example.com")
	var accepted, errs atomic.Int64
	concurrently(20, func(int) {
		v, _, err := s.VerifyCode(context.Background(), verifyReq(f, "192.0.2.1", plenty, true))
		switch {
		case err != nil && !errors.Is(err, ErrNotFound): // the winner rebinds the browser: later callers no longer match
			errs.Add(1)
		case err == nil && v == CodeAccepted:
			accepted.Add(1)
		}
	})
	if accepted.Load() != 1 || errs.Load() != 0 {
		t.Errorf("%d of 20 concurrent right answers accepted (%d errors), want exactly 1", accepted.Load(), errs.Load())
	}
	if n := queryInt(t, s, `SELECT count(*) FROM login_codes WHERE used_at IS NOT NULL`); n != 1 {
		t.Errorf("UPDATE login_codes SET used_at: %d codes used", n)
	}
}

// 20 concurrent wrong answers record exactly the per-identifier limit (6):
// the check and the record are one transaction under the key's lock.
func TestVerifyCodeFailuresHoldTheLimitExactly(t *testing.T) {
	s := newTestStore(t)
	f := sentFlow(t, s, "limit@example.com")
	var refused atomic.Int64
	concurrently(20, func(int) {
		_, _, err := s.VerifyCode(context.Background(), verifyReq(f, "192.0.2.2", Limit{Max: 6, Window: time.Hour}, false))
		var limited *LimitError
		if errors.As(err, &limited) && limited.Bucket == "fail-identifier" {
			refused.Add(1)
		}
	})
	if n := queryInt(t, s, `SELECT count(*) FROM rate_events WHERE bucket = 'fail-identifier'`); n != 6 {
		t.Errorf("INSERT INTO rate_events under checkLimits: %d failures recorded, want exactly 6", n)
	}
	if refused.Load() != 14 {
		t.Errorf("%d refused, want 14", refused.Load())
	}
}

// A verified flow's identity is frozen: sending, clearing and a second
// verification are refused and change nothing.
func TestVerifiedFlowRefusesIdentityChanges(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	f := sentFlow(t, s, "frozen@example.com")
	if v, _, err := s.VerifyCode(ctx, verifyReq(f, "192.0.2.3", plenty, true)); err != nil || v != CodeAccepted {
		t.Fatalf("verify: %v %v", v, err)
	}
	_, err := s.SendCode(ctx, SendRequest{FlowID: f.ID, BrowserHash: browserB, Channel: "email", Identifier: "victim@example.com",
		MAC: rightMAC, TTL: time.Minute, MaxSends: 5, Message: Message{Channel: "email", Destination: "victim@example.com", Sealed: []byte("x"), NotAfter: time.Now()}})
	if !errors.Is(err, ErrFlowState) {
		t.Errorf("SendCode on a verified flow: %v, want ErrFlowState", err)
	}
	if err := s.ClearIdentifier(ctx, f.ID, browserB); !errors.Is(err, ErrFlowState) {
		t.Errorf("ClearIdentifier on a verified flow: %v, want ErrFlowState", err)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM login_flows WHERE identifier = 'frozen@example.com' AND verified_code_id IS NOT NULL`); n != 1 {
		t.Error("the verified flow's identity changed")
	}
	if n := queryInt(t, s, `SELECT count(*) FROM login_codes WHERE identifier = 'victim@example.com'`); n != 0 {
		t.Error("a code was stored for another identity")
	}
	u, done, err := s.CompleteFlow(ctx, f.ID, f.Challenge)
	if err != nil || !done || u.Email != "frozen@example.com" {
		t.Errorf("CompleteFlow: %+v %v %v", u, done, err)
	}
	if _, _, err := s.CompleteFlow(ctx, f.ID, f.Challenge); !errors.Is(err, ErrFlowState) {
		t.Errorf("a second CompleteFlow: %v, want ErrFlowState", err)
	}
}

// One cooldown and a cap per flow, whichever page asks.
func TestSendCodeCooldownAndCap(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	f := sentFlow(t, s, "cap@example.com")
	send := func() error {
		_, err := s.SendCode(ctx, SendRequest{FlowID: f.ID, BrowserHash: browserA, Channel: "email", Identifier: "cap@example.com",
			MAC: rightMAC, TTL: time.Minute, MaxSends: 3, Cooldown: time.Minute,
			Message: Message{Channel: "email", Destination: "cap@example.com", Sealed: []byte("x"), NotAfter: time.Now()}})
		return err
	}
	var limited *LimitError
	if err := send(); !errors.As(err, &limited) || limited.Bucket != "flow-cooldown" || limited.RetryAfter <= 0 {
		t.Fatalf("a send inside the cooldown: %v", err)
	}
	for range 2 {
		if _, err := s.pool.Exec(ctx, `UPDATE login_flows SET last_sent_at = now() - interval '2 minutes'`); err != nil {
			t.Fatal(err)
		}
		if err := send(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.pool.Exec(ctx, `UPDATE login_flows SET last_sent_at = now() - interval '2 minutes'`); err != nil {
		t.Fatal(err)
	}
	if err := send(); !errors.As(err, &limited) || limited.Bucket != "flow-sends" {
		t.Errorf("a fourth send with MaxSends 3: %v", err)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM login_codes`); n != 3 {
		t.Errorf("%d codes stored, want 3", n)
	}
}
