package views

import (
	"bytes"
	"context"
	"html"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/skip2/go-qrcode"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// The enrol page carries the QR code inline (nothing the CSP's img-src
// 'self' would block), the otpauth:// URI and the key as text, and a code
// field browsers and password managers fill; every string is translated.
func TestAccountTOTPEnrolPage(t *testing.T) {
	secret := []byte("0123456789abcdefghij")
	uri := totp.URI(secret, "ana@example.com")
	qr, err := NewQR(uri)
	if err != nil {
		t.Fatal(err)
	}
	v := TOTPEnrolView{Action: "/account/totp", BackURL: "/account", EnrollmentID: "6f1c7a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
		Secret: totp.Base32(secret), URI: uri, QR: qr, ExpiresInMinutes: 10, Error: "account.totp.error.wrong_code"}
	for _, lang := range []i18n.Lang{i18n.English, i18n.Spanish} {
		var b bytes.Buffer
		if err := AccountTOTPEnrol(v).Render(i18n.WithLang(context.Background(), lang), &b); err != nil {
			t.Fatal(err)
		}
		page := b.String()
		for _, want := range []string{
			`<svg class="qr"`, `viewBox="0 0 ` + itoa(qr.Size) + ` ` + itoa(qr.Size) + `"`, `d="` + qr.Path + `"`,
			`<code id="totp-uri" class="setup-text">` + html.EscapeString(uri) + `</code>`,
			groupedSecret(totp.Base32(secret)),
			`name="code" inputmode="numeric" autocomplete="one-time-code"`,
			`name="enrollment" value="6f1c7a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"`,
			`name="action" value="confirm_totp"`,
			`action="/account/totp"`,
			lang.T("account.totp.enrol.title"), lang.T("account.totp.error.wrong_code"), lang.T("account.totp.enrol.expires", 10),
		} {
			if !strings.Contains(page, want) {
				t.Errorf("%s: the page lacks %s", lang, want)
			}
		}
		checkCSPSafe(t, page)
		// Phone first: the otpauth:// link, then the confirm field, then the
		// QR code; a wrong code comes back focused on the field; the copy
		// button is the hashed static script's, hidden until it runs.
		add := strings.Index(page, `<a class="button primary" id="totp-add" href="`+html.EscapeString(uri)+`"`)
		field, qrAt := strings.Index(page, `id="code"`), strings.Index(page, `<svg class="qr"`)
		if add < 0 || field < add || qrAt < field {
			t.Errorf("%s: order add link %d, code field %d, QR %d; want the link first and the QR after the field", lang, add, field, qrAt)
		}
		if !strings.Contains(page, `required autofocus aria-describedby="code-hint code-error"`) {
			t.Errorf("%s: after a wrong code the field is not focused", lang)
		}
		if !strings.Contains(page, `data-copy="totp-key"`) || !strings.Contains(page, `<script src="`+Asset("copy.js")+`" defer>`) {
			t.Errorf("%s: no copy button with its static script", lang)
		}
	}
}

func TestAccountTOTPRemovePage(t *testing.T) {
	for _, lang := range []i18n.Lang{i18n.English, i18n.Spanish} {
		var b bytes.Buffer
		v := TOTPRemoveView{Action: "/account/totp", BackURL: "/account", Error: "account.totp.error.fresh_sign_in"}
		if err := AccountTOTPRemove(v).Render(i18n.WithLang(context.Background(), lang), &b); err != nil {
			t.Fatal(err)
		}
		page := b.String()
		// The safe choice (keep it on) is the primary button; turning off looks destructive.
		for _, want := range []string{`<a class="button primary" href="/account">` + lang.T("account.totp.remove.keep"),
			`<button class="secondary danger" type="submit" name="action" value="remove_totp">`, lang.T("account.totp.remove.body"),
			lang.T("account.totp.error.fresh_sign_in"), `href="/account"`} {
			if !strings.Contains(page, want) {
				t.Errorf("%s: the page lacks %s", lang, want)
			}
		}
		checkCSPSafe(t, page)
	}
}

func TestAccountTOTPStartPage(t *testing.T) {
	for _, lang := range []i18n.Lang{i18n.English, i18n.Spanish} {
		var b bytes.Buffer
		v := TOTPStartView{Action: "/account/two-step", BackURL: "/account", Error: "account.totp.error.expired"}
		if err := AccountTOTPStart(v).Render(i18n.WithLang(context.Background(), lang), &b); err != nil {
			t.Fatal(err)
		}
		page := b.String()
		for _, want := range []string{`action="/account/two-step"`, `name="action" value="enable_totp"`, lang.T("account.totp.start.body"),
			lang.T("account.totp.error.expired"), `href="/account"`} {
			if !strings.Contains(page, want) {
				t.Errorf("%s: the page lacks %s", lang, want)
			}
		}
		checkCSPSafe(t, page)
	}
}

// The account page's two-step section: on, off, unknown until a new sign-in,
// unavailable — each with its one way forward.
func TestAccountPageTwoStepSection(t *testing.T) {
	for _, c := range []struct {
		v          TwoStepView
		key, wants string
	}{
		{TwoStepView{On: true}, "account.twostep.on", `href="/account/two-step/off"`},
		{TwoStepView{}, "account.twostep.off", `value="enable_totp"`},
		{TwoStepView{NeedsSignIn: true}, "account.twostep.needs_sign_in", `value="sign_in_again"`},
		{TwoStepView{Unavailable: true}, "account.twostep.unavailable", ""},
	} {
		for _, lang := range []i18n.Lang{i18n.English, i18n.Spanish} {
			var b bytes.Buffer
			v := c.v
			if err := AccountPage(AccountView{TwoStep: &v}).Render(i18n.WithLang(context.Background(), lang), &b); err != nil {
				t.Fatal(err)
			}
			page := html.UnescapeString(b.String())
			if !strings.Contains(page, lang.T(c.key)) || !strings.Contains(page, c.wants) {
				t.Errorf("%s %+v: the section lacks %q or %q", lang, c.v, lang.T(c.key), c.wants)
			}
			for _, other := range []string{`value="enable_totp"`, `href="/account/two-step/off"`, `value="sign_in_again"`} {
				if other != c.wants && strings.Contains(page, other) {
					t.Errorf("%s %+v: the section offers %s too", lang, c.v, other)
				}
			}
		}
	}
}

var untranslated = regexp.MustCompile(`account\.totp\.[a-z_.]+`)

// checkCSPSafe: no inline style or script, no data: image, no catalog key
// left untranslated — the pages work under the service's CSP as it is.
func checkCSPSafe(t *testing.T, page string) {
	t.Helper()
	for _, bad := range []string{` style=`, `<script>`, `data:`, `<img src="data`} {
		if strings.Contains(page, bad) {
			t.Errorf("the page has %q, which the CSP forbids", bad)
		}
	}
	if k := untranslated.FindString(page); k != "" {
		t.Errorf("untranslated key %s", k)
	}
}

// The QR code is the URI's: the path's squares are exactly go-qrcode's dark
// modules for that text, at their coordinates, inside the view box.
func TestNewQR(t *testing.T) {
	const uri = "otpauth://totp/Blink:ana@example.com?algorithm=SHA1&digits=6&issuer=Blink&period=30&secret=GAYTEMZUGU3DOOBZMFRGGZDFMZTWQ2LK"
	qr, err := NewQR(uri)
	if err != nil {
		t.Fatal(err)
	}
	want, err := qrcode.New(uri, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	bits := want.Bitmap()
	if qr.Size != len(bits) {
		t.Fatalf("size %d, want %d", qr.Size, len(bits))
	}
	drawn := map[[2]int]bool{}
	for _, m := range regexp.MustCompile(`M(\d+) (\d+)h1v1h-1z`).FindAllStringSubmatch(qr.Path, -1) {
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		drawn[[2]int{x, y}] = true
	}
	dark := 0
	for y, row := range bits {
		for x, on := range row {
			if on {
				dark++
			}
			if drawn[[2]int{x, y}] != on {
				t.Fatalf("module (%d,%d): drawn %v, want %v", x, y, drawn[[2]int{x, y}], on)
			}
		}
	}
	if len(drawn) != dark || dark == 0 {
		t.Errorf("%d squares drawn, %d dark modules", len(drawn), dark)
	}
	if _, err := NewQR(strings.Repeat("x", 5000)); err == nil {
		t.Error("a text too long for a QR code was drawn")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
