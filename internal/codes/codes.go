// Package codes makes and checks the 6-digit one-time sign-in codes. Only a
// keyed HMAC of a code is ever stored.
package codes

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math/big"
	"strings"
)

// Length is the number of digits in a code.
const Length = 6

// Generate returns a fresh code of Length decimal digits from crypto/rand.
func Generate() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", fmt.Errorf("codes: %w", err)
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// Normalize accepts what a person types (spaces, dashes, full-width digits are
// not digits) and returns the code and whether it has the right form.
func Normalize(input string) (string, bool) {
	s := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, input)
	if len(s) != Length {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	return s, true
}

// MAC binds a code to one flow and one identity under key.
func MAC(key []byte, flowID, identifier, code string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(flowID))
	m.Write([]byte{0})
	m.Write([]byte(identifier))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return m.Sum(nil)
}

// Match reports, in constant time per key, whether code is the one whose MAC
// was stored, under any of the accepted keys (so SECRET_KEY can rotate).
func Match(keys [][]byte, flowID, identifier, code string, stored []byte) bool {
	ok := false
	for _, k := range keys {
		if hmac.Equal(MAC(k, flowID, identifier, code), stored) {
			ok = true
		}
	}
	return ok
}
