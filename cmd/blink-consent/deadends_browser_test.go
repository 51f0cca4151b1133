//go:build devstack

package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
)

// Issue 17, "no page leaves a person stuck": what a person meets when
// something goes wrong, in Chromium, in English and Spanish; every page is
// also checked by axe-core in both themes and its controls measured
// (assertAccessible).

// personBrowser is a phone-sized Chromium speaking lang, in El Salvador's
// time zone (UTC−6), whose requests come from ip through the trusted proxy,
// so its limits are its own.
func personBrowser(t *testing.T, lang, ip string) context.Context {
	t.Helper()
	ctx := newChromium(t)
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Accept-Language": lang, "X-Forwarded-For": ip}}); err != nil {
		t.Fatalf("speak %s from %s: %v", lang, ip, err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "America/El_Salvador"}); err != nil {
		t.Fatalf("El Salvador's time zone: %v", err)
	}
	return ctx
}

// words is what a test expects a page to say, per language.
type words map[string]string

// Item 1: a number that has had its codes gets a page saying when, in the
// person's own time ("at 3:40 PM", "mañana a las 15:40"), and the ways still
// open: email instead, another number (both clicked through), Start again.
func TestBrowserLimitPageOffersTheWaysStillOpen(t *testing.T) {
	st := testStack
	for i, lang := range []string{"en", "es"} {
		t.Run(lang, func(t *testing.T) {
			phone, local := []string{"+50374447701", "+50374447702"}[i], []string{"7444 7701", "7444 7702"}[i]
			// The number's budget is used up (whatever the default).
			exec(t, `INSERT INTO rate_events (bucket, key) SELECT 'send-phone', $1 FROM generate_series(1, 50)`, phone)
			rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Limit App", Scopes: []string{"openid"}, SkipConsent: true})
			ctx := personBrowser(t, lang, "198.51.100."+[]string{"171", "172"}[i])
			browse(t, ctx, "ask a code for the number (the phone tab is the default)", chromedp.Steps(
				chromedp.Navigate(rpURL+"/start?client="+c.ID),
				chromedp.WaitVisible(chromedp.CSS(`input[name=phone]`)),
				chromedp.SetValue(chromedp.CSS(`select[name=country]`), "SV"),
				chromedp.SendKeys(chromedp.CSS(`input[name=phone]`), local),
				chromedp.Click(chromedp.CSS(`input[name=channel][value=sms]`)),
				chromedp.Click(chromedp.CSS(`button[name=action][value=continue]`)),
				chromedp.WaitVisible(chromedp.CSS(`#limit-when`)),
			))
			when := pageText(t, ctx, `#limit-when`)
			// The zone the page's script read from the browser: a time of
			// day, never a count of minutes.
			pattern := words{
				"en": `Please try again (at|tomorrow at|on [A-Z][a-z]+day at) \d{1,2}:\d{2} (AM|PM)\.$`,
				"es": `Inténtalo de nuevo (a las|mañana a las|el [a-zé]+ a las) \d{1,2}:\d{2}\.$`,
			}[lang]
			if !regexp.MustCompile(pattern).MatchString(when) {
				t.Errorf("the limit page says %q, want a time of day in the person's zone (%s)", when, pattern)
			}
			if h := pageText(t, ctx, `#way-email`); h != (words{"en": "Sign in with your email instead", "es": "Iniciar sesión con tu correo"})[lang] {
				t.Errorf("the email way reads %q", h)
			}
			if href := browse(t, ctx, "read Start again", chromedp.Evaluate[string](`document.querySelector("#start-again").href`)); !strings.HasPrefix(href, st.Hydra.PublicURL) {
				t.Errorf("Start again goes to %q, want Hydra's authorization URL", href)
			}
			if ref := pageText(t, ctx, `.error-code`); ref == "" {
				t.Error("no reference for support")
			}
			saveScreenshot(ctx, "limit-"+lang+".png")
			assertAccessible(t, ctx, "limit page ("+lang+")")
			browse(t, ctx, "email instead", chromedp.Steps(
				chromedp.Click(chromedp.CSS(`#way-email`)),
				chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
			))
			browse(t, ctx, "the number again, then another number", chromedp.Steps(
				chromedp.Click(chromedp.CSS(`nav.tabs a[href$="method=phone"]`)),
				chromedp.WaitVisible(chromedp.CSS(`input[name=phone]`)),
				chromedp.SetValue(chromedp.CSS(`select[name=country]`), "SV"),
				chromedp.SendKeys(chromedp.CSS(`input[name=phone]`), local),
				chromedp.Click(chromedp.CSS(`input[name=channel][value=sms]`)),
				chromedp.Click(chromedp.CSS(`button[name=action][value=continue]`)),
				chromedp.WaitVisible(chromedp.CSS(`#way-other`)),
				chromedp.Click(chromedp.CSS(`#way-other`)),
				chromedp.WaitVisible(chromedp.CSS(`input[name=phone]`)),
			))
		})
	}
}

