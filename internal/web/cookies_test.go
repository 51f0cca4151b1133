package web

import (
	"strings"
	"testing"
)

func TestMaskIPKeepsTheNetworkOnly(t *testing.T) {
	tests := map[string]string{
		"203.0.113.77":            "203.0.113.x",
		"::ffff:198.51.100.9":     "198.51.100.x",
		"2001:db8:85a3:1:2:3:4:5": "2001:db8:85a3:…",
		"2001:0db8:0000:0042::1":  "2001:db8:0:…",
		"not an address":          "",
		"":                        "",
	}
	for in, want := range tests {
		got := MaskIP(in)
		if got != want {
			t.Errorf("MaskIP(%q) = %q, want %q", in, got, want)
		}
		if in != "" && got != "" && strings.Contains(got, in) {
			t.Errorf("MaskIP(%q) = %q shows the whole address", in, got)
		}
	}
}
