//go:build devstack

package main

import (
	"html"
	"net/url"
	"regexp"
	"testing"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/passkey/passkeytest"
)

var (
	pageCeremony = regexp.MustCompile(`name="ceremony" value="([^"]*)"`)
	pageOptions  = regexp.MustCompile(`data-options="([^"]*)"`)
)

// On the real stack (PostgreSQL, Hydra): Ana adds a passkey on /account
// with a software authenticator's real answer; Bob, signed in to his own
// account page, can neither rename nor remove it, nor answer Ana's
// ceremony — her row, the audit trail and the outbox stay as they were;
// then Ana renames and removes it.
func TestAccountPasskeysOfAnotherPersonOnTheRealStack(t *testing.T) {
	st := passkeyStack(t)
	const anaEmail, bobEmail = "account.passkeys.ana@example.com", "account.passkeys.bob@example.com"
	ana, bob := addUser(t, st, anaEmail), addUser(t, st, bobEmail)
	count := func(query string, args ...any) int { t.Helper(); return queryIntOn(t, st, query, args...) }
	passkeys := func(subject string) int {
		return count(`SELECT count(*) FROM passkeys WHERE subject::text = $1`, subject)
	}
	audits := func() int {
		return count(`SELECT count(*) FROM audit_events WHERE user_id::text IN ($1, $2) AND action LIKE 'passkey %'`, ana, bob)
	}
	outbox := func() int { return count(`SELECT count(*) FROM outbox`) }

	addPage := func(b *browser) (string, []byte) {
		t.Helper()
		page := b.Get(st.ServiceURL + "/account/passkeys/add").Last()
		c, o := pageCeremony.FindStringSubmatch(page.Body), pageOptions.FindStringSubmatch(page.Body)
		if page.URL.Path != "/account/passkeys/add" || c == nil || o == nil {
			t.Fatalf("the add page: %s %d", page.URL.Path, page.Status)
		}
		return c[1], []byte(html.UnescapeString(o[1]))
	}

	a := newBrowser(t)
	accountSignIn(t, st, a, ana)
	ceremony, options := addPage(a)
	auth := passkeytest.New(st.ServiceURL, "localhost", passkeytest.Options{})
	j := a.Post(st.ServiceURL+"/account/passkeys", url.Values{"action": {"create"}, "ceremony": {ceremony},
		"credential": {string(auth.Register(options, ana))}, "name": {"Ana's phone"}})
	if last := j.Last(); last.URL.Path != "/account" || last.URL.Query().Get("done") != "passkey_added" {
		t.Fatalf("adding ended on %s?%s %d", last.URL.Path, last.URL.RawQuery, last.Status)
	}
	if n := count(`SELECT count(*) FROM passkeys WHERE subject::text = $1 AND name = 'Ana''s phone' AND credential_id = $2`, ana, auth.CredentialID()); n != 1 {
		t.Fatalf("%d passkeys of Ana's with the authenticator's credential", n)
	}
	if n := count(`SELECT count(*) FROM audit_events WHERE user_id::text = $1 AND action = 'passkey added' AND method = 'account' AND details->>'name' = 'Ana''s phone'`, ana); n != 1 {
		t.Errorf("%d 'passkey added' audit rows", n)
	}
	waitNotice(t, anaEmail, i18n.English.T("notify.passkey.added"))
	var id string
	if err := connect(t, st.DatabaseURL).QueryRow(t.Context(), `SELECT id::text FROM passkeys WHERE subject::text = $1`, ana).Scan(&id); err != nil {
		t.Fatal(err)
	}

	// Bob, signed in to his own account page.
	b := newBrowser(t)
	accountSignIn(t, st, b, bob)
	beforeAudits, beforeOutbox := audits(), outbox()
	for _, form := range []url.Values{
		{"action": {"rename"}, "id": {id}, "name": {"Bob's now"}},
		{"action": {"remove"}, "id": {id}},
	} {
		if last := b.Post(st.ServiceURL+"/account/passkeys", form).Last(); last.URL.Query().Get("done") != "passkey_gone" {
			t.Errorf("Bob's %s of Ana's passkey ended on %s?%s", form.Get("action"), last.URL.Path, last.URL.RawQuery)
		}
	}
	if last := b.Get(st.ServiceURL + "/account/passkeys/remove?id=" + id).Last(); last.URL.Query().Get("done") != "passkey_gone" {
		t.Errorf("Bob's confirmation page for Ana's passkey: %s?%s", last.URL.Path, last.URL.RawQuery)
	}
	// Ana's next ceremony, answered from Bob's session.
	ceremony, options = addPage(a)
	b.Post(st.ServiceURL+"/account/passkeys", url.Values{"action": {"create"}, "ceremony": {ceremony},
		"credential": {string(passkeytest.New(st.ServiceURL, "localhost", passkeytest.Options{}).Register(options, ana))}, "name": {"x"}})
	if n := count(`SELECT count(*) FROM passkeys WHERE id::text = $1 AND subject::text = $2 AND name = 'Ana''s phone'`, id, ana); n != 1 || passkeys(ana) != 1 || passkeys(bob) != 0 {
		t.Errorf("after Bob: Ana's passkey as it was %d, Ana has %d, Bob %d", n, passkeys(ana), passkeys(bob))
	}
	if audits() != beforeAudits || outbox() != beforeOutbox {
		t.Errorf("Bob's attempts wrote %d audit rows and %d outbox rows", audits()-beforeAudits, outbox()-beforeOutbox)
	}

	// Ana renames and removes her own.
	a.Post(st.ServiceURL+"/account/passkeys", url.Values{"action": {"rename"}, "id": {id}, "name": {"Pixel"}})
	if n := count(`SELECT count(*) FROM passkeys WHERE id::text = $1 AND name = 'Pixel'`, id); n != 1 {
		t.Error("Ana's rename did not take")
	}
	if last := a.Post(st.ServiceURL+"/account/passkeys", url.Values{"action": {"remove"}, "id": {id}}).Last(); last.URL.Query().Get("done") != "passkey_removed" || passkeys(ana) != 0 {
		t.Errorf("Ana's remove ended on %s?%s, %d passkeys left", last.URL.Path, last.URL.RawQuery, passkeys(ana))
	}
	if n := count(`SELECT count(*) FROM audit_events WHERE user_id::text = $1 AND action IN ('passkey renamed', 'passkey removed')`, ana); n != 2 {
		t.Errorf("%d rename and remove audit rows", n)
	}
	waitNotice(t, anaEmail, i18n.English.T("notify.passkey.removed"))
}
