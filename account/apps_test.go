package account

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/views"
)

func appOf(id string) hydra.OAuthClient {
	return hydra.OAuthClient{ID: id, Name: "The " + id}
}

func scopeNames(s []views.Scope) []string {
	var out []string
	for _, sc := range s {
		out = append(out, sc.Name)
	}
	return out
}

// The list is every app that may still hold the person's tokens, once: all
// of Hydra's consent flows (every page of its listing, which internal/hydra
// reads) and the apps the audit trail says were allowed and not removed; the
// page's own client and a client Hydra no longer knows are left out.
func TestConnectedAppsAreOnePerAppFromHydraAndTheAuditTrail(t *testing.T) {
	e := newEnv(t)
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	wallet := hydra.OAuthClient{ID: "wallet", Name: "Blink Wallet", SkipConsent: true, LogoURI: "https://cdn.blink.test/w.png", ClientURI: "https://blink.test"}
	shop := hydra.OAuthClient{ID: "shop", Name: "Shop", LogoURI: "http://shop.test/logo.png", ClientURI: "javascript:alert(1)"}
	// More flows than one page of Hydra's listing (500 here): every
	// sign-in of a skip_consent app adds one.
	for i := range 1200 {
		e.admin.connect("ana", wallet, t0.Add(time.Duration(i)*time.Minute), "openid")
	}
	e.admin.connect("ana", shop, t0, "openid", "read")
	e.admin.connect("ana", shop, t0.Add(time.Hour), "openid", "email")
	e.admin.connect("ana", hydra.OAuthClient{ID: testClientID, SkipConsent: true}, t0, "openid")
	// Past remember_for, out of Hydra's listing, its refresh token alive.
	e.admin.clients["old-app"] = appOf("old-app")
	e.store.granted["ana"] = []store.GrantedClient{
		{ClientID: "old-app", At: t0.Add(-30 * 24 * time.Hour), Scopes: []string{"openid", "offline_access"}},
		{ClientID: "shop", At: t0.Add(-time.Hour), Scopes: []string{"openid"}},
		{ClientID: "gone-app", At: t0, Scopes: []string{"openid"}}, // deleted from Hydra, its tokens with it
		{ClientID: testClientID, At: t0, Scopes: []string{"openid"}},
	}

	apps, err := e.deps.connectedApps(context.Background(), "ana")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range apps {
		ids = append(ids, a.ClientID)
	}
	if !slices.Equal(ids, []string{"wallet", "shop", "old-app"}) {
		t.Fatalf("apps %v, want wallet, shop, old-app once each", ids)
	}
	w, s, o := apps[0], apps[1], apps[2]
	if !w.FirstParty || w.Name != "Blink Wallet" || w.LogoURI != wallet.LogoURI || w.ClientURI != "https://blink.test" ||
		!w.GrantedAt.Equal(t0.Add(1199*time.Minute)) || !slices.Equal(scopeNames(w.Scopes), []string{"openid"}) {
		t.Errorf("wallet %+v", w)
	}
	if s.FirstParty || s.LogoURI != "" || s.ClientURI != "" || !s.GrantedAt.Equal(t0.Add(time.Hour)) ||
		!slices.Equal(scopeNames(s.Scopes), []string{"openid", "read", "email"}) {
		t.Errorf("shop %+v: an http logo or a script link shown, or the latest grant or scopes missed", s)
	}
	if o.Name != "The old-app" || !o.GrantedAt.Equal(t0.Add(-30*24*time.Hour)) || !slices.Equal(scopeNames(o.Scopes), []string{"openid", "offline_access"}) {
		t.Errorf("old-app %+v", o)
	}
	if other, _ := e.deps.connectedApps(context.Background(), "bob"); len(other) != 0 {
		t.Errorf("bob sees ana's apps: %v", other)
	}

	e.admin.listErr = hydra.ErrUnavailable
	if _, err := e.deps.connectedApps(context.Background(), "ana"); err == nil {
		t.Error("Hydra's listing failing: no error")
	}
	e.admin.listErr = nil
	// Hydra cannot say whether an app of the audit trail still exists: the
	// list is not shown incomplete.
	e.admin.clientErr = hydra.ErrUnavailable
	if _, err := e.deps.connectedApps(context.Background(), "ana"); err == nil {
		t.Error("Hydra's client lookup failing: no error")
	}
	e.admin.clientErr = nil
	e.store.fail["GrantedClients"] = errOutage
	if _, err := e.deps.connectedApps(context.Background(), "ana"); err == nil {
		t.Error("the audit trail failing: no error")
	}
}