// Items 1 and 3: the email code page says "if" and shows the address as
// typed, with the way to sign up by phone; two wrong tries before a pause it
// warns; "Send a new code" says it went out and older codes stopped
// working; the next sign-in in this browser opens on the email tab.
func TestBrowserCodePageWarnsConfirmsAndPointsNewcomersToPhone(t *testing.T) {
	st := testStack
	for i, lang := range []string{"en", "es"} {
		t.Run(lang, func(t *testing.T) {
			email := []string{"warn.en@example.com", "warn.es@example.com"}[i]
			addUser(t, st, email)
			rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Warn App", Scopes: []string{"openid"}, SkipConsent: true})
			ctx := personBrowser(t, lang, "198.51.100."+[]string{"181", "182"}[i])
			browse(t, ctx, "open the email tab", chromedp.Steps(chromedp.Navigate(rpURL+"/start?client="+c.ID), toEmailForm))
			code := askEmailCode(t, ctx, email)
			sent := pageText(t, ctx, `#sent`)
			wantSent := words{
				"en": "If this email belongs to a Blink account, a 6-digit code is on its way to " + email + ". It is valid for 10 minutes.",
				"es": "Si este correo pertenece a una cuenta de Blink, un código de 6 dígitos va en camino a " + email + ". Es válido por 10 minutos.",
			}[lang]
			if sent != wantSent {
				t.Errorf("the code page says %q, want %q", sent, wantSent)
			}
			// Four failures of the identifier's six: two tries left.
			exec(t, `INSERT INTO rate_events (bucket, key) SELECT 'fail-identifier', $1 FROM generate_series(1, 3)`, email)
			typeCode(t, ctx, wrongCode(code), `input[name=code][aria-invalid=true]`)
			warning := words{"en": "2 tries left before sign-in pauses for a while.", "es": "Te quedan 2 intentos antes de que el inicio de sesión se pause un tiempo."}[lang]
			if e := pageText(t, ctx, `#code-error`); !strings.HasSuffix(e, warning) {
				t.Errorf("the code page's error %q does not warn %q", e, warning)
			}
			saveScreenshot(ctx, "code-warning-"+lang+".png")
			assertAccessible(t, ctx, "code page warning of two tries left ("+lang+")")

			// "Send a new code", once its cooldown is over.
			exec(t, `UPDATE login_flows SET last_sent_at = now() - interval '1 minute' WHERE identifier = $1`, email)
			browse(t, ctx, "send a new code", chromedp.Steps(
				chromedp.Reload(),
				chromedp.WaitEnabled(chromedp.CSS(`button[name=action][value=resend]`)),
				chromedp.Click(chromedp.CSS(`button[name=action][value=resend]`)),
				chromedp.WaitVisible(chromedp.CSS(`#resent`)),
			))
			resent := words{
				"en": "If this email belongs to a Blink account, a new code is on its way. Codes sent before it no longer work.",
				"es": "Si este correo pertenece a una cuenta de Blink, un código nuevo va en camino. Los códigos enviados antes ya no funcionan.",
			}[lang]
			if got := pageText(t, ctx, `#resent`); got != resent {
				t.Errorf("after a new code the page says %q, want %q", got, resent)
			}
			waitCode(t, testSMTP.inbox, email, 2)
			if superseded := queryInt(t, `SELECT count(*) FROM login_codes c JOIN login_flows f ON f.id = c.flow_id
				WHERE f.identifier = $1 AND c.superseded_at IS NOT NULL`, email); superseded != 1 {
				t.Errorf("%d superseded codes, want the first one", superseded)
			}
			saveScreenshot(ctx, "code-resent-"+lang+".png")
			assertAccessible(t, ctx, "code page after a new code ("+lang+")")

			// New to Blink: the link switches to the phone tab.
			browse(t, ctx, "sign up with a phone number", chromedp.Steps(
				chromedp.Click(chromedp.CSS(`#new-to-blink a`)),
				chromedp.WaitVisible(chromedp.CSS(`input[name=phone]`)),
			))
			// The next sign-in in this browser opens on the tab it used: email.
			browse(t, ctx, "start again", chromedp.Steps(
				chromedp.Navigate(rpURL+"/start?client="+c.ID),
				chromedp.WaitVisible(chromedp.CSS(`nav.tabs`)),
			))
			if n := browse(t, ctx, "look for the email field", chromedp.Evaluate[int](`document.querySelectorAll("input[name=email]").length`)); n != 1 {
				t.Error("the next sign-in does not open on the email tab this browser used")
			}
		})
	}
}

