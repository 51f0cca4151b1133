package identitytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// Two-step sign-in from the account page (identity.TOTPManager), asserted
// where it matters: on the next sign-in through the source, on the audit
// trail and on the outbox.

const selfServiceIP = "192.0.2.20"

func newSessionID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "sid-" + hex.EncodeToString(b)
}

// signInTo signs email in through the source for clientID in the login
// session sid and reports whether an authenticator code was asked for; when
// it is, code gives it and must be accepted.
func signInTo(t *testing.T, h Harness, email, clientID, sid string, code func() string) (asked bool) {
	t.Helper()
	ctx := context.Background()
	f := newFlowFor(t, h, clientID, sid)
	send(t, h, f, email)
	v, verified, err := verify(h, f, codeOf(t, h, email))
	if err != nil || v != store.CodeAccepted {
		t.Fatalf("the sign-in code: %v %v", v, err)
	}
	if verified.NeedsTOTP {
		if code == nil {
			t.Fatal("the sign-in asked for an authenticator code")
		}
		tv, _, err := h.Source.CheckTOTP(ctx, identity.TOTPRequest{Flow: verified, Code: code(), ClientIP: "192.0.2.10", IPKey: "192.0.2.10",
			NewBrowserHash: append([]byte("second-"), verified.BrowserHash...)})
		if err != nil || tv != store.TOTPAccepted {
			t.Fatalf("the authenticator code of the enrolled secret: %v %v", tv, err)
		}
	}
	if _, done, err := complete(ctx, h, f); err != nil || !done {
		t.Fatalf("CompleteFlow: %v %v", done, err)
	}
	return verified.NeedsTOTP
}

func wrongTOTP(secret []byte) string {
	now := time.Now()
	for _, c := range []string{"000000", "111111", "222222"} {
		if _, ok := totp.Match(secret, c, now); !ok {
			return c
		}
	}
	return "333333"
}

func selfService(t *testing.T, h Harness, m identity.TOTPManager) {
	ctx := context.Background()
	since := time.Now().Add(-time.Minute)
	email := uniqueEmail("self.service")
	id, _ := h.NewAccount(t, email, false)
	sid := newSessionID()
	signInTo(t, h, email, h.AccountClientID, sid, nil)
	who := identity.Who{Subject: id, SessionID: sid, IP: selfServiceIP}

	if on, err := m.TOTPStatus(ctx, who); err != nil || on {
		t.Fatalf("TOTPStatus before: %v %v", on, err)
	}
	if err := m.RemoveTOTP(ctx, who); !errors.Is(err, identity.ErrTOTPOff) {
		t.Errorf("RemoveTOTP with nothing to remove: %v, want ErrTOTPOff", err)
	}
	e, err := m.BeginTOTP(ctx, who)
	if err != nil {
		t.Fatalf("BeginTOTP: %v", err)
	}
	secret, err := totp.ParseSecret(e.Secret)
	if err != nil || e.ID == "" {
		t.Fatalf("the enrolment %q: secret %v", e.ID, err)
	}
	if fromURI, err := totp.ParseURI(e.URI); err != nil || string(fromURI) != string(secret) || !strings.HasPrefix(e.URI, "otpauth://totp/Blink:") {
		t.Errorf("the URI %q does not carry the secret (%v)", e.URI, err)
	}
	// Begun, not confirmed: nothing is active.
	if signInTo(t, h, email, "c", newSessionID(), nil) {
		t.Fatal("a begun enrolment made the sign-in ask for TOTP")
	}
	for _, bad := range []string{wrongTOTP(secret), "12345", "abcdef", ""} {
		if err := m.ConfirmTOTP(ctx, who, e.ID, bad); !errors.Is(err, identity.ErrWrongCode) {
			t.Errorf("ConfirmTOTP with %q: %v, want ErrWrongCode", bad, err)
		}
	}
	if signInTo(t, h, email, "c", newSessionID(), nil) {
		t.Fatal("a wrong confirming code turned two-step sign-in on")
	}
	if err := m.ConfirmTOTP(ctx, who, e.ID, totp.Code(secret, time.Now())); err != nil {
		t.Fatalf("ConfirmTOTP with the right code: %v", err)
	}

	// The next sign-in needs TOTP and accepts a code of that secret (the
	// next step's: the confirming code's step is used up).
	sid2 := newSessionID()
	if !signInTo(t, h, email, h.AccountClientID, sid2, func() string { return totp.Code(secret, time.Now().Add(totp.Period*time.Second)) }) {
		t.Fatal("after enrolment the sign-in did not ask for TOTP")
	}
	who2 := identity.Who{Subject: id, SessionID: sid2, IP: selfServiceIP}
	if on, err := m.TOTPStatus(ctx, who2); err != nil || !on {
		t.Errorf("TOTPStatus after enrolment: %v %v", on, err)
	}
	if _, err := m.BeginTOTP(ctx, who2); !errors.Is(err, identity.ErrTOTPOn) {
		t.Errorf("BeginTOTP with TOTP on: %v, want ErrTOTPOn", err)
	}
	if err := m.RemoveTOTP(ctx, who2); err != nil {
		t.Fatalf("RemoveTOTP: %v", err)
	}
	if signInTo(t, h, email, "c", newSessionID(), nil) {
		t.Fatal("after removal the sign-in still asks for TOTP")
	}

	// Each change is audited, with the user as actor and their IP ...
	events, err := h.Store.AuditTrail(ctx, id, since)
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, ev := range events {
		if strings.HasPrefix(string(ev.Action), "totp") {
			changes = append(changes, string(ev.Action)+" by "+ev.Actor+" from "+ev.IP)
		}
	}
	if got, want := strings.Join(changes, "; "), "totp enrolled by user from "+selfServiceIP+"; totp removed by user from "+selfServiceIP; got != want {
		t.Errorf("audit trail %q, want %q", got, want)
	}
	// ... and the user is told, through the outbox.
	msgs, err := h.Store.RecentMessages(ctx, 500)
	if err != nil {
		t.Fatal(err)
	}
	var told []string
	for _, msg := range msgs {
		if msg.Destination != email {
			continue
		}
		env, err := delivery.Open(h.Keys, msg)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"notify.totp.added", "notify.totp.removed"} {
			if strings.Contains(env.Text, i18n.English.T(key)) && strings.Contains(env.Text, i18n.Spanish.T(key)) {
				told = append(told, key)
			}
		}
	}
	if got := strings.Join(told, ","); got != "notify.totp.removed,notify.totp.added" {
		t.Errorf("notices queued to %s: %q, want the removal and the enrolment", email, got)
	}
	if h.NoLeak != nil {
		h.NoLeak(t)
	}
}

