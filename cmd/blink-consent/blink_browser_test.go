//go:build devstack

package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
)

// Blink mode in Chromium: an existing email account and a new phone number
// sign in to the demo app through the real Hydra, against the stand-in of
// core — the phone form passing Geetest with the stand-in's gt.js and our
// geetest.js, as a person would.

func TestBrowserBlinkEmailSignIn(t *testing.T) {
	st, core := blinkStack(t)
	id := core.AddIdentity("blink.browser@example.com", "")
	rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Blink Browser App", Scopes: []string{"openid", "email"}, SkipConsent: true})
	ctx := newChromium(t)
	browse(t, ctx, "ask for a code", chromedp.Steps(
		chromedp.Navigate(rpURL+"/start?client="+c.ID),
		toEmailForm,
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "blink.browser@example.com"),
		chromedp.Click(chromedp.CSS(`button[name=action][value=continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=code]`)),
	))
	code := core.Code("blink.browser@example.com")
	browse(t, ctx, "type the code", chromedp.Steps(
		typeCodeKeys(code),
		chromedp.WaitVisible(chromedp.CSS(`#signed-in`)),
	))
	if got := pageText(t, ctx, `#subject`); got != id {
		t.Errorf("subject %q, want core's id %s", got, id)
	}
}

func TestBrowserBlinkPhoneSignInPassesGeetest(t *testing.T) {
	st, core := blinkStack(t)
	rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Blink Browser Phone App", Scopes: []string{"openid", "phone"}, SkipConsent: true})
	ctx := newChromium(t)
	browse(t, ctx, "open the phone form", openPhoneForm(rpURL+"/start?client="+c.ID))
	saveScreenshot(ctx, "blink-phone.png")
	assertAccessible(t, ctx, "identifier page, phone tab, blink mode with Geetest")
	browse(t, ctx, "ask for a code through Geetest", chromedp.Steps(
		chromedp.SetValue(chromedp.CSS(`select[name=country]`), "SV"),
		chromedp.SendKeys(chromedp.CSS(`input[name=phone]`), "7555 0404"),
		chromedp.Click(chromedp.CSS(`button[name=action][value=continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=code]`)),
	))
	assertAccessible(t, ctx, "code page, blink mode with Geetest")
	browse(t, ctx, "type the code", chromedp.Steps(
		typeCodeKeys(core.Code("+50375550404")),
		chromedp.WaitVisible(chromedp.CSS(`#signed-in`)),
	))
	id := core.Lookup("+50375550404")
	if got := pageText(t, ctx, `#subject`); id == "" || got != id {
		t.Errorf("subject %q, want the new core account %q", got, id)
	}
	if claims := pageText(t, ctx, `#claims`); !strings.Contains(claims, "+50375550404") {
		t.Errorf("claims %s lack the phone number", claims)
	}
}

// Blink mode, a person who lost their authenticator app, in English and
// Spanish: the authenticator step's folded help says what to tell Blink
// support and links to SUPPORT_URL; no recovery code field (core keeps the
// authenticator).
func TestBrowserBlinkLostAuthenticatorGoesToSupport(t *testing.T) {
	st, core := blinkStack(t)
	for _, lang := range []i18n.Lang{i18n.English, i18n.Spanish} {
		t.Run(string(lang), func(t *testing.T) {
			email := "blink.lost." + string(lang) + "@example.com"
			core.EnrolTOTP(core.AddIdentity(email, ""))
			rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
			ctx := newChromium(t)
			inLanguage(t, ctx, lang)
			browse(t, ctx, "sign in to the authenticator step", chromedp.Steps(
				chromedp.Navigate(rpURL+"/start?client="+c.ID),
				toEmailForm,
				chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
				chromedp.Click(chromedp.CSS(`button[name=action][value=continue]`)),
				chromedp.WaitVisible(chromedp.CSS(`input[name=code]`)),
			))
			browse(t, ctx, "type the code", chromedp.Steps(
				typeCodeKeys(core.Code(email)),
				chromedp.WaitVisible(chromedp.CSS(`form[action="/login/totp"] input[name=code]`)),
				chromedp.Click(chromedp.CSS(`details.lost summary`)),
				chromedp.WaitVisible(chromedp.CSS(`details.lost a`)),
			))
			if p := pageText(t, ctx, `details.lost p`); p != lang.T("login.totp.support.body") {
				t.Errorf("the help reads %q", p)
			}
			if href := browse(t, ctx, "support link", chromedp.Evaluate[string](`document.querySelector("details.lost a").href`)); href != testSupportURL {
				t.Errorf("the help links to %q, want SUPPORT_URL", href)
			}
			if n := browse(t, ctx, "recovery field", chromedp.Evaluate[int](`document.querySelectorAll("[name=recovery_code]").length`)); n != 0 {
				t.Error("blink mode offers a recovery code field")
			}
			assertAccessible(t, ctx, "authenticator step, blink mode, lost-app help open ("+string(lang)+")")
		})
	}
}
