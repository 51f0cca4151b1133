// Package identitytest is the one conformance suite every identity source
// passes: the same sign-in steps and the same refusals, asserted on the flow
// rows in PostgreSQL and on the accounts the source returns. A source's test
// gives it a Harness and calls Run (Dex does this for its connectors).
package identitytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// Harness is what the suite needs from a source under test.
type Harness struct {
	Source identity.Source
	// Store holds the flows (ours in every mode).
	Store *store.Store
	// NewAccount creates an account with email; with totp it also enrols an
	// authenticator and returns a function giving its current code.
	NewAccount func(t *testing.T, email string, totp bool) (id string, totpCode func() string)
	// LastCode returns the last code the source made for email ("" when none).
	LastCode func(t *testing.T, email string) string
	// CodeDelivered reports whether a message carrying a code that works
	// reached email (a notice that there is no account is not one).
	CodeDelivered func(t *testing.T, email string) bool

	// For a source that is an identity.TOTPManager:

	// AccountClientID is the Hydra client of the account page (whose
	// sign-ins keep what the page's calls need).
	AccountClientID string
	// Keys open the outbox's messages (the users' notices).
	Keys secret.Keys
	// ExpireEnrollments makes every pending enrolment expire now.
	ExpireEnrollments func(t *testing.T)
	// NoLeak fails t if a credential the source holds (Blink core's auth
	// token) went anywhere but where it belongs; nil when it holds none.
	NoLeak func(t *testing.T)
}

// Run runs every conformance test against h.
func Run(t *testing.T, h Harness) {
	t.Run("an email code signs its account in", func(t *testing.T) { emailSignIn(t, h) })
	t.Run("a wrong code is refused and changes nothing", func(t *testing.T) { wrongCode(t, h) })
	t.Run("a verified flow's identity is frozen", func(t *testing.T) { frozen(t, h) })
	t.Run("an account with an authenticator needs its code", func(t *testing.T) { secondFactor(t, h) })
	t.Run("an unknown email gets no message and cannot sign in", func(t *testing.T) { unknownEmail(t, h) })
	t.Run("accounts are looked up by id", func(t *testing.T) { lookup(t, h) })
	if m, ok := h.Source.(identity.TOTPManager); ok {
		t.Run("two-step sign-in is turned on and off by its user", func(t *testing.T) { selfService(t, h, m) })
		t.Run("a pending enrolment expires", func(t *testing.T) { enrolmentExpires(t, h, m) })
		t.Run("an enrolment works only for the account that began it", func(t *testing.T) { enrolmentIsPersonal(t, h, m) })
		if rc, ok := h.Source.(identity.RecoveryCodes); ok {
			t.Run("a recovery code stands in for the authenticator once", func(t *testing.T) { recoveryCodes(t, h, m, rc) })
		}
	}
}

// uniqueEmail keeps the suite's accounts apart from each other and from earlier runs.
func uniqueEmail(name string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return name + "." + hex.EncodeToString(b) + "@example.com"
}

func newFlow(t *testing.T, h Harness) store.Flow {
	t.Helper()
	return newFlowFor(t, h, "c", "")
}

