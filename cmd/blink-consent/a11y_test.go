//go:build devstack

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
	"github.com/blinkbitcoin/blink-consent/views"
)

// The accessibility check of every page: axe-core, the npm package pinned in
// tools/axe (scripts/ensure-axe.sh installs it; `make test` runs that), run
// inside Chromium on the page as the test left it, once in the light theme
// and once in the dark one. Zero WCAG 2.1 A and AA violations pass.

// axeTags are the rule sets axe runs: WCAG 2.0 and 2.1, levels A and AA.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

var axeSource struct {
	once sync.Once
	js   string
	err  error
}

// axeScript reads axe-core's axe.min.js from tools/axe/node_modules once.
func axeScript(t *testing.T) string {
	t.Helper()
	axeSource.once.Do(func() {
		path := filepath.Join("..", "..", "tools", "axe", "node_modules", "axe-core", "axe.min.js")
		b, err := os.ReadFile(path)
		if err != nil {
			axeSource.err = fmt.Errorf("the accessibility checks need axe-core (run ./scripts/ensure-axe.sh, which `make test` runs): %w", err)
			return
		}
		axeSource.js = string(b)
	})
	if axeSource.err != nil {
		t.Fatal(axeSource.err)
	}
	return axeSource.js
}

// axeViolation is the part of one axe-core violation a failure lists.
type axeViolation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		// Target is a list of selectors, nested lists for frames and shadow roots.
		Target         []json.RawMessage `json:"target"`
		FailureSummary string            `json:"failureSummary"`
	} `json:"nodes"`
}

// axeReport is what the page returns: axe's version and violations, and
// what shows that the theme really applied.
type axeReport struct {
	Version    string         `json:"version"`
	Dark       bool           `json:"dark"`
	Background string         `json:"background"`
	Violations []axeViolation `json:"violations"`
	Passed     []string       `json:"passed"` // rule ids
	Review     []string       `json:"review"` // rule ids axe could not decide: not failures
}

// assertAccessible runs axe-core on the page ctx shows, in the light and in
// the dark theme (prefers-color-scheme emulated), and fails the test listing
// each violation: rule id, impact, the elements' selectors, axe's help text
// and what it measured. name says which page, in the failure. The page is
// left in the browser's own theme.
func assertAccessible(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	src := axeScript(t)
	tags, _ := json.Marshal(axeTags)
	run := fmt.Sprintf(`(async () => {
		if (typeof window.axe === "undefined") { %s }
		const r = await axe.run(document, {runOnly: {type: "tag", values: %s}, resultTypes: ["violations"]});
		return {
			version: axe.version,
			dark: matchMedia("(prefers-color-scheme: dark)").matches,
			background: getComputedStyle(document.body).backgroundColor,
			violations: r.violations,
			passed: r.passes.map(p => p.id),
			review: r.incomplete.map(p => p.id),
		};
	})()`, src, tags)
	defer setColorScheme(ctx, "")
	backgrounds := map[string]string{}
	for _, scheme := range []string{"light", "dark"} {
		if err := setColorScheme(ctx, scheme); err != nil {
			t.Fatalf("%s: emulating the %s theme: %v", name, scheme, err)
		}
		rep, err := chromedp.Run(ctx, chromedp.Evaluate[axeReport](run, chromedp.EvalAwaitPromise, chromedp.EvalAsValue))
		if err != nil {
			t.Fatalf("%s: running axe-core in the %s theme: %v", name, scheme, err)
		}
		if rep.Dark != (scheme == "dark") {
			t.Fatalf("%s: the page did not get the %s theme (prefers-color-scheme: dark matches %v)", name, scheme, rep.Dark)
		}
		backgrounds[scheme] = rep.Background
		t.Logf("%s, %s theme: axe-core %s: %d rules passed, %d violated, %d to review by hand %v",
			name, scheme, rep.Version, len(rep.Passed), len(rep.Violations), len(rep.Review), rep.Review)
		if len(rep.Violations) > 0 {
			t.Errorf("%s, %s theme: axe-core %s found %d WCAG 2.1 A/AA violation(s):\n%s", name, scheme, rep.Version, len(rep.Violations), describeViolations(rep.Violations))
		}
	}
	if backgrounds["light"] == backgrounds["dark"] {
		t.Errorf("%s: the light and dark themes have the same background (%s): the dark theme's CSS did not apply", name, backgrounds["light"])
	}
	assertTapTargets(t, ctx, name)
}

