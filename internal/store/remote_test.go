package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The steps of a remote identity source, on a real PostgreSQL, with the
// source's answers given by the test.

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

// The source keeps the account it proved through RemoteVerdict.Keep, in the
// step's transaction: the id Keep returns is the flow's subject, what Keep
// wrote is undone when the step fails, Keep is not asked while a second
// factor is due, and a verdict that proves no account is refused.
func TestRemoteStepsKeepTheAccountThroughTheSource(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	keepAs := func(id string) func(context.Context, Querier, Flow) (string, error) {
		return func(ctx context.Context, q Querier, f Flow) (string, error) {
			_, err := q.Exec(ctx, `INSERT INTO users (id, email) VALUES ($1::uuid, $2) ON CONFLICT (id) DO NOTHING`, id, f.Identifier)
			return id, err
		}
	}
	verify := func(f Flow, v RemoteVerdict) (Verdict, Flow, error) {
		return s.VerifyRemote(ctx, RemoteVerify{FlowID: f.ID, BrowserHash: browserA, NewBrowserHash: browserB,
			IPKey: "192.0.2.9", PerIP: plenty, PerIdentifier: plenty, Tries: 5,
			Check: func(context.Context, Flow) (RemoteVerdict, error) { return v, nil }})
	}
	verified := func(f Flow) int {
		return queryInt(t, s, `SELECT count(*) FROM login_flows WHERE id = $1::uuid AND verified_at IS NOT NULL`, f.ID)
	}

	f := remoteFlow(t, s, "email", "kept@example.com", []byte("login-id"))
	if got := remoteVerify(t, s, f, RemoteVerdict{Keep: keepAs(subjectA)}); got.UserID != subjectA {
		t.Errorf("the flow's subject is %q, want Keep's %s", got.UserID, subjectA)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM users WHERE id = $1::uuid AND email = 'kept@example.com'`, subjectA); n != 1 {
		t.Error("what Keep wrote is not kept")
	}
	if n := queryInt(t, s, `SELECT count(*) FROM login_flows WHERE id = $1::uuid AND user_id = $2::uuid`, f.ID, subjectA); n != 1 {
		t.Error("the flow row does not name Keep's account")
	}

	failing := remoteFlow(t, s, "email", "failing@example.com", []byte("login-id"))
	_, _, err := verify(failing, RemoteVerdict{Keep: func(ctx context.Context, q Querier, f Flow) (string, error) {
		if _, err := keepAs(subjectB)(ctx, q, f); err != nil {
			return "", err
		}
		return "", errors.New("the source could not keep the account")
	}})
	if err == nil {
		t.Fatal("a step whose Keep failed succeeded")
	}
	if queryInt(t, s, `SELECT count(*) FROM users WHERE id = $1::uuid`, subjectB) != 0 || verified(failing) != 0 {
		t.Error("a failed Keep left its write, or the flow verified")
	}
	if _, _, err := verify(failing, RemoteVerdict{}); err == nil || verified(failing) != 0 {
		t.Errorf("a verdict proving no account: %v, verified %d", err, verified(failing))
	}

	twoStep := remoteFlow(t, s, "email", "two-step@example.com", []byte("login-id"))
	notYet := func(context.Context, Querier, Flow) (string, error) {
		t.Error("Keep was asked while the second factor is due")
		return subjectC, nil
	}
	remoteVerify(t, s, twoStep, RemoteVerdict{SecondFactor: true, State: []byte("sealed-auth-token"), Keep: notYet})
	v, got, err := s.VerifyRemoteTOTP(ctx, RemoteVerify{FlowID: twoStep.ID, BrowserHash: browserB, NewBrowserHash: browserB,
		IPKey: "192.0.2.9", PerIP: plenty, PerIdentifier: plenty, Tries: 5,
		Check: func(context.Context, Flow) (RemoteVerdict, error) { return RemoteVerdict{Keep: keepAs(subjectC)}, nil }})
	if err != nil || v != TOTPAccepted || got.UserID != subjectC {
		t.Fatalf("VerifyRemoteTOTP: %v %+v %v", v, got, err)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM users WHERE id = $1::uuid AND email = 'two-step@example.com'`, subjectC); n != 1 {
		t.Error("what Keep wrote at the authenticator step is not kept")
	}
}

// What the source keeps in the flow (a credential at the authenticator
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
