package codes

import (
	"bytes"
	"testing"
)

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		c, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := Normalize(c); !ok {
			t.Fatalf("Generate made %q", c)
		}
		seen[c] = true
	}
	if len(seen) < 1990 {
		t.Errorf("only %d distinct codes in 2000", len(seen))
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{"123456": "123456", " 123 456 ": "123456", "123-456": "123456"} {
		if got, ok := Normalize(in); !ok || got != want {
			t.Errorf("Normalize(%q) = %q, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "12345", "1234567", "12345a", "１２３４５６", "12 34 5", "+12345"} {
		if _, ok := Normalize(in); ok {
			t.Errorf("Normalize(%q) accepted", in)
		}
	}
}

func TestMACBindsFlowIdentityAndKey(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	stored := MAC(k1, "flow-1", "a@b.c", "123456")
	if !Match([][]byte{k1}, "flow-1", "a@b.c", "123456", stored) {
		t.Fatal("the right code did not match")
	}
	if !Match([][]byte{k2, k1}, "flow-1", "a@b.c", "123456", stored) {
		t.Error("a previous key is not accepted")
	}
	for name, ok := range map[string]bool{
		"other code":     Match([][]byte{k1}, "flow-1", "a@b.c", "123457", stored),
		"other flow":     Match([][]byte{k1}, "flow-2", "a@b.c", "123456", stored),
		"other identity": Match([][]byte{k1}, "flow-1", "x@b.c", "123456", stored),
		"other key":      Match([][]byte{k2}, "flow-1", "a@b.c", "123456", stored),
	} {
		if ok {
			t.Errorf("%s matched", name)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"123456", " 12 34 56", "abcdef", "", "１２３"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, ok := Normalize(in)
		if !ok {
			return
		}
		if len(out) != Length {
			t.Fatalf("Normalize(%q) = %q", in, out)
		}
		for i := 0; i < len(out); i++ {
			if out[i] < '0' || out[i] > '9' {
				t.Fatalf("Normalize(%q) = %q has a non-digit", in, out)
			}
		}
	})
}
