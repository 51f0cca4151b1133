//go:build devstack

package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/devstack/corestandin"
)

// The browser scripts Blink's sign-in loads from elsewhere — Geetest's gt.js
// and Telegram's Passport script — are served here by stand-ins in
// testdata/ that speak the real scripts' API (and refuse what the real ones
// would not do), from an origin of their own, as self-hosted copies are.

var cutover struct {
	once    sync.Once
	core    *corestandin.Standin
	scripts *httptest.Server
	st      *stack
	err     error
}

// cutoverStack starts (once) a stand-in of core, the script server and a
// blink-mode stack loading its scripts from there.
func cutoverStack(t *testing.T) (*stack, *corestandin.Standin) {
	t.Helper()
	cutover.once.Do(func() {
		cutover.core, cutover.err = corestandin.Start("127.0.0.1:0")
		if cutover.err != nil {
			return
		}
		cutover.core.RequireGeetestAnswer(true)
		cutover.scripts = httptest.NewServer(http.FileServer(http.Dir("testdata")))
		cutover.st, cutover.err = newTestStack(context.Background(), "blinkcutover", 0, map[string]string{
			"IDENTITY_SOURCE":              "blink",
			"CORE_AUTH_URL":                cutover.core.AuthURL(),
			"GRAPHQL_ENDPOINT":             cutover.core.GraphQLURL(),
			"GEETEST_SCRIPT_URL":           cutover.scripts.URL + "/gt-standin.js",
			"TELEGRAM_PASSPORT_SCRIPT_URL": cutover.scripts.URL + "/telegram-passport-standin.js",
		})
	})
	if cutover.err != nil {
		t.Fatalf("the cut-over stack: %v", cutover.err)
	}
	return cutover.st, cutover.core
}

