package account

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/passkey"
	"github.com/blinkbitcoin/blink-consent/internal/passkey/passkeytest"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// Subjects are UUIDs: a passkey's user handle is the subject's 16 bytes.
const (
	anaID = "0b9e2a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
	bobID = "11111111-2222-4333-8444-555555555555"
)

// passkeyEnv is a page with passkeys on (the real relying party at
// testPublicURL), ana and bob in the users table, and ana signed in at
// authTime.
func passkeyEnv(t *testing.T, authTime time.Time) (*env, *browser) {
	t.Helper()
	e := newEnv(t)
	u, _ := url.Parse(testPublicURL)
	rp, err := passkey.New(u, "Blink")
	if err != nil {
		t.Fatal(err)
	}
	e.deps.Passkeys = rp
	e.store.users[anaID] = store.User{ID: anaID, Email: "ana@example.com"}
	e.store.users[bobID] = store.User{ID: bobID, Phone: "+50370000000"}
	b := e.browser("203.0.113.7")
	b.signIn(anaID, "sid-ana", authTime)
	return e, b
}

// authenticator is a phone's passkey for this service.
func authenticator() *passkeytest.Authenticator {
	return passkeytest.New(testPublicURL, "login.blink.test", passkeytest.Options{})
}

var (
	ceremonyField = regexp.MustCompile(`name="ceremony" value="([^"]*)"`)
	optionsAttr   = regexp.MustCompile(`data-options="([^"]*)"`)
)

// addPage opens the add page and returns its ceremony and options.
func addPage(t *testing.T, b *browser) (ceremony string, options []byte) {
	t.Helper()
	w := b.get(passkeyAddURL)
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", passkeyAddURL, w.Code, w.Body)
	}
	c, o := ceremonyField.FindStringSubmatch(w.Body.String()), optionsAttr.FindStringSubmatch(w.Body.String())
	if c == nil || o == nil {
		t.Fatalf("the add page has no ceremony or options\n%s", w.Body)
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Error("the add page (a challenge) may be cached")
	}
	return c[1], []byte(html.UnescapeString(o[1]))
}

