//go:build devstack

package main

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"
)

var flowPattern = regexp.MustCompile(`name="flow" value="([0-9a-f-]{36})"`)

// flowID reads the sign-in flow's id from a sign-in page.
func flowID(t testing.TB, page hop) string {
	t.Helper()
	m := flowPattern.FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no flow on the page %s (%d):\n%s", page.URL.Path, page.Status, excerpt(page.Body))
	}
	return m[1]
}

// requestCode submits the identifier page with fields and returns the journey
// (normally ending on the code page).
func requestCode(t testing.TB, b *browser, page hop, fields url.Values) journey {
	t.Helper()
	form := url.Values{"flow": {flowID(t, page)}, "action": {"continue"}}
	for k, v := range fields {
		form[k] = v
	}
	return b.Post(testStack.ServiceURL+"/login/identify", form)
}

// codeForm is the code page's form with code typed in.
func codeForm(page hop, code string) url.Values {
	m := flowPattern.FindStringSubmatch(page.Body)
	id := ""
	if m != nil {
		id = m[1]
	}
	return url.Values{"flow": {id}, "code": {code}, "action": {"continue"}}
}

// waitCode waits for the n-th message carrying a code to to (other messages,
// such as notifications, are passed over) and returns its code.
func waitCode(t testing.TB, in *inbox, to string, n int) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var found []string
		for _, m := range in.all(to) {
			if c := codeIn(m.Text); c != "" {
				found = append(found, c)
			}
		}
		if len(found) >= n {
			return found[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no code message #%d to %s within 15s (%d messages)", n, to, len(in.all(to)))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// codeCount is how many code messages to has had.
func codeCount(in *inbox, to string) int {
	n := 0
	for _, m := range in.all(to) {
		if codeIn(m.Text) != "" {
			n++
		}
	}
	return n
}

// emailSignIn signs in from the identifier page with the code mailed to email.
func emailSignIn(t testing.TB, b *browser, page hop, email string) journey {
	t.Helper()
	before := codeCount(testSMTP.inbox, email)
	codePage := requestCode(t, b, page, url.Values{"method": {"email"}, "email": {email}, "remember": {"true"}}).Last()
	if codePage.URL.Path != "/login/code" || codePage.Status != http.StatusOK {
		t.Fatalf("asking for a code ended on %s %d:\n%s", codePage.URL.Path, codePage.Status, excerpt(codePage.Body))
	}
	return b.Post(testStack.ServiceURL+"/login/code", codeForm(codePage, waitCode(t, testSMTP.inbox, email, before+1)))
}