// Item 9: the phone form gives an example in the country's format, and a
// number of the wrong length gets a message next to the field saying what
// is wrong; the masked number on the code page stays on one line.
func TestBrowserPhoneFormSaysWhatIsWrong(t *testing.T) {
	st := testStack
	for i, lang := range []string{"en", "es"} {
		t.Run(lang, func(t *testing.T) {
			rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Phone Form App", Scopes: []string{"openid"}, SkipConsent: true})
			ctx := personBrowser(t, lang, "198.51.100."+[]string{"191", "192"}[i])
			browse(t, ctx, "type a number one digit short", chromedp.Steps(
				chromedp.Navigate(rpURL+"/start?client="+c.ID),
				chromedp.WaitVisible(chromedp.CSS(`input[name=phone]`)),
				chromedp.SetValue(chromedp.CSS(`select[name=country]`), "SV"),
				chromedp.SendKeys(chromedp.CSS(`input[name=phone]`), "7444 881"),
				chromedp.Click(chromedp.CSS(`input[name=channel][value=sms]`)),
				chromedp.Click(chromedp.CSS(`button[name=action][value=continue]`)),
				chromedp.WaitVisible(chromedp.CSS(`input[name=phone][aria-invalid=true]`)),
			))
			if hint := pageText(t, ctx, `#phone-hint`); hint != (words{"en": "For example: 7012 3456", "es": "Por ejemplo: 7012 3456"})[lang] {
				t.Errorf("the example reads %q", hint)
			}
			want := words{"en": "Enter 8 digits for El Salvador, such as 7012 3456.", "es": "Escribe 8 dígitos para El Salvador, como 7012 3456."}[lang]
			if e := pageText(t, ctx, `#field-error`); e != want {
				t.Errorf("the phone error %q, want %q", e, want)
			}
			if next := browse(t, ctx, "what follows the field", chromedp.Evaluate[string](`document.querySelector("#phone").nextElementSibling.id`)); next != "field-error" {
				t.Errorf("the error is not next to the phone field (next: %q)", next)
			}
			saveScreenshot(ctx, "phone-error-"+lang+".png")
			assertAccessible(t, ctx, "phone form with a length error ("+lang+")")
			local := []string{"7444 8801", "7444 8802"}[i]
			browse(t, ctx, "the whole number", chromedp.Steps(
				chromedp.SetValue(chromedp.CSS(`input[name=phone]`), local),
				chromedp.Click(chromedp.CSS(`input[name=channel][value=sms]`)),
				chromedp.Click(chromedp.CSS(`button[name=action][value=continue]`)),
				chromedp.WaitVisible(chromedp.CSS(`input[name=code]`)),
			))
			// On a narrow phone the masked number stays on one line.
			browse(t, ctx, "narrow the window", chromedp.EmulateViewport(280, 800))
			masked := browse(t, ctx, "read the masked number", chromedp.Evaluate[[]any](`(() => {
				const s = document.querySelector("#sent .nowrap");
				return [s.textContent, s.getClientRects().length];
			})()`))
			if len(masked) != 2 || masked[0] != "•••• "+local[len(local)-4:] || masked[1] != float64(1) {
				t.Errorf("the masked number %v, want one box reading •••• %s", masked, local[len(local)-4:])
			}
		})
	}
}

