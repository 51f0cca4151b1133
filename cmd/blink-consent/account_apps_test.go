//go:build devstack

package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// The account page's connected apps against what Hydra really holds
// (security review, issue 15): apps Hydra's listing leaves out are still
// shown and removed, "Remove all" ends every token in one call, and a
// removal of anything but one's own app changes nothing and says so.

// hydraDatabaseURL is the URL of st's Hydra database (the service's name
// with _hydra).
func hydraDatabaseURL(st *stack) string {
	u, _ := url.Parse(st.DatabaseURL)
	u.Path += "_hydra"
	return u.String()
}

// refreshed refreshes tok once and returns the new token Hydra rotated to
// (the old refresh token is spent), or the error.
func refreshed(rp *relyingParty, tok *oauth2.Token) (*oauth2.Token, error) {
	return rp.oauth.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
}

func isInvalidGrant(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == "invalid_grant"
}

// ageConsent makes subject's consent flows with client 31 days old in Hydra:
// past the 30-day remember_for, so Hydra's listing leaves them out, while
// the refresh tokens issued under them keep working.
func ageConsent(t *testing.T, st *stack, subject, clientID string) {
	t.Helper()
	if n := sqlExec(t, hydraDatabaseURL(st), `UPDATE hydra_oauth2_flow SET requested_at = requested_at - interval '31 days' WHERE subject = $1 AND client_id = $2`, subject, clientID); n == 0 {
		t.Fatal("no Hydra flow to age")
	}
}

func TestAccountShowsAndRemovesAppsHydrasListLeavesOut(t *testing.T) {
	st := accountStack(t)
	subject := addUser(t, st, "account.forgotten@example.com")
	b := newBrowser(t)
	old, oldTok := connectApp(t, st, b, subject, "Old Ledger")
	hidden, hiddenTok := connectApp(t, st, b, subject, "Hidden Helper")
	ageConsent(t, st, subject, old.client.ID)
	ageConsent(t, st, subject, hidden.client.ID)
	// Hidden Helper's grant is also gone from our audit trail (past
	// AUDIT_RETENTION, say): only "Remove all" in one call can reach it.
	sqlExec(t, st.DatabaseURL, `DELETE FROM audit_events WHERE user_id = $1 AND client_id = $2`, subject, hidden.client.ID)
	listed := consentedClients(t, st, subject)
	if slices.Contains(listed, old.client.ID) || slices.Contains(listed, hidden.client.ID) {
		t.Fatalf("Hydra still lists the aged consents %v: the test would prove nothing", listed)
	}
	var err error
	if oldTok, err = refreshed(old, oldTok); err != nil {
		t.Fatalf("the aged consent's refresh token must still work: %v", err)
	}
	if hiddenTok, err = refreshed(hidden, hiddenTok); err != nil {
		t.Fatalf("the hidden consent's refresh token must still work: %v", err)
	}

	page := accountSignIn(t, st, b, subject).Last()
	if !strings.Contains(page.Body, "Old Ledger") || !strings.Contains(page.Body, `name="client_id" value="`+old.client.ID+`"`) {
		t.Errorf("the account page does not list an app whose refresh token still works:\n%s", excerpt(page.Body))
	}
	done := b.Post(st.ServiceURL+"/account/apps", url.Values{"action": {"revoke_all"}}).Last()
	if done.URL.Path != "/account" || !strings.Contains(done.Body, "Every app&#39;s access was removed") {
		t.Fatalf("remove all ended on %s %d", done.URL.Path, done.Status)
	}
	if _, err := refreshed(old, oldTok); !isInvalidGrant(err) {
		t.Errorf("after remove all, the listed app's refresh token: %v, want invalid_grant", err)
	}
	if _, err := refreshed(hidden, hiddenTok); !isInvalidGrant(err) {
		t.Errorf("after remove all, the unlisted app's refresh token: %v, want invalid_grant", err)
	}
	if n := sqlExec(t, st.DatabaseURL, `SELECT 1 FROM audit_events WHERE user_id = $1 AND action = 'consent removed' AND client_id = $2`, subject, old.client.ID); n != 1 {
		t.Errorf("%d removal audit events for the listed app, want 1", n)
	}
	if again := b.Get(st.ServiceURL + "/account").Last(); strings.Contains(again.Body, "Old Ledger</h3>") {
		t.Error("the removed app is still listed")
	}

	// Remove access of one app Hydra no longer lists removes it too.
	one, oneTok := connectApp(t, st, b, subject, "Single Shop")
	ageConsent(t, st, subject, one.client.ID)
	if oneTok, err = refreshed(one, oneTok); err != nil {
		t.Fatal(err)
	}
	removed := b.Post(st.ServiceURL+"/account/apps", url.Values{"action": {"revoke"}, "client_id": {one.client.ID}}).Last()
	if !strings.Contains(removed.Body, "The app&#39;s access was removed") {
		t.Errorf("removing an app Hydra does not list: %s %d\n%s", removed.URL.Path, removed.Status, excerpt(removed.Body))
	}
	if _, err := refreshed(one, oneTok); !isInvalidGrant(err) {
		t.Errorf("after remove access, the app's refresh token: %v, want invalid_grant", err)
	}
}

