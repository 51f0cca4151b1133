// Package passkey runs WebAuthn ceremonies (passkeys) with go-webauthn: the
// relying party made from PUBLIC_URL, registration of a passkey for a
// subject, and the discoverable sign-in bound to a login flow. It keeps no
// state: every ceremony in progress and every passkey is a row in
// PostgreSQL (internal/store), and a sign-in is the store's transition
// (store.SignInWithPasskey), given Verify to check the assertion inside it.
//
// What the browser gets (Begun) and sends back (the JSON of a
// PublicKeyCredential, as PublicKeyCredential.toJSON() makes it) are
// passed through as bytes; no CBOR or COSE is read here — go-webauthn does it.
package passkey

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// MaxPerAccount is how many passkeys one account may have.
const MaxPerAccount = 10

// CeremonyTTL is how long a ceremony's challenge can be answered.
const CeremonyTTL = 5 * time.Minute

// browserTimeout is how long the browser's dialog waits (the options' timeout).
const browserTimeout = 2 * time.Minute

// CeremonySaver keeps a ceremony in progress (*store.Store): all a sign-in's
// beginning needs.
type CeremonySaver interface {
	SaveCeremony(ctx context.Context, c store.Ceremony, ttl time.Duration) (string, error)
}

// Store is the part of the store the registration uses (*store.Store).
type Store interface {
	CeremonySaver
	AddPasskey(ctx context.Context, in store.NewPasskey) (store.Passkey, error)
}

// RP is the relying party: this service, at PUBLIC_URL.
type RP struct {
	wa *webauthn.WebAuthn
}

// New makes the relying party of publicURL: its id is the URL's host
// without the port, the only origin allowed is the URL's origin, and name is
// what authenticators show (PASSKEY_RP_NAME). Attestation is not asked for,
// user verification is preferred, and credentials must be discoverable.
func New(publicURL *url.URL, name string) (*RP, error) {
	if publicURL == nil || publicURL.Host == "" {
		return nil, errors.New("passkey: no public URL")
	}
	residentKey := true
	timeouts := webauthn.TimeoutConfig{Timeout: browserTimeout, TimeoutUVD: browserTimeout}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  publicURL.Hostname(),
		RPDisplayName:         name,
		RPOrigins:             []string{publicURL.Scheme + "://" + publicURL.Host},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			RequireResidentKey: &residentKey,
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			UserVerification:   protocol.VerificationPreferred,
		},
		Timeouts: webauthn.TimeoutsConfig{Login: timeouts, Registration: timeouts},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &RP{wa: wa}, nil
}

// Begun is what the browser needs to run a ceremony, sent as JSON: the
// ceremony's id (to send back with the answer) and the options for
// navigator.credentials.create or .get, in the JSON form
// PublicKeyCredential.parseCreationOptionsFromJSON / parseRequestOptionsFromJSON read.
type Begun struct {
	Ceremony  string          `json:"ceremony"`
	PublicKey json.RawMessage `json:"publicKey"`
}

// User is a subject as WebAuthn sees it.
type User struct {
	// Subject is the account id (users.id, or Blink core's subject).
	Subject string
	// Name is what the person knows the account by (its email or phone
	// number), shown by the authenticator beside the passkey.
	Name string
	// Passkeys are the subject's passkeys (excluded from a new registration).
	Passkeys []store.Passkey
}

// UserHandle is the WebAuthn user handle of subject: its UUID's 16 bytes,
// or nil when subject is not a UUID.
func UserHandle(subject string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(subject, "-", ""))
	if err != nil || len(b) != 16 {
		return nil
	}
	return b
}

func (u User) WebAuthnID() []byte          { return UserHandle(u.Subject) }
func (u User) WebAuthnName() string        { return u.Name }
func (u User) WebAuthnDisplayName() string { return u.Name }

// WebAuthnCredentials are the subject's passkeys as go-webauthn's records.
func (u User) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, len(u.Passkeys))
	for i, p := range u.Passkeys {
		out[i] = Credential(p)
	}
	return out
}