// minTapTarget is the smallest control we allow, in CSS pixels: Apple's and
// Google's guidance (WCAG 2.5.8 asks only 24).
const minTapTarget = 44

// tapTarget is one control the page shows and its size.
type tapTarget struct {
	Element string  `json:"element"`
	Width   float64 `json:"width"`
	Height  float64 `json:"height"`
}

// assertTapTargets measures every link, button and label the page shows
// (and the skip link, which shows on focus) and fails for any smaller than
// 44×44 CSS px. Only our own pages are measured, and not inside a bot
// check's widget, which its provider draws.
func assertTapTargets(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if !isServicePage(ctx) {
		return
	}
	targets, err := chromedp.Run(ctx, chromedp.Evaluate[[]tapTarget](`(() => { `+describeJS+`
		return Array.from(document.querySelectorAll("a, button, label, summary"))
			.filter(e => !e.closest(".geetest, .cf-turnstile"))
			.filter(e => e.getClientRects().length > 0)
			.map(e => { const r = e.getBoundingClientRect(); return {element: describe(e), width: r.width, height: r.height}; });
	})()`, chromedp.EvalAsValue))
	if err != nil {
		t.Fatalf("%s: measuring the controls: %v", name, err)
	}
	if len(targets) == 0 {
		t.Errorf("%s: no link, button or label to measure", name)
	}
	for _, c := range targets {
		if c.Width < minTapTarget || c.Height < minTapTarget {
			t.Errorf("%s: %s is %.0f×%.0f CSS px, under %d×%d", name, c.Element, c.Width, c.Height, minTapTarget, minTapTarget)
		}
	}
}

