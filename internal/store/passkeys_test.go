package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// The passkey rows and the passkey transition of the sign-in flow, on a real
// PostgreSQL. The assertion's cryptography is go-webauthn's (internal/passkey,
// and the integration tests with a software authenticator); here Verify is a
// stand-in, and what is tested is what the store decides around it.

// addPasskey registers credential id cred for subject through a ceremony.
func addPasskey(t *testing.T, s *Store, subject, cred string, max int) (Passkey, error) {
	t.Helper()
	ctx := context.Background()
	id, err := s.SaveCeremony(ctx, Ceremony{Purpose: CeremonyRegister, Subject: subject, Binding: []byte("session-" + subject), Session: []byte(`{"challenge":"c"}`)}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return s.AddPasskey(ctx, NewPasskey{
		Ceremony: Ceremony{ID: id, Subject: subject, Binding: []byte("session-" + subject)}, Max: max,
		Audit: &AuditEvent{Action: ActionPasskeyAdded, Actor: "user", Result: "ok"},
		Create: func(session []byte) (Passkey, error) {
			if string(session) != `{"challenge": "c"}` {
				return Passkey{}, fmt.Errorf("session %s", session)
			}
			return Passkey{CredentialID: []byte(cred), PublicKey: []byte("key"), AttestationFormat: "none", SignCount: 5,
				Transports: []string{"internal", "hybrid"}, BackupEligible: false, UserVerified: true, Name: "Key " + cred}, nil
		},
	})
}

func newSubject(t *testing.T, s *Store, email string) string {
	t.Helper()
	u, err := s.CreateUser(context.Background(), NewUser{Email: email})
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func TestPasskeyRegistration(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	ana, bob := newSubject(t, s, "ana@example.com"), newSubject(t, s, "bob@example.com")

	p, err := addPasskey(t, s, ana, "cred-1", 10)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != ana || p.SignCount != 5 || len(p.Transports) != 2 || !p.UserVerified || p.Name != "Key cred-1" {
		t.Errorf("added %+v", p)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM audit_events WHERE action = 'passkey added' AND user_id = $1 AND details->>'passkey' = $2`, ana, p.ID); n != 1 {
		t.Errorf("%d audit rows", n)
	}
	// The same credential id again, for anyone: refused.
	if _, err := addPasskey(t, s, bob, "cred-1", 10); !errors.Is(err, ErrPasskeyExists) {
		t.Errorf("a duplicate credential id: %v", err)
	}
	// The eleventh: refused, nothing added.
	for i := 2; i <= 10; i++ {
		if _, err := addPasskey(t, s, ana, fmt.Sprintf("cred-%d", i), 10); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := addPasskey(t, s, ana, "cred-11", 10); !errors.Is(err, ErrPasskeyLimit) {
		t.Errorf("an eleventh passkey: %v", err)
	}
	if list, err := s.Passkeys(ctx, ana); err != nil || len(list) != 10 || list[0].ID != p.ID {
		t.Errorf("list: %d %v", len(list), err)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM passkeys WHERE subject = $1`, bob); n != 0 {
		t.Errorf("bob has %d passkeys", n)
	}
}

func TestPasskeyCeremonyIsSingleUseAndBound(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	ana, bob := newSubject(t, s, "ana@example.com"), newSubject(t, s, "bob@example.com")
	id, _ := s.SaveCeremony(ctx, Ceremony{Purpose: CeremonyRegister, Subject: ana, Binding: []byte("ana-session"), Session: []byte(`{}`)}, time.Minute)
	created := 0
	create := func([]byte) (Passkey, error) {
		created++
		return Passkey{CredentialID: []byte(fmt.Sprint("c", created)), PublicKey: []byte("k"), Name: "n"}, nil
	}
	for name, c := range map[string]Ceremony{
		"another subject": {ID: id, Subject: bob, Binding: []byte("ana-session")},
		"another session": {ID: id, Subject: ana, Binding: []byte("bob-session")},
		"no such id":      {ID: "00000000-0000-4000-8000-000000000000", Subject: ana, Binding: []byte("ana-session")},
	} {
		if _, err := s.AddPasskey(ctx, NewPasskey{Ceremony: c, Max: 10, Create: create}); !errors.Is(err, ErrCeremony) {
			t.Errorf("%s: %v", name, err)
		}
	}
	good := NewPasskey{Ceremony: Ceremony{ID: id, Subject: ana, Binding: []byte("ana-session")}, Max: 10, Create: create}
	if _, err := s.AddPasskey(ctx, good); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddPasskey(ctx, good); !errors.Is(err, ErrCeremony) {
		t.Errorf("used twice: %v", err)
	}
	// A refused answer spends the ceremony too.
	id2, _ := s.SaveCeremony(ctx, Ceremony{Purpose: CeremonyRegister, Subject: ana, Binding: []byte("ana-session"), Session: []byte(`{}`)}, time.Minute)
	bad := NewPasskey{Ceremony: Ceremony{ID: id2, Subject: ana, Binding: []byte("ana-session")}, Max: 10,
		Create: func([]byte) (Passkey, error) { return Passkey{}, errors.New("bad signature") }}
	if _, err := s.AddPasskey(ctx, bad); err == nil || err.Error() != "bad signature" {
		t.Errorf("refused answer: %v", err)
	}
	bad.Create = create
	if _, err := s.AddPasskey(ctx, bad); !errors.Is(err, ErrCeremony) {
		t.Errorf("after a refused answer: %v", err)
	}
	// Expired: refused; the retention purge deletes it.
	id3, _ := s.SaveCeremony(ctx, Ceremony{Purpose: CeremonyRegister, Subject: ana, Binding: []byte("ana-session"), Session: []byte(`{}`)}, time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	if _, err := s.AddPasskey(ctx, NewPasskey{Ceremony: Ceremony{ID: id3, Subject: ana, Binding: []byte("ana-session")}, Max: 10, Create: create}); !errors.Is(err, ErrCeremony) {
		t.Errorf("expired: %v", err)
	}
	if _, _, err := s.Purge(ctx, Retention{Rows: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM passkey_ceremonies WHERE id = $1`, id3); n != 0 {
		t.Error("an expired ceremony outlived the purge")
	}
	if n := queryInt(t, s, `SELECT count(*) FROM passkeys WHERE subject = $1`, ana); n != 1 {
		t.Errorf("%d passkeys, want the one good registration", n)
	}
}

func TestPasskeyRenameAndRemoveAreTheOwners(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	ana, bob := newSubject(t, s, "ana@example.com"), newSubject(t, s, "bob@example.com")
	p, err := addPasskey(t, s, ana, "cred-a", 10)
	if err != nil {
		t.Fatal(err)
	}
	// Bob cannot touch Ana's passkey.
	if err := s.RenamePasskey(ctx, bob, p.ID, "mine", nil, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("bob renames: %v", err)
	}
	if err := s.RemovePasskey(ctx, bob, p.ID, nil, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("bob removes: %v", err)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM passkeys WHERE id = $1 AND name = 'Key cred-a'`, p.ID); n != 1 {
		t.Fatal("bob changed ana's passkey")
	}
	if err := s.RenamePasskey(ctx, ana, p.ID, "iPhone", &AuditEvent{Action: ActionPasskeyRenamed, Actor: "user", Result: "ok"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.RemovePasskey(ctx, ana, p.ID, &AuditEvent{Action: ActionPasskeyRemoved, Actor: "user", Result: "ok"}, nil); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM passkeys`); n != 0 {
		t.Errorf("%d passkeys left", n)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM audit_events WHERE user_id = $1 AND action IN ('passkey renamed', 'passkey removed') AND details->>'name' = 'iPhone'`, ana); n != 2 {
		t.Errorf("%d audit rows", n)
	}
}

// identFlow starts a flow at the identifier step.
func identFlow(t *testing.T, s *Store, challenge string) Flow {
	t.Helper()
	f, err := s.StartFlow(context.Background(), Flow{BrowserHash: browserA, Challenge: challenge, RequestURL: "http://x",
		ClientID: "c", ClientName: "c", Lang: "en"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func signInCeremony(t *testing.T, s *Store, f Flow) string {
	t.Helper()
	id, err := s.SaveCeremony(context.Background(), Ceremony{Purpose: CeremonySignIn, FlowID: f.ID, Session: []byte(`{"challenge":"s"}`)}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// passkeyReq signs flow f in with credential cred; verify's answer is use, or err.
func passkeyReq(f Flow, ceremony, cred string, use PasskeyUse, err error) PasskeySignIn {
	return PasskeySignIn{FlowID: f.ID, BrowserHash: browserA, NewBrowserHash: browserB, CeremonyID: ceremony, CredentialID: []byte(cred),
		IPKey: "192.0.2.0/24", PerIP: plenty, PerAccount: plenty, SecondStepKnown: true, ClientID: "c", ClientIP: "192.0.2.7",
		Verify: func([]byte, Passkey) (PasskeyUse, error) { return use, err }}
}

// snapshot is what a refused passkey sign-in must leave as it was.
func snapshot(t *testing.T, s *Store, flowID string) string {
	t.Helper()
	var out string
	if err := s.pool.QueryRow(context.Background(), `SELECT
		(SELECT coalesce(string_agg(subject::text || sign_count || backup_state || coalesce(last_used_at::text, '-'), ','), '') FROM passkeys) || '|' ||
		(SELECT verified_at IS NULL AND coalesce(channel, '') <> 'passkey' AND user_id IS NULL FROM login_flows WHERE id = $1)::text || '|' ||
		(SELECT count(*) FROM used_challenges)::text`, flowID).Scan(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPasskeySignIn(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	ana := newSubject(t, s, "ana@example.com")
	if _, err := addPasskey(t, s, ana, "cred-a", 10); err != nil {
		t.Fatal(err)
	}
	f := identFlow(t, s, "challenge-ok")
	v, got, err := s.SignInWithPasskey(ctx, passkeyReq(f, signInCeremony(t, s, f), "cred-a", PasskeyUse{SignCount: 6, UserVerified: true}, nil))
	if err != nil || v != PasskeyAccepted {
		t.Fatalf("%v %v", v, err)
	}
	if got.Channel != "passkey" || got.UserID != ana || got.VerifiedAt == nil || got.NeedsTOTP || !got.PasskeyUserVerified || got.PasskeyBackupEligible ||
		string(got.BrowserHash) != string(browserB) {
		t.Errorf("flow %+v", got)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM passkeys WHERE sign_count = 6 AND last_used_at IS NOT NULL`); n != 1 {
		t.Error("counter and last use not stored")
	}
	// The flow completes as a code's does: the account is the passkey's subject.
	u, done, err := s.CompleteFlow(ctx, f.ID, f.Challenge)
	if err != nil || !done || u.ID != ana {
		t.Errorf("CompleteFlow: %v %v %v", u.ID, done, err)
	}
	// A second passkey sign-in of the same flow (by the browser it is bound
	// to now): not at that step.
	again := passkeyReq(f, signInCeremony(t, s, f), "cred-a", PasskeyUse{SignCount: 7}, nil)
	again.BrowserHash = browserB
	if _, _, err := s.SignInWithPasskey(ctx, again); !errors.Is(err, ErrFlowState) {
		t.Errorf("after completion: %v", err)
	}
}

func TestPasskeySignInAfterACodeWasSent(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	f := sentFlow(t, s, "ana@example.com")
	var ana string
	_ = s.pool.QueryRow(ctx, `SELECT id::text FROM users WHERE email = 'ana@example.com'`).Scan(&ana)
	if _, err := addPasskey(t, s, ana, "cred-a", 10); err != nil {
		t.Fatal(err)
	}
	// Without user verification, for an account with an authenticator app:
	// the second step is due.
	if _, err := s.pool.Exec(ctx, `INSERT INTO totp_credentials (user_id, sealed) VALUES ($1, 'x')`, ana); err != nil {
		t.Fatal(err)
	}
	v, got, err := s.SignInWithPasskey(ctx, passkeyReq(f, signInCeremony(t, s, f), "cred-a", PasskeyUse{SignCount: 6}, nil))
	if err != nil || v != PasskeyAccepted || !got.NeedsTOTP || got.PasskeyUserVerified || got.Identifier != "" {
		t.Fatalf("%v %+v %v", v, got, err)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM login_codes WHERE flow_id = $1 AND superseded_at IS NULL`, f.ID); n != 0 {
		t.Error("the code sent before still works")
	}
	// Not complete before the second step.
	if _, _, err := s.CompleteFlow(ctx, f.ID, f.Challenge); !errors.Is(err, ErrFlowState) {
		t.Errorf("CompleteFlow before the authenticator step: %v", err)
	}
}

func TestPasskeySignInRefusalsChangeNothing(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	ana, bob := newSubject(t, s, "ana@example.com"), newSubject(t, s, "bob@example.com")
	if _, err := addPasskey(t, s, ana, "cred-a", 10); err != nil {
		t.Fatal(err)
	}
	if _, err := addPasskey(t, s, bob, "cred-b", 10); err != nil {
		t.Fatal(err)
	}
	good := PasskeyUse{SignCount: 6, UserVerified: true}
	other := identFlow(t, s, "challenge-other")
	for i, c := range []struct {
		name   string
		req    func(f Flow) PasskeySignIn
		want   PasskeyVerdict
		counts bool // a failure against the limits
	}{
		{"unknown credential", func(f Flow) PasskeySignIn { return passkeyReq(f, signInCeremony(t, s, f), "cred-x", good, nil) }, PasskeyUnknown, true},
		{"another flow's ceremony", func(f Flow) PasskeySignIn { return passkeyReq(f, signInCeremony(t, s, other), "cred-a", good, nil) }, PasskeyCeremonyGone, true},
		{"an invalid assertion", func(f Flow) PasskeySignIn {
			return passkeyReq(f, signInCeremony(t, s, f), "cred-a", good, errors.New("bad signature"))
		}, PasskeyInvalid, true},
		{"a counter that went back", func(f Flow) PasskeySignIn {
			return passkeyReq(f, signInCeremony(t, s, f), "cred-a", PasskeyUse{SignCount: 5, UserVerified: true}, nil)
		}, PasskeyCounter, true},
		{"a counter that went to 0", func(f Flow) PasskeySignIn {
			return passkeyReq(f, signInCeremony(t, s, f), "cred-a", PasskeyUse{SignCount: 0, UserVerified: true}, nil)
		}, PasskeyCounter, true},
		{"no user verification with Blink core", func(f Flow) PasskeySignIn {
			r := passkeyReq(f, signInCeremony(t, s, f), "cred-a", PasskeyUse{SignCount: 9}, nil)
			r.SecondStepKnown = false
			return r
		}, PasskeyNeedsUserVerification, false},
	} {
		f := identFlow(t, s, fmt.Sprint("challenge-", i))
		before := snapshot(t, s, f.ID)
		events := queryInt(t, s, `SELECT count(*) FROM rate_events`)
		v, _, err := s.SignInWithPasskey(ctx, c.req(f))
		if err != nil || v != c.want {
			t.Errorf("%s: %v %v, want %v", c.name, v, err, c.want)
		}
		if after := snapshot(t, s, f.ID); after != before {
			t.Errorf("%s changed rows: %s → %s", c.name, before, after)
		}
		if n := queryInt(t, s, `SELECT count(*) FROM audit_events WHERE action = 'sign-in failed' AND method = 'passkey' AND result = $1`, c.want.String()); n < 1 {
			t.Errorf("%s not audited", c.name)
		}
		if counted := queryInt(t, s, `SELECT count(*) FROM rate_events`) > events; counted != c.counts {
			t.Errorf("%s: counted against the limits %v, want %v", c.name, counted, c.counts)
		}
	}
	// A ceremony is good once: the replay of a used one is refused.
	f := identFlow(t, s, "challenge-replay")
	id := signInCeremony(t, s, f)
	if v, _, _ := s.SignInWithPasskey(ctx, passkeyReq(f, id, "cred-a", good, errors.New("bad"))); v != PasskeyInvalid {
		t.Fatalf("first use: %v", v)
	}
	if v, _, _ := s.SignInWithPasskey(ctx, passkeyReq(f, id, "cred-a", good, nil)); v != PasskeyCeremonyGone {
		t.Errorf("replayed ceremony: %v", v)
	}
	// Another browser's flow: not found, nothing changed.
	r := passkeyReq(f, signInCeremony(t, s, f), "cred-a", good, nil)
	r.BrowserHash = []byte("someone else")
	if _, _, err := s.SignInWithPasskey(ctx, r); !errors.Is(err, ErrNotFound) {
		t.Errorf("another browser: %v", err)
	}
}

func TestPasskeyOfADisabledOrUncachedSubject(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	ana := newSubject(t, s, "ana@example.com")
	if _, err := addPasskey(t, s, ana, "cred-a", 10); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserDisabled(ctx, ana, true, "cli"); err != nil {
		t.Fatal(err)
	}
	f := identFlow(t, s, "challenge-disabled")
	before := snapshot(t, s, f.ID)
	if v, _, err := s.SignInWithPasskey(ctx, passkeyReq(f, signInCeremony(t, s, f), "cred-a", PasskeyUse{SignCount: 6, UserVerified: true}, nil)); err != nil || v != PasskeyDisabled {
		t.Errorf("disabled: %v %v", v, err)
	}
	if after := snapshot(t, s, f.ID); after != before {
		t.Errorf("rows changed: %s → %s", before, after)
	}
	// With Blink core a subject's cached row is deleted when its email and
	// phone move to another subject: its passkeys stay, and cannot sign in
	// until a code sign-in caches the subject again.
	bob := newSubject(t, s, "bob@example.com")
	if _, err := addPasskey(t, s, bob, "cred-b", 10); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM users WHERE id = $1`, bob); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM passkeys WHERE subject = $1`, bob); n != 1 {
		t.Fatal("deleting the users row deleted the subject's passkey")
	}
	f = identFlow(t, s, "challenge-gone")
	if v, _, err := s.SignInWithPasskey(ctx, passkeyReq(f, signInCeremony(t, s, f), "cred-b", PasskeyUse{SignCount: 6, UserVerified: true}, nil)); err != nil || v != PasskeyDisabled {
		t.Errorf("no users row: %v %v", v, err)
	}
}

func TestPasskeyFailureLimits(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	ana := newSubject(t, s, "ana@example.com")
	if _, err := addPasskey(t, s, ana, "cred-a", 10); err != nil {
		t.Fatal(err)
	}
	two := Limit{Max: 2, Window: time.Hour}
	for range 2 {
		f := identFlow(t, s, "challenge-"+fmt.Sprint(time.Now().UnixNano()))
		r := passkeyReq(f, signInCeremony(t, s, f), "cred-a", PasskeyUse{}, errors.New("bad"))
		r.PerAccount = two
		if v, _, err := s.SignInWithPasskey(ctx, r); err != nil || v != PasskeyInvalid {
			t.Fatalf("%v %v", v, err)
		}
	}
	// The account's limit is reached: even a good assertion is refused, from
	// another address, and nothing changes.
	f := identFlow(t, s, "challenge-limited")
	r := passkeyReq(f, signInCeremony(t, s, f), "cred-a", PasskeyUse{SignCount: 6, UserVerified: true}, nil)
	r.PerAccount, r.IPKey = two, "198.51.100.0/24"
	before := snapshot(t, s, f.ID)
	var limited *LimitError
	if _, _, err := s.SignInWithPasskey(ctx, r); !errors.As(err, &limited) || limited.Bucket != "fail-passkey" {
		t.Errorf("over the account's limit: %v", err)
	}
	if after := snapshot(t, s, f.ID); after != before {
		t.Errorf("rows changed: %s → %s", before, after)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM passkey_ceremonies WHERE id = $1 AND used_at IS NULL`, r.CeremonyID); n != 1 {
		t.Error("a refusal by a limit spent the ceremony")
	}
	// The per-IP limit, before any ceremony is used.
	r.PerAccount, r.IPKey, r.PerIP = plenty, "192.0.2.0/24", two
	if _, _, err := s.SignInWithPasskey(ctx, r); !errors.As(err, &limited) || limited.Bucket != "fail-ip" {
		t.Errorf("over the IP's limit: %v", err)
	}
}

func TestCounterWentBack(t *testing.T) {
	for _, c := range []struct {
		stored, got uint32
		back        bool
	}{{0, 0, false}, {0, 1, false}, {5, 6, false}, {5, 5, true}, {5, 4, true}, {5, 0, true}, {0, 100, false}} {
		if got := counterWentBack(c.stored, c.got); got != c.back {
			t.Errorf("counterWentBack(%d, %d) = %v", c.stored, c.got, got)
		}
	}
}

func TestPasskeyCeremoniesPerFlowAreBounded(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	f, other := identFlow(t, s, "challenge-a"), identFlow(t, s, "challenge-b")
	for range MaxLiveCeremonies {
		signInCeremony(t, s, f)
	}
	if _, err := s.SaveCeremony(ctx, Ceremony{Purpose: CeremonySignIn, FlowID: f.ID, Session: []byte(`{}`)}, time.Minute); !errors.Is(err, ErrCeremonyLimit) {
		t.Errorf("one more: %v", err)
	}
	// Another flow is not affected; a used ceremony frees a place.
	signInCeremony(t, s, other)
	if _, err := s.pool.Exec(ctx, `UPDATE passkey_ceremonies SET used_at = now() WHERE id = (SELECT id FROM passkey_ceremonies WHERE flow_id = $1 LIMIT 1)`, f.ID); err != nil {
		t.Fatal(err)
	}
	signInCeremony(t, s, f)
	if n := queryInt(t, s, `SELECT count(*) FROM passkey_ceremonies WHERE flow_id = $1`, f.ID); n != MaxLiveCeremonies+1 {
		t.Errorf("%d ceremonies", n)
	}
	// A registration's bound is its subject and session.
	ana := newSubject(t, s, "ana@example.com")
	for range MaxLiveCeremonies {
		if _, err := s.SaveCeremony(ctx, Ceremony{Purpose: CeremonyRegister, Subject: ana, Binding: []byte("s"), Session: []byte(`{}`)}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SaveCeremony(ctx, Ceremony{Purpose: CeremonyRegister, Subject: ana, Binding: []byte("s"), Session: []byte(`{}`)}, time.Minute); !errors.Is(err, ErrCeremonyLimit) {
		t.Errorf("one more registration: %v", err)
	}
}
