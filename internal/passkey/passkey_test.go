package passkey_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/passkey"
	"github.com/blinkbitcoin/blink-consent/internal/passkey/passkeytest"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// memStore keeps ceremonies and passkeys in memory. The real rules (single
// use, the limit, unique ids) are the store's, tested on PostgreSQL in
// internal/store; here only what the wrapper does with them.
type memStore struct {
	ceremonies map[string]store.Ceremony
	added      []store.Passkey
}

func (m *memStore) SaveCeremony(_ context.Context, c store.Ceremony, ttl time.Duration) (string, error) {
	if m.ceremonies == nil {
		m.ceremonies = map[string]store.Ceremony{}
	}
	c.ID = "c" + string(rune('0'+len(m.ceremonies)))
	m.ceremonies[c.ID] = c
	return c.ID, nil
}

func (m *memStore) AddPasskey(_ context.Context, in store.NewPasskey) (store.Passkey, error) {
	c, ok := m.ceremonies[in.Ceremony.ID]
	if !ok || c.Subject != in.Ceremony.Subject || !bytes.Equal(c.Binding, in.Ceremony.Binding) {
		return store.Passkey{}, store.ErrCeremony
	}
	delete(m.ceremonies, in.Ceremony.ID)
	p, err := in.Create(c.Session)
	if err != nil {
		return store.Passkey{}, err
	}
	m.added = append(m.added, p)
	return p, nil
}

const (
	origin  = "https://login.blink.sv"
	subject = "0b9e2a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
	other   = "11111111-2222-4333-8444-555555555555"
)