func TestThePageShowsAppsAndRecentActivityWithTheNetworkOnly(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	e.admin.connect("ana", hydra.OAuthClient{ID: "wallet", Name: "Blink Wallet", SkipConsent: true, LogoURI: "https://cdn.blink.test/w.png"}, now, "openid")
	e.admin.connect("ana", hydra.OAuthClient{ID: "shop", Name: "Corner Shop", LogoURI: "http://shop.test/l.png"}, now, "openid", "email")
	e.store.users["ana"] = store.User{ID: "ana", Email: "ana@example.com"}
	e.store.events["ana"] = []store.AuditEvent{
		{At: now, UserID: "ana", Action: store.ActionSignInSucceeded, ClientID: "shop", IP: "203.0.113.77", Method: "email+totp"},
		{At: now, UserID: "ana", Action: store.ActionConsentGranted, ClientID: "deleted-app", IP: "2001:db8:85a3:8d3:1319:8a2e:370:7348"},
		{At: now, UserID: "ana", Action: store.ActionTOTPEnrolled, IP: "203.0.113.77", Method: "totp"},
	}
	for i := range 30 {
		e.store.events["ana"] = append(e.store.events["ana"], store.AuditEvent{At: now, UserID: "ana", Action: store.ActionSignInFailed, ClientID: "shop", IP: fmt.Sprintf("198.51.100.%d", i)})
	}
	b := e.browser("203.0.113.7")
	b.signIn("ana", "sid-ana", time.Now())
	w := b.get("/account")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /account: %d", w.Code)
	}
	page := text(w)
	for _, want := range []string{
		"ana@example.com", "Blink Wallet", "Corner Shop", `value="wallet"`, `value="shop"`,
		i18n.English.T("account.activity.signin", "Corner Shop"), i18n.English.T("account.method.email_totp"),
		i18n.English.T("account.activity.consent_granted", "deleted-app"), i18n.English.T("account.activity.totp_on"),
		"203.0.113.x", "2001:db8:85a3:…",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
	for _, never := range []string{"203.0.113.77", "8a2e:370:7348", "198.51.100.19"} {
		if strings.Contains(page, never) {
			t.Errorf("the page shows %q", never)
		}
	}
	if got := strings.Count(page, i18n.English.T("account.activity.signin_failed", "Corner Shop")); got != activityShown-3 {
		t.Errorf("%d failed sign-ins listed, want the last %d events only", got, activityShown)
	}
	csp := w.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "img-src 'self' https://cdn.blink.test") || strings.Contains(csp, "shop.test") {
		t.Errorf("CSP %q: the https logo's origin only", csp)
	}

	// An account with a phone only is named by it.
	e.store.users["ana"] = store.User{ID: "ana", Phone: "+50370001234"}
	if w := b.get("/account"); !strings.Contains(text(w), "+50370001234") {
		t.Error("the page does not name a phone-only account by its phone")
	}

	// Spanish, the same page.
	b.lang = i18n.Spanish
	if w := b.get("/account"); !strings.Contains(text(w), i18n.Spanish.T("account.activity.title")) {
		t.Error("the page is not in Spanish")
	}

	// Each client's name is read from Hydra once per page.
	e.admin.clientReads = 0
	items, err := e.deps.activity(context.Background(), "ana")
	if err != nil || len(items) != activityShown || e.admin.clientReads != 2 {
		t.Errorf("activity: %d items, %d client reads, err %v", len(items), e.admin.clientReads, err)
	}

	e.store.fail["LatestAuditEvents"] = errOutage
	if w := b.get("/account"); w.Code != http.StatusInternalServerError {
		t.Errorf("activity failing: %d", w.Code)
	}
	delete(e.store.fail, "LatestAuditEvents")
	e.admin.listErr = hydra.ErrUnavailable
	if w := b.get("/account"); w.Code != http.StatusServiceUnavailable {
		t.Errorf("Hydra failing: %d", w.Code)
	}
}

