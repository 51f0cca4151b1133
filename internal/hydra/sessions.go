package hydra

import (
	"context"
	"net/http"
	"time"

	client "github.com/ory/hydra-client-go/v2"
)

// ConsentSession is one remembered consent Hydra keeps for a subject: the
// app, what it was granted and when.
type ConsentSession struct {
	Client      OAuthClient
	GrantScope  []string
	GrantedAt   time.Time
	LoginSessID string
}

// consentSessionsPage is the most consent sessions one call lists; a person
// with more remembered apps than this sees the first ones.
const consentSessionsPage = 500

// ConsentSessions lists the subject's remembered consents, newest first as
// Hydra returns them.
func (c *Client) ConsentSessions(ctx context.Context, subject string) ([]ConsentSession, error) {
	list, err := call(ctx, c, "list consent sessions", func(ctx context.Context) ([]client.OAuth2ConsentSession, *http.Response, error) {
		return c.api.ListOAuth2ConsentSessions(ctx).Subject(subject).PageSize(consentSessionsPage).Execute()
	})
	if err != nil {
		return nil, err
	}
	sessions := make([]ConsentSession, 0, len(list))
	for _, s := range list {
		cs := ConsentSession{GrantScope: s.GrantScope, GrantedAt: s.GetHandledAt()}
		if s.ConsentRequest != nil {
			cs.Client = fromSDKClient(s.ConsentRequest.Client)
			cs.LoginSessID = s.ConsentRequest.GetLoginSessionId()
		}
		sessions = append(sessions, cs)
	}
	return sessions, nil
}

// RevokeConsent ends the subject's consent sessions with one client. Hydra
// also revokes every access and refresh token that client holds for the
// subject, so the app must ask again.
func (c *Client) RevokeConsent(ctx context.Context, subject, clientID string) error {
	_, err := call(ctx, c, "revoke consent sessions", func(ctx context.Context) (struct{}, *http.Response, error) {
		resp, err := c.api.RevokeOAuth2ConsentSessions(ctx).Subject(subject).Client(clientID).Execute()
		return struct{}{}, resp, err
	})
	return err
}

// OAuthClient fetches a registered client by id (its name and logo for the pages).
func (c *Client) OAuthClient(ctx context.Context, id string) (OAuthClient, error) {
	r, err := call(ctx, c, "get client", func(ctx context.Context) (*client.OAuth2Client, *http.Response, error) {
		return c.api.GetOAuth2Client(ctx, id).Execute()
	})
	if err != nil {
		return OAuthClient{}, err
	}
	return fromSDKClient(r), nil
}
