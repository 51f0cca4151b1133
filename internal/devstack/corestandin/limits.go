package corestandin

import "time"

// Limit is one of core's Redis limiters: Points tries per Window; the try
// after the last one blocks the key for Block.
type Limit struct {
	Points int
	Window time.Duration
	Block  time.Duration
}

// Limits are core's limits that the auth routes consume. The IP limits are
// shared between routes exactly as in core: one code-request budget per IP
// for /email/code and /phone/code, one failed-login budget per IP for
// /email/login and /phone/login.
type Limits struct {
	CodeRequestPerIP         Limit // requestCodeAttemptPerIp
	CodeRequestPerIdentifier Limit // per email address, per phone number
	FailedLoginPerIP         Limit // each login costs a point, a success refunds it
	LoginPerIdentifier       Limit // /phone/login per phone; /totp/validate per sha256(token)
	// EmailCodeTries is Kratos' cap on code submissions per email login flow;
	// the next one answers 429 "too many requests".
	EmailCodeTries int
}

// DefaultLimits are core's defaults (core/api/src/config/schema.ts).
func DefaultLimits() Limits {
	return Limits{
		CodeRequestPerIP:         Limit{Points: 30, Window: time.Hour, Block: time.Hour},
		CodeRequestPerIdentifier: Limit{Points: 6, Window: time.Hour, Block: time.Hour},
		FailedLoginPerIP:         Limit{Points: 40, Window: 6 * time.Hour, Block: 4 * time.Hour},
		LoginPerIdentifier:       Limit{Points: 8, Window: time.Hour, Block: time.Hour},
		EmailCodeTries:           5,
	}
}

type counter struct {
	used         int
	windowStart  time.Time
	blockedUntil time.Time
}

// limiter mimics rate-limiter-flexible's consume/reward with blockDuration.
// Callers hold the stand-in's lock.
type limiter struct {
	keys map[string]*counter
}

func (l *limiter) consume(lim Limit, key string, now time.Time) bool {
	if l.keys == nil {
		l.keys = map[string]*counter{}
	}
	c := l.keys[key]
	if c == nil {
		c = &counter{windowStart: now}
		l.keys[key] = c
	}
	if now.Before(c.blockedUntil) {
		return false
	}
	if !now.Before(c.windowStart.Add(lim.Window)) || !c.blockedUntil.IsZero() {
		*c = counter{windowStart: now}
	}
	c.used++
	if c.used > lim.Points {
		c.blockedUntil = now.Add(lim.Block)
		return false
	}
	return true
}

func (l *limiter) reward(key string) {
	if c := l.keys[key]; c != nil && c.used > 0 && c.blockedUntil.IsZero() {
		c.used--
	}
}