// Credential is the credential record of the stored passkey p.
func Credential(p store.Passkey) webauthn.Credential {
	transports := make([]protocol.AuthenticatorTransport, len(p.Transports))
	for i, t := range p.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	var flags protocol.AuthenticatorFlags = protocol.FlagUserPresent
	if p.UserVerified {
		flags |= protocol.FlagUserVerified
	}
	if p.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if p.BackupState {
		flags |= protocol.FlagBackupState
	}
	return webauthn.Credential{
		ID: p.CredentialID, PublicKey: p.PublicKey, AttestationFormat: p.AttestationFormat, Transport: transports,
		Flags:         webauthn.NewCredentialFlags(flags),
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount},
	}
}

// Record is the row to store for the credential c registered by subject, named name.
func Record(c *webauthn.Credential, subject, name string) store.Passkey {
	transports := make([]string, len(c.Transport))
	for i, t := range c.Transport {
		transports[i] = string(t)
	}
	format := c.AttestationFormat
	if format == "" {
		format = "none"
	}
	return store.Passkey{
		Subject: subject, CredentialID: c.ID, PublicKey: c.PublicKey, AttestationFormat: format,
		SignCount: c.Authenticator.SignCount, AAGUID: c.Authenticator.AAGUID, Transports: transports,
		BackupEligible: c.Flags.BackupEligible, BackupState: c.Flags.BackupState, UserVerified: c.Flags.UserVerified,
		Name: name,
	}
}

// ErrName: a passkey's name must be 1 to 64 characters, none of them a control character.
var ErrName = errors.New("passkey: a name is 1 to 64 characters")

// CleanName trims name and checks it (ErrName).
func CleanName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 64 || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return "", ErrName
	}
	return name, nil
}

// ErrInvalid means the browser's answer was refused: malformed, or
// go-webauthn found it wrong (challenge, origin, relying party, signature,
// user handle, flags). The wrapped error says why, for the logs only.
var ErrInvalid = errors.New("passkey: the browser's answer was refused")

// BeginRegistration begins adding a passkey for u, bound to binding (the
// SHA-256 of the cookie of the session it is added from: the account
// session, or the browser after a code sign-in): the browser's options, with
// u's passkeys excluded so an authenticator holding one says so.
func (rp *RP) BeginRegistration(ctx context.Context, st Store, u User, binding []byte) (Begun, error) {
	if u.WebAuthnID() == nil {
		return Begun{}, errors.New("passkey: the subject is not a UUID")
	}
	creation, session, err := rp.wa.BeginRegistration(u, webauthn.WithExclusions(webauthn.Credentials(u.WebAuthnCredentials()).CredentialDescriptors()))
	if err != nil {
		return Begun{}, fmt.Errorf("passkey: %w", err)
	}
	return rp.keep(ctx, st, store.Ceremony{Purpose: store.CeremonyRegister, Subject: u.Subject, Binding: binding}, creation.Response, session)
}

// FinishRegistration ends the registration ceremony id of u's subject begun
// with binding: response is the browser's PublicKeyCredential as JSON, name
// the passkey's name (CleanName first). In one transaction (store.AddPasskey)
// the ceremony is spent, the limit checked, the answer verified and the
// passkey stored, with audit written beside it when given (Action, Actor,
// IP, …; the store fills UserID and the passkey's id and name). Errors:
// ErrInvalid, store.ErrCeremony, store.ErrPasskeyLimit, store.ErrPasskeyExists.
func (rp *RP) FinishRegistration(ctx context.Context, st Store, u User, binding []byte, id string, response []byte, name string, audit *store.AuditEvent) (store.Passkey, error) {
	return rp.FinishRegistrationNotified(ctx, st, u, binding, id, response, name, audit, nil)
}

