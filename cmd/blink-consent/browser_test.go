//go:build devstack

package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// newChromium starts Debian's headless Chromium for one test, which has
// 30 seconds. A machine without it fails the test: `make test` installs it.
func newChromium(t *testing.T) context.Context {
	t.Helper()
	return newChromiumFor(t, 30*time.Second)
}

// newChromiumFor is newChromium for a test of up to d in one browser.
func newChromiumFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	bin := os.Getenv("CHROMIUM_BIN")
	if bin == "" {
		bin = "/usr/bin/chromium"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the browser tests need Chromium at %s (run `make test`, which installs Debian's chromium, or set CHROMIUM_BIN): %v", bin, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(412, 915), // a phone
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first Run starts the browser and lives as long as ctx: no timeout on it.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	tctx, cancelTimeout := context.WithTimeout(ctx, d)
	t.Cleanup(cancelTimeout)
	return tctx
}

// startDemoRP serves the dev stack's demo relying party for one client on a free port.
func startDemoRP(t *testing.T, st *stack, spec devstack.ClientSpec) (string, devstack.OAuthClient) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + l.Addr().String()
	spec.RedirectURI = base + "/callback"
	c, err := devstack.CreateClient(context.Background(), st.Hydra.AdminURL, spec)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: &devstack.DemoRP{HydraPublicURL: st.Hydra.PublicURL, Clients: []devstack.OAuthClient{c}}}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return base, c
}

// browse runs one action and fails the test if it fails.
func browse[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// pageText reads the innerText of the first element matching selector,
// waiting (10 s at most) until one exists. It reads through one JavaScript
// call instead of a DOM query: chromedp's node ids go stale when a page is
// replaced under a query ("No node with given id found"), and a read is safe
// to try again.
func pageText(t *testing.T, ctx context.Context, selector string) string {
	t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.innerText : null })()`, selector)
	var lastErr error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		text, err := chromedp.Run(ctx, chromedp.Evaluate[*string](js))
		if err == nil && text != nil {
			return *text
		}
		lastErr = err
	}
	t.Fatalf("no %s on the page (last error: %v)", selector, lastErr)
	return ""
}

func saveScreenshot(ctx context.Context, name string) {
	if dir := os.Getenv("SCREENSHOT_DIR"); dir != "" {
		// Quality 100 makes a PNG.
		if shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(filepath.Join(dir, name), shot, 0o644)
		}
	}
}

// A person on a phone-sized Chromium signs in to the first-party demo app with
// a code sent by email and sees the tokens on the demo page.
func TestBrowserFirstPartySignInToTokens(t *testing.T) {
	st := testStack
	subject := addUser(t, st, "browser@example.com")
	rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Browser Dashboard",
		Scopes: []string{"openid", "offline", "read", "write"}, SkipConsent: true})
	ctx := newChromium(t)

	browse(t, ctx, "open the sign-in page", chromedp.Steps(
		chromedp.Navigate(rpURL+"/start?client="+c.ID),
		toEmailForm,
	))
	saveScreenshot(ctx, "sign-in.png")
	if title := browse(t, ctx, "title", chromedp.Title()); !strings.Contains(title, "Sign in to Blink") {
		t.Errorf("sign-in page title %q", title)
	}
	if lang := browse(t, ctx, "lang", chromedp.AttributeValue(chromedp.CSS(`html`), "lang")); lang.Value != "en" {
		t.Errorf("sign-in page lang %q", lang.Value)
	}
	assertAccessible(t, ctx, "identifier page, email tab")
	assertKeyboardReachable(t, ctx, "identifier page, email tab")
	code := askEmailCode(t, ctx, "browser@example.com")
	assertAccessible(t, ctx, "code page (email)")
	typeCode(t, ctx, code, `#signed-in`)
	saveScreenshot(ctx, "first-party-tokens.png")
	gotSubject := pageText(t, ctx, `#subject`)
	scope := pageText(t, ctx, `#scope`)
	claims := pageText(t, ctx, `#claims`)
	if gotSubject != subject || scope != "openid offline read write" || !strings.Contains(claims, `"sub": "`+subject+`"`) {
		t.Errorf("demo page: subject %q scope %q claims %s", gotSubject, scope, claims)
	}

	// The browser kept Hydra's session: a second sign-in shows no page at all.
	browse(t, ctx, "sign in again", chromedp.Steps(
		chromedp.Navigate(rpURL+"/start?client="+c.ID),
		chromedp.WaitVisible(chromedp.CSS(`#signed-in`)),
	))
	if again := pageText(t, ctx, `#subject`); again != subject {
		t.Errorf("remembered sign-in: subject %q", again)
	}
}

