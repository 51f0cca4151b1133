package challenges

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func FuzzChallenge(f *testing.F) {
	for _, s := range []string{"abc", "", "a b", "<script>", strings.Repeat("x", 9000), "ory_lc_abc.DEF-123_=~"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := httptest.NewRequest("GET", "/login?login_challenge="+url.QueryEscape(s), nil)
		got, present, malformed := Parse(r, "login_challenge")
		if !present && s != "" {
			t.Fatalf("a given challenge %q was not seen", s)
		}
		if present && !malformed {
			if got != s || len(got) > 8192 || strings.ContainsAny(got, " <>\"'&/\\\r\n") {
				t.Fatalf("Parse accepted %q as %q", s, got)
			}
		}
	})
}
