//go:build devstack

package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// In Chromium: allow an app (remembered), open the account page, remove the
// app's access there, and the app's next sign-in asks for consent again.
func TestBrowserAccountRemovesAConnectedApp(t *testing.T) {
	st := accountStack(t)
	const email = "browser.account@example.com"
	addUser(t, st, email)
	rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Coffee Shop", Scopes: []string{"openid", "read"}})
	ctx := newChromium(t)
	allowRemembered(t, ctx, rpURL+"/start?client="+c.ID, email)
	browse(t, ctx, "open the account page", chromedp.Steps(
		chromedp.Navigate(st.ServiceURL+"/account"),
		chromedp.WaitVisible(chromedp.CSS(`button[name=action][value=revoke]`)),
	))
	saveScreenshot(ctx, "account.png")
	if apps := pageText(t, ctx, `ul.apps`); !strings.Contains(apps, "Coffee Shop") || !strings.Contains(apps, "See your balance and transaction history") {
		t.Errorf("connected apps read %q", apps)
	}
	browse(t, ctx, "remove its access", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`button[name=action][value=revoke]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	))
	if apps := pageText(t, ctx, `#apps-heading + p`); !strings.Contains(apps, "No app has access") {
		t.Errorf("after removing, the apps section reads %q", apps)
	}
	browse(t, ctx, "the app asks again", chromedp.Steps(
		chromedp.Navigate(rpURL+"/start?client="+c.ID),
		chromedp.WaitVisible(chromedp.CSS(`button[name=action][value=allow]`)),
	))
	if h := pageText(t, ctx, `h1`); h != "Coffee Shop wants to use your Blink account" {
		t.Errorf("after the removal the app's sign-in shows %q, want its consent page", h)
	}
}

// In Chromium: signed in to an app and to the account page, the person signs
// out of Blink from the app (confirming on our logout page); the account
// page is signed out too: its session rows are gone and /account asks who
// you are (security review, issue 15).
func TestBrowserSignOutOfBlinkEndsTheAccountPage(t *testing.T) {
	st := accountStack(t)
	const email = "browser.account.logout@example.com"
	subject := addUser(t, st, email)
	sessions := func() int {
		return queryIntOn(t, st, `SELECT count(*) FROM account_sessions WHERE subject = $1`, subject)
	}
	rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Night Market", Scopes: []string{"openid"}, SkipConsent: true})
	ctx := newChromium(t)
	signInInBrowser(t, ctx, rpURL+"/start?client="+c.ID, email, `#sign-out`)
	browse(t, ctx, "open the account page", chromedp.Steps(
		chromedp.Navigate(st.ServiceURL+"/account"),
		chromedp.WaitVisible(chromedp.CSS(`#apps-heading`)),
	))
	if n := sessions(); n != 1 {
		t.Fatalf("%d account sessions after opening the page", n)
	}
	browse(t, ctx, "sign out of Blink from the app", chromedp.Steps(
		chromedp.Navigate(rpURL+"/start?client="+c.ID),
		chromedp.WaitVisible(chromedp.CSS(`#sign-out`)),
		chromedp.Click(chromedp.CSS(`#sign-out`)),
		chromedp.WaitVisible(chromedp.CSS(`button[name=action][value=yes]`)),
		chromedp.Click(chromedp.CSS(`button[name=action][value=yes]`)),
	))
	waitForURL(t, ctx, func(u string) bool { return strings.Contains(u, "logged-out") || strings.HasPrefix(u, "chrome-error:") })
	if n := sessions(); n != 0 {
		t.Errorf("%d account sessions after signing out of Blink, want 0", n)
	}
	browse(t, ctx, "the account page asks who you are", chromedp.Steps(
		chromedp.Navigate(st.ServiceURL+"/account"),
		toEmailForm,
	))
}

// In Chromium: the account page with a connected app and its activity, the
// "Remove all" confirmation, turning two-step sign-in on by reading the
// otpauth:// URI from the page (a wrong code first), the next sign-in asking
// for the authenticator, turning it off, and signing out. axe-core checks
// every one of those pages in both themes.
func TestBrowserAccountTwoStepSignIn(t *testing.T) {
	for _, lang := range []i18n.Lang{i18n.English, i18n.Spanish} {
		t.Run(string(lang), func(t *testing.T) { accountTwoStepInBrowser(t, lang) })
	}
}

