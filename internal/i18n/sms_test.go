package i18n

import (
	"fmt"
	"strings"
	"testing"
)

// gsm7 is the GSM 03.38 default alphabet and its extension table (each
// extension character costs two septets). A message with any other
// character goes as UCS-2: 70 characters a segment instead of 160.
const (
	gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7Extension = "^{}\\[~]|€\f"
)

// septets counts s in GSM-7 septets; ok is false when a character is outside it.
func septets(s string) (n int, bad []rune) {
	for _, r := range s {
		switch {
		case strings.ContainsRune(gsm7Basic, r):
			n++
		case strings.ContainsRune(gsm7Extension, r):
			n += 2
		default:
			bad = append(bad, r)
		}
	}
	return n, bad
}

// TestSMSBodiesFitOneGSM7Segment checks every SMS text of the catalog
// ("sms.*"), in both languages, as it is sent: a code of six digits, the
// longest lifetime we allow, and for the code the autofill line the sender
// appends (`@domain #123456`, for a host of up to 30 characters).
func TestSMSBodiesFitOneGSM7Segment(t *testing.T) {
	found := 0
	for _, lang := range []Lang{English, Spanish} {
		for key, text := range catalog[lang] {
			if !strings.HasPrefix(key, "sms.") {
				continue
			}
			found++
			body := text
			if strings.Contains(text, "%") {
				body = fmt.Sprintf(text, "123456", 60)
			}
			if key == "sms.code" {
				body += "\n\n@" + strings.Repeat("x", 30) + " #123456"
			}
			n, bad := septets(body)
			if len(bad) > 0 {
				t.Errorf("%s %s has characters outside GSM-7 (%q), so it would go as UCS-2: %q", lang, key, string(bad), text)
			}
			if n > 160 {
				t.Errorf("%s %s is %d septets as sent, more than one 160-septet segment: %q", lang, key, n, body)
			}
		}
	}
	if found < 2*5 {
		t.Errorf("only %d SMS texts found in the catalog", found)
	}
}

// The test's own check: the Spanish accents that forced UCS-2 are caught.
func TestSeptetsCatchesUCS2(t *testing.T) {
	if _, bad := septets("código"); len(bad) != 1 {
		t.Errorf("ó not caught: %q", bad)
	}
	if n, bad := septets("€"); n != 2 || bad != nil {
		t.Errorf("€: %d %q", n, bad)
	}
}
