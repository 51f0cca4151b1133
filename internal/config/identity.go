package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// The identity sources IDENTITY_SOURCE selects.
const (
	// IdentityPostgres keeps accounts in our own users table (the default).
	IdentityPostgres = "postgres"
	// IdentityBlink signs Blink's existing accounts in through Blink core.
	IdentityBlink = "blink"
)

// DefaultGeetestScriptURL is Geetest's public v3 browser script.
const DefaultGeetestScriptURL = "https://static.geetest.com/static/js/gt.0.5.0.js"

// Blink reports whether accounts live in Blink core (IDENTITY_SOURCE=blink).
func (c Config) Blink() bool { return c.IdentitySource == IdentityBlink }

// loadIdentity reads IDENTITY_SOURCE and, with blink, where Blink core is.
func loadIdentity(getenv func(string) string, c *Config, fail func(name, format string, args ...any)) {
	c.IdentitySource = strings.ToLower(strings.TrimSpace(orDefault(getenv("IDENTITY_SOURCE"), IdentityPostgres)))
	switch c.IdentitySource {
	case IdentityPostgres:
	case IdentityBlink:
		for _, v := range []struct {
			name, example string
			dst           *string
		}{
			{"CORE_AUTH_URL", "http://api:4012/auth", &c.CoreAuthURL},
			{"GRAPHQL_ENDPOINT", "http://oathkeeper:4455/graphql", &c.GraphQLEndpoint},
		} {
			raw := strings.TrimSpace(getenv(v.name))
			if raw == "" {
				fail(v.name, "required with IDENTITY_SOURCE=blink, e.g. %s", v.example)
				continue
			}
			u, err := parseCoreURL(raw)
			if err != nil {
				fail(v.name, "%v", err)
				continue
			}
			*v.dst = u.String()
		}
	default:
		fail("IDENTITY_SOURCE", "must be postgres (accounts in our users table) or blink (Blink core's accounts)")
	}

	c.GeetestScriptURL = strings.TrimSpace(orDefault(getenv("GEETEST_SCRIPT_URL"), DefaultGeetestScriptURL))
	if !browserScriptURL(c.GeetestScriptURL) {
		// Browsers load it: over http anyone on the path could swap the script.
		fail("GEETEST_SCRIPT_URL", "must be an https URL (http only to a loopback host, for tests)")
	}
	// Telegram's Passport script has no official CDN (Telegram publishes it
	// for sites to host, as apps/consent does): no default, and without it
	// the Telegram option is not offered.
	c.TelegramPassportScriptURL = strings.TrimSpace(getenv("TELEGRAM_PASSPORT_SCRIPT_URL"))
	if c.TelegramPassportScriptURL != "" && !browserScriptURL(c.TelegramPassportScriptURL) {
		fail("TELEGRAM_PASSPORT_SCRIPT_URL", "must be an https URL (http only to a loopback host, for tests)")
	}
}

// browserScriptURL reports whether a script the sign-in pages load from
// elsewhere is https (or http to a loopback host, for tests).
func browserScriptURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Host != "" && (u.Scheme == "https" || (u.Scheme == "http" && isLoopbackHost(u.Hostname())))
}

// parseCoreURL accepts https anywhere and http only to a host that cannot be
// on the public internet (see internalHost): Blink's chart reaches core over
// plain http inside the cluster, and nothing else should.
func parseCoreURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, errors.New("must be an absolute http:// or https:// URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("must not contain credentials, a query or a fragment")
	}
	if u.Scheme == "http" && !internalHost(u.Hostname()) {
		return nil, fmt.Errorf("http is allowed only to a loopback or private address or an in-cluster name (no dot, or ending in .svc or .svc.cluster.local), not %q; use https", u.Hostname())
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// internalHost reports whether host is reachable only from inside the
// deployment: localhost or a loopback address, a private address (10/8,
// 172.16/12, 192.168/16, fc00::/7), a name without a dot (a Kubernetes
// Service of the same namespace, e.g. "api") or a name ending in .svc or
// .svc.cluster.local.
func internalHost(host string) bool {
	if addr, err := netip.ParseAddr(host); err == nil {
		addr = addr.Unmap()
		return addr.IsLoopback() || addr.IsPrivate()
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host != "" && (!strings.Contains(host, ".") || strings.HasSuffix(host, ".svc") || strings.HasSuffix(host, ".svc.cluster.local"))
}