// The error page as Chromium renders it: the stylesheet loads under the CSP.
func TestBrowserErrorPageRendersUnderTheCSP(t *testing.T) {
	ctx := newChromium(t)
	browse(t, ctx, "open the error page", chromedp.Steps(
		chromedp.Navigate(testStack.ServiceURL+"/error?error=access_denied&error_description=The+resource+owner+denied+the+request&error_hint=Ask+again"),
		chromedp.WaitVisible(chromedp.CSS(`h1`)),
	))
	saveScreenshot(ctx, "error-page.png")
	assertAccessible(t, ctx, "error page (/error with Hydra's error)")
	browse(t, ctx, "open the technical details", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`details.technical summary`)),
		chromedp.WaitVisible(chromedp.CSS(`details.technical dl`)),
	))
	assertAccessible(t, ctx, "error page, technical details open")
	if h := pageText(t, ctx, `h1`); h != "Something stopped this sign-in" {
		t.Errorf("heading %q", h)
	}
	radius := browse(t, ctx, "style", chromedp.Evaluate[string](`getComputedStyle(document.querySelector('.card')).borderRadius`))
	if radius != "14px" {
		t.Errorf("the stylesheet did not apply (card border-radius %q): blocked by the CSP?", radius)
	}
}

// toEmailForm waits for the identifier page and opens its Email tab: the
// phone tab is the default for a browser that has not asked a code by email
// before (issue 17: only phone numbers open accounts).
var toEmailForm = chromedp.Steps(
	chromedp.WaitVisible(chromedp.CSS(`nav.tabs`)),
	chromedp.Evaluate[chromedp.Void](`(() => {
		const a = document.querySelector('nav.tabs a[href$="method=email"]');
		if (a.getAttribute("aria-current") !== "page") { a.click(); }
	})()`),
	chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
)

// signInInBrowser opens startURL and signs in with the code mailed to email,
// then waits for sel.
func signInInBrowser(t *testing.T, ctx context.Context, startURL, email, sel string) {
	t.Helper()
	browse(t, ctx, "open the sign-in page", chromedp.Steps(
		chromedp.Navigate(startURL),
		toEmailForm,
	))
	enterEmailCode(t, ctx, email, sel)
}

// enterEmailCode types email on the identifier page (ticking "Remember me"),
// reads the code from the test SMTP server, and types it: the page's script
// submits at six digits.
func enterEmailCode(t *testing.T, ctx context.Context, email, sel string) {
	t.Helper()
	code := askEmailCode(t, ctx, email)
	typeCode(t, ctx, code, sel)
}

// askEmailCode types email on the identifier page (ticking "Remember me"),
// waits for the code page and returns the code the test SMTP server got.
func askEmailCode(t *testing.T, ctx context.Context, email string) string {
	t.Helper()
	before := codeCount(testSMTP.inbox, email)
	browse(t, ctx, "ask for a code", chromedp.Steps(
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
		chromedp.Click(chromedp.CSS(`input[name=remember]`)),
		chromedp.Click(chromedp.CSS(`button[name=action][value=continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=code]`)),
	))
	saveScreenshot(ctx, "code.png")
	return waitCode(t, testSMTP.inbox, email, before+1)
}

// typeCode types code on the code page (the page's script submits at six
// digits) and waits for sel.
func typeCode(t *testing.T, ctx context.Context, code, sel string) {
	t.Helper()
	browse(t, ctx, "type the code", chromedp.Steps(
		typeCodeKeys(code),
		chromedp.WaitVisible(chromedp.CSS(sel)),
	))
}

