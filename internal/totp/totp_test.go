package totp

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/secret"
)

// RFC 6238 appendix B: the SHA1 secret "12345678901234567890" at 59 s gives
// 94287082 (8 digits); the 6-digit code is its last six digits.
func TestRFC6238Vector(t *testing.T) {
	s := []byte("12345678901234567890")
	if got := Code(s, time.Unix(59, 0)); got != "287082" {
		t.Errorf("Code at 59 s = %s, want 287082", got)
	}
	if got := Code(s, time.Unix(1111111109, 0)); got != "081804" {
		t.Errorf("Code at 1111111109 = %s, want 081804", got)
	}
}

func TestDriftWindow(t *testing.T) {
	s, _ := NewSecret()
	now := time.Unix(1_800_000_000, 0) // a step boundary
	for drift, want := range map[int]bool{-2: false, -1: true, 0: true, 1: true, 2: false} {
		code := Code(s, now.Add(time.Duration(drift*Period)*time.Second))
		step, ok := Match(s, code, now)
		if ok != want {
			t.Errorf("drift %+d steps: ok=%v, want %v", drift, ok, want)
		}
		if ok && step != Step(now)+int64(drift) {
			t.Errorf("drift %+d: matched step %d", drift, step)
		}
	}
}

func TestMalformedInputRefusedBeforeCrypto(t *testing.T) {
	s, _ := NewSecret()
	for _, in := range []string{"", "12345", "1234567", "12a456", "１２３４５６", "      "} {
		if _, ok := Match(s, in, time.Now()); ok {
			t.Errorf("Match(%q) accepted", in)
		}
	}
	if _, ok := Match(nil, "123456", time.Now()); ok {
		t.Error("an empty secret matched")
	}
}

func TestURIAndImport(t *testing.T) {
	s, _ := NewSecret()
	if len(s) < 20 {
		t.Fatalf("secret of %d bytes", len(s))
	}
	uri := URI(s, "maria@example.com")
	if !strings.HasPrefix(uri, "otpauth://totp/Blink:maria@example.com?") || !strings.Contains(uri, "issuer=Blink") || !strings.Contains(uri, "algorithm=SHA1") {
		t.Errorf("URI %s", uri)
	}
	back, err := ParseURI(uri)
	if err != nil || !bytes.Equal(back, s) {
		t.Errorf("ParseURI round trip: %v", err)
	}
	spaced := strings.ToLower(Base32(s)[:4] + " " + Base32(s)[4:])
	if back, err := ParseSecret(spaced); err != nil || !bytes.Equal(back, s) {
		t.Errorf("ParseSecret(%q): %v", spaced, err)
	}
	for _, bad := range []string{"otpauth://hotp/x?secret=" + Base32(s), "otpauth://totp/x?secret=" + Base32(s) + "&digits=8",
		"otpauth://totp/x?secret=" + Base32(s) + "&algorithm=SHA256", "otpauth://totp/x?secret=ABCD", "https://x"} {
		if _, err := ParseURI(bad); err == nil {
			t.Errorf("ParseURI(%q) accepted", bad)
		}
	}
}

// RFC 4226 (R6): a shared secret has at least 128 bits; 80-bit secrets are refused.
func TestImportedSecretsHaveAtLeast128Bits(t *testing.T) {
	for _, n := range []int{10, 15} {
		short := Base32(bytes.Repeat([]byte{0xa5}, n))
		_, err := ParseSecret(short)
		if !errors.Is(err, ErrSecret) || !strings.Contains(err.Error(), "128") || !strings.Contains(err.Error(), fmt.Sprintf("only %d bits", n*8)) {
			t.Errorf("a %d-byte secret: %v", n, err)
		}
		if _, err := ParseURI("otpauth://totp/Blink:x?secret=" + short); !errors.Is(err, ErrSecret) {
			t.Errorf("a URI with a %d-byte secret: %v", n, err)
		}
	}
	ok := bytes.Repeat([]byte{0xa5}, 16)
	if s, err := ParseSecret(Base32(ok)); err != nil || !bytes.Equal(s, ok) {
		t.Errorf("a 16-byte secret: %v", err)
	}
}

// Secrets are stored sealed with the user id as associated data.
func TestSealedSecretIsBoundToTheUser(t *testing.T) {
	keys := secret.NewKeys(bytes.Repeat([]byte{7}, 32))
	s, _ := NewSecret()
	sealed, err := keys.Seal(s, []byte("user-1"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := keys.Open(sealed, []byte("user-1")); err != nil || !bytes.Equal(got, s) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := keys.Open(sealed, []byte("user-2")); err == nil {
		t.Error("another user's id opened the secret")
	}
	sealed[5] ^= 0xff
	if _, err := keys.Open(sealed, []byte("user-1")); err == nil {
		t.Error("a tampered secret opened")
	}
}

func FuzzParseURI(f *testing.F) {
	f.Add("otpauth://totp/Blink:x?secret=JBSWY3DPEHPK3PXP&issuer=Blink")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseURI(in)
		if err == nil && len(s) < MinImportBytes {
			t.Fatalf("ParseURI(%q) gave a %d-byte secret", in, len(s))
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	s, _ := NewSecret()
	now := time.Now()
	code := Code(s, now)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Match(s, code, now); !ok {
			b.Fatal("no match")
		}
	}
}
