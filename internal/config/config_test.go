package config

import (
	"strings"
	"testing"
	"time"
)

const goodKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func valid() map[string]string {
	return map[string]string{
		"DATABASE_URL":    "postgres://app:s3cret-pw@127.0.0.1:5432/app",
		"HYDRA_ADMIN_URL": "http://127.0.0.1:4445/",
		"PUBLIC_URL":      "https://login.blink.sv",
		"SECRET_KEY":      goodKey,
		"SMTP_URL":        "smtp://mailer:s3cret-pw@smtp.example.com:587",
		"SMTP_FROM":       "Blink <no-reply@blink.sv>",
		"TRUSTED_PROXIES": "10.0.0.0/8",
	}
}

func TestLoadValid(t *testing.T) {
	c, err := Load(env(valid()))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.ListenAddr != ":3000" || c.MetricsAddr != ":9090" {
		t.Errorf("defaults: listen %q metrics %q", c.ListenAddr, c.MetricsAddr)
	}
	if c.HydraAdminURL.String() != "http://127.0.0.1:4445" {
		t.Errorf("trailing slash kept: %q", c.HydraAdminURL)
	}
	if !c.Secure() || c.DevMode || c.LogFormat != "json" || len(c.SecretKey) != 32 {
		t.Errorf("unexpected config %+v", c)
	}
}