func TestActivityKeysAreInTheCatalog(t *testing.T) {
	for _, a := range []store.AuditAction{
		store.ActionSignInSucceeded, store.ActionSignInFailed, store.ActionConsentGranted, store.ActionConsentDenied,
		store.ActionConsentRemoved, store.ActionRecoveryCodeUsed, store.ActionRecoveryCodesMade, store.ActionTOTPRemoved,
		store.ActionTOTPEnrolled, store.ActionIdentifierLocked, store.ActionUserDisabled, store.ActionUserEnabled,
		store.ActionHydraSessionsRevoked, "something new",
	} {
		key := activityKey(store.AuditEvent{Action: a})
		if !i18n.Has(key) || i18n.English.T(key) == i18n.Spanish.T(key) {
			t.Errorf("%q: %s is not in the catalog in both languages", a, key)
		}
	}
	if activityKey(store.AuditEvent{Action: store.ActionTOTPRemoved}) != "account.activity.totp_off" ||
		activityKey(store.AuditEvent{Action: "something new"}) != "account.activity.other" {
		t.Error("two-step off or an unknown action read as something else")
	}
	if methodKey("") != "" || methodKey("carrier-pigeon") != "" || methodKey("sms+recovery_code") != "account.method.sms_recovery_code" {
		t.Error("methodKey")
	}
}

