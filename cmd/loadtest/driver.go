//go:build devstack

package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/passkey"
	"github.com/blinkbitcoin/blink-consent/internal/passkey/passkeytest"
)

// The paths a simulated browser can take.
const (
	pathSkip    = "skip"    // remembered login, skip_consent client: no page
	pathConsent = "consent" // remembered login, the consent page posted
	pathEmail   = "email"   // a new browser: identifier page, code by email, skip_consent client
	pathPasskey = "passkey" // a new browser: identifier page, the passkey the first sign-in made, skip_consent client
	pathMixed   = "mixed"   // 7 skip, 2 consent, 1 email in every 10 flows
)

// browser is one simulated browser: its own cookies, client address and
// account, and a software authenticator (real WebAuthn answers, signed) that
// gets a passkey on the service's offer after the first sign-in.
type browser struct {
	http    *http.Client
	ip      string
	email   string
	passkey *passkeytest.Authenticator
	// viaPasskey: this flow signs in with the passkey, not a code.
	viaPasskey bool
}

// driver runs sign-ins through one provider's Hydra.
type driver struct {
	p         *provider
	sink      *sink
	transport *http.Transport
	token     *http.Client
	// serverErrors counts the 5xx answers the browsers and the token
	// exchange saw, whatever became of their flow.
	serverErrors atomic.Int64
}

func newDriver(p *provider, s *sink, concurrency int) *driver {
	t := &http.Transport{Proxy: nil, MaxIdleConns: 4 * concurrency, MaxIdleConnsPerHost: 2 * concurrency, IdleConnTimeout: 90 * time.Second}
	return &driver{p: p, sink: s, transport: t, token: &http.Client{Transport: t, Timeout: 120 * time.Second}}
}