func TestLoadErrorsNameTheVariableAndHideSecrets(t *testing.T) {
	tests := []struct {
		name    string
		change  map[string]string
		wantVar string
	}{
		{"missing database", map[string]string{"DATABASE_URL": ""}, "DATABASE_URL"},
		{"database not postgres", map[string]string{"DATABASE_URL": "mysql://root:s3cret-pw@x/db"}, "DATABASE_URL"},
		{"pool size not a number", map[string]string{"DATABASE_MAX_CONNS": "ten"}, "DATABASE_MAX_CONNS"},
		{"pool size 0", map[string]string{"DATABASE_MAX_CONNS": "0"}, "DATABASE_MAX_CONNS"},
		{"missing hydra", map[string]string{"HYDRA_ADMIN_URL": ""}, "HYDRA_ADMIN_URL"},
		{"relative hydra", map[string]string{"HYDRA_ADMIN_URL": "127.0.0.1:4445"}, "HYDRA_ADMIN_URL"},
		{"missing public", map[string]string{"PUBLIC_URL": ""}, "PUBLIC_URL"},
		{"http public without dev", map[string]string{"PUBLIC_URL": "http://login.blink.sv"}, "PUBLIC_URL"},
		{"public with query", map[string]string{"PUBLIC_URL": "https://x.example?a=b"}, "PUBLIC_URL"},
		{"missing key", map[string]string{"SECRET_KEY": ""}, "SECRET_KEY"},
		{"short key", map[string]string{"SECRET_KEY": "s3cret-pw00"}, "SECRET_KEY"},
		{"short hex key", map[string]string{"SECRET_KEY": goodKey[:62]}, "SECRET_KEY"},
		{"bad listen", map[string]string{"LISTEN_ADDR": "3000"}, "LISTEN_ADDR"},
		{"bad metrics", map[string]string{"METRICS_ADDR": "nope"}, "METRICS_ADDR"},
		{"bad dev mode", map[string]string{"DEV_MODE": "maybe"}, "DEV_MODE"},
		{"bad log level", map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{"bad log format", map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{"no channel", map[string]string{"SMTP_URL": ""}, "SMTP_URL"},
		{"smtp without from", map[string]string{"SMTP_FROM": ""}, "SMTP_FROM"},
		{"smtp bad scheme", map[string]string{"SMTP_URL": "http://x:1"}, "SMTP_URL"},
		{"twilio without credentials", map[string]string{"TWILIO_FROM": "+15005550006"}, "TWILIO_ACCOUNT_SID"},
		{"twilio over http", map[string]string{"TWILIO_API_URL": "http://api.example.com", "TWILIO_FROM": "+1", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "s3cret-pw"}, "TWILIO_API_URL"},
		{"bad countries", map[string]string{"SMS_COUNTRIES": "SV,El Salvador"}, "SMS_COUNTRIES"},
		{"bad proxies", map[string]string{"TRUSTED_PROXIES": "10.0.0.1"}, "TRUSTED_PROXIES"},
		{"bad limit", map[string]string{"RATE_SEND_EMAIL": "4 per hour"}, "RATE_SEND_EMAIL"},
		{"zero limit", map[string]string{"RATE_FAIL_IP": "0/1h"}, "RATE_FAIL_IP"},
		{"bad registration", map[string]string{"REGISTRATION": "email"}, "REGISTRATION"},
		{"captcha without keys", map[string]string{"CAPTCHA_PROVIDER": "turnstile"}, "CAPTCHA_SITE_KEY"},
		{"unknown captcha", map[string]string{"CAPTCHA_PROVIDER": "geetest"}, "CAPTCHA_PROVIDER"},
		{"bad previous key", map[string]string{"SECRET_KEY_PREVIOUS": "short"}, "SECRET_KEY_PREVIOUS"},
		{"plain smtp without dev", map[string]string{"SMTP_URL": "smtp://mailer:s3cret-pw@smtp.example.com:25?disable_starttls=true"}, "SMTP_URL"},
		{"webhook without secret", map[string]string{"SMS_WEBHOOK_URL": "https://sms.example.com/send"}, "SMS_WEBHOOK_SECRET"},
		{"webhook with a short secret", map[string]string{"SMS_WEBHOOK_URL": "https://sms.example.com/send", "SMS_WEBHOOK_SECRET": "s3cret-pw"}, "SMS_WEBHOOK_SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := valid()
			for k, v := range tt.change {
				m[k] = v
			}
			_, err := Load(env(m))
			if err == nil {
				t.Fatal("Load accepted an invalid configuration")
			}
			if !strings.Contains(err.Error(), tt.wantVar+":") {
				t.Errorf("error %q does not name %s", err, tt.wantVar)
			}
			if strings.Contains(err.Error(), "s3cret-pw") {
				t.Errorf("error leaks a secret: %q", err)
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := Load(env(map[string]string{}))
	if err == nil {
		t.Fatal("empty environment accepted")
	}
	for _, name := range []string{"DATABASE_URL", "HYDRA_ADMIN_URL", "PUBLIC_URL", "SECRET_KEY"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestDevModeAllowsHTTP(t *testing.T) {
	m := valid()
	m["PUBLIC_URL"] = "http://127.0.0.1:3000"
	m["DEV_MODE"] = "true"
	c, err := Load(env(m))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Secure() || !c.DevMode {
		t.Errorf("dev mode over http: secure=%v dev=%v", c.Secure(), c.DevMode)
	}
}

// DEV_MODE shows codes on /dev/messages, so it runs only on a loopback PUBLIC_URL.
func TestDevModeOnlyOnLoopback(t *testing.T) {
	for _, public := range []string{"https://login.blink.sv", "http://login.blink.sv", "http://10.0.0.5:3000", "http://[2001:db8::1]:3000", "http://localhost.blink.sv"} {
		m := valid()
		m["PUBLIC_URL"], m["DEV_MODE"] = public, "true"
		_, err := Load(env(m))
		if err == nil || !strings.Contains(err.Error(), "DEV_MODE:") || !strings.Contains(err.Error(), "PUBLIC_URL") {
			t.Errorf("DEV_MODE with PUBLIC_URL=%s: %v", public, err)
		}
	}
	for _, public := range []string{"http://localhost:3000", "http://LOCALHOST", "http://127.0.0.1:3000", "http://127.8.9.10", "http://[::1]:3000", "https://127.0.0.1:8443"} {
		m := valid()
		m["PUBLIC_URL"], m["DEV_MODE"] = public, "true"
		if c, err := Load(env(m)); err != nil || !c.DevMode {
			t.Errorf("DEV_MODE with PUBLIC_URL=%s refused: %v", public, err)
		}
	}
}

// Plain SMTP sends codes in clear: only for a local test server in DEV_MODE.
func TestPlainSMTPOnlyInDevMode(t *testing.T) {
	m := valid()
	m["SMTP_URL"] = "smtp://127.0.0.1:1025?disable_starttls=true"
	if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "SMTP_URL:") {
		t.Errorf("plain SMTP without DEV_MODE: %v", err)
	}
	m["PUBLIC_URL"], m["DEV_MODE"] = "http://127.0.0.1:3000", "true"
	if _, err := Load(env(m)); err != nil {
		t.Errorf("plain SMTP with DEV_MODE: %v", err)
	}
}

func TestWebhookSecret(t *testing.T) {
	m := valid()
	m["SMS_WEBHOOK_URL"] = "https://sms.example.com/send"
	m["SMS_WEBHOOK_SECRET"] = strings.Repeat("ab", 16)
	c, err := Load(env(m))
	if err != nil || c.SignIn.SMSWebhookSecret != m["SMS_WEBHOOK_SECRET"] || !c.SignIn.SMS() {
		t.Errorf("webhook with a secret: %v", err)
	}
	m["PUBLIC_URL"], m["DEV_MODE"], m["SMS_WEBHOOK_SECRET"] = "http://127.0.0.1:3000", "true", ""
	if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "SMS_WEBHOOK_SECRET:") {
		t.Errorf("webhook without a secret in DEV_MODE: %v", err)
	}
}

func TestSecretKeyEncodings(t *testing.T) {
	for _, v := range []string{
		goodKey,
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
	} {
		key, err := parseSecretKey(v)
		if err != nil || len(key) != 32 || key[31] != 0x1f {
			t.Errorf("parseSecretKey(%q) = %x, %v", v, key, err)
		}
	}
}

func TestConsentRememberFor(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 720 * time.Hour, "3600": time.Hour, "0": 0, "90m": 90 * time.Minute} {
		m := valid()
		m["CONSENT_REMEMBER_FOR"] = v
		c, err := Load(env(m))
		if err != nil || c.ConsentRememberFor != want {
			t.Errorf("CONSENT_REMEMBER_FOR=%q: %v, %v; want %v", v, c.ConsentRememberFor, err, want)
		}
	}
	for _, v := range []string{"-1", "soon", "-5m"} {
		m := valid()
		m["CONSENT_REMEMBER_FOR"] = v
		if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "CONSENT_REMEMBER_FOR:") {
			t.Errorf("CONSENT_REMEMBER_FOR=%q accepted: %v", v, err)
		}
	}
}

func TestSignInDefaults(t *testing.T) {
	c, err := Load(env(valid()))
	if err != nil {
		t.Fatal(err)
	}
	s := c.SignIn
	if s.SendPerEmail != (Limit{4, time.Hour}) || s.SendPerPhone != (Limit{8, 24 * time.Hour}) || s.SendPerIP != (Limit{16, time.Hour}) ||
		s.FailPerIdentifier != (Limit{6, time.Hour}) || s.FailPerIP != (Limit{20, 6 * time.Hour}) {
		t.Errorf("limits %+v", s)
	}
	if len(s.SMSCountries) != 1 || s.SMSCountries[0] != "SV" || c.Registration != "phone" || c.LoginRememberFor != 720*time.Hour {
		t.Errorf("defaults: %v %q %v", s.SMSCountries, c.Registration, c.LoginRememberFor)
	}
	if !s.Email() || s.SMS() || s.WhatsApp() || s.TwilioAPIURL != "https://api.twilio.com" {
		t.Errorf("channels: %+v", s)
	}
	m := valid()
	m["SMS_COUNTRIES"] = " sv, us ,gt"
	m["TRUSTED_PROXIES"] = "10.0.0.0/8, 192.168.1.0/24"
	m["TWILIO_API_URL"] = "http://127.0.0.1:9999"
	m["TWILIO_FROM"], m["TWILIO_ACCOUNT_SID"], m["TWILIO_AUTH_TOKEN"] = "+15005550006", "AC1", "tok"
	c, err = Load(env(m))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.SignIn.SMSCountries, ",") != "SV,US,GT" || len(c.SignIn.TrustedProxies) != 2 || !c.SignIn.SMS() {
		t.Errorf("parsed %+v", c.SignIn)
	}
}

// A service off loopback refuses to start until TRUSTED_PROXIES says which
// proxy is in front (or none): behind an unlisted ingress every client would
// share its address, here and in Blink core's per-IP limits.
func TestTrustedProxiesRequiredOffLoopback(t *testing.T) {
	m := valid()
	delete(m, "TRUSTED_PROXIES")
	_, err := Load(env(m))
	if err == nil || !strings.Contains(err.Error(), "TRUSTED_PROXIES: required") || !strings.Contains(err.Error(), "none") ||
		!strings.Contains(err.Error(), "proxy's address") {
		t.Fatalf("no TRUSTED_PROXIES with PUBLIC_URL https://login.blink.sv: %v", err)
	}

	m["TRUSTED_PROXIES"] = "none"
	c, err := Load(env(m))
	if err != nil || len(c.SignIn.TrustedProxies) != 0 {
		t.Fatalf("TRUSTED_PROXIES=none: %v %+v", err, c.SignIn.TrustedProxies)
	}
	m["TRUSTED_PROXIES"] = "10.42.0.0/16, 10.43.0.0/16"
	if c, err = Load(env(m)); err != nil || len(c.SignIn.TrustedProxies) != 2 {
		t.Fatalf("two CIDRs: %v %v", err, c.SignIn.TrustedProxies)
	}
	for _, bad := range []string{"none,10.0.0.0/8", "10.0.0.1", "ingress"} {
		m["TRUSTED_PROXIES"] = bad
		if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "TRUSTED_PROXIES: must be") {
			t.Errorf("TRUSTED_PROXIES=%q: %v", bad, err)
		}
	}

	// A network as wide as the internet is no proxy: every client would choose
	// its own address.
	for _, wide := range []string{"0.0.0.0/0", "10.0.0.0/8, 0.0.0.0/1", "::/0", "2000::/3", "::ffff:0.0.0.0/96"} {
		m["TRUSTED_PROXIES"] = wide
		if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "trusts far more than a proxy") {
			t.Errorf("TRUSTED_PROXIES=%q: %v", wide, err)
		}
	}
	for _, narrow := range []string{"10.0.0.0/8", "fd00::/16", "fd12:3456::/48"} {
		m["TRUSTED_PROXIES"] = narrow
		if _, err := Load(env(m)); err != nil {
			t.Errorf("TRUSTED_PROXIES=%q: %v", narrow, err)
		}
	}

	// On a loopback PUBLIC_URL (a developer's machine) it may stay unset.
	delete(m, "TRUSTED_PROXIES")
	m["PUBLIC_URL"], m["DEV_MODE"] = "http://localhost:3000", "true"
	if _, err := Load(env(m)); err != nil {
		t.Fatalf("loopback without TRUSTED_PROXIES: %v", err)
	}
}

