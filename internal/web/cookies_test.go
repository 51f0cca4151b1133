package web

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
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

func TestTokenCookieIsHostOnlyAndSecureOverHTTPS(t *testing.T) {
	tok := NewToken()
	for _, secure := range []bool{true, false} {
		rec := httptest.NewRecorder()
		SetTokenCookie(rec, "blink_account", tok, time.Hour, secure)
		c, err := http.ParseSetCookie(rec.Header().Get("Set-Cookie"))
		if err != nil {
			t.Fatal(err)
		}
		wantName := "blink_account"
		if secure {
			wantName = "__Host-blink_account"
		}
		if c.Name != wantName || c.Secure != secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" || c.SameSite != http.SameSiteLaxMode || c.MaxAge != 3600 {
			t.Errorf("secure=%v: cookie %+v", secure, c)
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		if got := TokenHash(req, "blink_account", secure); !bytes.Equal(got, tok.Hash) {
			t.Errorf("secure=%v: the cookie does not read back as its hash", secure)
		}
	}
	if len(tok.Value) != 43 || bytes.Equal(tok.Hash, []byte(tok.Value)) {
		t.Errorf("token %q: want 256 random bits, stored only hashed", tok.Value)
	}
}
