//go:build devstack

package main

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
)

// Issue 17 in Chromium, in English and Spanish, light and dark: the lost
// authenticator help on the authenticator step (a wrong recovery code lands
// focused on its field; the right one signs in), the dark wordmark, the used
// sign-in's page going back to the app with the support line beside its
// reference, and /error's URL text quieter than our warning.
func TestBrowserRecoveryCodeAndWaysForward(t *testing.T) {
	for _, lang := range []i18n.Lang{i18n.English, i18n.Spanish} {
		t.Run(string(lang), func(t *testing.T) {
			email := "browser.recovery." + string(lang) + "@example.com"
			subject := addUser(t, testStack, email)
			importTOTP(t, subject)
			codes := giveRecoveryCodes(t, subject)
			rpURL, c := startDemoRP(t, testStack, devstack.ClientSpec{Name: "Blink account", Scopes: []string{"openid"}, SkipConsent: true})
			ctx := newChromium(t)
			inLanguage(t, ctx, lang)
			browse(t, ctx, "open the sign-in page", chromedp.Steps(
				chromedp.Navigate(rpURL+"/start?client="+c.ID),
				toEmailForm,
			))
			// The app's name stays as it is, the words around it are the page's language.
			if p := pageText(t, ctx, `main p.muted`); p != lang.T("login.for_app", c.Name) {
				t.Errorf("the app line reads %q, want %q", p, lang.T("login.for_app", c.Name))
			}
			enterEmailCode(t, ctx, email, `form[action="/login/totp"] input[name=code]`)
			flow := strings.TrimPrefix(browse(t, ctx, "url", chromedp.Evaluate[string](`location.search`)), "?flow=")

			// The wordmark follows the theme.
			for scheme, want := range map[string]string{"light": "/logo.svg", "dark": "/logo-dark.svg"} {
				if err := setColorScheme(ctx, scheme); err != nil {
					t.Fatal(err)
				}
				// The <picture> picks its source again on the media change; a
				// reload makes sure it did.
				browse(t, ctx, "reload", chromedp.Steps(chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`header.site img`))))
				if src := browse(t, ctx, "logo", chromedp.Evaluate[string](`document.querySelector("header.site img").currentSrc`)); !strings.HasSuffix(src, want) {
					t.Errorf("%s theme: the wordmark is %s, want %s", scheme, src, want)
				}
			}
			setColorScheme(ctx, "")

			browse(t, ctx, "open the lost-app help", chromedp.Steps(
				chromedp.Click(chromedp.CSS(`details.lost summary`)),
				chromedp.WaitVisible(chromedp.CSS(`#recovery_code`)),
			))
			if s := pageText(t, ctx, `details.lost summary`); s != lang.T("login.totp.lost") {
				t.Errorf("the help reads %q", s)
			}
			if href := browse(t, ctx, "support link", chromedp.Evaluate[string](`(document.querySelector('details.lost a[href^="https://support"]') || {}).href || ""`)); href != testSupportURL {
				t.Errorf("the lost-app help links to %q, want SUPPORT_URL", href)
			}
			assertAccessible(t, ctx, "authenticator step, lost-app help open ("+string(lang)+")")
			browse(t, ctx, "a wrong recovery code", chromedp.Steps(
				chromedp.SendKeys(chromedp.CSS(`#recovery_code`), "aaaa-bbbb-cccc-dddd"),
				chromedp.Click(chromedp.CSS(`button[name=action][value=recovery]`)),
				chromedp.WaitVisible(chromedp.CSS(`#recovery_code[aria-invalid=true]`)),
			))
			if e := pageText(t, ctx, `#recovery-error`); e != lang.T("login.totp.recovery.error") {
				t.Errorf("the error reads %q", e)
			}
			if f := browse(t, ctx, "focus", chromedp.Evaluate[string](`document.activeElement.id`)); f != "recovery_code" {
				t.Errorf("after a wrong recovery code the focus is on %q", f)
			}
			saveScreenshot(ctx, "totp-recovery-error-"+string(lang)+".png")
			assertAccessible(t, ctx, "authenticator step, wrong recovery code ("+string(lang)+")")
			browse(t, ctx, "the right recovery code", chromedp.Steps(
				chromedp.SendKeys(chromedp.CSS(`#recovery_code`), codes[3]),
				chromedp.Click(chromedp.CSS(`button[name=action][value=recovery]`)),
				chromedp.WaitVisible(chromedp.CSS(`#signed-in`)),
			))
			if claims := pageText(t, ctx, `#claims`); !strings.Contains(claims, `"acr": "2"`) || !strings.Contains(claims, `"recovery_code"`) {
				t.Errorf("claims after a recovery code: %s", claims)
			}
			if n := queryInt(t, `SELECT count(*) FROM recovery_codes WHERE user_id = $1::uuid AND used_flow::text = $2`, subject, flow); n != 1 {
				t.Errorf("%d recovery codes used by the flow, want 1", n)
			}

			// The same sign-in again: already completed, back to the app
			// first, support beside the reference.
			browse(t, ctx, "the used sign-in", chromedp.Steps(
				chromedp.Navigate(testStack.ServiceURL+"/login?login_challenge="+url.QueryEscape(challengeOf(t, flow))),
				chromedp.WaitVisible(chromedp.CSS(`h1`)),
			))
			if h := pageText(t, ctx, `h1`); h != lang.T("error.used.title") {
				t.Errorf("the used sign-in's page: %q", h)
			}
			if a := pageText(t, ctx, `.actions a.button.primary`); a != lang.T("error.back_to_app") {
				t.Errorf("the used sign-in's primary action reads %q", a)
			}
			if href := browse(t, ctx, "back", chromedp.Evaluate[string](`document.querySelector(".actions a.button.primary").href`)); !strings.HasPrefix(href, testStack.Hydra.PublicURL) {
				t.Errorf("back to the app leads to %q, not Hydra's redirect", href)
			}
			if s := pageText(t, ctx, `.support-line a`); s != lang.T("error.support_link") {
				t.Errorf("the support line's link reads %q", s)
			}
			assertAccessible(t, ctx, "used sign-in page ("+string(lang)+")")

			// /error: our warning outranks the URL's text.
			browse(t, ctx, "the error page's details", chromedp.Steps(
				chromedp.Navigate(testStack.ServiceURL+"/error?error=access_denied&error_description=Call+this+number+now"),
				chromedp.Click(chromedp.CSS(`details.technical summary`)),
				chromedp.WaitVisible(chromedp.CSS(`details.technical dl`)),
			))
			sizes := browse(t, ctx, "sizes", chromedp.Evaluate[[]float64](`[".technical-note", "dl.url-text dd"].map(s => parseFloat(getComputedStyle(document.querySelector(s)).fontSize))`))
			if len(sizes) != 2 || sizes[1] >= sizes[0] {
				t.Errorf("our warning is %v px and the URL's text %v px: the URL's text must be smaller", sizes[0], sizes[1:])
			}
			assertAccessible(t, ctx, "/error with details open ("+string(lang)+")")
		})
	}
}
