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
// Execute. The types are still hydra-client-go's: its request structs are
// marshalled with its own MarshalJSON, and the answers land in its response
// structs. What changes is the decoding: the SDK's generated UnmarshalJSON
// reads every body three times (into a map to check required keys, into the
// struct, into a map again for additional properties), and again for the
// nested client. Under load that was a quarter of this service's CPU
// (docs/performance.md). Here each body is decoded once, into the SDK
// struct through a defined type that has no UnmarshalJSON.

// Plain copies of the SDK's response types, without their methods.
type (
	plainLoginRequest   client.OAuth2LoginRequest
	plainConsentRequest client.OAuth2ConsentRequest
	plainClient         client.OAuth2Client
	plainOIDCContext    client.OAuth2ConsentRequestOpenIDConnectContext
	plainRedirectTo     client.OAuth2RedirectTo
)

// loginRequestJSON decodes an OAuth2LoginRequest once: the fields at the
// outer level win over the embedded struct's of the same JSON name, so the
// nested client and OpenID Connect context are plain too.
type loginRequestJSON struct {
	plainLoginRequest
	Client      plainClient       `json:"client"`
	OidcContext *plainOIDCContext `json:"oidc_context,omitempty"`
}

func (w *loginRequestJSON) sdk() *client.OAuth2LoginRequest {
	r := client.OAuth2LoginRequest(w.plainLoginRequest)
	r.Client = client.OAuth2Client(w.Client)
	r.OidcContext = (*client.OAuth2ConsentRequestOpenIDConnectContext)(w.OidcContext)
	return &r
}

type consentRequestJSON struct {
	plainConsentRequest
	Client      *plainClient      `json:"client,omitempty"`
	OidcContext *plainOIDCContext `json:"oidc_context,omitempty"`
}

func (w *consentRequestJSON) sdk() *client.OAuth2ConsentRequest {
	r := client.OAuth2ConsentRequest(w.plainConsentRequest)
	r.Client = (*client.OAuth2Client)(w.Client)
	r.OidcContext = (*client.OAuth2ConsentRequestOpenIDConnectContext)(w.OidcContext)
	return &r
}

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
