//go:build devstack

package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
)

// consentPage signs a new user in (through the admin API) on a third-party
// client and returns the browser standing on the consent page.
func consentPage(t *testing.T, email string, spec devstack.ClientSpec) (*relyingParty, *browser, string, hop) {
	t.Helper()
	st := testStack
	subject := addUser(t, st, email)
	rp := newRelyingParty(t, st, spec)
	b := newBrowser(t)
	j := signInAsHydraAdmin(t, st, b, rp.start(b), subject, true)
	page := j.Last()
	if page.URL.Path != "/consent" || page.Status != http.StatusOK {
		t.Fatalf("expected the consent page, got %s %d: %v", page.URL.Path, page.Status, paths(j))
	}
	return rp, b, subject, page
}

func consentForm(page hop, extra url.Values) url.Values {
	form := url.Values{"consent_challenge": {page.URL.Query().Get("consent_challenge")}}
	for k, v := range extra {
		form[k] = v
	}
	return form
}

func TestConsentGrantsExactlyTheChosenSubsetWithClaims(t *testing.T) {
	rp, b, subject, page := consentPage(t, "subset@example.com", devstack.ClientSpec{
		Name: "Wallet Viewer", Scopes: []string{"openid", "offline", "email", "phone", "read", "write"}})
	for _, want := range []string{"Wallet Viewer wants to use your Blink account", "See your balance and transaction history",
		"Send payments and change your account", "See your email address", "subset@example.com"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	j := b.Post(testStack.ServiceURL+"/consent", consentForm(page, url.Values{"action": {"allow"}, "scope": {"openid", "email", "read"}}))
	tok, claims := rp.tokens(t, j)
	if scope, _ := tok.Extra("scope").(string); scope != "openid email read" {
		t.Errorf("token scope %q, want exactly the chosen subset", scope)
	}
	if claims["sub"] != subject || claims["email"] != "subset@example.com" || claims["email_verified"] != true {
		t.Errorf("ID token claims %v", claims)
	}
	if _, ok := claims["phone_number"]; ok {
		t.Error("phone_number in the ID token although phone was not granted")
	}
}

func TestConsentDenyReachesTheClient(t *testing.T) {
	_, b, _, page := consentPage(t, "deny@example.com", devstack.ClientSpec{Scopes: []string{"openid", "read"}})
	j := b.Post(testStack.ServiceURL+"/consent", consentForm(page, url.Values{"action": {"deny"}}))
	if j.Callback == nil || j.Callback.Query().Get("error") != "access_denied" || j.Callback.Query().Get("code") != "" {
		t.Fatalf("deny: want error=access_denied at the client, got %v", paths(j))
	}
}

func TestConsentRememberSkipsTheNextPage(t *testing.T) {
	rp, b, _, page := consentPage(t, "remember@example.com", devstack.ClientSpec{Scopes: []string{"openid", "phone", "read"}})
	rp.tokens(t, b.Post(testStack.ServiceURL+"/consent", consentForm(page, url.Values{
		"action": {"allow"}, "scope": {"openid", "phone", "read"}, "remember": {"true"}})))
	j := rp.start(b)
	if pages := j.Pages(); len(pages) > 0 {
		t.Fatalf("a remembered consent showed %s", pages[0].URL.Path)
	}
	_, claims := rp.tokens(t, j)
	if claims["phone_number"] != nil {
		t.Errorf("the user has no phone, yet phone_number = %v", claims["phone_number"])
	}
}

func TestTamperedConsentGrantsNothing(t *testing.T) {
	for name, extra := range map[string]url.Values{
		"extra scope":      {"action": {"allow"}, "scope": {"openid", "read", "write"}},
		"foreign audience": {"action": {"allow"}, "scope": {"openid"}, "audience": {"https://evil.example"}},
	} {
		t.Run(name, func(t *testing.T) {
			rp, b, _, page := consentPage(t, strings.ReplaceAll(name, " ", ".")+"@example.com", devstack.ClientSpec{Scopes: []string{"openid", "read"}})
			h := b.Post(testStack.ServiceURL+"/consent", consentForm(page, extra)).Last()
			if h.Status != http.StatusBadRequest || !strings.Contains(h.Body, "nothing was granted") {
				t.Fatalf("tampered form: %d\n%s", h.Status, excerpt(h.Body))
			}
			// Nothing was granted: the honest form still works afterwards.
			j := b.Post(testStack.ServiceURL+"/consent", consentForm(page, url.Values{"action": {"allow"}, "scope": {"openid"}}))
			if tok, _ := rp.tokens(t, j); tok.Extra("scope") != "openid" {
				t.Errorf("scope after the honest form: %v", tok.Extra("scope"))
			}
		})
	}
}

func TestClientNameWithHTMLIsEscaped(t *testing.T) {
	_, _, _, page := consentPage(t, "escaped@example.com", devstack.ClientSpec{
		Name: `<img src=x onerror=alert(1)>Evil`, Scopes: []string{"openid"}, LogoURI: "https://cdn.example.com/logo.png"})
	if strings.Contains(page.Body, "<img src=x") || !strings.Contains(page.Body, "&lt;img src=x onerror=alert(1)&gt;Evil") {
		t.Errorf("client_name not escaped:\n%s", excerpt(page.Body))
	}
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' https://cdn.example.com;") {
		t.Errorf("the logo's origin is not allowed by the CSP: %q", csp)
	}
}

