package views

import (
	"context"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
)

// A wait is told the way people say it, in both languages: core's blocks
// are an hour or 4 hours, ours seconds to minutes.
func TestWaitInWords(t *testing.T) {
	en := i18n.WithLang(context.Background(), i18n.Pick(nil, "en"))
	es := i18n.WithLang(context.Background(), i18n.Pick(nil, "es"))
	for _, c := range []struct {
		wait   time.Duration
		en, es string
	}{
		{20 * time.Second, "a minute", "un minuto"},
		{90 * time.Second, "2 minutes", "2 minutos"},
		{59 * time.Minute, "59 minutes", "59 minutos"},
		{time.Hour, "about an hour", "aproximadamente una hora"},
		{time.Hour + time.Second, "about an hour", "aproximadamente una hora"},
		{4 * time.Hour, "about 4 hours", "aproximadamente 4 horas"},
		{72 * time.Hour, "about 72 hours", "aproximadamente 72 horas"},
	} {
		if got := waitInWords(en, c.wait); got != c.en {
			t.Errorf("%v in English: %q, want %q", c.wait, got, c.en)
		}
		if got := waitInWords(es, c.wait); got != c.es {
			t.Errorf("%v in Spanish: %q, want %q", c.wait, got, c.es)
		}
	}
}