// isServicePage reports whether the page is one of this service's: its
// stylesheet is ours (blink mode's stack has another address).
func isServicePage(ctx context.Context) bool {
	ours, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector('link[rel=stylesheet][href^="`+views.AssetPrefix+`"][href$="/style.css"]')`))
	return err == nil && ours
}

// setColorScheme emulates prefers-color-scheme (light or dark); "" ends the emulation.
func setColorScheme(ctx context.Context, scheme string) error {
	p := emulation.SetEmulatedMediaParams{}
	if scheme != "" {
		p.Features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
	}
	return chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, p)
		return err
	}))
}

// describeViolations writes one block per violation: what rule, how bad,
// where (each element's selector) and why (axe's own summary for it).
func describeViolations(vs []axeViolation) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "  - %s (%s): %s <%s>\n", v.ID, v.Impact, v.Help, v.HelpURL)
		for _, n := range v.Nodes {
			targets := make([]string, len(n.Target))
			for i, sel := range n.Target {
				var plain string
				if json.Unmarshal(sel, &plain) != nil {
					plain = string(sel) // a frame's or shadow root's list of selectors
				}
				targets[i] = plain
			}
			fmt.Fprintf(&b, "      at %s\n", strings.Join(targets, " » "))
			for _, line := range strings.Split(strings.TrimSpace(n.FailureSummary), "\n") {
				fmt.Fprintf(&b, "        %s\n", strings.TrimSpace(line))
			}
		}
	}
	return b.String()
}

// Every page a person can see that the other browser tests do not already
// check: the code and authenticator pages with their error message, the
// consent page with a scope we cannot describe and an audience, "you are
// still signed in", the 404, 409 ("Start again"), 410, 429 and 503 pages and
// /dev/messages. The identifier, code, TOTP, consent, logout and /error pages
// are checked where the other browser tests show them (browser_test.go,
// blink_browser_test.go), the account pages in account_browser_test.go.
func TestBrowserEveryOtherPageIsAccessible(t *testing.T) {
	st := testStack
	ctx := newChromium(t)

	open := func(path, sel string) {
		t.Helper()
		browse(t, ctx, "open "+path, chromedp.Steps(
			chromedp.Navigate(st.ServiceURL+path),
			chromedp.WaitVisible(chromedp.CSS(sel)),
		))
	}
	// heading waits (10 s at most) for the page whose heading is want.
	heading := func(want string) {
		t.Helper()
		h := ""
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if h = pageText(t, ctx, `h1`); h == want {
				return
			}
		}
		t.Fatalf("heading %q, want %q", h, want)
	}

	open("/no-such-page", `h1`)
	heading("Page not found")
	assertAccessible(t, ctx, "404 page")

	open("/login/code?flow=00000000-0000-4000-8000-000000000000", `h1`)
	heading("This sign-in page is no longer valid")
	assertAccessible(t, ctx, "410 page")

	open("/dev/messages", `h1`)
	heading("Development messages")
	assertAccessible(t, ctx, "/dev/messages (DEV_MODE only)")

	// A wrong code, then the right one, to a consent page listing a scope the
	// catalog does not describe and an audience; allow, then "No" to signing out.
	addUser(t, st, "a11y.pages@example.com")
	rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Audit Log",
		Scopes: []string{"openid", "read", "ledger.export"}, Audience: []string{"https://api.audit.example/"}})
	ctx = newChromium(t) // each part gets a browser (and 30 s) of its own
	browse(t, ctx, "open the sign-in page", chromedp.Steps(
		chromedp.Navigate(rpURL+"/start?client="+c.ID),
		toEmailForm,
	))
	code := askEmailCode(t, ctx, "a11y.pages@example.com")
	typeCode(t, ctx, wrongCode(code), `input[name=code][aria-invalid=true]`)
	if e := pageText(t, ctx, `#code-error`); e != "That code is not right, or it has expired. Check it, or send a new code." {
		t.Fatalf("code page error %q", e)
	}
	assertAccessible(t, ctx, "code page with an error message")
	typeCode(t, ctx, code, `button[name=action][value=allow]`)
	if n := pageText(t, ctx, `.undescribed code`); n != "ledger.export" {
		t.Fatalf("the consent page does not list the undescribed scope: %q", n)
	}
	assertAccessible(t, ctx, "consent page (undescribed scope, audience)")
	browse(t, ctx, "allow, then ask to sign out and say no", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`button[name=action][value=allow]`)),
		chromedp.WaitVisible(chromedp.CSS(`#sign-out`)),
		chromedp.Click(chromedp.CSS(`#sign-out`)),
		chromedp.WaitVisible(chromedp.CSS(`button[name=action][value=no]`)),
		chromedp.Click(chromedp.CSS(`button[name=action][value=no]`)),
	))
	heading("You are still signed in")
	assertAccessible(t, ctx, "logout refused: still signed in")

	// The 429 page: the email has used up its failed codes (RATE_FAIL_IDENTIFIER).
	addUser(t, st, "a11y.limited@example.com")
	ctx = newChromium(t)
	browse(t, ctx, "open the sign-in page", chromedp.Steps(
		chromedp.Navigate(rpURL+"/start?client="+c.ID),
		toEmailForm,
	))
	code = askEmailCode(t, ctx, "a11y.limited@example.com")
	exec(t, `INSERT INTO rate_events (bucket, key) SELECT 'fail-identifier', 'a11y.limited@example.com' FROM generate_series(1, 6)`)
	typeCode(t, ctx, code, `h1`)
	heading("Too many tries")
	assertAccessible(t, ctx, "429 page")

	// The TOTP page with its error, and the 409 page with "Start again": the
	// code was confirmed, then "Use a different email" on the code page (the
	// back button's copy of it).
	subject := addUser(t, st, "a11y.totp@example.com")
	secret := importTOTP(t, subject)
	ctx = newChromium(t)
	signInInBrowser(t, ctx, rpURL+"/start?client="+c.ID, "a11y.totp@example.com", `form[action="/login/totp"] input[name=code]`)
	typeCode(t, ctx, wrongCode(totp.Code(secret, time.Now())), `form[action="/login/totp"] input[name=code][aria-invalid=true]`)
	if e := pageText(t, ctx, `#code-error`); e != "That code is not right. Check your authenticator app and try again." {
		t.Fatalf("TOTP page error %q", e)
	}
	assertAccessible(t, ctx, "TOTP page with an error message")
	browse(t, ctx, "post the code page's change", chromedp.Evaluate[chromedp.Void](`(() => {
		const f = document.createElement("form");
		f.method = "post"; f.action = "/login/code";
		for (const [k, v] of [["flow", document.querySelector("input[name=flow]").value], ["action", "change"]]) {
			const i = document.createElement("input"); i.type = "hidden"; i.name = k; i.value = v; f.append(i);
		}
		document.body.append(f); f.submit();
	})()`))
	heading("Your code was already confirmed")
	assertAccessible(t, ctx, "409 page with Start again")

	// The 503 page: Blink core is down in blink mode.
	bst, core := blinkStack(t)
	core.AddIdentity("a11y.down@example.com", "")
	brpURL, bc := startDemoRP(t, bst, devstack.ClientSpec{Name: "Blink Down App", Scopes: []string{"openid"}, SkipConsent: true})
	ctx = newChromium(t)
	browse(t, ctx, "open the sign-in page", chromedp.Steps(
		chromedp.Navigate(brpURL+"/start?client="+bc.ID),
		toEmailForm,
	))
	core.Down(true)
	defer core.Down(false)
	browse(t, ctx, "ask for a code while core is down", chromedp.Steps(
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "a11y.down@example.com"),
		chromedp.Click(chromedp.CSS(`button[name=action][value=continue]`)),
	))
	heading("Sign-in is unavailable right now")
	assertAccessible(t, ctx, "503 page")
}

