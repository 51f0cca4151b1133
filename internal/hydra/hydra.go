// Package hydra talks to Ory Hydra's admin API and turns its answers into typed errors.
package hydra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	client "github.com/ory/hydra-client-go/v2"
)

// TargetVersion is the Hydra release this client is built and tested against
// (tools/hydra pins the same release for the tests and the dev stack).
const TargetVersion = "v2.3.0"

// Typed errors a handler can branch on with errors.Is / errors.As.
var (
	// ErrExpired: Hydra answered 401 request_unauthorized; the flow took too long.
	ErrExpired = errors.New("hydra: the request has expired")
	// ErrNotFound: Hydra does not know the challenge (garbage, or a rejected logout).
	ErrNotFound = errors.New("hydra: no such request")
	// ErrUnavailable: Hydra could not be reached, timed out, or answered 5xx.
	ErrUnavailable = errors.New("hydra: unavailable")
	// ErrInvalid: Hydra refused the call as malformed (4xx other than the above).
	ErrInvalid = errors.New("hydra: request refused")
)

// HandledError is Hydra's 410: the challenge was used already. RedirectTo is
// where Hydra wants the browser to go next, which may be empty.
type HandledError struct{ RedirectTo string }

func (e *HandledError) Error() string { return "hydra: the request was already handled" }

// Client is Hydra's admin API with a timeout on every call.
type Client struct {
	api     client.OAuth2API
	http    *http.Client // the SDK's, shared by Ready and send
	baseURL string
	timeout time.Duration
	// Observer, when set, hears of every admin call: its operation, outcome and time.
	Observer Observer
}

// Observer records Hydra admin calls (the metrics).
type Observer interface {
	HydraCall(operation, outcome string, took time.Duration)
}

// New returns a client for the admin API at adminURL. Every call is bounded by timeout.
func New(adminURL *url.URL, timeout time.Duration) *Client {
	httpClient := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		},
		// Hydra's admin API never redirects; following one would hide a misconfiguration.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	cfg := client.NewConfiguration()
	cfg.Servers = client.ServerConfigurations{{URL: adminURL.String()}}
	cfg.HTTPClient = httpClient
	cfg.UserAgent = "blink-consent"
	return &Client{
		api:     client.NewAPIClient(cfg).OAuth2API,
		http:    httpClient,
		baseURL: adminURL.String(),
		timeout: timeout,
	}
}

// WrapTransport wraps the transport of every admin call (tracing); call it
// before the first call.
func (c *Client) WrapTransport(wrap func(http.RoundTripper) http.RoundTripper) {
	c.http.Transport = wrap(c.http.Transport)
}

// Ready asks Hydra's /health/ready.
func (c *Client) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseURL+"/health/ready", nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: /health/ready answered %d", ErrUnavailable, resp.StatusCode)
	}
	return nil
}

// classify turns what hydra-client-go returned into one of this package's errors.
// resp is nil on transport errors; the SDK then sometimes reports a confusing
// decode error, so the status decides, not the message.
func classify(op string, resp *http.Response, err error) error {
	if err == nil {
		return nil
	}
	if resp == nil {
		// A transport error quotes the request URL, challenge included: drop it.
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("hydra: %s: %w", op, context.Canceled)
		}
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, op, err)
	}
	var oauthErr string
	var se *statusError
	if errors.As(err, &se) {
		var redirectTo string
		if redirectTo, oauthErr = decodeStatusError(se); resp.StatusCode == http.StatusGone {
			return &HandledError{RedirectTo: redirectTo}
		}
	}
	var apiErr *client.GenericOpenAPIError
	if errors.As(err, &apiErr) {
		switch m := apiErr.Model().(type) {
		case client.OAuth2RedirectTo:
			if resp.StatusCode == http.StatusGone {
				return &HandledError{RedirectTo: m.RedirectTo}
			}
		case client.ErrorOAuth2:
			oauthErr = m.GetError()
		}
	}
	switch {
	case resp.StatusCode == http.StatusGone:
		// Only the GET calls' SDK code decodes a 410 as a redirect; read it ourselves.
		var body struct {
			RedirectTo string `json:"redirect_to"`
		}
		if apiErr != nil {
			_ = json.Unmarshal(apiErr.Body(), &body)
		}
		return &HandledError{RedirectTo: body.RedirectTo}
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%w (%s)", ErrExpired, op)
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%w (%s)", ErrNotFound, op)
	case resp.StatusCode >= 500:
		return fmt.Errorf("%w: %s: status %d", ErrUnavailable, op, resp.StatusCode)
	case resp.StatusCode >= 400:
		return fmt.Errorf("%w: %s: status %d %s", ErrInvalid, op, resp.StatusCode, oauthErr)
	}
	// A 2xx whose body could not be decoded.
	return fmt.Errorf("%w: %s: unreadable answer: %v", ErrUnavailable, op, err)
}

// call bounds one admin call by the client's timeout and classifies its error.
func call[T any](ctx context.Context, c *Client, op string, do func(ctx context.Context) (T, *http.Response, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	v, resp, err := do(ctx)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err = classify(op, resp, err); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, ErrUnavailable) {
			err = fmt.Errorf("%w: %s: timed out", ErrUnavailable, op)
		}
	}
	if c.Observer != nil {
		c.Observer.HydraCall(strings.ReplaceAll(op, " ", "_"), Outcome(err), time.Since(start))
	}
	if err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// Outcome names an admin call's result for the metrics: ok, or the kind of
// error — "unavailable" is Hydra's fault (unreachable, timed out, 5xx), the
// others are answers about the request.
func Outcome(err error) string {
	var handled *HandledError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &handled):
		return "handled"
	case errors.Is(err, ErrExpired):
		return "expired"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "unavailable"
}
