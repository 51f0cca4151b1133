package hydra

import (
	"context"
	"errors"
	"net/http"

	client "github.com/ory/hydra-client-go/v2"
)

// OAuthClient is the part of an OAuth 2.0 client the pages show.
type OAuthClient struct {
	ID                string
	Name              string
	LogoURI           string
	ClientURI         string
	PolicyURI         string
	TosURI            string
	SkipConsent       bool
	SkipLogoutConsent bool
	// BackChannelLogoutURI is where Hydra posts a logout token when a login
	// session the client took part in ends ("" when none is registered).
	BackChannelLogoutURI string
}

// DisplayName is the client's name, or its id when it has none.
func (c OAuthClient) DisplayName() string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

func fromSDKClient(c *client.OAuth2Client) OAuthClient {
	if c == nil {
		return OAuthClient{}
	}
	return OAuthClient{
		ID:                c.GetClientId(),
		Name:              c.GetClientName(),
		LogoURI:           c.GetLogoUri(),
		ClientURI:         c.GetClientUri(),
		PolicyURI:         c.GetPolicyUri(),
		TosURI:            c.GetTosUri(),
		SkipConsent:       c.GetSkipConsent(),
		SkipLogoutConsent: c.GetSkipLogoutConsent(),

		BackChannelLogoutURI: c.GetBackchannelLogoutUri(),
	}
}

// LoginRequest is Hydra's login request, as far as this service uses it.
type LoginRequest struct {
	Challenge      string
	Skip           bool
	Subject        string
	SessionID      string
	RequestURL     string
	RequestedScope []string
	Client         OAuthClient
	UILocales      []string
	LoginHint      string
}

// Login fetches a login request.
func (c *Client) Login(ctx context.Context, challenge string) (LoginRequest, error) {
	return call(ctx, c, "get login request", func(ctx context.Context) (LoginRequest, *http.Response, error) {
		var w loginRequestJSON
		resp, err := c.send(ctx, http.MethodGet, "/admin/oauth2/auth/requests/login", "login_challenge", challenge, nil, &w)
		if err == nil && w.Challenge == "" {
			err = errors.New("no challenge in the login request")
		}
		return w.request(), resp, err
	})
}

// AcceptLogin is the body of an accepted login.
type AcceptLogin struct {
	Subject     string
	Remember    bool
	RememberFor int64 // seconds; 0 = the browser session
	ACR         string
	AMR         []string
	Context     map[string]any
}

// AcceptLogin accepts the login and returns where to send the browser.
func (c *Client) AcceptLogin(ctx context.Context, challenge string, a AcceptLogin) (string, error) {
	body := client.NewAcceptOAuth2LoginRequest(a.Subject)
	body.SetRemember(a.Remember)
	body.SetRememberFor(a.RememberFor)
	if a.ACR != "" {
		body.SetAcr(a.ACR)
	}
	if len(a.AMR) > 0 {
		body.SetAmr(a.AMR)
	}
	if a.Context != nil {
		body.Context = a.Context
	}
	r, err := call(ctx, c, "accept login request", func(ctx context.Context) (*client.OAuth2RedirectTo, *http.Response, error) {
		return c.redirectTo(ctx, "/admin/oauth2/auth/requests/login/accept", "login_challenge", challenge, body)
	})
	if err != nil {
		return "", err
	}
	return r.RedirectTo, nil
}

// redirectTo PUTs an accept body and returns Hydra's redirect_to.
func (c *Client) redirectTo(ctx context.Context, path, param, challenge string, body any) (*client.OAuth2RedirectTo, *http.Response, error) {
	var to plainRedirectTo
	resp, err := c.send(ctx, http.MethodPut, path, param, challenge, body, &to)
	if err == nil && to.RedirectTo == "" {
		err = errors.New("no redirect_to in the answer")
	}
	if err != nil {
		return nil, resp, err
	}
	return (*client.OAuth2RedirectTo)(&to), resp, nil
}

// Rejection is why a request is refused, in OAuth 2.0 error terms.
type Rejection struct {
	Error       string // e.g. access_denied
	Description string
}