func TestAddingAPasskeyWithARealAuthenticator(t *testing.T) {
	e, b := passkeyEnv(t, time.Now())
	b.lang = i18n.Spanish
	w := b.get("/account")
	if !strings.Contains(text(w), i18n.Spanish.T("account.passkeys.none")) || !strings.Contains(w.Body.String(), `href="/account/passkeys/add"`) {
		t.Fatalf("the section without passkeys\n%s", text(w))
	}
	b.lang = ""
	ceremony, options := addPage(t, b)
	auth := authenticator()
	answer := auth.Register(options, anaID)
	form := url.Values{"action": {"create"}, "ceremony": {ceremony}, "credential": {string(answer)}, "name": {"  My phone "}}
	w = b.post(passkeysAction, form)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/account?done=passkey_added" {
		t.Fatalf("create: %d to %q\n%s", w.Code, w.Header().Get("Location"), w.Body)
	}
	rows := e.store.of(anaID)
	if len(rows) != 1 || rows[0].Name != "My phone" || string(rows[0].CredentialID) != string(auth.CredentialID()) || !rows[0].UserVerified {
		t.Fatalf("after create ana has %+v", rows)
	}
	a := e.store.fakePasskeys.audits
	if len(a) != 1 || a[0].Action != store.ActionPasskeyAdded || a[0].UserID != anaID || a[0].Method != "account" || a[0].IP != "203.0.113.7" || a[0].Actor != "user" {
		t.Errorf("audit %+v", a)
	}
	if n := e.store.fakePasskeys.notices; len(n) != 1 || n[0].Channel != "email" || n[0].Destination != "ana@example.com" {
		t.Errorf("notices %+v", n)
	}
	// The activity says it, and names a passkey sign-in's method.
	e.store.events[anaID] = []store.AuditEvent{
		{At: time.Now(), UserID: anaID, Action: store.ActionSignInSucceeded, Method: "passkey", ClientID: "app"},
		{At: time.Now(), UserID: anaID, Action: store.ActionPasskeyAdded, Method: "account"},
	}
	w = b.get("/account?done=passkey_added")
	if !says(w, "account.done.passkey_added") || !strings.Contains(text(w), "My phone") || !says(w, "account.passkeys.never_used") ||
		!says(w, "account.activity.passkey_added") || !says(w, "account.method.passkey") {
		t.Errorf("the page after adding\n%s", text(w))
	}

	// The same answer again: its ceremony is spent; nothing is added, a new
	// ceremony is offered with the message.
	w = b.post(passkeysAction, form)
	if w.Code != http.StatusUnprocessableEntity || !says(w, "account.passkeys.error.expired") || len(e.store.of(anaID)) != 1 {
		t.Errorf("a replayed answer: %d, ana has %d passkeys", w.Code, len(e.store.of(anaID)))
	}
	if len(e.store.fakePasskeys.audits) != 1 || len(e.store.fakePasskeys.notices) != 1 {
		t.Error("a replayed answer was audited or notified")
	}

	// A second signed-in person, bob, answers ana's ceremony with his own
	// browser: bound to ana's session, it is refused.
	ceremony, options = addPage(t, b)
	bob := e.browser("198.51.100.9")
	bob.signIn(bobID, "sid-bob", time.Now())
	w = bob.post(passkeysAction, url.Values{"action": {"create"}, "ceremony": {ceremony}, "credential": {string(authenticator().Register(options, bobID))}, "name": {"Bob's"}})
	if w.Code != http.StatusUnprocessableEntity || len(e.store.of(bobID)) != 0 || len(e.store.of(anaID)) != 1 {
		t.Errorf("bob answering ana's ceremony: %d, bob has %d, ana %d", w.Code, len(e.store.of(bobID)), len(e.store.of(anaID)))
	}

	// An answer for another relying party (a phishing origin) is refused.
	phish := passkeytest.New("https://login.blink.test.evil.example", "login.blink.test.evil.example", passkeytest.Options{})
	ceremony, options = addPage(t, b)
	w = b.post(passkeysAction, url.Values{"action": {"create"}, "ceremony": {ceremony}, "credential": {string(phish.Register(options, anaID))}, "name": {"x"}})
	if w.Code != http.StatusUnprocessableEntity || !says(w, "account.passkeys.error.refused") || len(e.store.of(anaID)) != 1 {
		t.Errorf("another origin's answer: %d, ana has %d passkeys", w.Code, len(e.store.of(anaID)))
	}

	// The same authenticator's passkey a second time.
	ceremony, options = addPage(t, b)
	w = b.post(passkeysAction, url.Values{"action": {"create"}, "ceremony": {ceremony}, "credential": {string(auth.Register(options, anaID))}, "name": {"again"}})
	if w.Code != http.StatusUnprocessableEntity || !says(w, "account.passkeys.error.exists") || len(e.store.of(anaID)) != 1 {
		t.Errorf("the same credential again: %d, ana has %d passkeys", w.Code, len(e.store.of(anaID)))
	}

	// A name that is not one.
	ceremony, _ = addPage(t, b)
	w = b.post(passkeysAction, url.Values{"action": {"create"}, "ceremony": {ceremony}, "credential": {"{}"}, "name": {"   "}})
	if w.Code != http.StatusUnprocessableEntity || !says(w, "account.passkeys.error.name") {
		t.Errorf("an empty name: %d", w.Code)
	}
}