func (d *driver) newBrowser(i int, email string) *browser {
	jar, _ := cookiejar.New(nil)
	// What the code page's script notes on a device that can make a
	// passkey: the first sign-in is offered one, and takes it.
	u, _ := url.Parse(d.p.URL)
	jar.SetCookies(u, []*http.Cookie{{Name: "blink_passkey_device", Value: "1", Path: "/"}})
	return &browser{ip: fmt.Sprintf("198.51.%d.%d", 100+i/250, 1+i%250), email: email, http: &http.Client{
		Jar: jar, Transport: d.transport, Timeout: 120 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, passkey: passkeytest.New(d.p.URL, u.Hostname(), passkeytest.Options{})}
}

// tokens is what the token endpoint answered.
type tokens struct {
	AccessToken string `json:"access_token"`
	IDToken     string `json:"id_token"`
	// TimeToCode is, for a flow that sent a code, the time from the answer
	// to its send step to the SMTP sink having the message.
	TimeToCode time.Duration `json:"-"`
}

// signIn is a browser's first sign-in (email code, remember me), after which
// Hydra skips the login for it.
func (d *driver) signIn(ctx context.Context, b *browser) error {
	_, err := d.flow(ctx, b, d.p.Skip)
	return err
}

// run does one flow of path with b and returns its tokens.
func (d *driver) run(ctx context.Context, b *browser, path string) (tokens, error) {
	switch path {
	case pathSkip:
		return d.flow(ctx, b, d.p.Skip)
	case pathConsent:
		return d.flow(ctx, b, d.p.Consent)
	case pathEmail, pathPasskey:
		// A browser that has never signed in, with the same address and
		// account (and, for the passkey, the same authenticator).
		jar, _ := cookiejar.New(nil)
		fresh := *b
		fresh.http = &http.Client{Jar: jar, Transport: b.http.Transport, Timeout: b.http.Timeout, CheckRedirect: b.http.CheckRedirect}
		fresh.viaPasskey = path == pathPasskey
		return d.flow(ctx, &fresh, d.p.Skip)
	}
	return tokens{}, fmt.Errorf("unknown path %q", path)
}

var flowPattern = regexp.MustCompile(`name="flow" value="([0-9a-f-]{36})"`)

// flow starts an authorization-code flow for c, answers whatever page the
// provider shows (identifier, code, consent), and exchanges the code.
func (d *driver) flow(ctx context.Context, b *browser, c devstack.OAuthClient) (tokens, error) {
	state := randomHex(8)
	q := url.Values{"client_id": {c.ID}, "response_type": {"code"}, "scope": {strings.Join(c.Scopes, " ")},
		"redirect_uri": {c.RedirectURI}, "state": {state}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.p.Hydra.PublicURL+"/oauth2/auth?"+q.Encode(), nil)
	if err != nil {
		return tokens{}, err
	}
	var sentAt time.Time     // the answer to the send step
	var toCode time.Duration // from then to the code at the sink
	for hops := 0; hops < 30; hops++ {
		if req.URL.Host == "127.0.0.1:1" {
			t, err := d.exchange(ctx, c, req.URL, state)
			t.TimeToCode = toCode
			return t, err
		}
		req.Header.Set("X-Forwarded-For", b.ip)
		resp, err := b.http.Do(req)
		if err != nil {
			return tokens{}, err
		}
		if resp.StatusCode >= 500 {
			d.serverErrors.Add(1)
		}
		if req.Method == http.MethodPost && req.URL.Path == "/login/identify" {
			sentAt = time.Now()
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return tokens{}, err
		}
		if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
			next, err := req.URL.Parse(loc)
			if err != nil {
				return tokens{}, err
			}
			if req, err = http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil); err != nil {
				return tokens{}, err
			}
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return tokens{}, fmt.Errorf("%s %s answered %d: %.300s", req.Method, req.URL.Path, resp.StatusCode, body)
		}
		form, action, arrived, err := d.answer(ctx, req.URL, string(body), b, c)
		if err != nil {
			return tokens{}, err
		}
		if !arrived.IsZero() && !sentAt.IsZero() {
			// The worker is woken when the send step commits, so the code
			// can reach the sink before the step's answer reaches the
			// browser: no wait at all, counted as the smallest one (zero
			// means "no code was sent").
			toCode = max(arrived.Sub(sentAt), time.Nanosecond)
		}
		if req, err = http.NewRequestWithContext(ctx, http.MethodPost, action, strings.NewReader(form.Encode())); err != nil {
			return tokens{}, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	return tokens{}, errors.New("more than 30 hops")
}

// answer fills in the page the browser stands on; on the code page it also
// says when the code reached the sink.
func (d *driver) answer(ctx context.Context, page *url.URL, body string, b *browser, c devstack.OAuthClient) (_ url.Values, action string, arrived time.Time, _ error) {
	flowID := ""
	if m := flowPattern.FindStringSubmatch(body); m != nil {
		flowID = m[1]
	}
	switch {
	case page.Path == "/login/passkey-offer" && flowID != "":
		// The offer after the first sign-in's code: make the passkey.
		ceremony, options := ceremonyPattern.FindStringSubmatch(body), optionsPattern.FindStringSubmatch(body)
		if ceremony == nil || options == nil {
			return nil, "", time.Time{}, errors.New("the passkey offer has no ceremony")
		}
		o := []byte(html.UnescapeString(options[1]))
		subject, err := optionsSubject(o)
		if err != nil {
			return nil, "", time.Time{}, err
		}
		return url.Values{"flow": {flowID}, "action": {"create"}, "ceremony": {ceremony[1]}, "credential": {string(b.passkey.Register(o, subject))}},
			d.p.URL + "/login/passkey-offer", time.Time{}, nil
	case b.viaPasskey && strings.HasPrefix(page.Path, "/login") && flowID != "":
		// What passkey.js does: a ceremony bound to the flow, the
		// authenticator's answer, posted.
		begun, err := d.passkeyOptions(ctx, b, flowID)
		if err != nil {
			return nil, "", time.Time{}, err
		}
		return url.Values{"flow": {flowID}, "ceremony": {begun.Ceremony}, "credential": {string(b.passkey.SignIn(begun.PublicKey))}, "remember": {"true"}},
			d.p.URL + "/login/passkey", time.Time{}, nil
	case page.Path == "/consent":
		return url.Values{"consent_challenge": {page.Query().Get("consent_challenge")}, "action": {"allow"}, "scope": c.Scopes},
			d.p.URL + "/consent", time.Time{}, nil
	case page.Path == "/login/code" && flowID != "":
		a, err := d.sink.code(b.email, 30*time.Second)
		if err != nil {
			return nil, "", time.Time{}, err
		}
		return url.Values{"flow": {flowID}, "code": {a.code}, "action": {"continue"}}, d.p.URL + "/login/code", a.at, nil
	case strings.HasPrefix(page.Path, "/login") && flowID != "":
		return url.Values{"flow": {flowID}, "action": {"continue"}, "method": {"email"}, "email": {b.email}, "remember": {"true"}},
			d.p.URL + "/login/identify", time.Time{}, nil
	}
	return nil, "", time.Time{}, fmt.Errorf("unexpected page %s: %.300s", page.Path, body)
}

var (
	ceremonyPattern = regexp.MustCompile(`name="ceremony" value="([^"]*)"`)
	optionsPattern  = regexp.MustCompile(`data-options="([^"]*)"`)
)

// optionsSubject is the subject whose user handle registration options carry.
func optionsSubject(options []byte) (string, error) {
	var o struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		return "", err
	}
	h, err := base64.RawURLEncoding.DecodeString(o.User.ID)
	if err != nil || len(h) != 16 {
		return "", fmt.Errorf("registration options with a user handle of %d bytes", len(h))
	}
	x := hex.EncodeToString(h)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:], nil
}

