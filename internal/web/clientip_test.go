package web

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		remote, xff, want string
	}{
		{"203.0.113.7:5555", "", "203.0.113.7"},
		{"203.0.113.7:5555", "1.2.3.4", "203.0.113.7"},              // an untrusted peer cannot claim another address
		{"10.1.2.3:5555", "198.51.100.9", "198.51.100.9"},           // our proxy says who it is
		{"10.1.2.3:5555", "1.2.3.4, 198.51.100.9", "198.51.100.9"},  // the client put 1.2.3.4 there itself
		{"10.1.2.3:5555", "198.51.100.9, 10.9.9.9", "198.51.100.9"}, // two hops of our own proxies
		{"10.1.2.3:5555", "garbage", "10.1.2.3"},
		{"[::ffff:203.0.113.7]:1", "", "203.0.113.7"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := ClientIP(r, trusted); got != tc.want {
			t.Errorf("ClientIP(%s, %q) = %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

func TestLimitKey(t *testing.T) {
	for _, tc := range []struct{ ip, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"}, // IPv4-mapped: the IPv4 address
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"}, // the same /64
		{"2001:DB8:1:2:a:b:c:d", "2001:db8:1:2::/64"},             // however it is written
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},                  // the next /64 is another key
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
		{"not an address", "not an address"},
	} {
		if got := LimitKey(tc.ip); got != tc.want {
			t.Errorf("LimitKey(%q) = %q, want %q", tc.ip, got, tc.want)
		}
	}
}

// The addresses ClientIP returns are keyed as LimitKey says, whatever
// X-Forwarded-For wrote.
func TestClientIPLimitKeyThroughAProxy(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	keys := map[string]bool{}
	for _, xff := range []string{"2001:db8:5:6::1", "2001:db8:5:6:1234::9", "2001:db8:5:6:ffff::"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.0.0.1:4444"
		r.Header.Set("X-Forwarded-For", xff)
		keys[LimitKey(ClientIP(r, trusted))] = true
	}
	if len(keys) != 1 || !keys["2001:db8:5:6::/64"] {
		t.Errorf("keys %v, want only 2001:db8:5:6::/64", keys)
	}
}
