//go:build devstack

package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
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
		chromedp.SendKeys(chromedp.CSS(`input[name=code]`), code),
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
		chromedp.SendKeys(chromedp.CSS(`input[name=code]`), core.Code("+50375550404")),
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
