package config

import (
	"net/url"
	"strings"
	"time"
)

// Account is the /account page's settings: it signs people in as a
// first-party OAuth client of Hydra. Zero (no ClientID) when the page is off.
type Account struct {
	ClientID, ClientSecret string
	// HydraPublicURL is Hydra's public address, which is also its issuer:
	// the browser is sent to its /oauth2/auth and /oauth2/sessions/logout,
	// the service calls its /oauth2/token and reads its keys.
	HydraPublicURL *url.URL
	// SessionTTL is how long an account-page session lasts from its sign-in.
	SessionTTL time.Duration
}

// On reports whether the account page is turned on.
func (a Account) On() bool { return a.ClientID != "" }

// DefaultAccountSessionTTL is how long an account-page session lasts.
const DefaultAccountSessionTTL = "1h"

// loadAccount reads ACCOUNT_CLIENT_ID and ACCOUNT_CLIENT_SECRET (both or
// neither), HYDRA_PUBLIC_URL (required with them) and ACCOUNT_SESSION_TTL.
func loadAccount(getenv func(string) string, devMode bool, fail func(name, format string, args ...any)) Account {
	id, secret := strings.TrimSpace(getenv("ACCOUNT_CLIENT_ID")), getenv("ACCOUNT_CLIENT_SECRET")
	switch {
	case id == "" && secret == "":
		return Account{}
	case id == "":
		fail("ACCOUNT_CLIENT_ID", "required with ACCOUNT_CLIENT_SECRET (set both to turn the account page on, or neither)")
		return Account{}
	case secret == "":
		fail("ACCOUNT_CLIENT_SECRET", "required with ACCOUNT_CLIENT_ID (set both to turn the account page on, or neither)")
		return Account{}
	}
	a := Account{ClientID: id, ClientSecret: secret}
	if u, err := parseBaseURL(strings.TrimSpace(getenv("HYDRA_PUBLIC_URL"))); err != nil {
		fail("HYDRA_PUBLIC_URL", "%v (Hydra's public address and issuer, needed by the account page)", err)
	} else if u.Scheme == "http" && !devMode {
		fail("HYDRA_PUBLIC_URL", "must be https (an http URL is allowed only with DEV_MODE=true)")
	} else {
		a.HydraPublicURL = u
	}
	d, err := parseDuration(orDefault(getenv("ACCOUNT_SESSION_TTL"), DefaultAccountSessionTTL))
	if err != nil || d < 5*time.Minute || d > 24*time.Hour {
		fail("ACCOUNT_SESSION_TTL", "must be a duration from 5m to 24h, such as 1h")
	} else {
		a.SessionTTL = d
	}
	return a
}
