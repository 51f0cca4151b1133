// Package config reads and validates the service's settings from the environment.
package config

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is everything `blink-consent serve` needs, validated.
type Config struct {
	DatabaseURL   string
	HydraAdminURL *url.URL
	PublicURL     *url.URL
	ListenAddr    string
	MetricsAddr   string
	SecretKey     []byte
	DevMode       bool
	// ConsentRememberFor is how long "remember this decision" lasts; 0 = until revoked.
	ConsentRememberFor time.Duration
	LogLevel           slog.Level
	LogFormat          string

	// SecretKeyPrevious are older SECRET_KEYs still accepted while rotating.
	SecretKeyPrevious [][]byte
	// LoginRememberFor is how long "Remember me" keeps a sign-in; never 0,
	// which Hydra would read as "until the browser is closed".
	LoginRememberFor time.Duration
	// Retention is how long spent rows are kept before they are purged.
	Retention time.Duration
	// AuditRetention is how long audit_events rows are kept; 0 = forever.
	AuditRetention time.Duration
	// ShutdownDelay is how long /readyz answers 503 before the listeners
	// close on SIGTERM, so load balancers stop sending new requests first.
	ShutdownDelay time.Duration
	// Registration is "phone" (a new number becomes an account) or "none".
	Registration string
	// Passkeys (PASSKEYS, default on) offers signing in with a passkey and
	// adding one; PasskeyRPName (PASSKEY_RP_NAME, default "Blink") is the
	// name authenticators show for this service.
	Passkeys      bool
	PasskeyRPName string
	SignIn        SignIn

	// IdentitySource is where accounts live: IdentityPostgres or IdentityBlink.
	IdentitySource string
	// CoreAuthURL (core's /auth routes) and GraphQLEndpoint reach Blink core;
	// set only with IdentityBlink.
	CoreAuthURL, GraphQLEndpoint string
	// GeetestScriptURL is the Geetest v3 script the blink phone page loads.
	GeetestScriptURL string
	// TelegramPassportScriptURL is Telegram's Passport script the blink
	// Telegram page loads; empty: Telegram Passport is not offered.
	TelegramPassportScriptURL string
	// Tracing is where OpenTelemetry traces go; off without an endpoint.
	Tracing Tracing
	// SupportURL is where error pages and the lost-authenticator help send
	// people (an https or mailto: URL); empty: the pages name support
	// without a link.
	SupportURL string

	// Account is the /account page; off when its client is not set.
	Account Account

	// DatabaseMaxConns sizes each replica's pool; 0 leaves it to the URL's
	// pool_max_conns or the larger of 4 and GOMAXPROCS (store.DefaultMaxConns).
	DatabaseMaxConns int
}

// SignIn holds the code sign-in's delivery, limits and bot check.
type SignIn struct {
	SMTPURL, SMTPFrom, SMTPCAFile string

	TwilioAPIURL, TwilioAccountSID, TwilioAuthToken string
	TwilioFrom, TwilioWhatsAppFrom                  string
	SMSWebhookURL                                   string
	// SMSWebhookSecret keys the HMAC in every webhook request's X-Blink-Signature.
	SMSWebhookSecret string

	// SMSCountries are the ISO regions whose numbers may receive codes.
	SMSCountries []string
	// TrustedProxies are the proxies whose X-Forwarded-For names the client;
	// TrustedProxiesSet is true when TRUSTED_PROXIES was given, also as
	// "none" (no proxy in front: the list stays empty).
	TrustedProxies    []netip.Prefix
	TrustedProxiesSet bool

	SendPerEmail, SendPerPhone, SendPerIP Limit
	FailPerIdentifier, FailPerIP          Limit
	// Lockout is how long an email or phone stays locked after 100
	// consecutive failed codes (NIST SP 800-63B's limit).
	Lockout time.Duration

	// CaptchaProvider is "" (off) or "turnstile".
	CaptchaProvider, CaptchaSiteKey, CaptchaSecret, CaptchaVerifyURL string
}

// Email reports whether codes can go by email (or are only shown in DEV_MODE).
func (s SignIn) Email() bool { return s.SMTPURL != "" }

