package hydra

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	client "github.com/ory/hydra-client-go/v2"
)

// The four admin calls of every sign-in (get and accept the login request,
// get and accept the consent request) go through send instead of the SDK's
// Execute. The accept bodies are still hydra-client-go's request structs,
// marshalled with its own MarshalJSON. What changes is the decoding: the
// SDK's generated UnmarshalJSON reads every body three times (into a map to
// check required keys, into the struct, into a map again for additional
// properties), and again for the nested client. Under load that was a
// quarter of this service's CPU (docs/performance.md). Here each body is
// decoded once, and only into the fields LoginRequest and ConsentRequest
// keep: the client's other forty-odd fields (its JWKS, metadata, URIs,
// dates) and the OpenID Connect context's claims are skipped by the
// decoder instead of allocated and thrown away, which was most of what was
// left of the decoding (docs/performance.md, "The CPU floor, again").
// TestLeanDecodeMatchesTheSDK checks the result against the SDK's own
// decoding.

// clientJSON is the part of Hydra's OAuth2Client that OAuthClient keeps: the
// same fields, so one converts to the other.
type clientJSON struct {
	ID                   string `json:"client_id"`
	Name                 string `json:"client_name"`
	LogoURI              string `json:"logo_uri"`
	ClientURI            string `json:"client_uri"`
	PolicyURI            string `json:"policy_uri"`
	TosURI               string `json:"tos_uri"`
	SkipConsent          bool   `json:"skip_consent"`
	SkipLogoutConsent    bool   `json:"skip_logout_consent"`
	BackChannelLogoutURI string `json:"backchannel_logout_uri"`
}

// loginRequestJSON is the part of Hydra's OAuth2LoginRequest LoginRequest keeps.
type loginRequestJSON struct {
	Challenge      string     `json:"challenge"`
	Skip           bool       `json:"skip"`
	Subject        string     `json:"subject"`
	SessionID      string     `json:"session_id"`
	RequestURL     string     `json:"request_url"`
	RequestedScope []string   `json:"requested_scope"`
	Client         clientJSON `json:"client"`
	OIDCContext    struct {
		UILocales []string `json:"ui_locales"`
		LoginHint string   `json:"login_hint"`
	} `json:"oidc_context"`
}

func (w *loginRequestJSON) request() LoginRequest {
	return LoginRequest{
		Challenge:      w.Challenge,
		Skip:           w.Skip,
		Subject:        w.Subject,
		SessionID:      w.SessionID,
		RequestURL:     w.RequestURL,
		RequestedScope: w.RequestedScope,
		Client:         OAuthClient(w.Client),
		UILocales:      w.OIDCContext.UILocales,
		LoginHint:      w.OIDCContext.LoginHint,
	}
}

// consentRequestJSON is the part of Hydra's OAuth2ConsentRequest ConsentRequest keeps.
type consentRequestJSON struct {
	Challenge         string     `json:"challenge"`
	Skip              bool       `json:"skip"`
	Subject           string     `json:"subject"`
	RequestURL        string     `json:"request_url"`
	RequestedScope    []string   `json:"requested_scope"`
	RequestedAudience []string   `json:"requested_access_token_audience"`
	Client            clientJSON `json:"client"`
	// Context is any, as in the SDK: only an object is kept.
	Context     any      `json:"context"`
	ACR         string   `json:"acr"`
	AMR         []string `json:"amr"`
	OIDCContext struct {
		UILocales []string `json:"ui_locales"`
	} `json:"oidc_context"`
}

func (w *consentRequestJSON) request() ConsentRequest {
	cr := ConsentRequest{
		Challenge:         w.Challenge,
		Skip:              w.Skip,
		Subject:           w.Subject,
		RequestURL:        w.RequestURL,
		RequestedScope:    w.RequestedScope,
		RequestedAudience: w.RequestedAudience,
		Client:            OAuthClient(w.Client),
		UILocales:         w.OIDCContext.UILocales,
		ACR:               w.ACR,
		AMR:               w.AMR,
	}
	if m, ok := w.Context.(map[string]any); ok {
		cr.Context = m
	}
	return cr
}

// plainRedirectTo is the SDK's answer to an accept, without its UnmarshalJSON.
type plainRedirectTo client.OAuth2RedirectTo

// statusError is an admin call's answer other than 200, with its body, for classify.
type statusError struct {
	status int
	body   []byte
}

func (e *statusError) Error() string { return fmt.Sprintf("hydra answered %d", e.status) }

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// send makes one admin call: method on path with the challenge in query
// parameter param, body (an SDK request struct, or nil) as JSON, and decodes
// a 200 answer once into out. As with the SDK, the error is returned with
// the response so classify can read its status.
func (c *Client) send(ctx context.Context, method, path, param, challenge string, body, out any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		// The SDK type's MarshalJSON through an Encoder, as the SDK does: the same bytes.
		b := new(bytes.Buffer)
		if err := json.NewEncoder(b).Encode(body); err != nil {
			return nil, err
		}
		rd = b
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path+"?"+param+"="+url.QueryEscape(challenge), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "blink-consent") // as New tells the SDK
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	buf := buffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 {
			buf.Reset()
			buffers.Put(buf)
		}
	}()
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return resp, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp, &statusError{status: resp.StatusCode, body: bytes.Clone(buf.Bytes())}
	}
	return resp, json.Unmarshal(buf.Bytes(), out)
}

// decodeStatusError reads what classify needs from a statusError's body:
// Hydra's redirect_to (410) and its OAuth 2.0 error name.
func decodeStatusError(se *statusError) (redirectTo, oauthErr string) {
	var body struct {
		RedirectTo string `json:"redirect_to"`
		Error      string `json:"error"`
	}
	_ = json.Unmarshal(se.body, &body)
	return body.RedirectTo, body.Error
}