func newRP(t *testing.T) *passkey.RP {
	t.Helper()
	u, _ := url.Parse(origin)
	rp, err := passkey.New(u, "Blink")
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// register adds auth's passkey for subject and returns the stored row.
func register(t *testing.T, rp *passkey.RP, st *memStore, auth *passkeytest.Authenticator) store.Passkey {
	t.Helper()
	ctx := context.Background()
	u := passkey.User{Subject: subject, Name: "ana@example.com"}
	begun, err := rp.BeginRegistration(ctx, st, u, []byte("session"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := rp.FinishRegistration(ctx, st, u, []byte("session"), begun.Ceremony, auth.Register(begun.PublicKey, subject), "Phone", nil)
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	return p
}

func TestRegistrationOptionsAndRecord(t *testing.T) {
	rp, st := newRP(t), &memStore{}
	ctx := context.Background()
	u := passkey.User{Subject: subject, Name: "ana@example.com", Passkeys: []store.Passkey{{CredentialID: []byte("old-one")}}}
	begun, err := rp.BeginRegistration(ctx, st, u, []byte("session"))
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		RP                     struct{ ID, Name string }
		User                   struct{ ID, Name string }
		Attestation            string
		Timeout                int
		AuthenticatorSelection struct{ ResidentKey, UserVerification string }
		ExcludeCredentials     []struct{ ID string }
	}
	if err := json.Unmarshal(begun.PublicKey, &o); err != nil {
		t.Fatal(err)
	}
	handle, _ := base64.RawURLEncoding.DecodeString(o.User.ID)
	if o.RP.ID != "login.blink.sv" || o.RP.Name != "Blink" || !bytes.Equal(handle, passkey.UserHandle(subject)) || len(handle) != 16 ||
		o.Attestation != "none" || o.AuthenticatorSelection.ResidentKey != "required" || o.AuthenticatorSelection.UserVerification != "preferred" ||
		o.Timeout != 120000 || len(o.ExcludeCredentials) != 1 {
		t.Errorf("options: %s", begun.PublicKey)
	}
	if c := st.ceremonies[begun.Ceremony]; c.Purpose != store.CeremonyRegister || c.Subject != subject || !strings.Contains(string(c.Session), "challenge") {
		t.Errorf("kept ceremony: %+v", c)
	}

	auth := passkeytest.New(origin, "login.blink.sv", passkeytest.Options{Synced: true})
	p, err := rp.FinishRegistration(ctx, st, u, []byte("session"), begun.Ceremony, auth.Register(begun.PublicKey, subject), "iPhone", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.CredentialID, auth.CredentialID()) || p.Subject != subject || p.Name != "iPhone" || !p.BackupEligible || !p.UserVerified || len(p.PublicKey) == 0 || len(p.AAGUID) != 16 {
		t.Errorf("record: %+v", p)
	}
}

func TestRegistrationRefusals(t *testing.T) {
	rp := newRP(t)
	ctx := context.Background()
	u := passkey.User{Subject: subject, Name: "ana@example.com"}
	for name, auth := range map[string]*passkeytest.Authenticator{
		"wrong origin":        passkeytest.New("https://login.blink.sv.evil.example", "login.blink.sv", passkeytest.Options{}),
		"wrong relying party": passkeytest.New(origin, "evil.example", passkeytest.Options{}),
	} {
		st := &memStore{}
		begun, _ := rp.BeginRegistration(ctx, st, u, []byte("session"))
		_, err := rp.FinishRegistration(ctx, st, u, []byte("session"), begun.Ceremony, auth.Register(begun.PublicKey, subject), "x", nil)
		if !errors.Is(err, passkey.ErrInvalid) || len(st.added) != 0 {
			t.Errorf("%s: %v, added %d", name, err, len(st.added))
		}
	}
	st := &memStore{}
	if _, err := rp.FinishRegistration(ctx, st, u, nil, "c0", []byte(`{"not":"a credential"}`), "x", nil); !errors.Is(err, passkey.ErrInvalid) {
		t.Errorf("garbage: %v", err)
	}
}

// signIn begins a sign-in and has auth answer it; verify is the transition's check.
func signIn(t *testing.T, rp *passkey.RP, st *memStore, auth *passkeytest.Authenticator, tamper func([]byte) []byte) (func([]byte, store.Passkey) (store.PasskeyUse, error), []byte) {
	t.Helper()
	begun, err := rp.BeginSignIn(context.Background(), st, "flow-1")
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		RPID             string
		UserVerification string
		AllowCredentials []any
	}
	_ = json.Unmarshal(begun.PublicKey, &o)
	if o.RPID != "login.blink.sv" || o.UserVerification != "preferred" || len(o.AllowCredentials) != 0 {
		t.Errorf("sign-in options: %s", begun.PublicKey)
	}
	c := st.ceremonies[begun.Ceremony]
	if c.Purpose != store.CeremonySignIn || c.FlowID != "flow-1" {
		t.Errorf("kept ceremony: %+v", c)
	}
	response := auth.SignIn(begun.PublicKey)
	if tamper != nil {
		response = tamper(response)
	}
	a, err := passkey.ParseAssertion(response)
	if err != nil {
		t.Fatalf("ParseAssertion: %v", err)
	}
	if !bytes.Equal(a.CredentialID, auth.CredentialID()) {
		t.Errorf("credential id %x", a.CredentialID)
	}
	return rp.Verify(a), c.Session
}

func TestSignInVerifies(t *testing.T) {
	rp, st := newRP(t), &memStore{}
	auth := passkeytest.New(origin, "login.blink.sv", passkeytest.Options{})
	p := register(t, rp, st, auth)
	verify, session := signIn(t, rp, st, auth, nil)
	use, err := verify(session, p)
	if err != nil || use.SignCount != 1 || !use.UserVerified || use.BackupState {
		t.Fatalf("verify: %+v %v", use, err)
	}

	// Without user verification: accepted, and said.
	auth2 := passkeytest.New(origin, "login.blink.sv", passkeytest.Options{NoUserVerification: true, Synced: true})
	p2 := register(t, rp, st, auth2)
	verify, session = signIn(t, rp, st, auth2, nil)
	if use, err := verify(session, p2); err != nil || use.UserVerified || !use.BackupState || use.SignCount != 0 {
		t.Fatalf("verify without UV: %+v %v", use, err)
	}
}

func TestSignInRefusals(t *testing.T) {
	rp, st := newRP(t), &memStore{}
	auth := passkeytest.New(origin, "login.blink.sv", passkeytest.Options{})
	p := register(t, rp, st, auth)

	tamperClientData := func(b []byte) []byte {
		var r map[string]any
		_ = json.Unmarshal(b, &r)
		resp := r["response"].(map[string]any)
		cd, _ := base64.RawURLEncoding.DecodeString(resp["clientDataJSON"].(string))
		cd = bytes.Replace(cd, []byte(`"type":"webauthn.get"`), []byte(`"type":"webauthn.get","x":1`), 1)
		resp["clientDataJSON"] = base64.RawURLEncoding.EncodeToString(cd)
		out, _ := json.Marshal(r)
		return out
	}
	t.Run("tampered client data", func(t *testing.T) {
		verify, session := signIn(t, rp, st, auth, tamperClientData)
		if _, err := verify(session, p); !errors.Is(err, passkey.ErrInvalid) {
			t.Errorf("got %v, want ErrInvalid", err)
		}
	})
	t.Run("wrong origin", func(t *testing.T) {
		auth.Origin = "https://blink-login.example"
		defer func() { auth.Origin = origin }()
		verify, session := signIn(t, rp, st, auth, nil)
		if _, err := verify(session, p); !errors.Is(err, passkey.ErrInvalid) {
			t.Errorf("got %v, want ErrInvalid", err)
		}
	})
	t.Run("another ceremony's challenge", func(t *testing.T) {
		verify, _ := signIn(t, rp, st, auth, nil)
		_, session := signIn(t, rp, st, auth, nil)
		if _, err := verify(session, p); !errors.Is(err, passkey.ErrInvalid) {
			t.Errorf("got %v, want ErrInvalid", err)
		}
	})
	t.Run("a user handle of another account", func(t *testing.T) {
		auth.SetUserHandle(other)
		defer auth.SetUserHandle(subject)
		verify, session := signIn(t, rp, st, auth, nil)
		if _, err := verify(session, p); !errors.Is(err, passkey.ErrInvalid) {
			t.Errorf("got %v, want ErrInvalid", err)
		}
	})
	t.Run("the passkey row of another account", func(t *testing.T) {
		// The row says another subject owns this credential id: the user
		// handle (this subject's) does not match it.
		verify, session := signIn(t, rp, st, auth, nil)
		theirs := p
		theirs.Subject = other
		if _, err := verify(session, theirs); !errors.Is(err, passkey.ErrInvalid) {
			t.Errorf("got %v, want ErrInvalid", err)
		}
	})
	t.Run("another passkey's public key", func(t *testing.T) {
		stranger := passkeytest.New(origin, "login.blink.sv", passkeytest.Options{})
		q := register(t, rp, st, stranger)
		verify, session := signIn(t, rp, st, auth, nil)
		q.CredentialID = p.CredentialID // the id matches; the key does not
		if _, err := verify(session, q); !errors.Is(err, passkey.ErrInvalid) {
			t.Errorf("got %v, want ErrInvalid", err)
		}
	})
	t.Run("not an assertion", func(t *testing.T) {
		if _, err := passkey.ParseAssertion([]byte(`{}`)); !errors.Is(err, passkey.ErrInvalid) {
			t.Errorf("got %v", err)
		}
	})
}

func TestNames(t *testing.T) {
	for in, want := range map[string]string{" iPhone ": "iPhone", "YubiKey 5C": "YubiKey 5C", strings.Repeat("é", 64): strings.Repeat("é", 64)} {
		if got, err := passkey.CleanName(in); err != nil || got != want {
			t.Errorf("CleanName(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "   ", strings.Repeat("a", 65), "a\nb", "\x00"} {
		if _, err := passkey.CleanName(in); !errors.Is(err, passkey.ErrName) {
			t.Errorf("CleanName(%q): %v, want ErrName", in, err)
		}
	}
}

func TestUserHandle(t *testing.T) {
	if h := passkey.UserHandle(subject); len(h) != 16 || h[0] != 0x0b || h[15] != 0x4b {
		t.Errorf("UserHandle = %x", h)
	}
	if passkey.UserHandle("not-a-uuid") != nil {
		t.Error("a non-UUID has a handle")
	}
	if _, err := passkey.New(nil, "Blink"); err == nil {
		t.Error("New without a URL")
	}
}