// SMS reports whether codes can go by SMS.
func (s SignIn) SMS() bool { return s.TwilioFrom != "" || s.SMSWebhookURL != "" }

// WhatsApp reports whether codes can go by WhatsApp.
func (s SignIn) WhatsApp() bool { return s.TwilioWhatsAppFrom != "" }

// Limit is at most Max events per Window.
type Limit struct {
	Max    int
	Window time.Duration
}

// Secure reports whether cookies must carry the Secure flag and HSTS be sent.
func (c Config) Secure() bool { return c.PublicURL.Scheme == "https" }

// Load reads the serve configuration. Every problem is reported, each naming its
// variable; secret values never appear in the error.
func Load(getenv func(string) string) (Config, error) {
	var c Config
	var errs []error
	fail := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}

	var err error
	if c.DatabaseURL, err = DatabaseURL(getenv); err != nil {
		errs = append(errs, err)
	}

	if v := strings.TrimSpace(getenv("DATABASE_MAX_CONNS")); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 1000 {
			fail("DATABASE_MAX_CONNS", "must be a whole number of connections from 1 to 1000")
		} else {
			c.DatabaseMaxConns = n
		}
	}

	c.DevMode, err = parseBool(getenv("DEV_MODE"))
	if err != nil {
		fail("DEV_MODE", "must be true or false")
	}

	if u, err := parseBaseURL(getenv("HYDRA_ADMIN_URL")); err != nil {
		fail("HYDRA_ADMIN_URL", "%v", err)
	} else {
		c.HydraAdminURL = u
	}

	if u, err := parseBaseURL(getenv("PUBLIC_URL")); err != nil {
		fail("PUBLIC_URL", "%v", err)
	} else if u.Scheme == "http" && !c.DevMode {
		fail("PUBLIC_URL", "must be https (an http URL is allowed only with DEV_MODE=true)")
	} else if c.DevMode && !isLoopbackHost(u.Hostname()) {
		// DEV_MODE logs codes and shows them on /dev/messages: it must never
		// run where anyone but the developer can reach it.
		fail("DEV_MODE", "true is allowed only when PUBLIC_URL is on a loopback host (localhost, 127.0.0.0/8 or ::1), not %q", u.Hostname())
	} else {
		c.PublicURL = u
	}

	c.ListenAddr = getenv("LISTEN_ADDR")
	if c.ListenAddr == "" {
		// PORT is what Blink's chart sets for apps/consent (3000); LISTEN_ADDR wins.
		c.ListenAddr = ":3000"
		if v := strings.TrimSpace(getenv("PORT")); v != "" {
			if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 65535 {
				fail("PORT", "must be a port number from 1 to 65535 (LISTEN_ADDR, when set, wins over it)")
			} else {
				c.ListenAddr = ":" + v
			}
		}
	}
	if err := checkAddr(c.ListenAddr); err != nil {
		fail("LISTEN_ADDR", "%v", err)
	}
	c.MetricsAddr = orDefault(getenv("METRICS_ADDR"), ":9090")
	if err := checkAddr(c.MetricsAddr); err != nil {
		fail("METRICS_ADDR", "%v", err)
	}

	if key, err := parseSecretKey(getenv("SECRET_KEY")); err != nil {
		fail("SECRET_KEY", "%v", err)
	} else {
		c.SecretKey = key
	}

	if d, err := parseDuration(orDefault(getenv("CONSENT_REMEMBER_FOR"), DefaultConsentRememberFor)); err != nil {
		fail("CONSENT_REMEMBER_FOR", "%v", err)
	} else {
		c.ConsentRememberFor = d
	}

	if c.SecretKey != nil {
		if _, previous, err := SecretKeys(getenv); err != nil {
			errs = append(errs, err)
		} else {
			c.SecretKeyPrevious = previous
		}
	}
	if d, err := parseDuration(orDefault(getenv("SHUTDOWN_DELAY"), "5s")); err != nil || d < 0 || d > time.Minute {
		fail("SHUTDOWN_DELAY", "must be a duration such as 5s, or whole seconds, from 0 to 1m")
	} else {
		c.ShutdownDelay = d
	}
	if d, err := parseDuration(orDefault(getenv("LOGIN_REMEMBER_FOR"), "720h")); err != nil || d == 0 {
		fail("LOGIN_REMEMBER_FOR", "must be a duration such as 720h, or whole seconds, more than 0 (Hydra reads 0 as \"until the browser is closed\", which has no end we can know)")
	} else {
		c.LoginRememberFor = d
	}

	switch v := strings.TrimSpace(getenv("PASSKEYS")); v {
	case "", "on":
		c.Passkeys = true
	case "off":
	default:
		fail("PASSKEYS", "must be on or off")
	}
	c.PasskeyRPName = orDefault(strings.TrimSpace(getenv("PASSKEY_RP_NAME")), "Blink")
	if len(c.PasskeyRPName) > 64 {
		fail("PASSKEY_RP_NAME", "must be at most 64 bytes (authenticators shorten longer names)")
	}

	c.Registration = orDefault(getenv("REGISTRATION"), "phone")
	if c.Registration != "phone" && c.Registration != "none" {
		fail("REGISTRATION", "must be phone (a new number becomes an account) or none")
	}
	loadIdentity(getenv, &c, fail)
	if c.Blink() && c.Registration == "none" {
		// Core registers an unknown phone itself when it checks the code: we
		// could not keep the promise, so refuse rather than ignore it.
		fail("REGISTRATION", "none cannot hold with IDENTITY_SOURCE=blink: Blink core makes an account of an unknown phone number itself; leave REGISTRATION unset (or phone) with IDENTITY_SOURCE=blink")
	}
	c.SignIn = loadSignIn(getenv, c.DevMode, c.Blink(), fail)
	if c.PublicURL != nil && !isLoopbackHost(c.PublicURL.Hostname()) && !c.SignIn.TrustedProxiesSet {
		// Behind an ingress left out of the list, every client has the
		// ingress's address: our per-IP limits, and Blink core's (fed by
		// the X-Real-IP we send it), would count all users as one.
		fail("TRUSTED_PROXIES", "required when PUBLIC_URL is not on a loopback host: the CIDRs of the ingress or load balancer in front "+
			"(e.g. the ingress controller's pod CIDR), whose X-Forwarded-For names the client; or none when clients connect directly. "+
			"Without it every client would have the proxy's address, and the per-IP limits (ours, and Blink core's through X-Real-IP) would count all users as one")
	}
	loadRetention(getenv, &c, fail)
	loadTracing(getenv, &c, fail)
	c.Account = loadAccount(getenv, c.DevMode, fail)

	switch strings.ToLower(orDefault(getenv("LOG_LEVEL"), "info")) {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		fail("LOG_LEVEL", "must be debug, info, warn or error")
	}

	c.SupportURL = strings.TrimSpace(getenv("SUPPORT_URL"))
	if c.SupportURL != "" && !supportURL(c.SupportURL) {
		fail("SUPPORT_URL", "must be an https:// or mailto: URL (http only to a loopback host, for tests)")
	}

	c.LogFormat = strings.ToLower(orDefault(getenv("LOG_FORMAT"), "json"))
	if c.LogFormat != "json" && c.LogFormat != "text" {
		fail("LOG_FORMAT", "must be json or text")
	}

	if len(errs) > 0 {
		return Config{}, fmt.Errorf("invalid configuration:\n  %w", joinLines(errs))
	}
	return c, nil
}

