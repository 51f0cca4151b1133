// Package secret derives purpose-bound keys from SECRET_KEY and seals data at rest.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// Keys holds the current master key and any previous ones still accepted while
// a rotation is under way. New values are always made with the current key.
type Keys struct {
	current  []byte
	previous [][]byte
}

// NewKeys returns Keys for the current master key and the previous ones.
func NewKeys(current []byte, previous ...[]byte) Keys {
	return Keys{current: current, previous: previous}
}

// Derive returns the current key for one purpose ("code", "seal", …): an HMAC
// of the purpose under the master key, so no two purposes share a key.
func (k Keys) Derive(purpose string) []byte { return derive(k.current, purpose) }

// DeriveAll returns the key for purpose under every accepted master key, current first.
func (k Keys) DeriveAll(purpose string) [][]byte {
	out := [][]byte{derive(k.current, purpose)}
	for _, p := range k.previous {
		out = append(out, derive(p, purpose))
	}
	return out
}

func derive(master []byte, purpose string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("blink-consent/v1/" + purpose))
	return m.Sum(nil)
}

// ErrOpen means sealed data could not be opened: tampered, or under an unknown key.
var ErrOpen = errors.New("secret: unable to open sealed data")

// Seal encrypts plaintext with AES-256-GCM under the current "seal" key, bound
// to associated data ad (for example a user id), as nonce || ciphertext.
func (k Keys) Seal(plaintext, ad []byte) ([]byte, error) {
	aead, err := newAEAD(k.Derive("seal"))
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plaintext, ad), nil
}

// Open decrypts what Seal made, trying every accepted key.
func (k Keys) Open(sealed, ad []byte) ([]byte, error) {
	for _, key := range k.DeriveAll("seal") {
		aead, err := newAEAD(key)
		if err != nil {
			return nil, err
		}
		if len(sealed) < aead.NonceSize() {
			return nil, ErrOpen
		}
		if pt, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], ad); err == nil {
			return pt, nil
		}
	}
	return nil, ErrOpen
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