// Remove access with a client the person never allowed, with the account
// page's own client, or with another person's subject added to the form:
// nothing of anyone else's changes, no audit row, and the page says nothing
// was changed. Only the person's own app is removed.
func TestAccountRemoveAccessTouchesOnlyOwnApps(t *testing.T) {
	st := accountStack(t)
	alice := addUser(t, st, "account.alice@example.com")
	bob := addUser(t, st, "account.bob@example.com")
	bobBrowser := newBrowser(t)
	shared, bobShared := connectApp(t, st, bobBrowser, bob, "Shared Wallet")
	aliceBrowser := newBrowser(t)
	own, ownTok := connectApp(t, st, aliceBrowser, alice, "Alice Only")
	accountSignIn(t, st, aliceBrowser, alice)
	removals := func() int {
		return queryIntOn(t, st, `SELECT count(*) FROM audit_events WHERE action = 'consent removed' AND user_id::text IN ($1, $2)`, alice, bob)
	}
	bobStillHas := func(when string) {
		t.Helper()
		if !slices.Contains(consentedClients(t, st, bob), shared.client.ID) {
			t.Fatalf("%s: Bob's consent to Shared Wallet is gone", when)
		}
		var err error
		if bobShared, err = refreshed(shared, bobShared); err != nil {
			t.Fatalf("%s: Bob's refresh token: %v", when, err)
		}
	}
	nothingChanged := func(what string, form url.Values) {
		t.Helper()
		page := aliceBrowser.Post(st.ServiceURL+"/account/apps", form).Last()
		if page.URL.Path != "/account" || !strings.Contains(page.Body, "That app had no access to your account, so nothing was changed.") ||
			strings.Contains(page.Body, "access was removed") {
			t.Errorf("%s: %s %d, want the page saying nothing was changed\n%s", what, page.URL.Path, page.Status, excerpt(page.Body))
		}
		bobStillHas(what)
		if !slices.Contains(consentedClients(t, st, alice), own.client.ID) {
			t.Errorf("%s: Alice's own app lost its access", what)
		}
		if n := removals(); n != 0 {
			t.Errorf("%s: %d removal audit rows, want 0", what, n)
		}
	}
	bobStillHas("before")
	nothingChanged("a client Alice never allowed", url.Values{"action": {"revoke"}, "client_id": {shared.client.ID}})
	nothingChanged("the account page's own client", url.Values{"action": {"revoke"}, "client_id": {st.Account.ID}})
	nothingChanged("Bob's app with Bob's subject", url.Values{"action": {"revoke"}, "client_id": {shared.client.ID}, "subject": {bob}})
	if resp := noFollow(t, aliceBrowser, http.MethodGet, st.ServiceURL+"/account", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("Alice's account session after the attempts: %d", resp.StatusCode)
	}

	// Alice's own app with Bob's subject in the form: Alice's goes, Bob's stays.
	page := aliceBrowser.Post(st.ServiceURL+"/account/apps", url.Values{"action": {"revoke"}, "client_id": {own.client.ID}, "subject": {bob}}).Last()
	if !strings.Contains(page.Body, "The app&#39;s access was removed") {
		t.Errorf("removing her own app: %s %d", page.URL.Path, page.Status)
	}
	if slices.Contains(consentedClients(t, st, alice), own.client.ID) {
		t.Error("Alice's app still has her consent")
	}
	if _, err := refreshed(own, ownTok); !isInvalidGrant(err) {
		t.Errorf("Alice's removed app's refresh token: %v, want invalid_grant", err)
	}
	bobStillHas("after Alice removed her app")
	if n := queryIntOn(t, st, `SELECT count(*) FROM audit_events WHERE action = 'consent removed' AND user_id::text = $1 AND client_id = $2`, alice, own.client.ID); n != 1 || removals() != 1 {
		t.Errorf("%d audit rows for Alice's removal (%d in all), want 1", n, removals())
	}
}