// DatabaseURL returns DATABASE_URL, the only setting `migrate` and `users` need.
func DatabaseURL(getenv func(string) string) (string, error) {
	v := strings.TrimSpace(getenv("DATABASE_URL"))
	if v == "" {
		return "", errors.New("DATABASE_URL: required (a PostgreSQL URL such as postgres://user:pass@host:5432/db)")
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// The URL may hold a password: never echo it.
		return "", errors.New("DATABASE_URL: must be a postgres:// or postgresql:// URL")
	}
	return v, nil
}

// HydraAdminURL returns HYDRA_ADMIN_URL, which `users disable` needs to end
// the user's Hydra sessions.
func HydraAdminURL(getenv func(string) string) (*url.URL, error) {
	u, err := parseBaseURL(strings.TrimSpace(getenv("HYDRA_ADMIN_URL")))
	if err != nil {
		return nil, fmt.Errorf("HYDRA_ADMIN_URL: %w", err)
	}
	return u, nil
}

func parseBaseURL(v string) (*url.URL, error) {
	if v == "" {
		return nil, errors.New("required")
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, errors.New("must be an absolute http:// or https:// URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("must not contain credentials, a query or a fragment")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// parseSecretKey accepts hex or base64 (standard or URL alphabet, padded or not)
// and requires at least 32 bytes once decoded.
func parseSecretKey(v string) ([]byte, error) {
	if v == "" {
		return nil, errors.New("required (at least 32 random bytes, hex or base64; e.g. `openssl rand -hex 32`)")
	}
	var key []byte
	if b, err := hex.DecodeString(v); err == nil {
		key = b
	} else {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(v); err == nil {
				key = b
				break
			}
		}
	}
	if key == nil {
		return nil, errors.New("must be hex or base64")
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("must decode to at least 32 bytes, got %d", len(key))
	}
	return key, nil
}

// coreSends is true when Blink core sends the codes (IDENTITY_SOURCE=blink):
// then no sender of ours is required.
func loadSignIn(getenv func(string) string, dev, coreSends bool, fail func(name, format string, args ...any)) SignIn {
	s := SignIn{
		SMTPURL:            getenv("SMTP_URL"),
		SMTPFrom:           getenv("SMTP_FROM"),
		SMTPCAFile:         getenv("SMTP_CA_FILE"),
		TwilioAPIURL:       orDefault(getenv("TWILIO_API_URL"), "https://api.twilio.com"),
		TwilioAccountSID:   getenv("TWILIO_ACCOUNT_SID"),
		TwilioAuthToken:    getenv("TWILIO_AUTH_TOKEN"),
		TwilioFrom:         getenv("TWILIO_FROM"),
		TwilioWhatsAppFrom: getenv("TWILIO_WHATSAPP_FROM"),
		SMSWebhookURL:      getenv("SMS_WEBHOOK_URL"),
		SMSWebhookSecret:   getenv("SMS_WEBHOOK_SECRET"),
		CaptchaProvider:    getenv("CAPTCHA_PROVIDER"),
		CaptchaSiteKey:     getenv("CAPTCHA_SITE_KEY"),
		CaptchaSecret:      getenv("CAPTCHA_SECRET_KEY"),
		CaptchaVerifyURL:   orDefault(getenv("CAPTCHA_VERIFY_URL"), "https://challenges.cloudflare.com/turnstile/v0/siteverify"),
	}
	if s.SMTPURL != "" {
		if u, err := url.Parse(s.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			fail("SMTP_URL", "must be smtp://user:pass@host:port (STARTTLS) or smtps://… (TLS)")
		}
		if s.SMTPFrom == "" {
			fail("SMTP_FROM", "required with SMTP_URL, e.g. Blink <no-reply@blink.sv>")
		}
		if u, err := url.Parse(s.SMTPURL); err == nil && u.Query().Get("disable_starttls") == "true" && !dev {
			fail("SMTP_URL", "plain SMTP (?disable_starttls=true) is allowed only with DEV_MODE=true; use STARTTLS or smtps://")
		}
	}
	if (s.TwilioFrom != "" || s.TwilioWhatsAppFrom != "") && (s.TwilioAccountSID == "" || s.TwilioAuthToken == "") {
		fail("TWILIO_ACCOUNT_SID", "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required with TWILIO_FROM or TWILIO_WHATSAPP_FROM")
	}
	if s.TwilioFrom != "" && s.SMSWebhookURL != "" {
		fail("SMS_WEBHOOK_URL", "set either TWILIO_FROM or SMS_WEBHOOK_URL for SMS, not both")
	}
	// Always required, DEV_MODE too: a webhook is a real gateway that sends
	// real SMS, and without a signature it cannot tell our requests from forged ones.
	if s.SMSWebhookURL != "" && len(s.SMSWebhookSecret) < 32 {
		fail("SMS_WEBHOOK_SECRET", "required with SMS_WEBHOOK_URL: at least 32 random characters shared with the gateway (e.g. `openssl rand -hex 32`)")
	}
	for name, v := range map[string]string{"TWILIO_API_URL": s.TwilioAPIURL, "SMS_WEBHOOK_URL": s.SMSWebhookURL, "CAPTCHA_VERIFY_URL": s.CaptchaVerifyURL} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || u.Host == "" || (u.Scheme != "https" && !(dev && u.Scheme == "http") && !isLoopback(u)) {
			fail(name, "must be an https URL (http only to a loopback address or with DEV_MODE)")
		}
	}
	if !dev && !coreSends && !s.Email() && !s.SMS() && !s.WhatsApp() {
		fail("SMTP_URL", "no way to send codes: configure SMTP_URL, TWILIO_FROM, TWILIO_WHATSAPP_FROM or SMS_WEBHOOK_URL (or DEV_MODE=true)")
	}
	for _, c := range strings.Split(orDefault(getenv("SMS_COUNTRIES"), "SV"), ",") {
		c = strings.ToUpper(strings.TrimSpace(c))
		if len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' {
			fail("SMS_COUNTRIES", "must be comma-separated ISO country codes such as SV,US,GT")
			break
		}
		s.SMSCountries = append(s.SMSCountries, c)
	}
	s.TrustedProxies, s.TrustedProxiesSet = parseTrustedProxies(getenv("TRUSTED_PROXIES"), fail)
	for _, l := range []struct {
		name, def string
		dst       *Limit
	}{
		{"RATE_SEND_EMAIL", "4/1h", &s.SendPerEmail},
		{"RATE_SEND_PHONE", "8/24h", &s.SendPerPhone},
		{"RATE_SEND_IP", "16/1h", &s.SendPerIP},
		{"RATE_FAIL_IDENTIFIER", "6/1h", &s.FailPerIdentifier},
		{"RATE_FAIL_IP", "20/6h", &s.FailPerIP},
	} {
		def := l.def
		if coreSends {
			// Blink core enforces its own limits on every code and login
			// (6 codes per phone or email and 30 per IP an hour, 40 failed
			// logins per IP in 6 h, 8 logins per phone an hour): ours on
			// top would refuse people apps/consent serves. An operator
			// may still set stricter ones.
			def = LimitOff
		}
		lim, err := parseLimit(orDefault(getenv(l.name), def))
		if err != nil {
			fail(l.name, "%v", err)
		}
		*l.dst = lim
	}
	if d, err := parseDuration(orDefault(getenv("LOCKOUT_DURATION"), "1h")); err != nil || d <= 0 {
		fail("LOCKOUT_DURATION", "must be a positive duration such as 1h")
	} else {
		s.Lockout = d
	}
	switch s.CaptchaProvider {
	case "":
	case "turnstile":
		if s.CaptchaSiteKey == "" || s.CaptchaSecret == "" {
			fail("CAPTCHA_SITE_KEY", "CAPTCHA_SITE_KEY and CAPTCHA_SECRET_KEY are required with CAPTCHA_PROVIDER=turnstile")
		}
	default:
		fail("CAPTCHA_PROVIDER", "must be empty (off) or turnstile")
	}
	return s
}