// FinishRegistrationNotified is FinishRegistration that also queues notify
// (the notice telling the person a passkey was added; nil: none) in the
// same transaction, as the account page and the offer after a code sign-in
// do: a passkey is never added untold when it could be told.
func (rp *RP) FinishRegistrationNotified(ctx context.Context, st Store, u User, binding []byte, id string, response []byte, name string, audit *store.AuditEvent, notify *store.Message) (store.Passkey, error) {
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return store.Passkey{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return st.AddPasskey(ctx, store.NewPasskey{
		Ceremony: store.Ceremony{ID: id, Subject: u.Subject, Binding: binding},
		Max:      MaxPerAccount,
		Audit:    audit,
		Notify:   notify,
		Create: func(raw []byte) (store.Passkey, error) {
			var session webauthn.SessionData
			if err := json.Unmarshal(raw, &session); err != nil {
				return store.Passkey{}, fmt.Errorf("passkey: a kept session: %w", err)
			}
			c, err := rp.wa.CreateCredential(u, session, parsed)
			if err != nil {
				return store.Passkey{}, fmt.Errorf("%w: %w", ErrInvalid, err)
			}
			return Record(c, u.Subject, name), nil
		},
	})
}

// BeginSignIn begins a discoverable sign-in for login flow flowID: no
// credential is named (the browser offers the passkeys it holds for us), and
// the ceremony may only be answered on that flow.
func (rp *RP) BeginSignIn(ctx context.Context, st CeremonySaver, flowID string) (Begun, error) {
	assertion, session, err := rp.wa.BeginDiscoverableLogin()
	if err != nil {
		return Begun{}, fmt.Errorf("passkey: %w", err)
	}
	return rp.keep(ctx, st, store.Ceremony{Purpose: store.CeremonySignIn, FlowID: flowID}, assertion.Response, session)
}

func (rp *RP) keep(ctx context.Context, st CeremonySaver, c store.Ceremony, options any, session *webauthn.SessionData) (Begun, error) {
	var err error
	if c.Session, err = json.Marshal(session); err != nil {
		return Begun{}, fmt.Errorf("passkey: %w", err)
	}
	o, err := json.Marshal(options)
	if err != nil {
		return Begun{}, fmt.Errorf("passkey: %w", err)
	}
	id, err := st.SaveCeremony(ctx, c, CeremonyTTL)
	if err != nil {
		return Begun{}, err
	}
	return Begun{Ceremony: id, PublicKey: o}, nil
}

// Assertion is the browser's answer to a sign-in ceremony, parsed.
type Assertion struct {
	// CredentialID names the passkey that signed: its row decides the subject.
	CredentialID []byte
	parsed       *protocol.ParsedCredentialAssertionData
}

// ParseAssertion reads the browser's PublicKeyCredential (JSON); ErrInvalid
// when it is not one.
func ParseAssertion(response []byte) (Assertion, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return Assertion{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return Assertion{CredentialID: parsed.RawID, parsed: parsed}, nil
}

// Verify is what the sign-in transition (store.PasskeySignIn.Verify) runs
// inside its transaction, with the ceremony's session and the passkey the
// credential id named: go-webauthn checks the challenge, the origin, the
// relying party id, the signature with the stored public key, user presence
// and the backup flags; the user handle the authenticator returned must be
// the passkey's subject, so a passkey of one account never signs in another.
// The sign counter is returned for the store to compare with the stored one.
func (rp *RP) Verify(a Assertion) func(session []byte, p store.Passkey) (store.PasskeyUse, error) {
	return func(raw []byte, p store.Passkey) (store.PasskeyUse, error) {
		if a.parsed == nil {
			return store.PasskeyUse{}, ErrInvalid
		}
		var session webauthn.SessionData
		if err := json.Unmarshal(raw, &session); err != nil {
			return store.PasskeyUse{}, fmt.Errorf("passkey: a kept session: %w", err)
		}
		owner := User{Subject: p.Subject, Passkeys: []store.Passkey{p}}
		_, _, err := rp.wa.ValidatePasskeyLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
			if !bytes.Equal(rawID, p.CredentialID) || !bytes.Equal(userHandle, owner.WebAuthnID()) {
				return nil, errors.New("the credential is not the subject's")
			}
			return owner, nil
		}, session, a.parsed)
		if err != nil {
			return store.PasskeyUse{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		data := a.parsed.Response.AuthenticatorData
		return store.PasskeyUse{SignCount: data.Counter, UserVerified: data.Flags.HasUserVerified(), BackupState: data.Flags.HasBackupState()}, nil
	}
}
