package hydra

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
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

// consentSessionsPage is how many consent flows one call of Hydra's listing
// reads (Hydra's maximum is 1000); consentSessionsPages bounds the paging.
const (
	consentSessionsPage  = 500
	consentSessionsPages = 40
)

// ConsentSessions lists the subject's consent sessions, newest first as Hydra
// returns them, every page of them. Hydra v2.3.0 lists *flows* (each
// sign-in of a skip_consent app adds one), a page at a time, and leaves out
// a flow whose remember_for has passed although its tokens may still
// refresh: callers that must find every app also read our audit trail.
//
// Hydra's Link header is unreliable here (v2.3.0 passes its paging
// arguments swapped), so the pages are asked for by offset up to the
// X-Total-Count of the unfiltered flows; a page whose flows were all left out
// comes back empty without that header.
func (c *Client) ConsentSessions(ctx context.Context, subject string) ([]ConsentSession, error) {
	var sessions []ConsentSession
	total := -1
	for page := range consentSessionsPages {
		offset := page * consentSessionsPage
		var count string
		list, err := call(ctx, c, "list consent sessions", func(ctx context.Context) ([]client.OAuth2ConsentSession, *http.Response, error) {
			req := c.api.ListOAuth2ConsentSessions(ctx).Subject(subject).PageSize(consentSessionsPage)
			if offset > 0 {
				req = req.PageToken(pageToken(offset))
			}
			l, resp, err := req.Execute()
			if resp != nil {
				count = resp.Header.Get("X-Total-Count")
			}
			return l, resp, err
		})
		if err != nil {
			return nil, err
		}
		if n, err := strconv.Atoi(count); err == nil {
			total = n
		}
		for _, s := range list {
			cs := ConsentSession{GrantScope: s.GrantScope, GrantedAt: s.GetHandledAt()}
			if s.ConsentRequest != nil {
				cs.Client = fromSDKClient(s.ConsentRequest.Client)
				cs.LoginSessID = s.ConsentRequest.GetLoginSessionId()
			}
			sessions = append(sessions, cs)
		}
		if total < 0 || offset+consentSessionsPage >= total {
			break
		}
	}
	return sessions, nil
}

// pageToken is Hydra's page token for offset (ory/x tokenpagination).
func pageToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(`{"offset":"` + strconv.Itoa(offset) + `","v":2}`))
}

// RevokeAllConsents ends every consent session of the subject, with every
// client, and Hydra revokes every access and refresh token issued under
// them — listed or not — in one call.
func (c *Client) RevokeAllConsents(ctx context.Context, subject string) error {
	_, err := call(ctx, c, "revoke consent sessions", func(ctx context.Context) (struct{}, *http.Response, error) {
		resp, err := c.api.RevokeOAuth2ConsentSessions(ctx).Subject(subject).All(true).Execute()
		return struct{}{}, resp, err
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
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