// TrustedProxiesNone is the TRUSTED_PROXIES value of a service with no proxy in front.
const TrustedProxiesNone = "none"

// parseTrustedProxies reads TRUSTED_PROXIES: comma-separated CIDRs, or
// "none". set reports whether the variable was given at all.
func parseTrustedProxies(v string, fail func(name, format string, args ...any)) (prefixes []netip.Prefix, set bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, false
	}
	if strings.EqualFold(v, TrustedProxiesNone) {
		return nil, true
	}
	for _, p := range strings.Split(v, ",") {
		prefix, err := netip.ParsePrefix(strings.TrimSpace(p))
		if err != nil {
			fail("TRUSTED_PROXIES", "must be comma-separated CIDRs such as 10.0.0.0/8, or none")
			return nil, true
		}
		// A range this wide trusts the internet itself: every client could
		// choose the address our limits and core's X-Real-IP count.
		bits, min := prefix.Bits(), minTrustedBitsV6
		switch {
		case prefix.Addr().Is4():
			min = minTrustedBitsV4
		case prefix.Addr().Is4In6(): // ::ffff:a.b.c.d/n covers IPv4's a.b.c.d/(n−96)
			bits, min = bits-96, minTrustedBitsV4
		}
		if bits < min {
			fail("TRUSTED_PROXIES", "%s trusts far more than a proxy: every client could choose its own address; list the proxy's network (at least /%d)", prefix, min)
			return nil, true
		}
		prefixes = append(prefixes, prefix)
	}
	return prefixes, true
}

