package config

import (
	"strings"
	"testing"
	"time"
)

// blinkEnv is a valid blink-mode configuration with no code sender of ours.
func blinkEnv(change map[string]string) map[string]string {
	m := valid()
	delete(m, "SMTP_URL")
	delete(m, "SMTP_FROM")
	m["IDENTITY_SOURCE"] = "blink"
	m["CORE_AUTH_URL"] = "http://api:4012/auth/"
	m["GRAPHQL_ENDPOINT"] = "http://galoy-oathkeeper-proxy:4455/graphql"
	for k, v := range change {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

func TestIdentitySourceDefaultsToPostgres(t *testing.T) {
	c, err := Load(env(valid()))
	if err != nil {
		t.Fatal(err)
	}
	if c.IdentitySource != IdentityPostgres || c.Blink() || c.CoreAuthURL != "" || c.GraphQLEndpoint != "" {
		t.Errorf("default identity source: %q blink=%v core=%q graphql=%q", c.IdentitySource, c.Blink(), c.CoreAuthURL, c.GraphQLEndpoint)
	}
	if c.GeetestScriptURL != DefaultGeetestScriptURL {
		t.Errorf("GeetestScriptURL = %q, want Geetest's %q", c.GeetestScriptURL, DefaultGeetestScriptURL)
	}
}

// Blink core sends the codes: blink mode needs no SMTP or Twilio of ours,
// and Blink chart's in-cluster http URLs are accepted.
func TestBlinkModeNeedsNoSenderOfOurs(t *testing.T) {
	c, err := Load(env(blinkEnv(nil)))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !c.Blink() || c.CoreAuthURL != "http://api:4012/auth" || c.GraphQLEndpoint != "http://galoy-oathkeeper-proxy:4455/graphql" {
		t.Errorf("blink config: blink=%v core=%q graphql=%q", c.Blink(), c.CoreAuthURL, c.GraphQLEndpoint)
	}
	if c.SignIn.Email() || c.SignIn.SMS() || c.SignIn.WhatsApp() {
		t.Error("blink mode configured a sender of ours")
	}
	// The same settings in postgres mode still need a sender.
	m := blinkEnv(map[string]string{"IDENTITY_SOURCE": "postgres"})
	if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "SMTP_URL:") {
		t.Errorf("postgres mode without a sender: %v", err)
	}
}

func TestBlinkSettingsErrorsNameTheVariable(t *testing.T) {
	for _, tt := range []struct {
		name    string
		change  map[string]string
		wantVar string
	}{
		{"unknown source", map[string]string{"IDENTITY_SOURCE": "kratos"}, "IDENTITY_SOURCE"},
		{"no core url", map[string]string{"CORE_AUTH_URL": ""}, "CORE_AUTH_URL"},
		{"no graphql", map[string]string{"GRAPHQL_ENDPOINT": ""}, "GRAPHQL_ENDPOINT"},
		{"relative core url", map[string]string{"CORE_AUTH_URL": "api:4012/auth"}, "CORE_AUTH_URL"},
		{"core url not http", map[string]string{"CORE_AUTH_URL": "ftp://api/auth"}, "CORE_AUTH_URL"},
		{"core url with credentials", map[string]string{"CORE_AUTH_URL": "https://u:s3cret-pw@core.blink.sv/auth"}, "CORE_AUTH_URL"},
		{"core url with a query", map[string]string{"CORE_AUTH_URL": "https://core.blink.sv/auth?x=1"}, "CORE_AUTH_URL"},
		{"core over http to a public name", map[string]string{"CORE_AUTH_URL": "http://api.blink.sv/auth"}, "CORE_AUTH_URL"},
		{"core over http to a public address", map[string]string{"CORE_AUTH_URL": "http://8.8.8.8/auth"}, "CORE_AUTH_URL"},
		{"graphql over http to a public name", map[string]string{"GRAPHQL_ENDPOINT": "http://api.blink.sv/graphql"}, "GRAPHQL_ENDPOINT"},
		{"geetest over http", map[string]string{"GEETEST_SCRIPT_URL": "http://static.geetest.com/static/js/gt.0.5.0.js"}, "GEETEST_SCRIPT_URL"},
		{"geetest relative", map[string]string{"GEETEST_SCRIPT_URL": "/static/gt.js"}, "GEETEST_SCRIPT_URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(blinkEnv(tt.change)))
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

// http is for hosts the public internet cannot be in the middle of; https
// goes anywhere.
func TestCoreURLHTTPRule(t *testing.T) {
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"http://api:4012/auth", true},
		{"http://localhost:4012/auth", true},
		{"http://127.0.0.1:4012/auth", true},
		{"http://[::1]:4012/auth", true},
		{"http://10.1.2.3:4012/auth", true},
		{"http://192.168.1.5/auth", true},
		{"http://[fd00::5]/auth", true},
		{"http://api.galoy-dev.svc/auth", true},
		{"http://api.galoy-dev.svc.cluster.local:4012/auth", true},
		{"https://api.blink.sv/auth", true},
		{"https://8.8.8.8/auth", true},
		{"http://api.blink.sv/auth", false},
		{"http://api.svc.example.com/auth", false},
		{"http://8.8.8.8/auth", false},
		{"http://[2001:db8::1]/auth", false},
	} {
		_, err := Load(env(blinkEnv(map[string]string{"CORE_AUTH_URL": tt.url})))
		if (err == nil) != tt.ok {
			t.Errorf("CORE_AUTH_URL=%s: err = %v, want accepted = %v", tt.url, err, tt.ok)
		}
	}
}

func TestGeetestScriptURL(t *testing.T) {
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"https://static.geetest.com/static/js/gt.0.5.0.js", true},
		{"http://127.0.0.1:4012/static/gt.js", true},
		{"http://localhost:4012/static/gt.js", true},
		{"http://api:4012/static/gt.js", false},
		{"javascript:alert(1)", false},
	} {
		c, err := Load(env(blinkEnv(map[string]string{"GEETEST_SCRIPT_URL": tt.url})))
		if (err == nil) != tt.ok {
			t.Errorf("GEETEST_SCRIPT_URL=%s: err = %v, want accepted = %v", tt.url, err, tt.ok)
		}
		if err == nil && c.GeetestScriptURL != tt.url {
			t.Errorf("GeetestScriptURL = %q, want %q", c.GeetestScriptURL, tt.url)
		}
	}
}

