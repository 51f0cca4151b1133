package config

import (
	"strings"
	"testing"
)

// TELEGRAM_PASSPORT_SCRIPT_URL is optional (no default: Telegram publishes
// its script for sites to host), and when set it is a script browsers load:
// https, or http only to a loopback host.
func TestTelegramPassportScriptURL(t *testing.T) {
	for _, tc := range []struct {
		value, fails string
	}{
		{"", ""},
		{"https://static.blink.sv/telegram-passport.js", ""},
		{"http://127.0.0.1:8080/telegram-passport.js", ""},
		{"http://static.blink.sv/telegram-passport.js", "TELEGRAM_PASSPORT_SCRIPT_URL"},
		{"telegram-passport.js", "TELEGRAM_PASSPORT_SCRIPT_URL"},
	} {
		c := &Config{}
		var failed []string
		loadIdentity(func(k string) string {
			if k == "TELEGRAM_PASSPORT_SCRIPT_URL" {
				return tc.value
			}
			return ""
		}, c, func(name, format string, args ...any) { failed = append(failed, name) })
		got := strings.Join(failed, ",")
		if got != tc.fails {
			t.Errorf("%q: failed %q, want %q", tc.value, got, tc.fails)
		}
		if tc.fails == "" && c.TelegramPassportScriptURL != tc.value {
			t.Errorf("%q: kept %q", tc.value, c.TelegramPassportScriptURL)
		}
	}
}