// Geetest v3's bind flow in Chromium (issue 16, item 6): the phone form
// inits Geetest on load, "Continue" waits for Geetest's onReady before
// verify() (the stand-in ignores an earlier one, as the real captcha is not
// there yet), and onSuccess sends the form with the three answers core
// checks. The page's CSP lets in every host gt.js uses.
func TestBrowserGeetestBindFlow(t *testing.T) {
	st, core := cutoverStack(t)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "phone"}, SkipConsent: true})
	b := newBrowser(t)
	flow := flowID(t, rp.start(b).Last())
	page := b.Get(st.ServiceURL + "/login/identify?flow=" + flow + "&method=phone").Last()
	csp := page.Header.Get("Content-Security-Policy")
	var missing []string
	for _, host := range []string{"https://api.geetest.com", "https://static.geetest.com", "https://monitor.geetest.com",
		"https://dn-staticdown.qbox.me", "https://api.geevisit.com", "https://static.geevisit.com", cutover.scripts.URL} {
		for _, directive := range []string{"script-src", "img-src", "style-src"} {
			if !cspAllows(csp, directive, host) {
				missing = append(missing, directive+" "+host)
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("the phone page's CSP lacks %v: %q", missing, csp)
	}

	rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Geetest App", Scopes: []string{"openid", "phone"}, SkipConsent: true})
	ctx := newChromium(t)
	browse(t, ctx, "open the phone form", openPhoneForm(rpURL+"/start?client="+c.ID))
	browse(t, ctx, "press Continue before Geetest is ready", chromedp.Steps(
		chromedp.SetValue(chromedp.CSS(`select[name=country]`), "SV"),
		chromedp.SendKeys(chromedp.CSS(`input[name=phone]`), "7555 0606"),
		chromedp.Click(chromedp.CSS(`button[name=action][value=continue]`)),
	))
	if early := browse(t, ctx, "read the stand-in", chromedp.Evaluate[bool](`window.geetestStandin.verifiedEarly`)); early {
		t.Error("verify() was called before Geetest's onReady")
	}
	if path := browse(t, ctx, "where the page is", chromedp.Evaluate[string](`location.pathname`)); path != "/login/identify" {
		t.Errorf("the form was sent before Geetest answered: %s", path)
	}
	if p := browse(t, ctx, "read the stand-in", chromedp.Evaluate[string](`window.geetestStandin.config.product`)); p != "bind" {
		t.Errorf("Geetest was initialised with product %q, want bind", p)
	}
	browse(t, ctx, "Geetest is ready; the check passes and the code is sent", chromedp.Steps(
		chromedp.Evaluate[chromedp.Void](`window.geetestStandin.ready(), undefined`),
		chromedp.WaitVisible(chromedp.CSS(`input[name=code]`)),
	))
	browse(t, ctx, "type the code", chromedp.Steps(
		typeCodeKeys(core.Code("+50375550606")),
		chromedp.WaitVisible(chromedp.CSS(`#signed-in`)),
	))
	if id, got := core.Lookup("+50375550606"), pageText(t, ctx, `#subject`); id == "" || got != id {
		t.Errorf("subject %q, want the core account %q", got, id)
	}
}

// openPhoneForm starts a sign-in at startURL and opens the phone tab.
func openPhoneForm(startURL string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(startURL),
		chromedp.WaitVisible(chromedp.CSS(`nav.tabs`)),
		chromedp.Click(chromedp.CSS(`nav.tabs a:nth-child(2)`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=phone]`)),
	)
}

// cspAllows reports whether the policy's directive lists source.
func cspAllows(csp, directive, source string) bool {
	for _, d := range strings.Split(csp, ";") {
		fields := strings.Fields(d)
		if len(fields) > 0 && fields[0] == directive {
			for _, f := range fields[1:] {
				if f == source {
					return true
				}
			}
		}
	}
	return false
}

// Telegram Passport in Chromium (issue 16, item 5), in English and Spanish:
// the phone form's Telegram option, the Telegram page opening Telegram
// through Telegram's script (the stand-in records what it would open),
// coming back before Telegram confirmed (a waiting page), Telegram's webhook
// confirming, and "I have confirmed" signing in. Every page axe-core clean.
func TestBrowserTelegramPassport(t *testing.T) {
	st, core := cutoverStack(t)
	for _, tc := range []struct {
		lang, phone, local, title, waiting string
	}{
		{"en", "+12015550151", "201 555 0151", "Confirm in Telegram", "Telegram has not confirmed yet"},
		{"es", "+12015550152", "201 555 0152", "Confirma en Telegram", "Telegram aún no ha confirmado"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Telegram App", Scopes: []string{"openid", "phone"}, SkipConsent: true})
			ctx := newChromium(t)
			if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": tc.lang}}); err != nil {
				t.Fatalf("speak %s: %v", tc.lang, err)
			}
			browse(t, ctx, "open the phone form", openPhoneForm(rpURL+"/start?client="+c.ID))
			browse(t, ctx, "choose Telegram", chromedp.Steps(
				chromedp.SetValue(chromedp.CSS(`select[name=country]`), "US"),
				chromedp.SendKeys(chromedp.CSS(`input[name=phone]`), tc.local),
				chromedp.Click(chromedp.CSS(`input[name=channel][value=telegram]`)),
				chromedp.Click(chromedp.CSS(`button[name=action][value=continue]`)),
				// Shown by our script once Telegram's has loaded under the page's CSP.
				chromedp.WaitVisible(chromedp.CSS(`#telegram-open`)),
			))
			if got := pageText(t, ctx, `h1`); got != tc.title {
				t.Errorf("the Telegram page's title %q, want %q", got, tc.title)
			}
			assertAccessible(t, ctx, "Telegram page ("+tc.lang+")")
			nonce := core.TelegramNonce(tc.phone)
			browse(t, ctx, "open Telegram", chromedp.Click(chromedp.CSS(`#telegram-open`)))
			opened := browse(t, ctx, "read what Telegram's script opened", chromedp.Poll[string](`window.telegramStandin.opened`))
			if nonce == "" || !strings.Contains(opened, "nonce="+nonce) || !strings.Contains(opened, "bot_id="+corestandin.TelegramBotID) {
				t.Errorf("Telegram was opened with %q, want core's nonce %s", opened, nonce)
			}
			browse(t, ctx, "come back from Telegram", chromedp.Steps(
				chromedp.Evaluate[chromedp.Void](`window.telegramStandin.back(), undefined`),
				chromedp.WaitVisible(chromedp.CSS(`form[data-waiting=true]`)),
			))
			if got := pageText(t, ctx, `#telegram-status`); !strings.Contains(got, tc.waiting) {
				t.Errorf("the waiting page says %q, want %q", got, tc.waiting)
			}
			assertAccessible(t, ctx, "Telegram page, waiting ("+tc.lang+")")
			if !core.AuthorizeTelegram(nonce, tc.phone) {
				t.Fatal("the stand-in did not know the nonce")
			}
			browse(t, ctx, "confirmed in Telegram", chromedp.Steps(
				chromedp.Click(chromedp.CSS(`button[name=action][value=check]`)),
				chromedp.WaitVisible(chromedp.CSS(`#signed-in`)),
			))
			if id, got := core.Lookup(tc.phone), pageText(t, ctx, `#subject`); id == "" || got != id {
				t.Errorf("subject %q, want the core account %q", got, id)
			}
		})
	}
}
