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

// When a wait ends, told as people say it: a time of day in the person's
// zone when known (El Salvador is UTC−6), else a count of hours or days.
func TestWhenInWords(t *testing.T) {
	en := i18n.WithLang(context.Background(), i18n.Pick(nil, "en"))
	es := i18n.WithLang(context.Background(), i18n.Pick(nil, "es"))
	sv, err := time.LoadLocation("America/El_Salvador")
	if err != nil {
		t.Fatal(err)
	}
	// Thursday 3 December 2026, 14:10 in El Salvador.
	now := time.Date(2026, 12, 3, 20, 10, 0, 0, time.UTC)
	for _, c := range []struct {
		wait   time.Duration
		zone   *time.Location
		en, es string
	}{
		{3 * time.Minute, sv, "in 3 minutes", "en 3 minutos"},
		{90 * time.Minute, sv, "at 3:40 PM", "a las 15:40"},
		{90 * time.Minute, nil, "in about 2 hours", "en aproximadamente 2 horas"},
		{19 * time.Hour, sv, "tomorrow at 9:10 AM", "mañana a las 9:10"},
		{72 * time.Hour, sv, "on Sunday at 2:10 PM", "el domingo a las 14:10"},
		{72 * time.Hour, nil, "in 3 days", "en 3 días"},
		{24 * time.Hour, nil, "in about a day", "en aproximadamente un día"},
		{9 * 24 * time.Hour, sv, "in 9 days", "en 9 días"},
	} {
		if got := WhenInWords(en, c.wait, now, c.zone); got != c.en {
			t.Errorf("%v (zone %v) in English: %q, want %q", c.wait, c.zone, got, c.en)
		}
		if got := WhenInWords(es, c.wait, now, c.zone); got != c.es {
			t.Errorf("%v (zone %v) in Spanish: %q, want %q", c.wait, c.zone, got, c.es)
		}
	}
}
