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