// The widest networks TRUSTED_PROXIES takes: a cluster's pod network is at
// most a /8 (10.0.0.0/8) in IPv4, far narrower than a /16 in IPv6.
const (
	minTrustedBitsV4 = 8
	minTrustedBitsV6 = 16
)

func isLoopback(u *url.URL) bool {
	addr, err := netip.ParseAddr(u.Hostname())
	return err == nil && addr.IsLoopback()
}

// isLoopbackHost reports whether host is localhost, in 127.0.0.0/8 or ::1.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// LimitOff is the RATE_* value of no limit (the default with IDENTITY_SOURCE=blink).
const LimitOff = "off"

// Off reports whether the limit is LimitOff.
func (l Limit) Off() bool { return l.Max == 0 }

// parseLimit reads "N/duration", e.g. "4/1h", or "off".
func parseLimit(v string) (Limit, error) {
	if strings.EqualFold(strings.TrimSpace(v), LimitOff) {
		return Limit{}, nil
	}
	n, d, ok := strings.Cut(v, "/")
	max, err := strconv.Atoi(n)
	if !ok || err != nil || max < 1 {
		return Limit{}, errors.New("must be N/duration such as 4/1h, or off")
	}
	window, err := time.ParseDuration(d)
	if err != nil || window <= 0 {
		return Limit{}, errors.New("must be N/duration such as 4/1h, or off")
	}
	return Limit{Max: max, Window: window}, nil
}

