//go:build devstack

package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/passkey"
)

// passkeyStackOnce is a stack with the account page whose PUBLIC_URL is
// http://localhost:port: browsers refuse an IP address as a relying party
// id ("This is an invalid domain"), and localhost is a secure context.
var passkeyStackOnce struct {
	once sync.Once
	st   *stack
	err  error
}

func passkeyStack(t *testing.T) *stack {
	t.Helper()
	passkeyStackOnce.once.Do(func() {
		opts, err := testStackOptions("passkey_browser", 0)
		if err != nil {
			passkeyStackOnce.err = err
			return
		}
		opts.Account, opts.Host = true, "localhost"
		passkeyStackOnce.st, passkeyStackOnce.err = startStack(context.Background(), testPG, opts)
	})
	if passkeyStackOnce.err != nil {
		t.Fatalf("the passkey stack: %v", passkeyStackOnce.err)
	}
	return passkeyStackOnce.st
}

// virtualAuthenticator gives the tab Chromium's virtual authenticator (the
// DevTools protocol's WebAuthn domain) as a phone's built-in one would be:
// CTAP 2.1, internal transport (a platform authenticator, so
// isUserVerifyingPlatformAuthenticatorAvailable() is true), resident keys,
// user verification that succeeds, presence given at once. It lasts across
// the tab's navigations.
func virtualAuthenticator(t *testing.T, ctx context.Context) webauthn.AuthenticatorID {
	t.Helper()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

// heldCredentials are the credentials the virtual authenticator holds.
func heldCredentials(t *testing.T, ctx context.Context, id webauthn.AuthenticatorID) []*webauthn.Credential {
	t.Helper()
	res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		t.Fatalf("WebAuthn.getCredentials: %v", err)
	}
	return res.Credentials
}

// hasCookie reports whether the browser holds a cookie named name for url.
func hasCookie(t *testing.T, ctx context.Context, url, name string) bool {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return true
		}
	}
	return false
}

// In Chromium with its virtual authenticator, in English and Spanish: sign
// in to a third-party app with a code (the passkey offer comes; "Not now",
// remembered), add a passkey on /account (the browser's dialog; adding it
// twice says so), rename it, sign out, and sign in to the app with the
// passkey (the identifier page's autofill) through Hydra to tokens, then
// remove it. axe-core checks each page.
func TestBrowserPasskeyJourney(t *testing.T) {
	for _, lang := range []i18n.Lang{i18n.English, i18n.Spanish} {
		t.Run(string(lang), func(t *testing.T) { passkeyJourney(t, lang) })
	}
}

