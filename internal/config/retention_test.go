package config

import (
	"strings"
	"testing"
	"time"
)

func TestRetention(t *testing.T) {
	c, err := Load(env(valid()))
	if err != nil || c.Retention != 168*time.Hour {
		t.Fatalf("default RETENTION: %v %v", c.Retention, err)
	}
	m := valid()
	m["RETENTION"] = "2h"
	m["RATE_SEND_PHONE"] = "4/2h"
	m["RATE_FAIL_IP"] = "20/2h"
	if c, err := Load(env(m)); err != nil || c.Retention != 2*time.Hour {
		t.Errorf("RETENTION=2h with 2h windows: %v %v", c.Retention, err)
	}
	for v, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "90d": 90 * 24 * time.Hour, "200h": 200 * time.Hour} {
		m := valid()
		m["RETENTION"] = v
		if c, err := Load(env(m)); err != nil || c.Retention != want {
			t.Errorf("RETENTION=%s: %v %v", v, c.Retention, err)
		}
	}
	for _, bad := range []string{"30m", "0d", "soon", "-1h", "3600", "7 d", "1.5d", "-7d", "d", "1w"} {
		m := valid()
		m["RETENTION"] = bad
		if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "RETENTION: must be a duration of at least 1h") {
			t.Errorf("RETENTION=%s: %v", bad, err)
		}
	}
}

// A rate window the purge would cut short is refused, naming both settings,
// instead of being silently shortened.
func TestRateWindowLongerThanRetentionIsRefused(t *testing.T) {
	m := valid()
	m["RETENTION"] = "12h"
	_, err := Load(env(m)) // RATE_SEND_PHONE defaults to 8/24h
	if err == nil || !strings.Contains(err.Error(), "RATE_SEND_PHONE: its window (24h) is longer than RETENTION (12h)") {
		t.Fatalf("RETENTION=12h under the default RATE_SEND_PHONE=8/24h: %v", err)
	}
	for _, ok := range []string{"RATE_SEND_EMAIL", "RATE_SEND_IP", "RATE_FAIL_IDENTIFIER", "RATE_FAIL_IP"} {
		if strings.Contains(err.Error(), ok) {
			t.Errorf("%s (a window shorter than 12h) was refused too: %v", ok, err)
		}
	}
}

// LOGIN_REMEMBER_FOR=0 has no meaning here: Hydra would keep such a sign-in
// until the browser is closed, which no retention of login_sessions can follow.
func TestLoginRememberForZeroIsRefused(t *testing.T) {
	for _, zero := range []string{"0", "0s", "0h"} {
		m := valid()
		m["LOGIN_REMEMBER_FOR"] = zero
		_, err := Load(env(m))
		if err == nil || !strings.Contains(err.Error(), "LOGIN_REMEMBER_FOR: must be a duration such as 720h, or whole seconds, more than 0") ||
			strings.Contains(err.Error(), "until revoked") {
			t.Errorf("LOGIN_REMEMBER_FOR=%s: %v", zero, err)
		}
	}
	m := valid()
	m["LOGIN_REMEMBER_FOR"] = "3600"
	if c, err := Load(env(m)); err != nil || c.LoginRememberFor != time.Hour {
		t.Errorf("LOGIN_REMEMBER_FOR=3600: %v %v", c.LoginRememberFor, err)
	}
}

func TestAuditRetention(t *testing.T) {
	if c, err := Load(env(valid())); err != nil || c.AuditRetention != 90*24*time.Hour {
		t.Fatalf("default AUDIT_RETENTION: %v %v", c.AuditRetention, err)
	}
	for v, want := range map[string]time.Duration{"0": 0, "24h": 24 * time.Hour, "8760h": 8760 * time.Hour, "90d": 90 * 24 * time.Hour, "0d": 0} {
		m := valid()
		m["AUDIT_RETENTION"] = v
		if c, err := Load(env(m)); err != nil || c.AuditRetention != want {
			t.Errorf("AUDIT_RETENTION=%s: %v %v", v, c.AuditRetention, err)
		}
	}
	for _, bad := range []string{"1h", "-24h", "forever", "86400", "+90d"} {
		m := valid()
		m["AUDIT_RETENTION"] = bad
		if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "AUDIT_RETENTION: must be") {
			t.Errorf("AUDIT_RETENTION=%s: %v", bad, err)
		}
	}
}

// A lockout longer than RETENTION would outlive the rows that explain it; it
// is refused naming both settings. Equal is fine.
func TestLockoutLongerThanRetentionIsRefused(t *testing.T) {
	m := valid()
	m["RETENTION"] = "2h"
	m["RATE_SEND_PHONE"] = "4/2h"
	m["RATE_FAIL_IP"] = "20/2h"
	m["LOCKOUT_DURATION"] = "3h"
	_, err := Load(env(m))
	if err == nil || !strings.Contains(err.Error(), "LOCKOUT_DURATION: 3h is longer than RETENTION (2h)") {
		t.Fatalf("LOCKOUT_DURATION=3h under RETENTION=2h: %v", err)
	}
	m["LOCKOUT_DURATION"] = "2h"
	if c, err := Load(env(m)); err != nil || c.SignIn.Lockout != 2*time.Hour {
		t.Errorf("LOCKOUT_DURATION=2h under RETENTION=2h: %v %v", c.SignIn.Lockout, err)
	}
}