// Item 11, Blink mode: with JavaScript off the phone page says the bot check
// needs it, and a number sent without the check is not marked invalid — the
// check's message is by the check; on the code page "Send a new code" keeps
// its place at the start of its row when the check's element is empty.
func TestBrowserBlinkBotCheckWithoutJavaScript(t *testing.T) {
	st, _ := blinkStack(t)
	for i, lang := range []string{"en", "es"} {
		t.Run(lang, func(t *testing.T) {
			rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "No Script App", Scopes: []string{"openid"}, SkipConsent: true})
			ctx := personBrowser(t, lang, "198.51.100."+[]string{"201", "202"}[i])
			scripts(t, ctx, false)
			browse(t, ctx, "send a number without the check", chromedp.Steps(
				chromedp.Navigate(rpURL+"/start?client="+c.ID),
				chromedp.WaitVisible(chromedp.CSS(`input[name=phone]`)),
				chromedp.WaitVisible(chromedp.CSS(`noscript, .notice`)),
			))
			noscript := words{
				"en": "Signing in with a phone number needs a quick check that you are not a robot, and the check needs JavaScript.",
				"es": "Para iniciar sesión con un número de teléfono hace falta una verificación rápida de que no eres un robot, y esa verificación necesita JavaScript.",
			}[lang]
			if n := pageText(t, ctx, `.notice`); !strings.HasPrefix(n, noscript) {
				t.Errorf("with JavaScript off the phone page says %q, want %q…", n, noscript)
			}
			number := "7555 07" + []string{"11", "12"}[i]
			browse(t, ctx, "continue", chromedp.Steps(
				chromedp.SetValue(chromedp.CSS(`select[name=country]`), "SV"),
				chromedp.SendKeys(chromedp.CSS(`input[name=phone]`), number),
				chromedp.Click(chromedp.CSS(`button[name=action][value=continue]`)),
				// The page the server answered: it writes the number back.
				chromedp.WaitVisible(chromedp.CSS(`input[name=phone][value="`+number+`"]`)),
			))
			if e := pageText(t, ctx, `#captcha-error`); e == "" {
				t.Error("no message by the bot check")
			}
			invalid := browse(t, ctx, "read the field's state", chromedp.Evaluate[string](`document.querySelector("#phone").getAttribute("aria-invalid") + " " + document.querySelector("#field-error").textContent.trim()`))
			if invalid != "false " {
				t.Errorf("the phone field is marked %q after a bot check that could not run, want not invalid and no message on it", invalid)
			}
			scripts(t, ctx, true) // for axe-core; the page stays as it was made
			assertAccessible(t, ctx, "blink phone page without JavaScript ("+lang+")")
		})
	}

	// The code page with JavaScript off: the check's element stays empty.
	rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Resend Place App", Scopes: []string{"openid"}, SkipConsent: true})
	ctx := personBrowser(t, "en", "198.51.100.203")
	browse(t, ctx, "ask a code through Geetest", chromedp.Steps(
		chromedp.Navigate(rpURL+"/start?client="+c.ID),
		chromedp.WaitVisible(chromedp.CSS(`input[name=phone]`)),
		chromedp.SetValue(chromedp.CSS(`select[name=country]`), "SV"),
		chromedp.SendKeys(chromedp.CSS(`input[name=phone]`), "7555 0713"),
		chromedp.Click(chromedp.CSS(`button[name=action][value=continue]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=code]`)),
	))
	scripts(t, ctx, false)
	browse(t, ctx, "reload without JavaScript", chromedp.Steps(chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`button[name=action][value=change]`))))
	place := browse(t, ctx, "where the links are", chromedp.Evaluate[[]float64](`(() => {
		const form = document.querySelector("form.secondary-actions").getBoundingClientRect();
		const resend = document.querySelector("button[name=action][value=resend]").getBoundingClientRect();
		const geetest = document.querySelector("#geetest");
		return [resend.left - form.left, geetest ? geetest.childElementCount : -1];
	})()`))
	if len(place) != 2 || place[1] != 0 || place[0] != 0 {
		t.Errorf("with the bot check's element empty (%v children) \"Send a new code\" starts %vpx from its row's start, want 0", place[1:], place[:1])
	}
	scripts(t, ctx, true)
	assertAccessible(t, ctx, "blink code page without JavaScript")
}

