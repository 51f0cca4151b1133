// Package config reads and validates the service's settings from the environment.
package config

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
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
	} else {
		c.PublicURL = u
	}

	c.ListenAddr = orDefault(getenv("LISTEN_ADDR"), ":3000")
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
