//go:build devstack

package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
)

// In Chromium: allow an app (remembered), open the account page, remove the
// app's access there, and the app's next sign-in asks for consent again.
func TestBrowserAccountRemovesAConnectedApp(t *testing.T) {
	st := accountStack(t)
	const email = "browser.account@example.com"
	addUser(t, st, email)
	rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Coffee Shop", Scopes: []string{"openid", "read"}})
	ctx := newChromium(t)
	signInInBrowser(t, ctx, rpURL+"/start?client="+c.ID, email, `button[name=action][value=allow]`)
	browse(t, ctx, "allow, remembered", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`input[name=remember]`)),
		chromedp.Click(chromedp.CSS(`button[name=action][value=allow]`)),
		chromedp.WaitVisible(chromedp.CSS(`#signed-in`)),
	))
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