// PORT is what Blink's chart sets for apps/consent; LISTEN_ADDR wins over it.
func TestPortIsAcceptedAndListenAddrWins(t *testing.T) {
	m := valid()
	m["PORT"] = "3001"
	c, err := Load(env(m))
	if err != nil || c.ListenAddr != ":3001" {
		t.Fatalf("PORT=3001: %v %q", err, c.ListenAddr)
	}
	m["LISTEN_ADDR"] = "127.0.0.1:4000"
	if c, err = Load(env(m)); err != nil || c.ListenAddr != "127.0.0.1:4000" {
		t.Fatalf("LISTEN_ADDR and PORT: %v %q", err, c.ListenAddr)
	}
	delete(m, "LISTEN_ADDR")
	for _, bad := range []string{"http", "0", "70000", ":3000"} {
		m["PORT"] = bad
		if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "PORT:") {
			t.Errorf("PORT=%q: %v", bad, err)
		}
	}
}

// DATABASE_MAX_CONNS sizes the pool; unset leaves the choice to the store.
func TestDatabaseMaxConns(t *testing.T) {
	if c, err := Load(env(valid())); err != nil || c.DatabaseMaxConns != 0 {
		t.Errorf("unset: %d %v", c.DatabaseMaxConns, err)
	}
	e := valid()
	e["DATABASE_MAX_CONNS"] = "12"
	if c, err := Load(env(e)); err != nil || c.DatabaseMaxConns != 12 {
		t.Errorf("12: %d %v", c.DatabaseMaxConns, err)
	}
}

