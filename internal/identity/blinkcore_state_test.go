package identity_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blinkbitcoin/blink-consent/internal/identity/blinkcore"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// The Blink core source's own state (the users table's cache of core's
// accounts, the core tokens kept for the account page), written through the
// store's remote steps on a real PostgreSQL, with core's answers given by the
// test.

const (
	subjectA = "00000000-0000-4000-8000-00000000000a"
	subjectB = "00000000-0000-4000-8000-00000000000b"
	subjectC = "00000000-0000-4000-8000-00000000000c"
)

// coreSignIn runs a sign-in by channel and identifier through the store's
// remote steps, core proving signedIn, and returns the verified flow (with
// its challenge, for CompleteFlow).
func coreSignIn(t *testing.T, db *store.Store, channel, identifier string, signedIn blinkcore.SignedIn) store.Flow {
	t.Helper()
	ctx := context.Background()
	browser := make([]byte, 16)
	rand.Read(browser)
	f, err := db.StartFlow(ctx, store.Flow{BrowserHash: browser, Challenge: "challenge-" + identifier + time.Now().String(), RequestURL: "http://x",
		ClientID: "c", ClientName: "c", Lang: "en"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SendRemote(ctx, store.RemoteSend{FlowID: f.ID, BrowserHash: browser, Channel: channel, Identifier: identifier,
		MaxSends: 5, Send: func(context.Context) ([]byte, error) { return []byte("login-id"), nil }}); err != nil {
		t.Fatal(err)
	}
	verdict, verified, err := db.VerifyRemote(ctx, store.RemoteVerify{FlowID: f.ID, BrowserHash: browser, NewBrowserHash: browser,
		IPKey: "192.0.2.9", PerIP: plenty, PerIdentifier: plenty, Tries: 5,
		Check: func(context.Context, store.Flow) (store.RemoteVerdict, error) {
			return store.RemoteVerdict{Keep: signedIn.Keep}, nil
		}})
	if err != nil || verdict != store.CodeAccepted {
		t.Fatalf("VerifyRemote: %v %v", verdict, err)
	}
	verified.Challenge = f.Challenge
	return verified
}

func rows(t *testing.T, conn *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// An email or phone that moved at core to the account signing in is taken
// from the row that had it; a disabled row stays disabled, under its id, even
// with neither left — and a later sign-in of that subject stays refused,
// keeping no core token.
func TestSignInOfAnotherSubjectNeverErasesADisable(t *testing.T) {
	db, conn := newStore(t)
	ctx := context.Background()
	exec(t, conn, `INSERT INTO users (id, email, phone, disabled_at) VALUES
		('`+subjectA+`', 'moved@example.com', NULL, now()),
		('`+subjectC+`', 'kept@example.com', '+50370000001', now());
		INSERT INTO users (id, email) VALUES ('00000000-0000-4000-8000-0000000000d0', 'stale@example.com')`)

	// B signs in by the email core now gives B: A's only identifier.
	f := coreSignIn(t, db, "email", "moved@example.com",
		blinkcore.SignedIn{Claims: blinkcore.Claims{ID: subjectB, Email: "moved@example.com", Phone: "+50370000001", PhoneVerified: true}})
	if u, done, err := db.CompleteFlow(ctx, f.ID, f.Challenge); err != nil || !done || u.ID != subjectB {
		t.Fatalf("B's sign-in: %+v %v %v", u, done, err)
	}
	for _, c := range []struct{ what, query string }{
		{"A kept, disabled, without its moved email", `SELECT count(*) FROM users WHERE id = '` + subjectA + `' AND disabled_at IS NOT NULL AND email IS NULL AND phone IS NULL`},
		{"C kept, disabled, its email kept and its moved phone cleared", `SELECT count(*) FROM users WHERE id = '` + subjectC + `' AND disabled_at IS NOT NULL AND email = 'kept@example.com' AND phone IS NULL`},
		{"B holds both identifiers, active", `SELECT count(*) FROM users WHERE id = '` + subjectB + `' AND disabled_at IS NULL AND email = 'moved@example.com' AND phone = '+50370000001'`},
	} {
		if n := rows(t, conn, c.query); n != 1 {
			t.Errorf("%s: %d rows", c.what, n)
		}
	}
	// An active row left with nothing is only a stale cache entry: it goes.
	coreSignIn(t, db, "email", "stale@example.com", blinkcore.SignedIn{Claims: blinkcore.Claims{ID: subjectB, Email: "stale@example.com"}})
	if n := rows(t, conn, `SELECT count(*) FROM users WHERE id = '00000000-0000-4000-8000-0000000000d0'`); n != 0 {
		t.Errorf("an active row left with no identifier was kept")
	}

	// A signs in again with another identifier core still gives it: the row
	// is filled again and stays disabled, so the sign-in is refused.
	f = coreSignIn(t, db, "sms", "+50370000002", blinkcore.SignedIn{Claims: blinkcore.Claims{ID: subjectA, Phone: "+50370000002"},
		Token: &blinkcore.KeptToken{SessionID: "session-of-a", Sealed: []byte("sealed-token"), ExpiresAt: time.Now().Add(time.Hour)}})
	if u, done, err := db.CompleteFlow(ctx, f.ID, f.Challenge); err != nil || done || u.Active() {
		t.Errorf("A's own sign-in after its email moved: done=%v active=%v err=%v, want refused", done, u.Active(), err)
	}
	if n := rows(t, conn, `SELECT count(*) FROM users WHERE id = '`+subjectA+`' AND disabled_at IS NOT NULL AND phone = '+50370000002'`); n != 1 {
		t.Error("A's row lost its disable when A signed in again")
	}
	if n := rows(t, conn, `SELECT count(*) FROM core_tokens WHERE user_id = '`+subjectA+`'`); n != 0 {
		t.Error("a disabled account's core token was kept for the account page")
	}

	// Enabling a row kept only for its disable deletes it (nothing else to keep).
	exec(t, conn, `UPDATE users SET phone = NULL WHERE id = '`+subjectA+`'`)
	if err := db.SetUserDisabled(ctx, subjectA, false, "test"); err != nil {
		t.Fatal(err)
	}
	if n := rows(t, conn, `SELECT count(*) FROM users WHERE id = '`+subjectA+`'`); n != 0 {
		t.Error("enabling a row with neither email nor phone left it")
	}
	if n := rows(t, conn, `SELECT count(*) FROM audit_events WHERE user_id = '`+subjectA+`' AND action = 'user enabled'`); n != 1 {
		t.Error("the enable was not audited")
	}
}

// A kept core token is found only by its own subject and login session, and
// only until it expires; a new sign-in of the session replaces it; it goes
// with the retention purge once expired, when the account page's session
// ends (ForgetSessionState), and with the account sessions of its login
// session when that ends (EndLoginSession, one transaction).
func TestCoreTokenIsFoundOnlyBySubjectAndSessionUntilItExpires(t *testing.T) {
	db, conn := newStore(t, store.WithSessionState(blinkcore.ForgetToken))
	ctx := context.Background()
	token := func(sid, sealed string, expires time.Duration) *blinkcore.KeptToken {
		return &blinkcore.KeptToken{SessionID: sid, Sealed: []byte(sealed), ExpiresAt: time.Now().Add(expires)}
	}
	alice := blinkcore.Claims{ID: subjectA, Email: "alice@example.com"}
	bob := blinkcore.Claims{ID: subjectB, Email: "bob@example.com"}
	coreSignIn(t, db, "email", alice.Email, blinkcore.SignedIn{Claims: alice, Token: token("sid-alice", "sealed-alice", time.Hour)})
	read := func(subject, sid string) ([]byte, error) {
		return blinkcore.SealedToken(ctx, db.Conn(), subject, sid)
	}
	if got, err := read(alice.ID, "sid-alice"); err != nil || string(got) != "sealed-alice" {
		t.Fatalf("the token of alice's session: %q %v", got, err)
	}
	if n := rows(t, conn, `SELECT count(*) FROM core_tokens WHERE session_id = 'sid-alice' AND user_id = $1::uuid AND sealed = 'sealed-alice'`, alice.ID); n != 1 {
		t.Fatalf("%d rows kept for alice's session, want 1", n)
	}
	for _, c := range []struct{ subject, sid string }{
		{bob.ID, "sid-alice"},   // another subject
		{alice.ID, "sid-other"}, // another session
		{alice.ID, ""},          // no session
		{"not-a-uuid", "sid-alice"},
	} {
		if got, err := read(c.subject, c.sid); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SealedToken(%s, %s) = %q, %v; want ErrNotFound", c.subject, c.sid, got, err)
		}
	}
	// A new sign-in of the same session replaces the token.
	coreSignIn(t, db, "email", alice.Email, blinkcore.SignedIn{Claims: alice, Token: token("sid-alice", "sealed-again", time.Hour)})
	if got, _ := read(alice.ID, "sid-alice"); string(got) != "sealed-again" {
		t.Errorf("after a second sign-in: %q", got)
	}
	if n := rows(t, conn, `SELECT count(*) FROM core_tokens WHERE session_id = 'sid-alice'`); n != 1 {
		t.Errorf("%d rows for alice's session after a second sign-in, want 1", n)
	}
	// Expired: not found, and purged at once.
	coreSignIn(t, db, "email", alice.Email, blinkcore.SignedIn{Claims: alice, Token: token("sid-alice", "sealed-expired", -time.Second)})
	if _, err := read(alice.ID, "sid-alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired token: %v, want ErrNotFound", err)
	}
	if purged, _, err := db.Purge(ctx, store.Retention{Rows: time.Hour, SourceTables: blinkcore.ExpiringTables}); err != nil || purged["core_tokens"] != 1 {
		t.Errorf("purge: %v %v", purged, err)
	}
	if n := rows(t, conn, `SELECT count(*) FROM core_tokens`); n != 0 {
		t.Errorf("%d tokens left after purging the only (expired) one", n)
	}

	// The account page's session ended: its login session's token goes.
	coreSignIn(t, db, "email", bob.Email, blinkcore.SignedIn{Claims: bob, Token: token("sid-bob", "sealed-bob", time.Hour)})
	coreSignIn(t, db, "email", alice.Email, blinkcore.SignedIn{Claims: alice, Token: token("sid-alice", "sealed-alice", time.Hour)})
	if err := db.ForgetSessionState(ctx, "sid-bob"); err != nil {
		t.Fatal(err)
	}
	if n := rows(t, conn, `SELECT count(*) FROM core_tokens WHERE session_id = 'sid-bob'`); n != 0 {
		t.Errorf("a forgotten token is still kept")
	}
	// Alice's login session ends: her account sessions of it and its token go together.
	exec(t, conn, `INSERT INTO account_sessions (token_hash, subject, sid, auth_time, id_token, expires_at) VALUES
		('a1', '`+subjectA+`', 'sid-alice', now(), 't', now() + interval '1 hour'),
		('b1', '`+subjectB+`', 'sid-bob', now(), 't', now() + interval '1 hour')`)
	if ended, err := db.EndLoginSession(ctx, "sid-alice"); err != nil || ended != 1 {
		t.Fatalf("EndLoginSession: %d %v, want 1", ended, err)
	}
	if n := rows(t, conn, `SELECT count(*) FROM core_tokens WHERE session_id = 'sid-alice'`) +
		rows(t, conn, `SELECT count(*) FROM account_sessions WHERE sid = 'sid-alice'`); n != 0 {
		t.Errorf("%d rows of alice's ended login session are left", n)
	}
	if n := rows(t, conn, `SELECT count(*) FROM account_sessions WHERE sid = 'sid-bob'`); n != 1 {
		t.Error("another login session's account session ended")
	}
}