// newFlowFor is a sign-in for clientID in Hydra's login session sid.
func newFlowFor(t *testing.T, h Harness, clientID, sid string) store.Flow {
	t.Helper()
	b := make([]byte, 16)
	rand.Read(b)
	f, err := h.Store.StartFlow(context.Background(), store.Flow{BrowserHash: b, Challenge: "conformance-" + hex.EncodeToString(b),
		RequestURL: "http://relying.party/start", ClientID: clientID, ClientName: "Conformance", Lang: "en", HydraSessionID: sid}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func send(t *testing.T, h Harness, f store.Flow, email string) identity.SendResult {
	t.Helper()
	res, err := h.Source.SendCode(context.Background(), identity.SendRequest{Flow: f, Channel: "email", Identifier: email,
		Lang: i18n.English, ClientIP: "192.0.2.10", IPKey: "192.0.2.10"})
	if err != nil {
		t.Fatalf("SendCode: %v", err)
	}
	return res
}

func verify(h Harness, f store.Flow, code string) (store.Verdict, store.Flow, error) {
	return h.Source.VerifyCode(context.Background(), identity.VerifyRequest{Flow: f, Code: code,
		ClientIP: "192.0.2.10", IPKey: "192.0.2.10", NewBrowserHash: append([]byte("rebound-"), f.BrowserHash...)})
}

func codeOf(t *testing.T, h Harness, email string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c := h.LastCode(t, email); c != "" {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("no code for %s", email)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var sixDigits = regexp.MustCompile(`^[0-9]{6}$`)

func otherCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

func emailSignIn(t *testing.T, h Harness) {
	email := uniqueEmail("sign.in")
	id, _ := h.NewAccount(t, email, false)
	f := newFlow(t, h)
	if res := send(t, h, f, email); !res.Queued {
		t.Error("no message was sent to an account's email")
	}
	code := codeOf(t, h, email)
	if !sixDigits.MatchString(code) {
		t.Errorf("the code %q is not 6 digits", code)
	}
	v, verified, err := verify(h, f, code)
	if err != nil || v != store.CodeAccepted {
		t.Fatalf("the right code: %v %v", v, err)
	}
	if verified.VerifiedAt == nil || verified.NeedsTOTP || !bytesEqual(verified.BrowserHash, append([]byte("rebound-"), f.BrowserHash...)) {
		t.Errorf("the flow after the code: verified %v, needs TOTP %v, rebound %v", verified.VerifiedAt != nil, verified.NeedsTOTP, string(verified.BrowserHash))
	}
	a, done, err := complete(context.Background(), h, f)
	if err != nil || !done || a.ID != id || a.Email != email || !a.EmailVerified {
		t.Errorf("CompleteFlow: %+v done=%v err=%v, want the account %s with its verified email", a, done, err, id)
	}
	if _, _, err := complete(context.Background(), h, f); !errors.Is(err, store.ErrFlowState) {
		t.Errorf("a second CompleteFlow: %v, want store.ErrFlowState", err)
	}
}

func wrongCode(t *testing.T, h Harness) {
	email := uniqueEmail("wrong.code")
	h.NewAccount(t, email, false)
	f := newFlow(t, h)
	send(t, h, f, email)
	code := codeOf(t, h, email)
	for _, guess := range []string{otherCode(code), "abc", ""} {
		v, _, err := verify(h, f, guess)
		if err != nil || v == store.CodeAccepted {
			t.Errorf("the guess %q: %v %v", guess, v, err)
		}
	}
	again, err := h.Store.FlowForBrowser(context.Background(), f.ID, f.BrowserHash)
	if err != nil || again.VerifiedAt != nil {
		t.Errorf("after wrong codes the flow is %+v (%v), want unverified and still bound", again, err)
	}
	if _, _, err := complete(context.Background(), h, f); !errors.Is(err, store.ErrFlowState) {
		t.Errorf("CompleteFlow of an unverified flow: %v, want store.ErrFlowState", err)
	}
	// The right code still works: failures are counted, not fatal.
	if v, _, err := verify(h, f, code); err != nil || v != store.CodeAccepted {
		t.Errorf("the right code after wrong ones: %v %v", v, err)
	}
}

func frozen(t *testing.T, h Harness) {
	email, victim := uniqueEmail("frozen"), uniqueEmail("victim")
	h.NewAccount(t, email, false)
	h.NewAccount(t, victim, false)
	f := newFlow(t, h)
	send(t, h, f, email)
	_, verified, err := verify(h, f, codeOf(t, h, email))
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Source.SendCode(context.Background(), identity.SendRequest{Flow: verified, Channel: "email", Identifier: victim,
		Lang: i18n.English, ClientIP: "192.0.2.10", IPKey: "192.0.2.10"})
	if !errors.Is(err, store.ErrFlowState) {
		t.Errorf("SendCode to another email on a verified flow: %v, want store.ErrFlowState", err)
	}
	if c := h.LastCode(t, victim); c != "" {
		t.Error("a code went to the victim")
	}
	a, _, err := complete(context.Background(), h, f)
	if err != nil || a.Email != email {
		t.Errorf("the flow signs in %+v (%v), want %s", a, err, email)
	}
}

func secondFactor(t *testing.T, h Harness) {
	ctx := context.Background()
	email := uniqueEmail("two.step")
	id, totpCode := h.NewAccount(t, email, true)
	f := newFlow(t, h)
	send(t, h, f, email)
	v, verified, err := verify(h, f, codeOf(t, h, email))
	if err != nil || v != store.CodeAccepted || !verified.NeedsTOTP {
		t.Fatalf("the code of a two-step account: %v needsTOTP=%v %v", v, verified.NeedsTOTP, err)
	}
	if _, _, err := complete(ctx, h, f); !errors.Is(err, store.ErrFlowState) {
		t.Errorf("CompleteFlow before the authenticator code: %v, want store.ErrFlowState", err)
	}
	check := func(code string) (store.TOTPVerdict, store.Flow, error) {
		return h.Source.CheckTOTP(ctx, identity.TOTPRequest{Flow: verified, Code: code, ClientIP: "192.0.2.10", IPKey: "192.0.2.10",
			NewBrowserHash: append([]byte("second-"), verified.BrowserHash...)})
	}
	right := totpCode()
	if tv, _, err := check(otherCode(right)); err != nil || tv == store.TOTPAccepted {
		t.Errorf("a wrong authenticator code: %v %v", tv, err)
	}
	tv, done, err := check(right)
	if err != nil || tv != store.TOTPAccepted || done.TOTPVerifiedAt == nil {
		t.Fatalf("the right authenticator code: %v %v", tv, err)
	}
	a, ok, err := complete(ctx, h, f)
	if err != nil || !ok || a.ID != id {
		t.Errorf("CompleteFlow after both factors: %+v %v %v", a, ok, err)
	}
}

func unknownEmail(t *testing.T, h Harness) {
	email := uniqueEmail("nobody")
	f := newFlow(t, h)
	send(t, h, f, email)
	guesses := []string{"000000", "123456"}
	if c := h.LastCode(t, email); c != "" {
		guesses = append(guesses, c) // made, but never sent: it must not sign anyone in either
	}
	for _, guess := range guesses {
		if v, _, err := verify(h, f, guess); err == nil && v == store.CodeAccepted {
			t.Errorf("the code %q signed in an email with no account", guess)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if h.CodeDelivered(t, email) {
		t.Error("a message went to an email with no account")
	}
	if n, err := h.Store.UserByEmail(context.Background(), email); err == nil {
		t.Errorf("an account appeared for an unknown email: %+v", n)
	}
}

func lookup(t *testing.T, h Harness) {
	email := uniqueEmail("lookup")
	id, _ := h.NewAccount(t, email, false)
	// An account is known by its id once it signed in (a remote source keeps
	// the claims it proved then).
	f := newFlow(t, h)
	send(t, h, f, email)
	if _, _, err := verify(h, f, codeOf(t, h, email)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := complete(context.Background(), h, f); err != nil {
		t.Fatal(err)
	}
	a, err := h.Source.Account(context.Background(), id)
	if err != nil || a.ID != id || a.Email != email || !a.EmailVerified || !a.Active() {
		t.Errorf("Account(%s): %+v %v", id, a, err)
	}
	for _, missing := range []string{"00000000-0000-4000-8000-000000000000", "not-a-uuid"} {
		if _, err := h.Source.Account(context.Background(), missing); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("Account(%q): %v, want identity.ErrNotFound", missing, err)
		}
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// complete is the sign-in's last transition (ours in every mode): it claims
// the flow's challenge and returns the account the source proved.
func complete(ctx context.Context, h Harness, f store.Flow) (identity.Account, bool, error) {
	u, done, err := h.Store.CompleteFlow(ctx, f.ID, f.Challenge)
	return identity.FromUser(u), done, err
}