// DefaultConsentRememberFor is 30 days.
const DefaultConsentRememberFor = "720h"

// parseDuration reads a Go duration ("720h") or whole seconds ("3600"); 0 is allowed.
func parseDuration(v string) (time.Duration, error) {
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		v = strconv.FormatInt(secs, 10) + "s"
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errors.New("must be a duration such as 720h, or whole seconds; 0 means until revoked")
	}
	return d.Truncate(time.Second), nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "false", "0", "no":
		return false, nil
	case "true", "1", "yes":
		return true, nil
	}
	return false, errors.New("not a boolean")
}

func checkAddr(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return errors.New("must be host:port or :port")
	}
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func joinLines(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}

// SecretKeys reads SECRET_KEY and SECRET_KEY_PREVIOUS alone, for commands that
// seal or open data without serving (users totp).
func SecretKeys(getenv func(string) string) (current []byte, previous [][]byte, err error) {
	current, err = parseSecretKey(getenv("SECRET_KEY"))
	if err != nil {
		return nil, nil, fmt.Errorf("SECRET_KEY: %w", err)
	}
	if v := getenv("SECRET_KEY_PREVIOUS"); v != "" {
		for _, part := range strings.Split(v, ",") {
			key, err := parseSecretKey(strings.TrimSpace(part))
			if err != nil {
				return nil, nil, fmt.Errorf("SECRET_KEY_PREVIOUS: each comma-separated key %w", err)
			}
			previous = append(previous, key)
		}
	}
	return current, previous, nil
}

// supportURL accepts what a support link may be: a web page over https (http
// only to a loopback host) or an email address.
func supportURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	if u.Scheme == "mailto" {
		return u.Opaque != "" && strings.Contains(u.Opaque, "@")
	}
	return browserScriptURL(raw)
}