func TestConsentDoubleSubmitEndsSensibly(t *testing.T) {
	rp, b, _, page := consentPage(t, "double@example.com", devstack.ClientSpec{Scopes: []string{"openid"}})
	form := consentForm(page, url.Values{"action": {"allow"}, "scope": {"openid"}})
	first := b.Post(testStack.ServiceURL+"/consent", form)
	second := b.Post(testStack.ServiceURL+"/consent", form)
	if second.Hops[0].Status != http.StatusSeeOther || second.Hops[0].Location != first.Hops[0].Location {
		t.Errorf("second submit: %d to %q", second.Hops[0].Status, second.Hops[0].Location)
	}
	rp.tokens(t, first)
}

// logoutJourney signs in on client and then asks Hydra to end the session.
func logoutJourney(t *testing.T, email string, spec devstack.ClientSpec) (*browser, journey) {
	t.Helper()
	st := testStack
	subject := addUser(t, st, email)
	spec.SkipConsent = true
	rp := newRelyingParty(t, st, spec)
	b := newBrowser(t)
	tok, _ := rp.tokens(t, signInAsHydraAdmin(t, st, b, rp.start(b), subject, true))
	idToken, _ := tok.Extra("id_token").(string)
	q := url.Values{"id_token_hint": {idToken}}
	return b, b.Get(st.Hydra.PublicURL + "/oauth2/sessions/logout?" + q.Encode())
}

func TestLogoutConfirmAndReject(t *testing.T) {
	b, j := logoutJourney(t, "logout.no@example.com", devstack.ClientSpec{Name: "Point of Sale", Scopes: []string{"openid"}, ClientURI: "https://pos.example.com/"})
	page := j.Last()
	if page.URL.Path != "/logout" || !strings.Contains(page.Body, "Point of Sale asked to sign you out of Blink.") {
		t.Fatalf("logout confirm page: %s %d\n%s", page.URL.Path, page.Status, excerpt(page.Body))
	}
	challenge := page.URL.Query().Get("logout_challenge")
	kept := b.Post(testStack.ServiceURL+"/logout", url.Values{"logout_challenge": {challenge}, "action": {"no"}}).Last()
	if kept.Status != 200 || !strings.Contains(kept.Body, "You are still signed in") || !strings.Contains(kept.Body, `href="https://pos.example.com/"`) {
		t.Errorf("logout No: %d\n%s", kept.Status, excerpt(kept.Body))
	}
	// A rejected logout challenge is gone.
	if h := b.Get(testStack.ServiceURL + "/logout?logout_challenge=" + url.QueryEscape(challenge)).Last(); h.Status != http.StatusNotFound {
		t.Errorf("rejected logout challenge again: %d", h.Status)
	}
}

func TestLogoutConfirmAndAccept(t *testing.T) {
	b, j := logoutJourney(t, "logout.yes@example.com", devstack.ClientSpec{Scopes: []string{"openid"}})
	challenge := j.Last().URL.Query().Get("logout_challenge")
	done := b.Post(testStack.ServiceURL+"/logout", url.Values{"logout_challenge": {challenge}, "action": {"yes"}})
	if done.Callback == nil || done.Callback.Path != "/logged-out" {
		t.Errorf("logout Yes should end at the post-logout URL, ended at %v", paths(done))
	}
	// This service's own cookie is cleared too.
	if set := done.Hops[0].Header.Get("Set-Cookie"); !strings.HasPrefix(set, "blink_browser=;") || !strings.Contains(set, "Max-Age=0") {
		t.Errorf("logout did not clear the browser cookie: %q", set)
	}
	if h := b.Get(testStack.ServiceURL + "/logout?logout_challenge=" + url.QueryEscape(challenge)).Last(); h.Status != http.StatusGone {
		t.Errorf("accepted logout challenge again: %d", h.Status)
	}
}

func TestSkipLogoutConsentSignsOutAtOnce(t *testing.T) {
	_, j := logoutJourney(t, "logout.skip@example.com", devstack.ClientSpec{Scopes: []string{"openid"}, SkipLogoutConsent: true})
	if pages := j.Pages(); len(pages) > 0 && pages[0].URL.Host == strings.TrimPrefix(testStack.ServiceURL, "http://") {
		t.Fatalf("skip_logout_consent showed %s", pages[0].URL.Path)
	}
	if j.Visited("/logout") != http.StatusSeeOther || j.Callback == nil || j.Callback.Path != "/logged-out" {
		t.Errorf("/logout should redirect at once to the post-logout URL: %v", paths(j))
	}
}

func TestConsentPageInSpanish(t *testing.T) {
	st := testStack
	subject := addUser(t, st, "espanol@example.com")
	rp := newRelyingParty(t, st, devstack.ClientSpec{Name: "Tienda", Scopes: []string{"openid", "read", "receive", "write"}})
	b := newBrowser(t)
	j := signInAsHydraAdmin(t, st, b, rp.start(b, oauth2.SetAuthURLParam("ui_locales", "es")), subject, true)
	page := j.Last()
	for _, want := range []string{`lang="es"`, "Tienda quiere usar tu cuenta de Blink", "Ver tu saldo y tu historial de transacciones",
		"Crear facturas y direcciones para recibir pagos en tu cuenta", "Enviar pagos y cambiar tu cuenta", "Permitir", "Rechazar"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("Spanish consent page lacks %q", want)
		}
	}
}