func enrolmentExpires(t *testing.T, h Harness, m identity.TOTPManager) {
	ctx := context.Background()
	email := uniqueEmail("expires")
	id, _ := h.NewAccount(t, email, false)
	sid := newSessionID()
	signInTo(t, h, email, h.AccountClientID, sid, nil)
	who := identity.Who{Subject: id, SessionID: sid, IP: selfServiceIP}
	e, err := m.BeginTOTP(ctx, who)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := totp.ParseSecret(e.Secret)
	h.ExpireEnrollments(t)
	if err := m.ConfirmTOTP(ctx, who, e.ID, totp.Code(secret, time.Now())); !errors.Is(err, identity.ErrEnrollmentGone) {
		t.Errorf("ConfirmTOTP of an expired enrolment: %v, want ErrEnrollmentGone", err)
	}
	if signInTo(t, h, email, "c", newSessionID(), nil) {
		t.Fatal("an expired enrolment turned two-step sign-in on")
	}
}

func enrolmentIsPersonal(t *testing.T, h Harness, m identity.TOTPManager) {
	ctx := context.Background()
	alice, mallory := uniqueEmail("alice"), uniqueEmail("mallory")
	aliceID, _ := h.NewAccount(t, alice, false)
	malloryID, _ := h.NewAccount(t, mallory, false)
	aliceSID, mallorySID := newSessionID(), newSessionID()
	signInTo(t, h, alice, h.AccountClientID, aliceSID, nil)
	signInTo(t, h, mallory, h.AccountClientID, mallorySID, nil)
	e, err := m.BeginTOTP(ctx, identity.Who{Subject: aliceID, SessionID: aliceSID})
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := totp.ParseSecret(e.Secret)
	err = m.ConfirmTOTP(ctx, identity.Who{Subject: malloryID, SessionID: mallorySID}, e.ID, totp.Code(secret, time.Now()))
	if !errors.Is(err, identity.ErrEnrollmentGone) {
		t.Errorf("another account confirming the enrolment: %v, want ErrEnrollmentGone", err)
	}
	if signInTo(t, h, mallory, "c", newSessionID(), nil) || signInTo(t, h, alice, "c", newSessionID(), nil) {
		t.Fatal("another account's confirmation turned two-step sign-in on")
	}
}