func passkeyJourney(t *testing.T, lang i18n.Lang) {
	st := passkeyStack(t)
	email := "browser.passkey." + string(lang) + "@example.com"
	subject := addUser(t, st, email)
	count := func(query string) int { return queryIntOn(t, st, query, subject) }
	rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Tip Jar", Scopes: []string{"openid", "read"}})
	ctx := newChromiumFor(t, 2*time.Minute)
	inLanguage(t, ctx, lang)
	auth := virtualAuthenticator(t, ctx)

	// A code sign-in on a device that can make a passkey: the offer.
	signInInBrowser(t, ctx, rpURL+"/start?client="+c.ID, email, `button[name=action][value=not_now]`)
	if h := pageText(t, ctx, `h1`); h != lang.T("login.passkey_offer.title") {
		t.Errorf("after the code the page reads %q", h)
	}
	assertAccessible(t, ctx, "passkey offer ("+string(lang)+")")
	assertKeyboardReachable(t, ctx, "passkey offer ("+string(lang)+")")
	browse(t, ctx, "not now, then allow the app", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`button[name=action][value=not_now]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[name=action][value=allow]`)),
		chromedp.Click(chromedp.CSS(`input[name=remember]`)),
		chromedp.Click(chromedp.CSS(`button[name=action][value=allow]`)),
		chromedp.WaitVisible(chromedp.CSS(`#signed-in`)),
	))
	if !hasCookie(t, ctx, st.ServiceURL, "blink_passkey_not_now") || count(`SELECT count(*) FROM passkeys WHERE subject::text = $1`) != 0 {
		t.Fatal("'Not now' was not remembered, or a passkey was made")
	}

	// /account: add a passkey with the browser's dialog.
	browse(t, ctx, "open the account page", chromedp.Steps(
		chromedp.Navigate(st.ServiceURL+"/account"),
		chromedp.WaitVisible(chromedp.CSS(`#passkey-add`)),
	))
	if s := pageText(t, ctx, `section[aria-labelledby=passkeys-heading]`); !strings.Contains(s, lang.T("account.passkeys.none")) {
		t.Errorf("the passkeys section reads %q", s)
	}
	browse(t, ctx, "open the add page", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`#passkey-add`)),
		chromedp.WaitVisible(chromedp.CSS(`#passkey-name`)),
	))
	assertAccessible(t, ctx, "add a passkey ("+string(lang)+")")
	browse(t, ctx, "create the passkey", chromedp.Steps(
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#passkey-name").value = ""`),
		chromedp.SendKeys(chromedp.CSS(`#passkey-name`), "Pixel"),
		chromedp.Click(chromedp.CSS(`button[name=action][value=create]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	))
	if n := pageText(t, ctx, `p.notice`); n != lang.T("account.done.passkey_added") {
		t.Errorf("after adding, the notice reads %q", n)
	}
	if n := count(`SELECT count(*) FROM passkeys WHERE subject::text = $1 AND name = 'Pixel' AND user_verified AND NOT backup_eligible AND last_used_at IS NULL`); n != 1 {
		t.Fatalf("%d passkeys named Pixel, user verified, device-bound", n)
	}
	if n := count(`SELECT count(*) FROM audit_events WHERE user_id::text = $1 AND action = 'passkey added' AND method = 'account'`); n != 1 {
		t.Errorf("%d 'passkey added' audit events", n)
	}
	waitNotice(t, email, i18n.English.T("notify.passkey.added"))
	held := heldCredentials(t, ctx, auth)
	if len(held) != 1 || !held[0].IsResidentCredential || string(held[0].UserHandle) != string(passkey.UserHandle(subject)) {
		t.Fatalf("the authenticator holds %+v", held)
	}
	assertAccessible(t, ctx, "/account with a passkey ("+string(lang)+")")
	assertKeyboardReachable(t, ctx, "/account with a passkey ("+string(lang)+")")

	// The same device again: the browser says it already has one.
	browse(t, ctx, "add it again", chromedp.Steps(
		chromedp.Navigate(st.ServiceURL+"/account/passkeys/add"),
		chromedp.WaitVisible(chromedp.CSS(`#passkey-name`)),
		chromedp.Click(chromedp.CSS(`button[name=action][value=create]`)),
	))
	waitText(t, ctx, `#passkey-error`, lang.T("passkey.add.error.exists"))
	assertAccessible(t, ctx, "add a passkey, with the browser's error ("+string(lang)+")")

	// Rename it.
	browse(t, ctx, "rename it", chromedp.Steps(
		chromedp.Navigate(st.ServiceURL+"/account"),
		chromedp.WaitVisible(chromedp.CSS(`form.passkey-rename input[name=name]`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("form.passkey-rename input[name=name]").value = ""`),
		chromedp.SendKeys(chromedp.CSS(`form.passkey-rename input[name=name]`), "My phone"),
		chromedp.Click(chromedp.CSS(`button[name=action][value=rename]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	))
	if n := pageText(t, ctx, `h3.passkey-name`); n != "My phone" {
		t.Errorf("after renaming the passkey is called %q", n)
	}

	// Sign out of the account page (and Hydra's login session).
	browse(t, ctx, "sign out", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`form[action="/account/signout"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`h1`)),
	))
	waitForURL(t, ctx, func(u string) bool { return strings.HasSuffix(u, "/account/signed-out") })

	// The app again: the identifier page's passkey autofill (conditional
	// mediation) offers the passkey, and the virtual authenticator answers
	// at once: signed in with no code; Hydra hands the app its tokens.
	codes := codeCount(testSMTP.inbox, email)
	browse(t, ctx, "sign in with the passkey", chromedp.Steps(
		chromedp.Navigate(rpURL+"/start?client="+c.ID),
		chromedp.WaitVisible(chromedp.CSS(`#signed-in`)),
	))
	claims := pageText(t, ctx, `#claims`)
	if got := pageText(t, ctx, `#subject`); got != subject || !strings.Contains(claims, `"acr": "2"`) || !strings.Contains(claims, `"hwk"`) {
		t.Errorf("the app got subject %q, claims %s", got, claims)
	}
	if codeCount(testSMTP.inbox, email) != codes {
		t.Error("a code was sent for the passkey sign-in")
	}
	if n := count(`SELECT count(*) FROM passkeys WHERE subject::text = $1 AND last_used_at IS NOT NULL AND sign_count > 0`); n != 1 {
		t.Errorf("the passkey's last use and counter were not stored (%d)", n)
	}
	if n := count(`SELECT count(*) FROM audit_events WHERE user_id::text = $1 AND action = 'sign-in succeeded' AND method = 'passkey'`); n != 1 {
		t.Errorf("%d passkey sign-ins audited", n)
	}

	// /account, signed in with the passkey again (fresh): remove it.
	browse(t, ctx, "open the remove confirmation", chromedp.Steps(
		chromedp.Navigate(st.ServiceURL+"/account"),
		chromedp.WaitVisible(chromedp.CSS(`a[href^="/account/passkeys/remove"]`)),
		chromedp.Click(chromedp.CSS(`a[href^="/account/passkeys/remove"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[name=action][value=remove]`)),
	))
	assertAccessible(t, ctx, "remove a passkey ("+string(lang)+")")
	browse(t, ctx, "remove it", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`button[name=action][value=remove]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	))
	if n := pageText(t, ctx, `p.notice`); n != lang.T("account.done.passkey_removed") {
		t.Errorf("after removing, the notice reads %q", n)
	}
	if n := count(`SELECT count(*) FROM passkeys WHERE subject::text = $1`); n != 0 {
		t.Errorf("%d passkeys after removing", n)
	}
	waitNotice(t, email, i18n.English.T("notify.passkey.removed"))
}

// In Chromium with its virtual authenticator: the offer after a code
// sign-in makes the passkey in place and the sign-in finishes as before;
// an answer the server refuses, and a dialog that fails, go on to the app
// with no passkey made.
func TestBrowserPasskeyOfferAfterACode(t *testing.T) {
	st := passkeyStack(t)
	const email = "browser.passkey.offer@example.com"
	subject := addUser(t, st, email)
	rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Night Market", Scopes: []string{"openid"}, SkipConsent: true})

	// A device whose authenticator answers without user presence: the
	// server refuses the answer, and the sign-in goes on.
	ctx := newChromium(t)
	auth := virtualAuthenticator(t, ctx)
	signInInBrowser(t, ctx, rpURL+"/start?client="+c.ID, email, `button[name=action][value=create]`)
	bad := true
	if _, err := chromedp.Call(ctx, webauthn.SetResponseOverrideBits, webauthn.SetResponseOverrideBitsParams{AuthenticatorID: auth, IsBadUP: &bad}); err != nil {
		t.Fatal(err)
	}
	browse(t, ctx, "add a passkey that the server refuses", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`button[name=action][value=create]`)),
		chromedp.WaitVisible(chromedp.CSS(`#signed-in`)),
	))
	if n := queryIntOn(t, st, `SELECT count(*) FROM passkeys WHERE subject::text = $1`, subject); n != 0 {
		t.Fatalf("%d passkeys after a refused answer", n)
	}

	// A device whose dialog fails (user verification refused: the browser
	// answers NotAllowedError, as for a cancelled dialog): the script goes
	// on to the app, nothing is made.
	ctx = newChromium(t)
	auth = virtualAuthenticator(t, ctx)
	signInInBrowser(t, ctx, rpURL+"/start?client="+c.ID, email, `button[name=action][value=create]`)
	if _, err := chromedp.Call(ctx, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: auth, IsUserVerified: false}); err != nil {
		t.Fatal(err)
	}
	browse(t, ctx, "a dialog that fails", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`button[name=action][value=create]`)),
		chromedp.WaitVisible(chromedp.CSS(`#signed-in`)),
	))
	if n := queryIntOn(t, st, `SELECT count(*) FROM passkeys WHERE subject::text = $1`, subject); n != 0 {
		t.Fatalf("%d passkeys after a failed dialog", n)
	}

	// A new device: the offer makes the passkey and the app gets its tokens.
	ctx = newChromium(t)
	virtualAuthenticator(t, ctx)
	signInInBrowser(t, ctx, rpURL+"/start?client="+c.ID, email, `button[name=action][value=create]`)
	browse(t, ctx, "add a passkey on the offer", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`button[name=action][value=create]`)),
		chromedp.WaitVisible(chromedp.CSS(`#signed-in`)),
	))
	if got := pageText(t, ctx, `#subject`); got != subject {
		t.Errorf("after the offer the app got %q", got)
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM passkeys WHERE subject::text = $1`, subject); n != 1 {
		t.Fatalf("%d passkeys after the offer", n)
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM audit_events WHERE user_id::text = $1 AND action = 'passkey added' AND method = 'sign-in offer' AND client_id IS NOT NULL`, subject); n != 1 {
		t.Errorf("%d audited additions on the offer", n)
	}
	waitNotice(t, email, i18n.English.T("notify.passkey.added"))
}

// waitText waits (10 s at most) until the element's text is want.
func waitText(t *testing.T, ctx context.Context, selector, want string) {
	t.Helper()
	var got string
	for i := 0; i < 200; i++ {
		if got = pageText(t, ctx, selector); got == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s reads %q, want %q", selector, got, want)
}