func (rj Rejection) body() client.RejectOAuth2Request {
	b := client.NewRejectOAuth2Request()
	b.SetError(rj.Error)
	if rj.Description != "" {
		b.SetErrorDescription(rj.Description)
	}
	return *b
}

// RejectLogin refuses the login and returns where to send the browser.
func (c *Client) RejectLogin(ctx context.Context, challenge string, rj Rejection) (string, error) {
	r, err := call(ctx, c, "reject login request", func(ctx context.Context) (*client.OAuth2RedirectTo, *http.Response, error) {
		return c.api.RejectOAuth2LoginRequest(ctx).LoginChallenge(challenge).RejectOAuth2Request(rj.body()).Execute()
	})
	if err != nil {
		return "", err
	}
	return r.RedirectTo, nil
}

// ConsentRequest is Hydra's consent request, as far as this service uses it.
type ConsentRequest struct {
	Challenge         string
	Skip              bool
	Subject           string
	RequestURL        string
	RequestedScope    []string
	RequestedAudience []string
	Client            OAuthClient
	UILocales         []string
	Context           map[string]any
	ACR               string
	AMR               []string
}

// Consent fetches a consent request.
func (c *Client) Consent(ctx context.Context, challenge string) (ConsentRequest, error) {
	return call(ctx, c, "get consent request", func(ctx context.Context) (ConsentRequest, *http.Response, error) {
		var w consentRequestJSON
		resp, err := c.send(ctx, http.MethodGet, "/admin/oauth2/auth/requests/consent", "consent_challenge", challenge, nil, &w)
		if err == nil && w.Challenge == "" {
			err = errors.New("no challenge in the consent request")
		}
		return w.request(), resp, err
	})
}

// AcceptConsent is the body of a granted consent. Claims are rebuilt on every
// accept: Hydra keeps none from an earlier one.
type AcceptConsent struct {
	GrantScope       []string
	GrantAudience    []string
	Remember         bool
	RememberFor      int64 // seconds; 0 = forever
	IDTokenClaims    map[string]any
	AccessTokenClaim map[string]any
}

// AcceptConsent grants the consent and returns where to send the browser.
func (c *Client) AcceptConsent(ctx context.Context, challenge string, a AcceptConsent) (string, error) {
	body := client.NewAcceptOAuth2ConsentRequest()
	// GrantScope is omitempty: a nil slice would grant nothing, so send an empty one explicitly.
	body.GrantScope = append([]string{}, a.GrantScope...)
	body.GrantAccessTokenAudience = append([]string{}, a.GrantAudience...)
	body.SetRemember(a.Remember)
	body.SetRememberFor(a.RememberFor)
	if a.IDTokenClaims != nil || a.AccessTokenClaim != nil {
		s := client.NewAcceptOAuth2ConsentRequestSession()
		if a.IDTokenClaims != nil {
			s.IdToken = a.IDTokenClaims
		}
		if a.AccessTokenClaim != nil {
			s.AccessToken = a.AccessTokenClaim
		}
		body.SetSession(*s)
	}
	r, err := call(ctx, c, "accept consent request", func(ctx context.Context) (*client.OAuth2RedirectTo, *http.Response, error) {
		return c.redirectTo(ctx, "/admin/oauth2/auth/requests/consent/accept", "consent_challenge", challenge, body)
	})
	if err != nil {
		return "", err
	}
	return r.RedirectTo, nil
}

// RejectConsent refuses the consent and returns where to send the browser.
func (c *Client) RejectConsent(ctx context.Context, challenge string, rj Rejection) (string, error) {
	r, err := call(ctx, c, "reject consent request", func(ctx context.Context) (*client.OAuth2RedirectTo, *http.Response, error) {
		return c.api.RejectOAuth2ConsentRequest(ctx).ConsentChallenge(challenge).RejectOAuth2Request(rj.body()).Execute()
	})
	if err != nil {
		return "", err
	}
	return r.RedirectTo, nil
}
