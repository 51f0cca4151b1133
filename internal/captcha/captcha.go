// Package captcha is the pluggable bot check before an SMS is sent. It is off
// by default; Cloudflare Turnstile is the provider, verified server-side.
package captcha

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Checker verifies the token a bot-check widget put into the form.
type Checker interface {
	// SiteKey is the public key the widget needs; "" means the check is off.
	SiteKey() string
	// Verify asks the provider whether token is a solved challenge from ip.
	Verify(ctx context.Context, token, ip string) (bool, error)
}

// Off is the checker used when no provider is configured: everything passes.
type Off struct{}

// SiteKey is "": no widget.
func (Off) SiteKey() string { return "" }

// Verify passes everything.
func (Off) Verify(context.Context, string, string) (bool, error) { return true, nil }

// Turnstile is Cloudflare Turnstile: the widget posts cf-turnstile-response,
// and siteverify answers {"success": true|false, "error-codes": […]}.
type Turnstile struct {
	Key       string
	Secret    string
	VerifyURL string // https://challenges.cloudflare.com/turnstile/v0/siteverify
	Client    *http.Client
}

// FormField is the form field the Turnstile widget fills.
const FormField = "cf-turnstile-response"

// Origin is where Turnstile's script and frame come from; the CSP allows it on
// the pages that show the widget.
const Origin = "https://challenges.cloudflare.com"

// SiteKey returns the widget's key.
func (t Turnstile) SiteKey() string { return t.Key }

// Verify calls siteverify. An empty token is a failure without a call.
func (t Turnstile) Verify(ctx context.Context, token, ip string) (bool, error) {
	if token == "" || len(token) > 2048 {
		return false, nil
	}
	client := t.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	form := url.Values{"secret": {t.Secret}, "response": {token}}
	if ip != "" {
		form.Set("remoteip", ip)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.VerifyURL, strings.NewReader(form.Encode()))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Errorf("captcha: siteverify: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("captcha: siteverify answered %d", resp.StatusCode)
	}
	var out struct {
		Success bool `json:"success"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<10)).Decode(&out); err != nil {
		return false, fmt.Errorf("captcha: siteverify: %w", err)
	}
	return out.Success, nil
}
