package corestandin

import (
	"testing"
)

// The stand-in gives every answer of the conformance table exactly as core
// does (the client's side of the table runs in identity/blinkcore).
func TestStandinConformsToCore(t *testing.T) {
	for _, c := range Conformance() {
		t.Run(c.Name, func(t *testing.T) {
			s := start(t)
			var values map[string]string
			if c.Setup != nil {
				values = c.Setup(s)
			}
			var header []string
			for k, v := range c.Header {
				header = append(header, k, Expand(v, values))
			}
			r := post(t, s.URL()+c.Route, c.IP, Expand(c.Body, values), header...)
			if r.status != c.Status || !c.Matches(r.body, values) {
				t.Fatalf("got %d %s\nwant %d %s", r.status, r.body, c.Status, Expand(c.Answer, values))
			}
		})
	}
}
