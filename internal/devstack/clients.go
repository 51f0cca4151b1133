package devstack

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	client "github.com/ory/hydra-client-go/v2"
)

// OAuthClient is a registered client, with its secret.
type OAuthClient struct {
	ID          string
	Secret      string
	Name        string
	RedirectURI string
	Scopes      []string
}

// ClientSpec describes a client to register.
type ClientSpec struct {
	// ID is the client id to register; empty lets Hydra choose one.
	ID                string
	Name              string
	RedirectURI       string
	Scopes            []string
	Audience          []string
	SkipConsent       bool
	SkipLogoutConsent bool
	ClientURI         string
	PolicyURI         string
	TosURI            string
	LogoURI           string
	// PostLogoutRedirectURI is where Hydra may send the browser after a
	// logout this client started.
	PostLogoutRedirectURI string
	// BackChannelLogoutURI is where Hydra posts a logout token when a login
	// session this client took part in ends.
	BackChannelLogoutURI string
}

// AccountClientSpec is the /account page's own client for the service at
// publicURL: first-party (skip_consent, skip_logout_consent), openid only,
// told by back-channel logout when a login session it took part in ends.
func AccountClientSpec(publicURL string) ClientSpec {
	return ClientSpec{
		Name: "Blink account", RedirectURI: publicURL + "/account/callback", Scopes: []string{"openid"},
		SkipConsent: true, SkipLogoutConsent: true, PostLogoutRedirectURI: publicURL + "/account/signed-out",
		BackChannelLogoutURI: publicURL + "/account/backchannel-logout",
	}
}

// CreateClient registers a confidential authorization-code client through
// Hydra's admin API, as `hydra create oauth2-client` would.
func CreateClient(ctx context.Context, adminURL string, s ClientSpec) (OAuthClient, error) {
	cfg := client.NewConfiguration()
	cfg.Servers = client.ServerConfigurations{{URL: adminURL}}
	cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	api := client.NewAPIClient(cfg).OAuth2API

	body := client.NewOAuth2Client()
	body.SetClientName(s.Name)
	if s.ID != "" {
		body.SetClientId(s.ID)
	}
	body.GrantTypes = []string{"authorization_code", "refresh_token"}
	body.ResponseTypes = []string{"code", "id_token"}
	body.RedirectUris = []string{s.RedirectURI}
	body.SetScope(strings.Join(s.Scopes, " "))
	body.SetTokenEndpointAuthMethod("client_secret_basic")
	body.SetSkipConsent(s.SkipConsent)
	body.SetSkipLogoutConsent(s.SkipLogoutConsent)
	if s.PostLogoutRedirectURI != "" {
		body.PostLogoutRedirectUris = []string{s.PostLogoutRedirectURI}
	}
	if s.BackChannelLogoutURI != "" {
		body.SetBackchannelLogoutUri(s.BackChannelLogoutURI)
		body.SetBackchannelLogoutSessionRequired(true)
	}
	if len(s.Audience) > 0 {
		body.Audience = s.Audience
	}
	for _, u := range []struct {
		v   string
		set func(string)
	}{{s.ClientURI, body.SetClientUri}, {s.PolicyURI, body.SetPolicyUri}, {s.TosURI, body.SetTosUri}, {s.LogoURI, body.SetLogoUri}} {
		if u.v != "" {
			u.set(u.v)
		}
	}
	created, _, err := api.CreateOAuth2Client(ctx).OAuth2Client(*body).Execute()
	if err != nil {
		return OAuthClient{}, fmt.Errorf("creating client %q: %w", s.Name, err)
	}
	return OAuthClient{
		ID:          created.GetClientId(),
		Secret:      created.GetClientSecret(),
		Name:        s.Name,
		RedirectURI: s.RedirectURI,
		Scopes:      s.Scopes,
	}, nil
}
