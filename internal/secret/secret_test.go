package secret

import (
	"bytes"
	"testing"
)

func TestSealOpenRoundTripAndTamper(t *testing.T) {
	k := NewKeys(bytes.Repeat([]byte{1}, 32))
	sealed, err := k.Seal([]byte("code 123456"), []byte("user-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("123456")) {
		t.Fatal("the plaintext shows through")
	}
	if pt, err := k.Open(sealed, []byte("user-1")); err != nil || string(pt) != "code 123456" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	if _, err := k.Open(sealed, []byte("user-2")); err != ErrOpen {
		t.Error("opened under other associated data")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := k.Open(sealed, []byte("user-1")); err != ErrOpen {
		t.Error("opened a tampered value")
	}
	if _, err := k.Open([]byte("short"), nil); err != ErrOpen {
		t.Error("opened a too-short value")
	}
}

func TestRotation(t *testing.T) {
	old := NewKeys(bytes.Repeat([]byte{1}, 32))
	sealed, _ := old.Seal([]byte("x"), nil)
	rotated := NewKeys(bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{1}, 32))
	if pt, err := rotated.Open(sealed, nil); err != nil || string(pt) != "x" {
		t.Errorf("rotated keys cannot open old data: %v", err)
	}
	if _, err := NewKeys(bytes.Repeat([]byte{2}, 32)).Open(sealed, nil); err == nil {
		t.Error("a foreign key opened the data")
	}
	if bytes.Equal(rotated.Derive("code"), rotated.Derive("seal")) {
		t.Error("two purposes share a key")
	}
}
