package config

import (
	"errors"
	"strings"
	"time"
)

// ParseDays reads a duration written as Go writes one (168h, 90m, 1h30m) or
// as a whole number of days (7d, 90d), which is how retention and "since"
// are usually said. Negative values are refused.
func ParseDays(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		if n == "" || len(n) > 5 || strings.Trim(n, "0123456789") != "" {
			return 0, errors.New("days must be a whole number such as 7d")
		}
		days := 0
		for _, c := range n {
			days = days*10 + int(c-'0')
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errors.New("must be a duration such as 168h or a number of days such as 7d")
	}
	return d, nil
}

// DefaultRetention keeps spent rows for a week.
const DefaultRetention = "168h"

// DefaultAuditRetention keeps the security audit trail (full client IPs
// included) for 90 days.
const DefaultAuditRetention = "2160h"

// minRetention keeps single-use challenge markers past Hydra's request TTL
// (30 minutes by default): a purged marker would let a challenge answer twice.
const minRetention = time.Hour

// loadRetention reads RETENTION and refuses rate-limit windows longer than it:
// the purge would forget events such a limit still counts.
func loadRetention(getenv func(string) string, c *Config, fail func(name, format string, args ...any)) {
	if a, err := ParseDays(orDefault(getenv("AUDIT_RETENTION"), DefaultAuditRetention)); err != nil || (a != 0 && a < 24*time.Hour) {
		fail("AUDIT_RETENTION", "must be a duration of at least 24h, such as 2160h or 90d, or 0 to keep the audit trail forever")
	} else {
		c.AuditRetention = a
	}
	d, err := ParseDays(orDefault(getenv("RETENTION"), DefaultRetention))
	if err != nil || d < minRetention {
		fail("RETENTION", "must be a duration of at least 1h, such as 168h or 7d")
		return
	}
	c.Retention = d
	s := c.SignIn
	if s.Lockout > d {
		// The purge spares a lock in force, but the flows, codes and rate
		// events that explain it would go while it holds: a lock should never
		// outlive its own evidence, nor rest on the purge's exception alone.
		fail("LOCKOUT_DURATION", "%s is longer than RETENTION (%s), after which the failures behind a lock are deleted: shorten LOCKOUT_DURATION or lengthen RETENTION",
			shortDuration(s.Lockout), shortDuration(d))
	}
	for _, l := range []struct {
		name  string
		limit Limit
	}{
		{"RATE_SEND_EMAIL", s.SendPerEmail}, {"RATE_SEND_PHONE", s.SendPerPhone}, {"RATE_SEND_IP", s.SendPerIP},
		{"RATE_FAIL_IDENTIFIER", s.FailPerIdentifier}, {"RATE_FAIL_IP", s.FailPerIP},
	} {
		if l.limit.Window > d {
			fail(l.name, "its window (%s) is longer than RETENTION (%s), after which its events are deleted: shorten the window or lengthen RETENTION",
				shortDuration(l.limit.Window), shortDuration(d))
		}
	}
}

// shortDuration writes 72h rather than 72h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
