//go:build devstack

package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// postWithOrigin posts form as a browser that sends Origin but no
// Sec-Fetch-Site (older browsers do), so cross-origin protection must fall
// back to comparing Origin with Host. It does not follow the redirect.
func postWithOrigin(t *testing.T, b *browser, path, origin string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, testStack.ServiceURL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	req.Header.Set("X-Forwarded-For", b.IP)
	resp, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readAll(t, resp)
}

// Without Sec-Fetch-Site, a POST whose Origin is another site is refused
// before it changes anything; the same POST from our own origin goes through.
func TestCrossOriginFallbackComparesOriginWithHost(t *testing.T) {
	const email = "origin.fallback@example.com"
	addUser(t, testStack, email)
	b := newBrowser(t)
	flow := flowID(t, identifierPage(t, b))
	identify := url.Values{"flow": {flow}, "action": {"continue"}, "method": {"email"}, "email": {email}}
	sends := func() int {
		return queryInt(t, `SELECT count(*) FROM rate_events WHERE (bucket = 'send-ip' AND key = $1) OR (bucket = 'send-email' AND key = $2)`, b.IP, email)
	}
	codes := func() int { return queryInt(t, `SELECT count(*) FROM login_codes WHERE flow_id::text = $1`, flow) }

	for _, foreign := range []string{"https://evil.example", "http://127.0.0.1:1", "null"} {
		status, body := postWithOrigin(t, b, "/login/identify", foreign, identify)
		if status != http.StatusForbidden || !strings.Contains(body, "<html") {
			t.Errorf("Origin %s: %d, want the 403 page", foreign, status)
		}
	}
	if n := codes(); n != 0 {
		t.Errorf("refused posts issued %d codes", n)
	}
	if n := sends(); n != 0 {
		t.Errorf("refused posts recorded %d send events", n)
	}
	if n := queryInt(t, `SELECT count(*) FROM outbox WHERE destination = $1`, email); n != 0 {
		t.Errorf("refused posts queued %d messages", n)
	}

	status, _ := postWithOrigin(t, b, "/login/identify", testStack.ServiceURL, identify)
	if status != http.StatusSeeOther || codes() != 1 || sends() != 2 {
		t.Fatalf("the same post from our own origin: %d, %d codes, %d send events; want 303, 1, 2", status, codes(), sends())
	}

	// The code step: a foreign Origin carrying the right code neither uses
	// it nor counts a try; our own origin then signs in with it.
	code := waitCode(t, testSMTP.inbox, email, 1)
	check := url.Values{"flow": {flow}, "action": {"continue"}, "code": {code}}
	if status, _ := postWithOrigin(t, b, "/login/code", "https://evil.example", check); status != http.StatusForbidden {
		t.Errorf("a cross-origin code post: %d", status)
	}
	if n := queryInt(t, `SELECT count(*) FROM login_codes WHERE flow_id::text = $1 AND (attempts > 0 OR used_at IS NOT NULL)`, flow); n != 0 {
		t.Error("a refused code post touched the code")
	}
	if n := queryInt(t, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND verified_at IS NOT NULL`, flow); n != 0 {
		t.Error("a refused code post verified the flow")
	}
	if status, _ := postWithOrigin(t, b, "/login/code", testStack.ServiceURL, check); status != http.StatusSeeOther {
		t.Errorf("the code from our own origin: %d", status)
	}
	if n := queryInt(t, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND verified_at IS NOT NULL`, flow); n != 1 {
		t.Error("the code from our own origin did not verify the flow")
	}
}
