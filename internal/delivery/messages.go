package delivery

import (
	"fmt"
	"html"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
)

// CodeEnvelope builds the message carrying a sign-in code in the user's
// language: the code, its lifetime and "never share it". An SMS ends with the
// domain-bound line (`@login.blink.sv #123456`) that browsers use to offer
// the code for autofill on that site only.
func CodeEnvelope(lang i18n.Lang, channel, to, code string, ttl time.Duration, domain string) Envelope {
	minutes := int(ttl.Minutes())
	text := lang.T("msg.text", code, minutes)
	e := Envelope{Channel: channel, To: to, Text: text}
	switch channel {
	case "email":
		e.Subject = lang.T("msg.subject")
		e.HTML = fmt.Sprintf(`<!DOCTYPE html><html lang="%s"><body style="font-family:system-ui,sans-serif;color:#17181c">`+
			`<p>%s</p><p style="font-size:28px;font-weight:700;letter-spacing:6px">%s</p><p>%s</p><p style="color:#5b5f6b">%s</p></body></html>`,
			lang, html.EscapeString(lang.T("msg.html.intro")), html.EscapeString(code),
			html.EscapeString(lang.T("msg.html.expires", minutes)), html.EscapeString(lang.T("msg.html.never_share")))
	case "sms":
		// One GSM-7 segment: a shorter text without characters outside
		// GSM-7 (i18n's TestSMSBodiesFitOneGSM7Segment).
		e.Text = lang.T("sms.code", code, minutes) + "\n\n@" + domain + " #" + code
	}
	return e
}