// With IDENTITY_SOURCE=blink core's limits are the only default ones, as with
// apps/consent: ours would refuse people core serves (4 codes per phone in
// 72 h against core's 6 an hour). An operator can still set stricter ones.
func TestBlinkModeLeavesLimitsToCore(t *testing.T) {
	c, err := Load(env(blinkEnv(nil)))
	if err != nil {
		t.Fatal(err)
	}
	s := c.SignIn
	for name, l := range map[string]Limit{"RATE_SEND_EMAIL": s.SendPerEmail, "RATE_SEND_PHONE": s.SendPerPhone, "RATE_SEND_IP": s.SendPerIP,
		"RATE_FAIL_IDENTIFIER": s.FailPerIdentifier, "RATE_FAIL_IP": s.FailPerIP} {
		if l != (Limit{}) {
			t.Errorf("%s defaults to %+v in blink mode, want off", name, l)
		}
	}
	c, err = Load(env(blinkEnv(map[string]string{"RATE_SEND_IP": "10/1h", "RATE_FAIL_IP": "off"})))
	if err != nil || c.SignIn.SendPerIP != (Limit{Max: 10, Window: time.Hour}) || c.SignIn.FailPerIP != (Limit{}) {
		t.Errorf("explicit limits in blink mode: %v %+v %+v", err, c.SignIn.SendPerIP, c.SignIn.FailPerIP)
	}
	// Our own accounts keep our own defaults.
	c, err = Load(env(valid()))
	if err != nil || c.SignIn.SendPerPhone != (Limit{Max: 8, Window: 24 * time.Hour}) || c.SignIn.SendPerIP != (Limit{Max: 16, Window: time.Hour}) {
		t.Errorf("postgres mode: %v %+v %+v", err, c.SignIn.SendPerPhone, c.SignIn.SendPerIP)
	}
}

// Core makes an account of an unknown phone itself, so REGISTRATION=none
// cannot hold in blink mode: it is refused naming both variables, not ignored.
func TestRegistrationNoneIsRefusedWithBlinkCore(t *testing.T) {
	_, err := Load(env(blinkEnv(map[string]string{"REGISTRATION": "none"})))
	if err == nil || !strings.Contains(err.Error(), "REGISTRATION: none cannot hold with IDENTITY_SOURCE=blink") {
		t.Fatalf("REGISTRATION=none with IDENTITY_SOURCE=blink: %v", err)
	}
	for _, ok := range []map[string]string{
		blinkEnv(map[string]string{"REGISTRATION": "phone"}),
		blinkEnv(nil),
		func() map[string]string { m := valid(); m["REGISTRATION"] = "none"; return m }(),
	} {
		if _, err := Load(env(ok)); err != nil {
			t.Errorf("IDENTITY_SOURCE=%q REGISTRATION=%q: %v", ok["IDENTITY_SOURCE"], ok["REGISTRATION"], err)
		}
	}
}
