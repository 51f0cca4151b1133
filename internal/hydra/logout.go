package hydra

import (
	"context"
	"errors"
	"net/http"

	client "github.com/ory/hydra-client-go/v2"
)

// LogoutRequest is Hydra's logout request. Client is empty when the logout
// was not started by a relying party.
type LogoutRequest struct {
	Challenge   string
	Subject     string
	SessionID   string
	RequestURL  string
	RPInitiated bool
	Client      OAuthClient
}

// Logout fetches a logout request. Hydra answers 410 once it was accepted and
// 404 once it was rejected.
func (c *Client) Logout(ctx context.Context, challenge string) (LogoutRequest, error) {
	r, err := call(ctx, c, "get logout request", func(ctx context.Context) (*client.OAuth2LogoutRequest, *http.Response, error) {
		return c.api.GetOAuth2LogoutRequest(ctx).LogoutChallenge(challenge).Execute()
	})
	if err != nil {
		return LogoutRequest{}, err
	}
	return LogoutRequest{
		Challenge:   r.GetChallenge(),
		Subject:     r.GetSubject(),
		SessionID:   r.GetSid(),
		RequestURL:  r.GetRequestUrl(),
		RPInitiated: r.GetRpInitiated(),
		Client:      fromSDKClient(r.Client),
	}, nil
}

// AcceptLogout ends the user's Hydra session and returns where to send the browser.
func (c *Client) AcceptLogout(ctx context.Context, challenge string) (string, error) {
	r, err := call(ctx, c, "accept logout request", func(ctx context.Context) (*client.OAuth2RedirectTo, *http.Response, error) {
		return c.api.AcceptOAuth2LogoutRequest(ctx).LogoutChallenge(challenge).Execute()
	})
	if err != nil {
		return "", err
	}
	return r.RedirectTo, nil
}

// RejectLogout keeps the user signed in. Hydra answers with no body: where the
// browser goes next is this service's choice.
func (c *Client) RejectLogout(ctx context.Context, challenge string) error {
	_, err := call(ctx, c, "reject logout request", func(ctx context.Context) (struct{}, *http.Response, error) {
		resp, err := c.api.RejectOAuth2LogoutRequest(ctx).LogoutChallenge(challenge).Execute()
		return struct{}{}, resp, err
	})
	return err
}

// RevokeSessions ends everything Hydra holds for subject: its login sessions
// (so no sign-in is remembered) and its consent sessions with every access and
// refresh token issued under them (so the apps' tokens stop working).
func (c *Client) RevokeSessions(ctx context.Context, subject string) error {
	_, err := call(ctx, c, "revoke login sessions", func(ctx context.Context) (struct{}, *http.Response, error) {
		resp, err := c.api.RevokeOAuth2LoginSessions(ctx).Subject(subject).Execute()
		return struct{}{}, resp, err
	})
	// Hydra answers 404 when the subject has no login session: nothing to end.
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	_, err = call(ctx, c, "revoke consent sessions", func(ctx context.Context) (struct{}, *http.Response, error) {
		resp, err := c.api.RevokeOAuth2ConsentSessions(ctx).Subject(subject).All(true).Execute()
		return struct{}{}, resp, err
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}