// scripts turns the page's JavaScript on or off.
func scripts(t *testing.T, ctx context.Context, on bool) {
	t.Helper()
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on}); err != nil {
		t.Fatalf("turning JavaScript on=%v: %v", on, err)
	}
}

// Item 1, the other channel: an SMS that does not come is not the end —
// "Get the code by WhatsApp instead" sends a new code to the same number by
// WhatsApp (the SMS code stops working), and that code signs in.
func TestBrowserCodeByTheOtherChannel(t *testing.T) {
	st := testStack
	for i, lang := range []string{"en", "es"} {
		t.Run(lang, func(t *testing.T) {
			phone, local := []string{"+50374449901", "+50374449902"}[i], []string{"7444 9901", "7444 9902"}[i]
			rpURL, c := startDemoRP(t, st, devstack.ClientSpec{Name: "Other Channel App", Scopes: []string{"openid", "phone"}, SkipConsent: true})
			ctx := personBrowser(t, lang, "198.51.100."+[]string{"211", "212"}[i])
			browse(t, ctx, "ask a code by SMS", chromedp.Steps(
				chromedp.Navigate(rpURL+"/start?client="+c.ID),
				chromedp.WaitVisible(chromedp.CSS(`input[name=phone]`)),
				chromedp.SetValue(chromedp.CSS(`select[name=country]`), "SV"),
				chromedp.SendKeys(chromedp.CSS(`input[name=phone]`), local),
				chromedp.Click(chromedp.CSS(`input[name=channel][value=sms]`)),
				chromedp.Click(chromedp.CSS(`button[name=action][value=continue]`)),
				chromedp.WaitVisible(chromedp.CSS(`button[name=action][value=resend_other]`)),
			))
			if _, err := testTwilio.wait(phone, 1); err != nil {
				t.Fatal(err)
			}
			exec(t, `UPDATE login_flows SET last_sent_at = now() - interval '1 minute' WHERE identifier = $1`, phone)
			browse(t, ctx, "get the code by WhatsApp", chromedp.Steps(
				chromedp.Reload(),
				chromedp.WaitEnabled(chromedp.CSS(`button[name=action][value=resend_other]`)),
			))
			if b := pageText(t, ctx, `button[name=action][value=resend_other]`); b != (words{"en": "Get the code by WhatsApp instead", "es": "Recibir el código por WhatsApp"})[lang] {
				t.Errorf("the other channel's button reads %q", b)
			}
			assertAccessible(t, ctx, "SMS code page with WhatsApp instead ("+lang+")")
			browse(t, ctx, "press it", chromedp.Steps(
				chromedp.Click(chromedp.CSS(`button[name=action][value=resend_other]`)),
				chromedp.WaitVisible(chromedp.CSS(`#resent`)),
			))
			if sent := pageText(t, ctx, `#sent`); !strings.Contains(sent, "WhatsApp") {
				t.Errorf("after WhatsApp instead the page says %q", sent)
			}
			wa, err := testTwilio.wait("whatsapp:"+phone, 1)
			if err != nil {
				t.Fatal(err)
			}
			if n := queryInt(t, `SELECT count(*) FROM login_codes c JOIN login_flows f ON f.id = c.flow_id
				WHERE f.identifier = $1 AND c.channel = 'sms' AND c.superseded_at IS NOT NULL`, phone); n != 1 {
				t.Errorf("%d superseded SMS codes, want 1", n)
			}
			browse(t, ctx, "type the WhatsApp code", chromedp.Steps(
				typeCodeKeys(codeIn(wa.Text)),
				chromedp.WaitVisible(chromedp.CSS(`#signed-in`)),
			))
			if claims := pageText(t, ctx, `#claims`); !strings.Contains(claims, phone) {
				t.Errorf("claims %s lack the number", claims)
			}
		})
	}
}