// passkeyOptions asks the service for a passkey ceremony of the flow.
func (d *driver) passkeyOptions(ctx context.Context, b *browser, flowID string) (passkey.Begun, error) {
	var begun passkey.Begun
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.p.URL+"/login/passkey/options?flow="+flowID, nil)
	if err != nil {
		return begun, err
	}
	req.Header.Set("X-Forwarded-For", b.ip)
	resp, err := b.http.Do(req)
	if err != nil {
		return begun, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 500 {
		d.serverErrors.Add(1)
	}
	if resp.StatusCode != http.StatusOK {
		return begun, fmt.Errorf("passkey options answered %d", resp.StatusCode)
	}
	return begun, json.NewDecoder(resp.Body).Decode(&begun)
}

func (d *driver) exchange(ctx context.Context, c devstack.OAuthClient, callback *url.URL, state string) (tokens, error) {
	q := callback.Query()
	if e := q.Get("error"); e != "" {
		return tokens{}, fmt.Errorf("the client got error=%s (%s)", e, q.Get("error_description"))
	}
	if q.Get("state") != state {
		return tokens{}, errors.New("the state came back changed")
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {c.RedirectURI}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.p.Hydra.PublicURL+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return tokens{}, err
	}
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := d.token.Do(req)
	if err != nil {
		return tokens{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		d.serverErrors.Add(1)
	}
	if resp.StatusCode != http.StatusOK {
		return tokens{}, fmt.Errorf("token endpoint answered %d: %.300s", resp.StatusCode, body)
	}
	var t tokens
	if err := json.Unmarshal(body, &t); err != nil {
		return tokens{}, err
	}
	if t.AccessToken == "" || t.IDToken == "" {
		return tokens{}, errors.New("the token endpoint gave no access token or no ID token")
	}
	return t, nil
}

// result is one round of one provider on one path.
type result struct {
	Provider string
	Path     string
	Flows    int
	Errors   int
	Elapsed  time.Duration
	Latency  []time.Duration
	// TimeToCode is, per flow that sent a code, the answer to its send step
	// to the SMTP sink having the message.
	TimeToCode []time.Duration
	CPU        time.Duration
	PeakRSS    int64
	Errs       []string // the first few
}

func (r result) PerSecond() float64 { return float64(r.Flows) / r.Elapsed.Seconds() }

// CPUPerFlow is the provider's CPU (user + system) per completed flow.
func (r result) CPUPerFlow() time.Duration {
	if r.Flows == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Flows)
}

// pathFor is the path of a browser's n-th flow.
func pathFor(path string, n int) string {
	if path != pathMixed {
		return path
	}
	switch n % 10 {
	case 3, 7:
		return pathConsent
	case 5:
		return pathEmail
	}
	return pathSkip
}

// round runs every browser in a loop for dur and measures the provider's CPU
// and peak RSS over it. Flows that end after dur are not counted.
func (d *driver) round(ctx context.Context, browsers []*browser, path string, dur time.Duration) (result, error) {
	pid := d.p.PID()
	if err := resetPeak(pid); err != nil {
		return result{}, err
	}
	cpu0, err := cpuTime(pid)
	if err != nil {
		return result{}, err
	}
	res := result{Provider: d.p.Name, Path: path}
	var mu sync.Mutex
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for i, b := range browsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := i; ; n++ {
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				tok, err := d.run(ctx, b, pathFor(path, n))
				t1 := time.Now()
				if t1.After(deadline) && err == nil {
					return
				}
				mu.Lock()
				if err != nil {
					res.Errors++
					if len(res.Errs) < 5 {
						res.Errs = append(res.Errs, redact(err).Error())
					}
				} else {
					res.Flows++
					res.Latency = append(res.Latency, t1.Sub(t0))
					if tok.TimeToCode > 0 {
						res.TimeToCode = append(res.TimeToCode, tok.TimeToCode)
					}
				}
				mu.Unlock()
				if ctx.Err() != nil {
					return
				}
			}
		}()
	}
	time.Sleep(time.Until(deadline))
	cpu1, err := cpuTime(pid)
	if err != nil {
		return result{}, err
	}
	res.Elapsed = time.Since(start)
	res.CPU = cpu1 - cpu0
	if res.PeakRSS, _, err = memory(pid); err != nil {
		return result{}, err
	}
	wg.Wait()
	return res, ctx.Err()
}

// signInAll gives every browser its first sign-in, a few at a time.
func (d *driver) signInAll(ctx context.Context, browsers []*browser) error {
	sem := make(chan struct{}, 8)
	errs := make(chan error, len(browsers))
	for _, b := range browsers {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			// A second try: on a machine this busy a token request can time out.
			err := d.signIn(ctx, b)
			if err != nil {
				err = d.signIn(ctx, b)
			}
			errs <- err
		}()
	}
	for range browsers {
		if err := <-errs; err != nil {
			return fmt.Errorf("%s: first sign-in: %w", d.p.Name, err)
		}
	}
	return nil
}

// redact drops the query from a failed request's URL: it carries
// challenges and verifiers, which are not for a report.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery = ""
			return fmt.Errorf("%s %s: %w", ue.Op, u, ue.Err)
		}
	}
	return err
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return s[i]
}
