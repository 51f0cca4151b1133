package store

import (
	"context"
	"testing"
	"time"
)

// The steps of a remote identity source (Blink core), on a real PostgreSQL,
// with the source's answers given by the test.

const (
	subjectA = "00000000-0000-4000-8000-00000000000a"
	subjectB = "00000000-0000-4000-8000-00000000000b"
	subjectC = "00000000-0000-4000-8000-00000000000c"
)

// remoteFlow starts a flow and sends it a "code" for channel and identifier,
// the source keeping state in the flow.
func remoteFlow(t *testing.T, s *Store, channel, identifier string, state []byte) Flow {
	t.Helper()
	ctx := context.Background()
	f, err := s.StartFlow(ctx, Flow{BrowserHash: browserA, Challenge: "challenge-" + identifier + time.Now().String(), RequestURL: "http://x",
		ClientID: "c", ClientName: "c", Lang: "en"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SendRemote(ctx, RemoteSend{FlowID: f.ID, BrowserHash: browserA, Channel: channel, Identifier: identifier,
		Cooldown: 0, MaxSends: 5, Send: func(context.Context) ([]byte, error) { return state, nil }}); err != nil {
		t.Fatal(err)
	}
	return f
}

// remoteVerify checks the flow's code, the source answering v.
func remoteVerify(t *testing.T, s *Store, f Flow, v RemoteVerdict) Flow {
	t.Helper()
	verdict, f, err := s.VerifyRemote(context.Background(), RemoteVerify{FlowID: f.ID, BrowserHash: browserA, NewBrowserHash: browserB,
		IPKey: "192.0.2.9", PerIP: plenty, PerIdentifier: plenty, Tries: 5,
		Check: func(context.Context, Flow) (RemoteVerdict, error) { return v, nil }})
	if err != nil || verdict != CodeAccepted {
		t.Fatalf("VerifyRemote: %v %v", verdict, err)
	}
	return f
}

// An email or phone that moved at core to the account signing in is taken
// from the row that had it; a disabled row stays disabled, under its id, even
// with neither left — and a later sign-in of that subject stays refused.
func TestSignInOfAnotherSubjectNeverErasesADisable(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	mustExec(t, s, `INSERT INTO users (id, email, phone, disabled_at) VALUES
		('`+subjectA+`', 'moved@example.com', NULL, now()),
		('`+subjectC+`', 'kept@example.com', '+50370000001', now());
		INSERT INTO users (id, email) VALUES ('00000000-0000-4000-8000-0000000000d0', 'stale@example.com')`)

	// B signs in by the email core now gives B: A's only identifier.
	f := remoteFlow(t, s, "email", "moved@example.com", []byte("login-id"))
	remoteVerify(t, s, f, RemoteVerdict{Account: RemoteAccount{ID: subjectB, Email: "moved@example.com", Phone: "+50370000001", PhoneVerified: true}})
	if u, done, err := s.CompleteFlow(ctx, f.ID, f.Challenge); err != nil || !done || u.ID != subjectB {
		t.Fatalf("B's sign-in: %+v %v %v", u, done, err)
	}
	for _, c := range []struct{ what, query string }{
		{"A kept, disabled, without its moved email", `SELECT count(*) FROM users WHERE id = '` + subjectA + `' AND disabled_at IS NOT NULL AND email IS NULL AND phone IS NULL`},
		{"C kept, disabled, its email kept and its moved phone cleared", `SELECT count(*) FROM users WHERE id = '` + subjectC + `' AND disabled_at IS NOT NULL AND email = 'kept@example.com' AND phone IS NULL`},
		{"B holds both identifiers, active", `SELECT count(*) FROM users WHERE id = '` + subjectB + `' AND disabled_at IS NULL AND email = 'moved@example.com' AND phone = '+50370000001'`},
	} {
		if n := queryInt(t, s, c.query); n != 1 {
			t.Errorf("%s: %d rows", c.what, n)
		}
	}
	// An active row left with nothing is only a stale cache entry: it goes.
	f = remoteFlow(t, s, "email", "stale@example.com", []byte("login-id"))
	remoteVerify(t, s, f, RemoteVerdict{Account: RemoteAccount{ID: subjectB, Email: "stale@example.com"}})
	if n := queryInt(t, s, `SELECT count(*) FROM users WHERE id = '00000000-0000-4000-8000-0000000000d0'`); n != 0 {
		t.Errorf("an active row left with no identifier was kept")
	}

	// A signs in again with another identifier core still gives it: the row
	// is filled again and stays disabled, so the sign-in is refused.
	f = remoteFlow(t, s, "sms", "+50370000002", nil)
	remoteVerify(t, s, f, RemoteVerdict{Account: RemoteAccount{ID: subjectA, Phone: "+50370000002"},
		Token: &KeptToken{SessionID: "session-of-a", Sealed: []byte("sealed-token"), ExpiresAt: time.Now().Add(time.Hour)}})
	if u, done, err := s.CompleteFlow(ctx, f.ID, f.Challenge); err != nil || done || u.Active() {
		t.Errorf("A's own sign-in after its email moved: done=%v active=%v err=%v, want refused", done, u.Active(), err)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM users WHERE id = '`+subjectA+`' AND disabled_at IS NOT NULL AND phone = '+50370000002'`); n != 1 {
		t.Error("A's row lost its disable when A signed in again")
	}
	if n := queryInt(t, s, `SELECT count(*) FROM core_tokens WHERE user_id = '`+subjectA+`'`); n != 0 {
		t.Error("a disabled account's core token was kept for the account page")
	}

	// Enabling a row kept only for its disable deletes it (nothing else to keep).
	mustExec(t, s, `UPDATE users SET phone = NULL WHERE id = '`+subjectA+`'`)
	if err := s.SetUserDisabled(ctx, subjectA, false, "test"); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM users WHERE id = '`+subjectA+`'`); n != 0 {
		t.Error("enabling a row with neither email nor phone left it")
	}
	if n := queryInt(t, s, `SELECT count(*) FROM audit_events WHERE user_id = '`+subjectA+`' AND action = 'user enabled'`); n != 1 {
		t.Error("the enable was not audited")
	}
}

// What the source keeps in the flow (core's auth token at the authenticator
// step) goes when the flow cannot go on: on cancel, once the authenticator
// tries are used up, on a different identifier, and at expiry by the purge.
func TestRemoteFlowStateIsForgotten(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	secondFactor := func(id string) Flow {
		f := remoteFlow(t, s, "email", id, []byte("login-id"))
		return remoteVerify(t, s, f, RemoteVerdict{SecondFactor: true, State: []byte("sealed-auth-token")})
	}
	state := func(f Flow) int {
		return queryInt(t, s, `SELECT count(*) FROM login_flows WHERE id = $1::uuid AND source_state IS NOT NULL`, f.ID)
	}

	cancelled := secondFactor("cancel@example.com")
	if state(cancelled) != 1 {
		t.Fatal("the auth token was not kept for the authenticator step")
	}
	if err := s.ForgetFlowState(ctx, cancelled.ID); err != nil {
		t.Fatal(err)
	}
	if state(cancelled) != 0 {
		t.Error("a cancelled flow kept its auth token")
	}

	locked := secondFactor("locked@example.com")
	for i := 0; i < 3; i++ {
		v, _, err := s.VerifyRemoteTOTP(ctx, RemoteVerify{FlowID: locked.ID, BrowserHash: browserB, NewBrowserHash: browserB,
			IPKey: "192.0.2.10", PerIP: plenty, PerIdentifier: plenty, Tries: 2,
			Check: func(context.Context, Flow) (RemoteVerdict, error) { return RemoteVerdict{Wrong: true}, nil }})
		if err != nil || (i < 2) != (v == TOTPWrong) {
			t.Fatalf("try %d: %v %v", i+1, v, err)
		}
	}
	if state(locked) != 0 {
		t.Error("a flow with no authenticator try left kept its auth token")
	}

	cleared := remoteFlow(t, s, "email", "other@example.com", []byte("login-id"))
	if err := s.ClearIdentifier(ctx, cleared.ID, browserA); err != nil {
		t.Fatal(err)
	}
	if state(cleared) != 0 {
		t.Error("a flow sent back to the identifier step kept the source's state")
	}

	expired, live := secondFactor("expired@example.com"), secondFactor("live@example.com")
	mustExec(t, s, `UPDATE login_flows SET expires_at = now() - interval '1 minute' WHERE id = '`+expired.ID+`'`)
	purged, ran, err := s.Purge(ctx, Retention{Rows: 7 * 24 * time.Hour})
	if err != nil || !ran {
		t.Fatalf("purge: %v %v", ran, err)
	}
	if state(expired) != 0 || purged["login_flows.source_state"] != 1 {
		t.Errorf("an expired flow kept its auth token after the purge (purged %v)", purged)
	}
	if state(live) != 1 || queryInt(t, s, `SELECT count(*) FROM login_flows WHERE id = $1::uuid`, expired.ID) != 1 {
		t.Error("the purge took a live flow's state, or the expired flow itself before RETENTION")
	}
}