// A third-party app: the user reads the consent page, unticks "write" and allows.
func TestBrowserConsentAllow(t *testing.T) {
	st := testStack
	addUser(t, st, "browser.allow@example.com")
	rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Tip Jar",
		Scopes: []string{"openid", "email", "read", "write"}, PolicyURI: "https://tipjar.example/privacy",
		ClientURI: "https://tipjar.example/", TosURI: "https://tipjar.example/terms", LogoURI: "https://127.0.0.1:1/tipjar-logo.png"}) // no logo there: the page shows its alt text
	ctx := newChromium(t)
	signInInBrowser(t, ctx, rpURL+"/start?client="+c.ID, "browser.allow@example.com", `button[name=action][value=allow]`)
	saveScreenshot(ctx, "consent.png")
	assertAccessible(t, ctx, "consent page (logo, links, optional scopes)")
	assertKeyboardReachable(t, ctx, "consent page (logo, links, optional scopes)")
	if h := pageText(t, ctx, `h1`); h != "Tip Jar wants to use your Blink account" {
		t.Errorf("consent heading %q", h)
	}
	browse(t, ctx, "untick write and allow", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`input[name=scope][value=write]`)),
		chromedp.Click(chromedp.CSS(`button[name=action][value=allow]`)),
		chromedp.WaitVisible(chromedp.CSS(`#signed-in`)),
	))
	scope := pageText(t, ctx, `#scope`)
	claims := pageText(t, ctx, `#claims`)
	if scope != "openid email read" || !strings.Contains(claims, `"email": "browser.allow@example.com"`) {
		t.Errorf("after allow: scope %q claims %s", scope, claims)
	}
}

func TestBrowserConsentDeny(t *testing.T) {
	st := testStack
	addUser(t, st, "browser.deny@example.com")
	rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Nosy App", Scopes: []string{"openid", "read"}})
	ctx := newChromium(t)
	signInInBrowser(t, ctx, rpURL+"/start?client="+c.ID, "browser.deny@example.com", `button[name=action][value=deny]`)
	browse(t, ctx, "deny", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`button[name=action][value=deny]`)),
		chromedp.WaitVisible(chromedp.CSS(`#oauth-error`)),
	))
	if e := pageText(t, ctx, `#oauth-error`); e != "access_denied" {
		t.Errorf("the app got %q, want access_denied", e)
	}
}

// Sign out from the app: confirm, and the next sign-in asks again.
func TestBrowserLogout(t *testing.T) {
	st := testStack
	addUser(t, st, "browser.logout@example.com")
	rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Dashboard", Scopes: []string{"openid"}, SkipConsent: true})
	ctx := newChromium(t)
	signInInBrowser(t, ctx, rpURL+"/start?client="+c.ID, "browser.logout@example.com", `#sign-out`)
	browse(t, ctx, "ask to sign out", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`#sign-out`)),
		chromedp.WaitVisible(chromedp.CSS(`button[name=action][value=yes]`)),
	))
	saveScreenshot(ctx, "logout.png")
	assertAccessible(t, ctx, "logout confirmation")
	assertKeyboardReachable(t, ctx, "logout confirmation")
	if h := pageText(t, ctx, `h1`); h != "Sign out of Blink?" {
		t.Errorf("logout heading %q", h)
	}
	// Yes ends on Hydra's post-logout URL (nothing listens there in tests).
	browse(t, ctx, "confirm", chromedp.Click(chromedp.CSS(`button[name=action][value=yes]`)))
	waitForURL(t, ctx, func(u string) bool { return strings.Contains(u, "logged-out") || strings.HasPrefix(u, "chrome-error:") })
	browse(t, ctx, "sign in again", chromedp.Steps(
		chromedp.Navigate(rpURL+"/start?client="+c.ID),
		toEmailForm,
	))
}