// Adding and removing need a sign-in made within FreshFor: a stale one
// signs in again with prompt=login, nothing is begun or changed, and the
// sign-in comes back to the page that asks again.
func TestPasskeyChangesWithAStaleSignInChangeNothing(t *testing.T) {
	const key = "10000000-0000-4000-8000-000000000009"
	removeURL := passkeyRemoveURL + "?id=" + key
	stale := func() (*env, *browser) {
		e, b := passkeyEnv(t, time.Now().Add(-FreshFor-time.Minute))
		e.store.fakePasskeys.rows = []store.Passkey{{ID: key, Subject: anaID, Name: "Key", CredentialID: []byte{1}}}
		return e, b
	}
	for _, c := range []struct {
		method, path string
		form         url.Values
		returnTo     string
	}{
		{"GET", passkeyAddURL, nil, passkeyAddURL},
		{"POST", passkeysAction, url.Values{"action": {"create"}, "ceremony": {"x"}, "credential": {"{}"}, "name": {"n"}}, passkeyAddURL},
		{"GET", removeURL, nil, removeURL},
		{"POST", passkeysAction, url.Values{"action": {"remove"}, "id": {key}}, removeURL},
	} {
		e, b := stale()
		w := b.request(c.method, c.path, c.form)
		auth, _ := url.Parse(w.Header().Get("Location"))
		if w.Code != http.StatusSeeOther || auth.Query().Get("prompt") != "login" || auth.Query().Get("max_age") != "0" {
			t.Errorf("%s %s: %d to %q, want a fresh sign-in", c.method, c.path, w.Code, auth)
			continue
		}
		if len(e.store.fakePasskeys.ceremonies) != 0 || len(e.store.of(anaID)) != 1 || len(e.store.fakePasskeys.audits) != 0 {
			t.Errorf("%s %s: something was begun or changed before the fresh sign-in", c.method, c.path)
		}
		b.finishSignIn(auth.String(), anaID, "sid-ana-2", time.Now(), c.returnTo)
		if len(e.store.of(anaID)) != 1 || len(e.store.fakePasskeys.audits) != 0 {
			t.Errorf("%s %s: the fresh sign-in changed something by itself", c.method, c.path)
		}
	}
	// Renaming needs no fresh sign-in.
	e, b := stale()
	w := b.post(passkeysAction, url.Values{"action": {"rename"}, "id": {key}, "name": {"YubiKey"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/account?done=passkey_renamed" || e.store.of(anaID)[0].Name != "YubiKey" {
		t.Errorf("rename with an older sign-in: %d to %q", w.Code, w.Header().Get("Location"))
	}
}

// A person can rename and remove only their own passkeys: bob, signed in,
// naming ana's passkey changes nothing, audits nothing and tells nobody.
func TestPasskeysOfAnotherAccountAreNeverChanged(t *testing.T) {
	e, ana := passkeyEnv(t, time.Now())
	anasKey := "10000000-0000-4000-8000-000000000001"
	e.store.fakePasskeys.rows = []store.Passkey{
		{ID: anasKey, Subject: anaID, Name: "Ana's phone", CredentialID: []byte{1}, CreatedAt: time.Now()},
		{ID: "10000000-0000-4000-8000-000000000002", Subject: bobID, Name: "Bob's key", CredentialID: []byte{2}, CreatedAt: time.Now()},
	}
	bob := e.browser("198.51.100.9")
	bob.signIn(bobID, "sid-bob", time.Now())
	if w := bob.get("/account"); strings.Contains(text(w), "Ana's phone") || !strings.Contains(text(w), "Bob's key") {
		t.Errorf("bob's page lists\n%s", text(w))
	}
	for _, form := range []url.Values{
		{"action": {"rename"}, "id": {anasKey}, "name": {"mine now"}},
		{"action": {"remove"}, "id": {anasKey}},
		{"action": {"rename"}, "id": {"not-an-id"}, "name": {"x"}},
		{"action": {"remove"}, "id": {"not-an-id"}},
	} {
		w := bob.post(passkeysAction, form)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/account?done=passkey_gone" {
			t.Errorf("bob %v: %d to %q", form, w.Code, w.Header().Get("Location"))
		}
	}
	if w := bob.get(passkeyRemoveURL + "?id=" + anasKey); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/account?done=passkey_gone" {
		t.Errorf("bob's confirmation page for ana's passkey: %d", w.Code)
	}
	if rows := e.store.of(anaID); len(rows) != 1 || rows[0].Name != "Ana's phone" {
		t.Errorf("ana's passkeys after bob: %+v", rows)
	}
	if len(e.store.fakePasskeys.audits) != 0 || len(e.store.fakePasskeys.notices) != 0 {
		t.Errorf("bob's attempts were audited %v or notified", e.store.fakePasskeys.audits)
	}
	if w := bob.get("/account?done=passkey_gone"); !says(w, "account.done.passkey_gone") {
		t.Error("the page does not say nothing was changed")
	}

	// Ana renames and removes her own, each audited and told.
	w := ana.post(passkeysAction, url.Values{"action": {"rename"}, "id": {anasKey}, "name": {"Pixel"}})
	if w.Code != http.StatusSeeOther || e.store.of(anaID)[0].Name != "Pixel" {
		t.Fatalf("ana's rename: %d", w.Code)
	}
	if w := ana.post(passkeysAction, url.Values{"action": {"rename"}, "id": {anasKey}, "name": {strings.Repeat("x", 65)}}); w.Code != http.StatusUnprocessableEntity || !says(w, "account.passkeys.error.name") {
		t.Errorf("a 65-character name: %d", w.Code)
	}
	w = ana.get(passkeyRemoveURL + "?id=" + anasKey)
	if w.Code != http.StatusOK || !says(w, "account.passkeys.remove.title", "Pixel") {
		t.Errorf("the remove confirmation: %d", w.Code)
	}
	w = ana.post(passkeysAction, url.Values{"action": {"remove"}, "id": {anasKey}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/account?done=passkey_removed" || len(e.store.of(anaID)) != 0 {
		t.Fatalf("ana's remove: %d to %q", w.Code, w.Header().Get("Location"))
	}
	a := e.store.fakePasskeys.audits
	if len(a) != 2 || a[0].Action != store.ActionPasskeyRenamed || a[1].Action != store.ActionPasskeyRemoved || a[1].UserID != anaID {
		t.Errorf("audits %+v", a)
	}
	if len(e.store.fakePasskeys.notices) != 2 {
		t.Errorf("%d notices, want 2", len(e.store.fakePasskeys.notices))
	}
	if rows := e.store.of(bobID); len(rows) != 1 {
		t.Errorf("bob's passkey went with ana's: %+v", rows)
	}
	if w := ana.get("/account?done=passkey_removed"); !says(w, "account.done.passkey_removed") || !says(w, "account.passkeys.none") {
		t.Errorf("the page after removing\n%s", text(w))
	}
}

// At MaxPerAccount passkeys the page offers no "Add" and the add page goes
// back to it; a Blink account with no way to be told is changed untold, and
// the page says so; with passkeys off nothing of them exists.
func TestPasskeyLimitNoticeAndOff(t *testing.T) {
	e, b := passkeyEnv(t, time.Now())
	for i := range passkey.MaxPerAccount {
		e.store.fakePasskeys.rows = append(e.store.fakePasskeys.rows, store.Passkey{ID: "x" + string(rune('a'+i)), Subject: anaID, Name: "k", CredentialID: []byte{byte(i)}})
	}
	w := b.get("/account")
	if !says(w, "account.passkeys.limit", passkey.MaxPerAccount) || strings.Contains(w.Body.String(), `href="/account/passkeys/add"`) {
		t.Errorf("at the limit the page reads\n%s", text(w))
	}
	if w := b.get(passkeyAddURL); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/account" || len(e.store.fakePasskeys.ceremonies) != 0 {
		t.Errorf("the add page at the limit: %d", w.Code)
	}
	e.store.fakePasskeys.rows = nil

	// No sender serves ana's email: the passkey is added, nobody told, and
	// the page does not claim otherwise.
	e.deps.Settings.CanNotify = func(string) bool { return false }
	ceremony, options := addPage(t, b)
	w = b.post(passkeysAction, url.Values{"action": {"create"}, "ceremony": {ceremony}, "credential": {string(authenticator().Register(options, anaID))}, "name": {"k"}})
	if w.Code != http.StatusSeeOther || len(e.store.fakePasskeys.notices) != 0 || len(e.store.of(anaID)) != 1 {
		t.Fatalf("untold: %d, %d notices", w.Code, len(e.store.fakePasskeys.notices))
	}
	if w := b.get(w.Header().Get("Location")); !says(w, "account.done.passkey_added_untold") || says(w, "account.done.passkey_added") {
		t.Error("the page claims the person was told")
	}

	// Reloading the add page past store.MaxLiveCeremonies in progress: the
	// account page says to wait, and no ceremony more is kept.
	for range store.MaxLiveCeremonies {
		b.get(passkeyAddURL)
	}
	before := len(e.store.fakePasskeys.ceremonies)
	if w := b.get(passkeyAddURL); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/account?done=passkey_wait" || len(e.store.fakePasskeys.ceremonies) != before {
		t.Errorf("past the ceremonies' limit: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if w := b.get("/account?done=passkey_wait"); !says(w, "account.done.passkey_wait") {
		t.Error("the page does not say to wait")
	}

	// The store down: the page says it failed rather than showing no passkeys.
	e.store.fakePasskeys.fail = errOutage
	if w := b.get("/account"); w.Code < 500 {
		t.Errorf("the page with the passkeys unreadable: %d", w.Code)
	}
	e.store.fakePasskeys.fail = nil

	e.deps.Passkeys = nil
	if w := b.get("/account"); says(w, "account.passkeys.title") {
		t.Error("with passkeys off the section is shown")
	}
	for _, r := range []struct{ method, path string }{{"GET", passkeyAddURL}, {"GET", passkeyRemoveURL + "?id=x"}, {"POST", passkeysAction}} {
		if w := b.request(r.method, r.path, url.Values{"action": {"rename"}}); w.Code != http.StatusNotFound {
			t.Errorf("%s %s with passkeys off: %d", r.method, r.path, w.Code)
		}
	}
	if w := b.post(passkeysAction, url.Values{"action": {"dance"}}); w.Code != http.StatusNotFound {
		t.Errorf("an unknown action with passkeys off: %d", w.Code)
	}
}
