package account

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OIDC is the account page's side of the authorization-code flow with
// Hydra: the authorization URL, the token exchange and the ID token check.
type OIDC struct {
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	// logoutVerifier checks Hydra's back-channel logout tokens, which carry
	// no exp (Hydra v2.3.0 sets iss, aud, iat, jti, events and sid only).
	logoutVerifier *oidc.IDTokenVerifier
	issuer         string
	logoutURL      string
	client         *http.Client
}

// IDToken is what the account page keeps of a verified ID token.
type IDToken struct {
	Subject  string
	SID      string
	AuthTime time.Time
	Raw      string
}

// errTokenRefused: the token exchange or the ID token failed a check. Its
// text names the check, never the token.
var errTokenRefused = errors.New("account: the sign-in could not be verified")

// NewOIDC returns the client for Hydra at hydraPublic (its issuer); Hydra
// sends the browser back to redirectURL.
func NewOIDC(hydraPublic *url.URL, clientID, clientSecret, redirectURL string) *OIDC {
	base := strings.TrimSuffix(hydraPublic.String(), "/")
	httpClient := &http.Client{
		Timeout: 5 * time.Second,
		// Hydra's token and keys endpoints never redirect.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), httpClient), base+"/.well-known/jwks.json")
	return &OIDC{
		oauth: oauth2.Config{
			ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirectURL,
			Scopes: []string{oidc.ScopeOpenID},
			Endpoint: oauth2.Endpoint{
				AuthURL: base + "/oauth2/auth", TokenURL: base + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader,
			},
		},
		// Hydra writes its issuer with or without a trailing slash as
		// configured; Exchange compares the two forms itself.
		verifier:       oidc.NewVerifier(base, keys, &oidc.Config{ClientID: clientID, SkipIssuerCheck: true}),
		logoutVerifier: oidc.NewVerifier(base, keys, &oidc.Config{ClientID: clientID, SkipIssuerCheck: true, SkipExpiryCheck: true}),
		issuer:         base,
		logoutURL:      base + "/oauth2/sessions/logout",
		client:         httpClient,
	}
}

// AuthURL is where the browser goes to sign in. fresh asks Hydra for a new
// sign-in whatever it remembers (prompt=login, max_age=0).
func (o *OIDC) AuthURL(state, nonce, verifier string, fresh bool, lang string) string {
	opts := []oauth2.AuthCodeOption{
		oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("nonce", nonce),
		oauth2.SetAuthURLParam("ui_locales", lang),
	}
	if fresh {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0"))
	}
	return o.oauth.AuthCodeURL(state, opts...)
}

// Exchange trades the code for tokens at Hydra's token endpoint and checks
// the ID token: Hydra's signature, issuer, audience, expiry and the nonce
// this sign-in was started with.
func (o *OIDC) Exchange(ctx context.Context, code, verifier, nonce string) (IDToken, error) {
	ctx = oidc.ClientContext(ctx, o.client)
	tok, err := o.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return IDToken{}, fmt.Errorf("%w: token endpoint answered %d %s", errTokenRefused, re.Response.StatusCode, re.ErrorCode)
		}
		return IDToken{}, fmt.Errorf("%w: token endpoint: unreachable", errUnavailable)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return IDToken{}, fmt.Errorf("%w: no ID token", errTokenRefused)
	}
	id, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return IDToken{}, fmt.Errorf("%w: %v", errTokenRefused, err)
	}
	if strings.TrimSuffix(id.Issuer, "/") != o.issuer {
		return IDToken{}, fmt.Errorf("%w: issuer %q", errTokenRefused, id.Issuer)
	}
	if id.Nonce == "" || id.Nonce != nonce {
		return IDToken{}, fmt.Errorf("%w: nonce does not match", errTokenRefused)
	}
	var claims struct {
		SID      string `json:"sid"`
		AuthTime int64  `json:"auth_time"`
	}
	if err := id.Claims(&claims); err != nil || claims.AuthTime == 0 {
		return IDToken{}, fmt.Errorf("%w: no auth_time", errTokenRefused)
	}
	return IDToken{Subject: id.Subject, SID: claims.SID, AuthTime: time.Unix(claims.AuthTime, 0), Raw: raw}, nil
}

// LogoutURL ends the Hydra login session the ID token belongs to, then
// Hydra sends the browser to postLogout (registered on the client).
func (o *OIDC) LogoutURL(idToken, postLogout string) string {
	q := url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {postLogout}}
	return o.logoutURL + "?" + q.Encode()
}

// backChannelLogoutEvent is the event a logout token must carry (OpenID
// Connect Back-Channel Logout 1.0, section 2.4).
const backChannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// logoutTokenMaxAge bounds how old (by its iat) a logout token may be. Hydra
// sends it at once and retries for seconds; an older one is refused.
const logoutTokenMaxAge = 10 * time.Minute

// VerifyLogoutToken checks a back-channel logout token from Hydra — its
// signature against Hydra's keys, the issuer, the audience (this client),
// the back-channel logout event, no nonce, a recent iat — and returns the
// login session (sid) that ended.
func (o *OIDC) VerifyLogoutToken(ctx context.Context, raw string) (string, error) {
	ctx = oidc.ClientContext(ctx, o.client)
	t, err := o.logoutVerifier.Verify(ctx, raw)
	if err != nil {
		return "", fmt.Errorf("%w: %v", errTokenRefused, err)
	}
	if strings.TrimSuffix(t.Issuer, "/") != o.issuer {
		return "", fmt.Errorf("%w: issuer %q", errTokenRefused, t.Issuer)
	}
	var claims struct {
		SID    string                     `json:"sid"`
		Nonce  *string                    `json:"nonce"`
		Events map[string]json.RawMessage `json:"events"`
	}
	if err := t.Claims(&claims); err != nil {
		return "", fmt.Errorf("%w: claims: %v", errTokenRefused, err)
	}
	if _, ok := claims.Events[backChannelLogoutEvent]; !ok {
		return "", fmt.Errorf("%w: not a logout token (no back-channel logout event)", errTokenRefused)
	}
	if claims.Nonce != nil {
		return "", fmt.Errorf("%w: a logout token carries no nonce", errTokenRefused)
	}
	if claims.SID == "" {
		return "", fmt.Errorf("%w: no sid", errTokenRefused)
	}
	now := time.Now()
	if t.IssuedAt.IsZero() || now.Sub(t.IssuedAt) > logoutTokenMaxAge || t.IssuedAt.After(now.Add(time.Minute)) {
		return "", fmt.Errorf("%w: iat %v", errTokenRefused, t.IssuedAt)
	}
	return claims.SID, nil
}
