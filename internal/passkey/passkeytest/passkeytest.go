// Package passkeytest is a software authenticator for tests: it answers the
// options internal/passkey gives the browser with real WebAuthn responses
// (ES256 signatures over real authenticator data and client data), through
// github.com/descope/virtualwebauthn. Nothing in go-webauthn is mocked: the
// responses are checked by the same code that checks a browser's.
package passkeytest

import (
	"github.com/descope/virtualwebauthn"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"github.com/blinkbitcoin/blink-consent/internal/passkey"
)

// Authenticator holds one passkey, as a phone or a security key would.
type Authenticator struct {
	// Origin is the origin the "browser" puts in the client data, RPID the
	// relying party id whose hash goes in the authenticator data.
	Origin, RPID string
	auth         virtualwebauthn.Authenticator
	cred         virtualwebauthn.Credential
	synced       bool
}

// Options say what kind of authenticator it is.
type Options struct {
	// NoUserVerification: the user is only present (no PIN, no biometrics).
	NoUserVerification bool
	// Synced: a passkey that may be backed up (backup eligible and backed
	// up), as iCloud Keychain or Google Password Manager make; otherwise a
	// device-bound one, as a security key holds.
	Synced bool
}

// New is an authenticator for the relying party at origin (an origin such
// as "http://localhost:3000", whose host is the relying party id).
func New(origin, rpID string, o Options) *Authenticator {
	a := &Authenticator{Origin: origin, RPID: rpID, synced: o.Synced}
	a.auth = virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{
		UserNotVerified: o.NoUserVerification, BackupEligible: o.Synced, BackupState: o.Synced,
	})
	// virtualwebauthn writes a P-256 coordinate without its leading zero
	// bytes (big.Int.Bytes), so about one key in 64 is a 31-byte coordinate
	// that a real authenticator never sends and go-webauthn rightly refuses:
	// draw again until the key is well formed.
	for {
		a.cred = virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2)
		if _, err := webauthncose.ParsePublicKey(a.cred.Key.AttestationData()); err == nil {
			return a
		}
	}
}

// CredentialID is the id of the passkey it holds.
func (a *Authenticator) CredentialID() []byte { return a.cred.ID }

// Register answers registration options (Begun.PublicKey) for subject,
// keeping the subject's user handle for the sign-ins to come, and returns the
// PublicKeyCredential as JSON. It panics on options that are not JSON.
func (a *Authenticator) Register(options []byte, subject string) []byte {
	o, err := virtualwebauthn.ParseAttestationOptions(string(options))
	if err != nil {
		panic("passkeytest: registration options: " + err.Error())
	}
	a.auth.Options.UserHandle = passkey.UserHandle(subject)
	return []byte(virtualwebauthn.CreateAttestationResponse(a.rp(), a.auth, a.cred, *o))
}

// SignIn answers sign-in options (Begun.PublicKey) and returns the
// PublicKeyCredential as JSON. A device-bound passkey's counter goes up by
// one first, as a security key's does; a synced one's stays 0, as the big
// platforms' do.
func (a *Authenticator) SignIn(options []byte) []byte {
	o, err := virtualwebauthn.ParseAssertionOptions(string(options))
	if err != nil {
		panic("passkeytest: sign-in options: " + err.Error())
	}
	if !a.synced {
		a.cred.Counter++
	}
	return []byte(virtualwebauthn.CreateAssertionResponse(a.rp(), a.auth, a.cred, *o))
}

// SetCounter sets the counter the next SignIn starts from (it adds one):
// SetCounter(0) after a few sign-ins makes a counter that goes backwards.
func (a *Authenticator) SetCounter(n uint32) { a.cred.Counter = n }

// SetUserHandle makes the next answers claim the user handle of subject
// (another account's, to test ownership).
func (a *Authenticator) SetUserHandle(subject string) {
	a.auth.Options.UserHandle = passkey.UserHandle(subject)
}

func (a *Authenticator) rp() virtualwebauthn.RelyingParty {
	return virtualwebauthn.RelyingParty{ID: a.RPID, Name: "Blink", Origin: a.Origin}
}