// accountTwoStepInBrowser is the account page's two-step sign-in in lang.
func accountTwoStepInBrowser(t *testing.T, lang i18n.Lang) {
	st := accountStack(t)
	email := "browser.account.totp." + string(lang) + "@example.com"
	subject := addUser(t, st, email)
	credentials := func() int {
		return queryIntOn(t, st, `SELECT count(*) FROM totp_credentials WHERE user_id::text = $1`, subject)
	}
	rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Tip Jar", Scopes: []string{"openid", "read"}})
	ctx := newChromium(t)
	inLanguage(t, ctx, lang)
	allowRemembered(t, ctx, rpURL+"/start?client="+c.ID, email)
	// A first-party app (skip_consent) signed in to without being asked.
	walletURL, wallet := startDemoRP(t, st, devstack.ClientSpec{Name: "Blink Wallet", Scopes: []string{"openid"}, SkipConsent: true})
	browse(t, ctx, "sign in to the first-party app", chromedp.Steps(
		chromedp.Navigate(walletURL+"/start?client="+wallet.ID),
		chromedp.WaitVisible(chromedp.CSS(`#signed-in`)),
	))
	browse(t, ctx, "open the account page", chromedp.Steps(
		chromedp.Navigate(st.ServiceURL+"/account"),
		chromedp.WaitVisible(chromedp.CSS(`button[name=action][value=enable_totp]`)),
	))
	if apps, activity := pageText(t, ctx, `ul.apps`), pageText(t, ctx, `ol.activity`); !strings.Contains(apps, "Tip Jar") || !strings.Contains(activity, "Tip Jar") {
		t.Fatalf("the account page lists apps %q and activity %q", apps, activity)
	}
	// The first-party app reads "signed in with", the allowed one "allowed on".
	labels := browse(t, ctx, "app labels", chromedp.Evaluate[map[string]string](`(() => {
		const m = {};
		document.querySelectorAll("li.app").forEach(li => {
			m[li.querySelector("h3").textContent.trim()] = li.querySelector("p.small-text").textContent.trim().split("\n")[0].trim() + " | " + li.querySelector("button[value=revoke]").textContent.trim();
		});
		return m;
	})()`))
	if w := labels["Blink Wallet"]; !strings.HasPrefix(w, lang.T("account.apps.signed_in_with")) || !strings.HasSuffix(w, "| "+lang.T("account.apps.first_party_revoke")) {
		t.Errorf("the first-party app reads %q", w)
	}
	if a := labels["Tip Jar"]; !strings.HasPrefix(a, lang.T("account.apps.granted")) || !strings.HasSuffix(a, "| "+lang.T("account.apps.revoke")) {
		t.Errorf("the allowed app reads %q", a)
	}
	assertAccessible(t, ctx, "/account with a connected app and recent activity ("+string(lang)+")")
	assertKeyboardReachable(t, ctx, "/account with a connected app and recent activity ("+string(lang)+")")

	browse(t, ctx, "open the remove-all confirmation", chromedp.Steps(
		chromedp.Navigate(st.ServiceURL+"/account/remove-all"),
		chromedp.WaitVisible(chromedp.CSS(`button[name=action][value=revoke_all]`)),
	))
	assertAccessible(t, ctx, "remove-all confirmation ("+string(lang)+")")
	browse(t, ctx, "open the turn-on page a fresh sign-in returns to", chromedp.Steps(
		chromedp.Navigate(st.ServiceURL+"/account/two-step/on"),
		chromedp.WaitVisible(chromedp.CSS(`button[name=action][value=enable_totp]`)),
	))
	assertAccessible(t, ctx, "turn-on page ("+string(lang)+")")

	browse(t, ctx, "turn two-step sign-in on", chromedp.Steps(
		chromedp.Navigate(st.ServiceURL+"/account"),
		chromedp.WaitVisible(chromedp.CSS(`button[name=action][value=enable_totp]`)),
		chromedp.Click(chromedp.CSS(`button[name=action][value=enable_totp]`)),
		chromedp.WaitVisible(chromedp.CSS(`#totp-uri`)),
	))
	saveScreenshot(ctx, "account-totp-enrol-"+string(lang)+".png")
	// On a phone: "Add to authenticator app" (the otpauth:// link) comes
	// first and the code field is in view without scrolling past the QR code;
	// the copy button is shown by its script.
	layout := browse(t, ctx, "enrol layout", chromedp.Evaluate[map[string]any](`(() => {
		const r = s => document.querySelector(s).getBoundingClientRect();
		return {add: r("#totp-add").top, field: r("#code").bottom, qr: r("svg.qr").top, view: innerHeight,
			href: document.querySelector("#totp-add").getAttribute("href"), copy: !document.querySelector("button.copy").hidden};
	})()`))
	if add, field, qr, view := layout["add"].(float64), layout["field"].(float64), layout["qr"].(float64), layout["view"].(float64); !(add < field && field < qr && field <= view) {
		t.Errorf("enrol page on a phone: add link at %v, code field ends at %v, QR at %v, viewport %v", add, field, qr, view)
	}
	if href, _ := layout["href"].(string); !strings.HasPrefix(href, "otpauth://totp/") || layout["copy"] != true {
		t.Errorf("the add link is %q and the copy button shown: %v", href, layout["copy"])
	}
	assertAccessible(t, ctx, "enrol page ("+string(lang)+")")
	assertKeyboardReachable(t, ctx, "enrol page ("+string(lang)+")")
	secret, err := totp.ParseURI(pageText(t, ctx, `#totp-uri`))
	if err != nil {
		t.Fatalf("the setup link on the page: %v", err)
	}
	right := totp.Code(secret, time.Now())
	browse(t, ctx, "confirm a wrong code", chromedp.Steps(
		typeCodeKeys(wrongCode(right)),
		chromedp.Click(chromedp.CSS(`button[name=action][value=confirm_totp]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=code][aria-invalid=true]`)),
	))
	if e := pageText(t, ctx, `#code-error`); e != lang.T("account.totp.error.wrong_code") {
		t.Errorf("the enrol page's error reads %q", e)
	}
	// The page lands on the field, focused, with the validity line kept.
	if f := browse(t, ctx, "focus", chromedp.Evaluate[string](`document.activeElement.id`)); f != "code" {
		t.Errorf("after a wrong code the focus is on %q", f)
	}
	if e := pageText(t, ctx, `#expires`); !strings.Contains(e, strings.Fields(lang.T("account.totp.enrol.expires", 10))[0]) {
		t.Errorf("the validity line after a wrong code reads %q", e)
	}
	if n := credentials(); n != 0 {
		t.Fatalf("a wrong code saved %d credentials", n)
	}
	assertAccessible(t, ctx, "enrol page with an error message ("+string(lang)+")")
	browse(t, ctx, "confirm the right code", chromedp.Steps(
		chromedp.Evaluate[chromedp.Void](`document.querySelector("input[name=code]").value = ""`),
		typeCodeKeys(right),
		chromedp.Click(chromedp.CSS(`button[name=action][value=confirm_totp]`)),
		chromedp.WaitVisible(chromedp.CSS(`ol.recovery-codes`)),
	))
	if n := credentials(); n != 1 {
		t.Fatalf("%d credentials after the right code, want 1", n)
	}
	if n := browse(t, ctx, "codes", chromedp.Evaluate[int](`document.querySelectorAll("ol.recovery-codes li").length`)); n != 10 {
		t.Errorf("%d recovery codes shown, want 10", n)
	}
	assertAccessible(t, ctx, "recovery codes page ("+string(lang)+")")
	// A person in El Salvador (UTC-6): the account page's times are theirs.
	// (Set here: a cross-site navigation starts a renderer without it.)
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "America/El_Salvador"}); err != nil {
		t.Fatal(err)
	}
	browse(t, ctx, "saved the codes", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`.actions a.button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	))
	// Destructive actions look destructive; turning on does not.
	styles := browse(t, ctx, "button styles", chromedp.Evaluate[map[string]string](`(() => {
		const c = s => getComputedStyle(document.querySelector(s)).color;
		return {off: c('a[href="/account/two-step/off"]'), remove: c('button[value=revoke]'), signout: c('form[action="/account/signout"] button'),
			danger: getComputedStyle(document.documentElement).getPropertyValue("--danger").trim()};
	})()`))
	if styles["off"] != styles["remove"] || styles["off"] == styles["signout"] {
		t.Errorf("turn off %s, remove access %s, sign out %s: the destructive ones should share the danger colour (%s)", styles["off"], styles["remove"], styles["signout"], styles["danger"])
	}
	// Times in the browser's zone (script), not UTC.
	tm := browse(t, ctx, "activity time", chromedp.Evaluate[[]string](`(() => { const e = document.querySelector("ol.activity time"); return [e.getAttribute("datetime"), e.textContent]; })()`))
	at, err := time.Parse(time.RFC3339, tm[0])
	if err != nil {
		t.Fatal(err)
	}
	// Intl's medium date and short time: "Dec 4, 2026, 6:03 PM", "4 dic 2026, 18:03".
	local := at.In(time.FixedZone("UTC-6", -6*3600))
	want := local.Format("Jan 2, 2006, 3:04 PM")
	if lang == i18n.Spanish {
		want = fmt.Sprintf("%d %s %d, %s", local.Day(), []string{"ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"}[local.Month()-1], local.Year(), local.Format("15:04"))
	}
	if got := strings.Join(strings.Fields(strings.ReplaceAll(tm[1], "\u202f", " ")), " "); got != want {
		t.Errorf("activity time %q reads %q, want El Salvador's %q", tm[0], tm[1], want)
	}

	// Another browser signs in to the app: the authenticator is asked for.
	ctx = newChromium(t)
	inLanguage(t, ctx, lang)
	signInInBrowser(t, ctx, rpURL+"/start?client="+c.ID, email, `form[action="/login/totp"] input[name=code]`)
	browse(t, ctx, "type the authenticator code", chromedp.Steps(
		typeCodeKeys(totp.Code(secret, time.Now().Add(totp.Period*time.Second))),
		chromedp.WaitVisible(chromedp.CSS(`#signed-in`)),
	))
	if claims := pageText(t, ctx, `#claims`); !strings.Contains(claims, `"acr": "2"`) {
		t.Errorf("the sign-in after enrolling: claims %s", claims)
	}

	browse(t, ctx, "turn it off from the account page", chromedp.Steps(
		chromedp.Navigate(st.ServiceURL+"/account"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account/two-step/off"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/account/two-step/off"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[name=action][value=remove_totp]`)),
	))
	assertAccessible(t, ctx, "remove confirmation ("+string(lang)+")")
	// The safe choice is the primary button.
	if p := pageText(t, ctx, `.actions .primary`); p != lang.T("account.totp.remove.keep") {
		t.Errorf("the turn-off confirmation's primary action is %q", p)
	}
	browse(t, ctx, "confirm turning it off", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`button[name=action][value=remove_totp]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	))
	if n := pageText(t, ctx, `p.notice`); n != lang.T("account.done.totp_off") {
		t.Errorf("after turning it off the notice reads %q", n)
	}
	if n := credentials(); n != 0 {
		t.Fatalf("%d credentials after turning it off", n)
	}

	browse(t, ctx, "sign out of the account page", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`form[action="/account/signout"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`h1`)),
	))
	waitForURL(t, ctx, func(u string) bool { return strings.HasSuffix(u, "/account/signed-out") })
	if h := pageText(t, ctx, `h1`); h != lang.T("account.signed_out.title") {
		t.Errorf("after signing out the heading is %q", h)
	}
	assertAccessible(t, ctx, "signed-out page ("+string(lang)+")")
}

// allowRemembered signs email in to the app started at startURL and allows it
// with "Remember", so the app becomes a connected app.
func allowRemembered(t *testing.T, ctx context.Context, startURL, email string) {
	t.Helper()
	signInInBrowser(t, ctx, startURL, email, `button[name=action][value=allow]`)
	browse(t, ctx, "allow, remembered", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`input[name=remember]`)),
		chromedp.Click(chromedp.CSS(`button[name=action][value=allow]`)),
		chromedp.WaitVisible(chromedp.CSS(`#signed-in`)),
	))
}

// inLanguage makes the browser ask for lang (Accept-Language) on every request.
func inLanguage(t *testing.T, ctx context.Context, lang i18n.Lang) {
	t.Helper()
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": string(lang)}}); err != nil {
		t.Fatal(err)
	}
}