func TestRemoveAccessRevokesThatAppOfThisPersonOnlyAndAuditsIt(t *testing.T) {
	e := newEnv(t)
	e.admin.connect("ana", appOf("wallet"), time.Now(), "openid")
	e.admin.connect("ana", appOf("shop"), time.Now(), "openid")
	e.admin.connect("bob", appOf("shop"), time.Now(), "openid")
	b := e.browser("203.0.113.7")
	b.signIn("ana", "sid-ana", time.Now().Add(-time.Hour)) // one app needs no fresh sign-in

	w := b.post("/account/apps", url.Values{"action": {"revoke"}, "client_id": {"shop"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/account?done=revoked" {
		t.Fatalf("revoke: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if !slices.Equal(e.admin.revoked, []revocation{{"ana", "shop"}}) || len(e.admin.revokedAll) != 0 {
		t.Errorf("Hydra was asked %v, %v", e.admin.revoked, e.admin.revokedAll)
	}
	if len(e.admin.consents["ana"]) != 1 || e.admin.consents["ana"][0].Client.ID != "wallet" || len(e.admin.consents["bob"]) != 1 {
		t.Errorf("consents after: ana %v, bob %v", e.admin.consents["ana"], e.admin.consents["bob"])
	}
	want := store.AuditEvent{UserID: "ana", Action: store.ActionConsentRemoved, Actor: "user", ClientID: "shop", IP: "203.0.113.7", Method: "account", Result: "ok"}
	if len(e.store.audits) != 1 || fmt.Sprint(e.store.audits[0]) != fmt.Sprint(want) {
		t.Errorf("audited %+v, want %+v", e.store.audits, want)
	}
	if w := b.get("/account?done=revoked"); !says(w, "account.done.revoked") || strings.Contains(text(w), "The shop") {
		t.Error("the page does not say the access was removed, or still lists the app")
	}

	// Hydra already had none for it (another tab removed it meanwhile, after
	// the list was read): the removal still stands and is audited.
	e.admin.connect("ana", appOf("tab-app"), time.Now(), "openid")
	e.admin.revokeErr = hydra.ErrNotFound
	if w := b.post("/account/apps", url.Values{"action": {"revoke"}, "client_id": {"tab-app"}}); w.Header().Get("Location") != "/account?done=revoked" || len(e.store.audits) != 2 {
		t.Errorf("revoke answered 404 by Hydra: %d to %q", w.Code, w.Header().Get("Location"))
	}
	// Hydra down: nothing is said to be removed, nothing audited.
	e.admin.revokeErr = hydra.ErrUnavailable
	if w := b.post("/account/apps", url.Values{"action": {"revoke"}, "client_id": {"wallet"}}); w.Code != http.StatusServiceUnavailable || len(e.store.audits) != 2 || says(w, "account.done.revoked") {
		t.Errorf("revoke with Hydra down: %d, %d audits", w.Code, len(e.store.audits))
	}
	e.admin.revokeErr = nil
	// The audit trail down: the access is removed all the same (and logged).
	e.store.fail["Audit"] = errOutage
	w = b.post("/account/apps", url.Values{"action": {"revoke"}, "client_id": {"wallet"}})
	if w.Header().Get("Location") != "/account?done=revoked" || slices.ContainsFunc(e.admin.consents["ana"], func(cs hydra.ConsentSession) bool { return cs.Client.ID == "wallet" }) {
		t.Errorf("revoke with the audit trail down: %d, consents %v", w.Code, e.admin.consents["ana"])
	}
}

func TestRemoveAccessOfAnAppNotConnectedChangesAndAuditsNothing(t *testing.T) {
	e := newEnv(t)
	e.admin.connect("ana", appOf("shop"), time.Now(), "openid")
	e.admin.connect("ana", hydra.OAuthClient{ID: testClientID, SkipConsent: true}, time.Now(), "openid")
	e.admin.clients["never-allowed"] = appOf("never-allowed")
	b := e.browser("203.0.113.7")
	b.signIn("ana", "sid-ana", time.Now())
	for _, client := range []string{"never-allowed", testClientID, "no-such-client", ""} {
		w := b.post("/account/apps", url.Values{"action": {"revoke"}, "client_id": {client}})
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/account?done=not_connected" {
			t.Errorf("revoke %q: %d to %q", client, w.Code, w.Header().Get("Location"))
		}
	}
	// Removed in another tab, then removed again here.
	b.post("/account/apps", url.Values{"action": {"revoke"}, "client_id": {"shop"}})
	w := b.post("/account/apps", url.Values{"action": {"revoke"}, "client_id": {"shop"}})
	if w.Header().Get("Location") != "/account?done=not_connected" {
		t.Errorf("the second removal: to %q", w.Header().Get("Location"))
	}
	if len(e.admin.revoked) != 1 || len(e.store.audits) != 1 {
		t.Errorf("Hydra asked %v, audited %v; want the one real removal", e.admin.revoked, e.store.audits)
	}
	if w := b.get("/account?done=not_connected"); !says(w, "account.done.not_connected") {
		t.Error("the page does not say nothing was changed")
	}
	if w := b.post("/account/apps", url.Values{"action": {"delete_everything"}}); w.Code != http.StatusBadRequest {
		t.Errorf("an unknown action: %d", w.Code)
	}
}

// Every action acts on the signed-in person's own subject: a second person,
// signed in with their own cookie, cannot reach the first one's apps, by
// client id or by a subject in the form.
func TestAnotherSignedInPersonCannotRemoveSomeoneElsesApps(t *testing.T) {
	e := newEnv(t)
	e.admin.connect("ana", appOf("ana-only"), time.Now(), "openid")
	e.admin.connect("ana", appOf("shop"), time.Now(), "openid")
	e.admin.connect("bob", appOf("shop"), time.Now(), "openid")
	ana, bob := e.browser("203.0.113.7"), e.browser("198.51.100.9")
	ana.signIn("ana", "sid-ana", time.Now())
	bob.signIn("bob", "sid-bob", time.Now())
	anasBefore := len(e.admin.consents["ana"])

	w := bob.post("/account/apps", url.Values{"action": {"revoke"}, "client_id": {"ana-only"}, "subject": {"ana"}})
	if w.Header().Get("Location") != "/account?done=not_connected" || len(e.admin.revoked) != 0 || len(e.store.audits) != 0 {
		t.Errorf("bob removing ana's app: to %q, Hydra asked %v, audited %v", w.Header().Get("Location"), e.admin.revoked, e.store.audits)
	}
	w = bob.post("/account/apps", url.Values{"action": {"revoke"}, "client_id": {"shop"}, "subject": {"ana"}})
	if w.Header().Get("Location") != "/account?done=revoked" || !slices.Equal(e.admin.revoked, []revocation{{"bob", "shop"}}) {
		t.Errorf("bob removing his shop with ana's subject in the form: Hydra asked %v", e.admin.revoked)
	}
	w = bob.post("/account/apps", url.Values{"action": {"revoke_all"}, "subject": {"ana"}})
	if w.Header().Get("Location") != "/account?done=revoked_all" || !slices.Equal(e.admin.revokedAll, []string{"bob"}) {
		t.Errorf("bob's remove all: Hydra asked %v", e.admin.revokedAll)
	}
	if len(e.admin.consents["ana"]) != anasBefore {
		t.Errorf("ana's consents changed: %v", e.admin.consents["ana"])
	}
	for _, a := range e.store.audits {
		if a.UserID != "bob" {
			t.Errorf("audited for %q: %+v", a.UserID, a)
		}
	}
	// Ana's page still lists both of hers.
	if w := ana.get("/account"); !strings.Contains(text(w), "The ana-only") || !strings.Contains(text(w), "The shop") {
		t.Error("ana's apps are gone from her page")
	}
}

// "Remove all" needs a sign-in made within FreshFor: an older one is sent to
// sign in again (prompt=login, max_age=0) and nothing is removed on the
// way; a sign-in Hydra answered from a remembered session is refused; after
// a real one the page asks again and only its POST removes, in one call.
func TestRemoveAllNeedsAFreshSignInAndEndsEverythingInOneCall(t *testing.T) {
	e := newEnv(t)
	e.admin.connect("ana", appOf("wallet"), time.Now(), "openid")
	e.admin.connect("ana", appOf("shop"), time.Now(), "openid")
	e.admin.connect("bob", appOf("shop"), time.Now(), "openid")
	b := e.browser("203.0.113.7")
	b.signIn("ana", "sid-ana", time.Now().Add(-FreshFor-time.Minute))

	w := b.post("/account/apps", url.Values{"action": {"revoke_all"}})
	auth, _ := url.Parse(w.Header().Get("Location"))
	if w.Code != http.StatusSeeOther || auth.Query().Get("prompt") != "login" || auth.Query().Get("max_age") != "0" {
		t.Fatalf("remove all with an old sign-in: %d to %q", w.Code, auth)
	}
	if len(e.admin.revokedAll) != 0 || len(e.admin.revoked) != 0 || len(e.store.audits) != 0 {
		t.Fatal("something was removed before the fresh sign-in")
	}

	// Hydra answered from a sign-in it remembered (prompt=login dropped on the way).
	w = b.get(e.public.authorize(t, auth.String(), "ana", "sid-ana", time.Now().Add(-time.Hour), nil))
	if w.Code != http.StatusForbidden || !says(w, "account.fresh.stale.title") || e.store.started != 1 {
		t.Errorf("a stale sign-in for a fresh one: %d, %d sessions started", w.Code, e.store.started)
	}

	w = b.post("/account/apps", url.Values{"action": {"revoke_all"}})
	b.finishSignIn(w.Header().Get("Location"), "ana", "sid-ana-2", time.Now(), "/account/remove-all")
	w = b.get("/account/remove-all")
	if w.Code != http.StatusOK || !says(w, "account.remove_all.body", 2) || len(e.admin.revokedAll) != 0 {
		t.Errorf("the confirmation: %d, removed %v", w.Code, e.admin.revokedAll)
	}
	w = b.post("/account/apps", url.Values{"action": {"revoke_all"}})
	if w.Header().Get("Location") != "/account?done=revoked_all" || !slices.Equal(e.admin.revokedAll, []string{"ana"}) || len(e.admin.revoked) != 0 {
		t.Errorf("remove all: to %q, Hydra asked %v %v", w.Header().Get("Location"), e.admin.revokedAll, e.admin.revoked)
	}
	var audited []string
	for _, a := range e.store.audits {
		if a.UserID != "ana" || a.Action != store.ActionConsentRemoved || a.Method != "account" {
			t.Errorf("audit %+v", a)
		}
		audited = append(audited, a.ClientID)
	}
	if !slices.Equal(audited, []string{"wallet", "shop"}) {
		t.Errorf("audited %v, want each listed app", audited)
	}
	if len(e.admin.consents["bob"]) != 1 {
		t.Error("ana's remove all removed bob's consent")
	}
	if w := b.get("/account?done=revoked_all"); !says(w, "account.done.revoked_all") {
		t.Error("the page does not say every app's access was removed")
	}

	e.admin.revokeErr = hydra.ErrUnavailable
	e.admin.connect("ana", appOf("shop"), time.Now(), "openid")
	if w := b.post("/account/apps", url.Values{"action": {"revoke_all"}}); w.Code != http.StatusServiceUnavailable || len(e.store.audits) != 2 {
		t.Errorf("remove all with Hydra down: %d, %d audits", w.Code, len(e.store.audits))
	}
}