func TestSupportURL(t *testing.T) {
	for _, ok := range []string{"", "https://help.blink.sv/", "mailto:support@blink.sv", "http://127.0.0.1:8080/help"} {
		e := valid()
		e["SUPPORT_URL"] = ok
		c, err := Load(env(e))
		if err != nil || c.SupportURL != ok {
			t.Errorf("SUPPORT_URL=%q: %q %v", ok, c.SupportURL, err)
		}
	}
	for _, bad := range []string{"http://help.blink.sv/", "javascript:alert(1)", "help.blink.sv", "mailto:"} {
		e := valid()
		e["SUPPORT_URL"] = bad
		if _, err := Load(env(e)); err == nil || !strings.Contains(err.Error(), "SUPPORT_URL") {
			t.Errorf("SUPPORT_URL=%q accepted: %v", bad, err)
		}
	}
}

func TestPasskeySettings(t *testing.T) {
	c, err := Load(env(valid()))
	if err != nil || !c.Passkeys || c.PasskeyRPName != "Blink" {
		t.Fatalf("defaults: passkeys %v, name %q, err %v", c.Passkeys, c.PasskeyRPName, err)
	}
	e := valid()
	e["PASSKEYS"], e["PASSKEY_RP_NAME"] = "off", "Blink Wallet"
	if c, err = Load(env(e)); err != nil || c.Passkeys || c.PasskeyRPName != "Blink Wallet" {
		t.Fatalf("off: passkeys %v, name %q, err %v", c.Passkeys, c.PasskeyRPName, err)
	}
	e["PASSKEYS"] = "yes"
	if _, err = Load(env(e)); err == nil || !strings.Contains(err.Error(), "PASSKEYS") {
		t.Errorf("PASSKEYS=yes: %v, want an error naming PASSKEYS", err)
	}
	e["PASSKEYS"], e["PASSKEY_RP_NAME"] = "on", strings.Repeat("x", 65)
	if _, err = Load(env(e)); err == nil || !strings.Contains(err.Error(), "PASSKEY_RP_NAME") {
		t.Errorf("a long PASSKEY_RP_NAME: %v, want an error naming it", err)
	}
}