// waitForURL waits (10 s at most) until the tab's URL satisfies ok, so the next
// navigation does not abort one still under way.
func waitForURL(t *testing.T, ctx context.Context, ok func(string) bool) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		u, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.URL`))
		if err == nil && ok(u) {
			return
		}
		last = u
	}
	t.Fatalf("the browser never reached the expected page; last URL %q", last)
}

// A new user signs in by phone: the Phone tab (a plain link, no script), the
// country list, SMS; the account is created on the verified code.
func TestBrowserPhoneSignInCreatesTheAccount(t *testing.T) {
	st := testStack
	rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Phone App", Scopes: []string{"openid", "phone"}, SkipConsent: true})
	ctx := newChromium(t)
	browse(t, ctx, "choose the phone tab", chromedp.Steps(
		chromedp.Navigate(rpURL+"/start?client="+c.ID),
		chromedp.WaitVisible(chromedp.CSS(`nav.tabs`)),
		chromedp.Click(chromedp.CSS(`nav.tabs a[href*="method=phone"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=phone]`)),
	))
	assertAccessible(t, ctx, "identifier page, phone tab")
	assertKeyboardReachable(t, ctx, "identifier page, phone tab")
	browse(t, ctx, "ask for a code by SMS", chromedp.Steps(
		chromedp.SetValue(chromedp.CSS(`select[name=country]`), "SV"),
		chromedp.SendKeys(chromedp.CSS(`input[name=phone]`), "7444 5566"),
		chromedp.Click(chromedp.CSS(`input[name=channel][value=sms]`)),
		chromedp.Click(chromedp.CSS(`button[name=action][value=continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=code]`)),
	))
	saveScreenshot(ctx, "phone-code.png")
	assertAccessible(t, ctx, "code page (SMS)")
	if p := pageText(t, ctx, `main p`); !strings.Contains(p, "•••• 5566") {
		t.Errorf("code page says %q", p)
	}
	sms, err := testTwilio.wait("+50374445566", 1)
	if err != nil {
		t.Fatal(err)
	}
	browse(t, ctx, "type the code", chromedp.Steps(
		typeCodeKeys(codeIn(sms.Text)),
		chromedp.WaitVisible(chromedp.CSS(`#signed-in`)),
	))
	claims := pageText(t, ctx, `#claims`)
	if !strings.Contains(claims, `"phone_number": "+50374445566"`) || !strings.Contains(claims, `"phone_number_verified": true`) {
		t.Errorf("claims %s", claims)
	}
}

// Email code, then the authenticator code, through to the tokens.
func TestBrowserTwoStepSignIn(t *testing.T) {
	st := testStack
	subject := addUser(t, st, "browser.totp@example.com")
	s := importTOTP(t, subject)
	rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Wallet", Scopes: []string{"openid"}, SkipConsent: true})
	ctx := newChromium(t)
	signInInBrowser(t, ctx, rpURL+"/start?client="+c.ID, "browser.totp@example.com", `form[action="/login/totp"] input[name=code]`)
	saveScreenshot(ctx, "totp.png")
	assertAccessible(t, ctx, "TOTP page")
	if h := pageText(t, ctx, `h1`); h != "Two-step sign-in" {
		t.Errorf("heading %q", h)
	}
	browse(t, ctx, "type the authenticator code", chromedp.Steps(
		typeCodeKeys(totp.Code(s, time.Now())),
		chromedp.WaitVisible(chromedp.CSS(`#signed-in`)),
	))
	claims := pageText(t, ctx, `#claims`)
	if !strings.Contains(claims, `"acr": "2"`) || !strings.Contains(claims, `"mfa"`) {
		t.Errorf("claims %s", claims)
	}
}

// typeCodeKeys types code into the page's code field. The code and
// authenticator pages submit by themselves at the sixth digit, so the last
// key goes to the focused field as a key event rather than to the field's
// node: once the page has navigated that node's id is gone, and chromedp
// would fail with "Could not find node with given id" after the typing
// worked (seen on a loaded machine).
func typeCodeKeys(code string) chromedp.Action[chromedp.Void] {
	if code == "" {
		return chromedp.SendKeys(chromedp.CSS(`input[name=code]`), code)
	}
	last := len(code) - 1
	return chromedp.Steps(
		chromedp.SendKeys(chromedp.CSS(`input[name=code]`), code[:last]),
		chromedp.KeyEvent(code[last:]),
	)
}
