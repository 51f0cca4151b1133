// Package totp checks codes from authenticator apps (RFC 6238: SHA1, 6 digits,
// 30 s), with at most one time step of drift and the matched step returned so
// the caller can refuse replays.
package totp

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/blinkbitcoin/blink-consent/internal/codes"
)

// The parameters every Blink credential uses.
const (
	Issuer      = "Blink"
	Period      = 30
	SecretBytes = 20
	// MinImportBytes is the shortest secret accepted from another system:
	// RFC 4226 (R6) requires at least 128 bits. New secrets are SecretBytes long.
	MinImportBytes = 16
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns SecretBytes random bytes.
func NewSecret() ([]byte, error) {
	s := make([]byte, SecretBytes)
	if _, err := rand.Read(s); err != nil {
		return nil, fmt.Errorf("totp: %w", err)
	}
	return s, nil
}

// Base32 is the secret as authenticator apps show it.
func Base32(secret []byte) string { return b32.EncodeToString(secret) }

// URI is the otpauth:// URI an app scans.
func URI(secret []byte, account string) string {
	v := url.Values{}
	v.Set("secret", Base32(secret))
	v.Set("issuer", Issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", "30")
	return "otpauth://totp/" + url.PathEscape(Issuer+":"+account) + "?" + v.Encode()
}

// ErrSecret means an imported secret or URI is unusable.
var ErrSecret = errors.New("totp: not a usable TOTP secret (base32, at least 128 bits, SHA1, 6 digits, 30 s)")

// ParseSecret reads a base32 secret as apps print it (spaces, lower case, padding allowed).
func ParseSecret(s string) ([]byte, error) {
	s = strings.ToUpper(strings.Join(strings.Fields(s), ""))
	s = strings.TrimRight(s, "=")
	secret, err := b32.DecodeString(s)
	if err != nil || len(secret) == 0 {
		return nil, ErrSecret
	}
	if len(secret) < MinImportBytes {
		return nil, fmt.Errorf("%w: this secret has only %d bits; RFC 4226 requires at least 128 (%d base32 characters). "+
			"Enrol the user again with `users totp enroll` instead", ErrSecret, len(secret)*8, b32.EncodedLen(MinImportBytes))
	}
	return secret, nil
}

// ParseURI reads an otpauth://totp/… URI, refusing parameters Blink does not use.
func ParseURI(uri string) ([]byte, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
		return nil, ErrSecret
	}
	q := u.Query()
	if a := q.Get("algorithm"); a != "" && !strings.EqualFold(a, "SHA1") {
		return nil, ErrSecret
	}
	if d := q.Get("digits"); d != "" && d != "6" {
		return nil, ErrSecret
	}
	if p := q.Get("period"); p != "" && p != "30" {
		return nil, ErrSecret
	}
	return ParseSecret(q.Get("secret"))
}

// Step is the RFC 6238 time step of t.
func Step(t time.Time) int64 { return t.Unix() / Period }

// Match checks input against the steps now-1, now and now+1 and returns the
// step that matched. Input that is not exactly six digits is refused before
// any cryptography. Every candidate is compared in constant time.
func Match(secret []byte, input string, now time.Time) (step int64, ok bool) {
	code, wellFormed := codes.Normalize(input)
	if !wellFormed || len(secret) == 0 {
		return 0, false
	}
	key := Base32(secret)
	current := Step(now)
	for _, s := range []int64{current - 1, current, current + 1} {
		want, err := totp.GenerateCodeCustom(key, time.Unix(s*Period, 0), totp.ValidateOpts{
			Period: Period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
		})
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			step, ok = s, true
		}
	}
	return step, ok
}

// Code returns the code for t (for tests and the enrolment check).
func Code(secret []byte, t time.Time) string {
	c, _ := totp.GenerateCodeCustom(Base32(secret), t, totp.ValidateOpts{Period: Period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	return c
}