// wrongCode is a six-digit code that is not code.
func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

// describeJS names an element for the keyboard check: its tag and the first
// of id, name=value, href or text that it has.
const describeJS = `function describe(e) {
	if (!e || e === document.body) { return "(nothing)"; }
	const tag = e.tagName.toLowerCase();
	if (e.id) { return tag + "#" + e.id; }
	if (e.name) { return tag + "[" + e.name + "=" + (e.value || "") + "]"; }
	if (e.getAttribute("href")) { return tag + "[href=" + e.getAttribute("href").slice(0, 40) + "]"; }
	return tag + " " + (e.textContent || "").trim().slice(0, 30);
}`

// keyboardStop is where one Tab press put the focus.
type keyboardStop struct {
	Element string `json:"element"`
	Outline bool   `json:"outline"`
}

// assertKeyboardReachable presses Tab through the page (WCAG 2.1.1 and
// 2.4.7, which axe-core cannot judge): every link, button and field that is
// shown is reached, in the page's order, and each shows a visible focus
// outline when reached. A radio group is one stop, as browsers make it.
func assertKeyboardReachable(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	want, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => { `+describeJS+`
		const seen = new Set();
		return Array.from(document.querySelectorAll('a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea, summary'))
			.filter(e => e.getClientRects().length > 0 || e.classList.contains("skip"))
			.filter(e => {
				if (e.type !== "radio") { return true; }
				if (seen.has(e.name)) { return false; }
				seen.add(e.name);
				return true;
			})
			.map(e => e.type === "radio" ? "radio group " + e.name : describe(e));
	})()`))
	if err != nil {
		t.Fatalf("%s: listing the focusable elements: %v", name, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		// Start from the top of the page, whatever has the focus (an autofocus field).
		document.body.tabIndex = -1;
		document.body.focus();
		document.body.removeAttribute("tabindex");
		return document.activeElement === document.body;
	})()`)); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var got []string
	for range want {
		if _, err := chromedp.Run(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatalf("%s: pressing Tab: %v", name, err)
		}
		stop, err := chromedp.Run(ctx, chromedp.Evaluate[keyboardStop](`(() => { `+describeJS+`
			const e = document.activeElement;
			const s = getComputedStyle(e);
			const element = e && e.type === "radio" ? "radio group " + e.name : describe(e);
			return {element: element, outline: s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2};
		})()`, chromedp.EvalAsValue))
		if err != nil {
			t.Fatalf("%s: reading the focus: %v", name, err)
		}
		if !stop.Outline {
			t.Errorf("%s: %s has the keyboard focus but no visible focus outline", name, stop.Element)
		}
		got = append(got, stop.Element)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: Tab reached\n  %v\nwant every control in the page's order\n  %v", name, got, want)
	}
}
