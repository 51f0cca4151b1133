// Package blinkcore is a client of Blink core's REST auth API (/auth/*) and of
// the two GraphQL queries a sign-in needs (me, globals.supportedCountries),
// speaking exactly what Blink's apps/consent speaks. docs/blink-core.md has the
// contract and the error mapping.
package blinkcore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/ids"
)

// DefaultTimeout bounds every call when the caller's http.Client has none.
const DefaultTimeout = 10 * time.Second

// maxBody bounds what is read of an answer; core's largest is a few hundred bytes.
const maxBody = 1 << 20

// Client calls one Blink core.
type Client struct {
	authURL    string
	graphqlURL string
	http       *http.Client
	// Observer, when set, hears of every call to core: its operation, outcome and time.
	Observer Observer
	// graphqlFailing is whether the last GraphQL call got no usable answer
	// (GraphQLFailing).
	graphqlFailing atomic.Bool
}

// GraphQLObserver is an Observer that also hears whether core's GraphQL
// answered (the metrics' blink_consent_core_graphql_up).
type GraphQLObserver interface {
	CoreGraphQL(up bool)
}

// GraphQLFailing reports whether the last call to core's GraphQL (a
// sign-in's `me`, the country list, a readiness check) got no usable answer:
// unreachable, timed out, 5xx, or a body this client cannot read. Sign-in
// goes on without it; /readyz reports it.
func (c *Client) GraphQLFailing() bool { return c.graphqlFailing.Load() }

func (c *Client) noteGraphQL(err error) {
	failing := errors.Is(err, ErrUnavailable)
	c.graphqlFailing.Store(failing)
	if o, ok := c.Observer.(GraphQLObserver); ok {
		o.CoreGraphQL(!failing)
	}
}

// Observer records calls to core (the metrics).
type Observer interface {
	CoreCall(operation, outcome string, took time.Duration)
}

// New returns a client of core's auth API at authURL (e.g.
// http://api:4012/auth) and its GraphQL endpoint at graphqlURL. httpClient
// may be nil. The client is copied: redirects are never followed (an answer
// 3xx is ErrUnavailable) and a zero Timeout becomes DefaultTimeout.
func New(authURL, graphqlURL string, httpClient *http.Client) *Client {
	hc := &http.Client{}
	if httpClient != nil {
		copied := *httpClient
		hc = &copied
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if hc.Timeout == 0 {
		hc.Timeout = DefaultTimeout
	}
	return &Client{
		authURL:    strings.TrimRight(authURL, "/"),
		graphqlURL: graphqlURL,
		http:       hc,
	}
}

// Login is a successful first factor. ID is the Kratos identity id (the
// subject) and is empty when TOTPRequired: then the subject comes from Me
// after TOTPValidate.
type Login struct {
	AuthToken    string
	TOTPRequired bool
	ID           string
}

// Captcha is a Geetest v3 challenge for the browser: ID is Geetest's "gt".
type Captcha struct {
	ID            string
	ChallengeCode string
	NewCaptcha    bool
	FailbackMode  bool
}

// GeetestResult is what the browser's captcha produced
// (geetest_challenge, geetest_validate, geetest_seccode).
type GeetestResult struct {
	Challenge string
	Validate  string
	Seccode   string
}

// Me is the signed-in user as core's GraphQL tells it.
type Me struct {
	ID            string
	Email         string
	EmailVerified bool
	Phone         string
	// PhoneVerified is true whenever Phone is set: core's schema has no such
	// flag because core stores a phone number only once a code sent to it
	// was typed back.
	PhoneVerified bool
}

// Country is one entry of globals.supportedCountries: a CCA2 code and its
// channels in lower case ("sms", "whatsapp", "telegram").
type Country struct {
	ID       string
	Channels []string
}

// answer is one HTTP exchange with core, before interpretation.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// errorBody is core's error in either shape: (S) {"error":"text"} or
// (O) {"error":{"name":"ErrorClass","level":"info"}}.
type errorBody struct {
	text string
	name string
}

func parseError(body []byte) (errorBody, bool) {
	var raw struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &raw) != nil || len(raw.Error) == 0 {
		return errorBody{}, false
	}
	var text string
	if json.Unmarshal(raw.Error, &text) == nil {
		return errorBody{text: text}, true
	}
	var obj struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(raw.Error, &obj) == nil && obj.Name != "" {
		return errorBody{name: obj.Name}, true
	}
	return errorBody{}, false
}

func (c *Client) post(ctx context.Context, route, ip string, body any) (answer, error) {
	if net.ParseIP(ip) == nil {
		// Core would answer 400 "IP is not defined"; this is our bug, not the user's.
		return answer{}, &Error{Kind: ErrUnavailable, detail: detail{Route: route}, cause: errors.New("no client IP to send as X-Real-IP")}
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return answer{}, &Error{Kind: ErrUnavailable, detail: detail{Route: route}, cause: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.authURL+route, bytes.NewReader(payload))
	if err != nil {
		return answer{}, &Error{Kind: ErrUnavailable, detail: detail{Route: route}, cause: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Real-IP", ip)
	return c.do(req, route)
}

func (c *Client) do(req *http.Request, route string) (a answer, err error) {
	if c.Observer != nil {
		start := time.Now()
		defer func() { c.Observer.CoreCall(operationName(route), callOutcome(a.status, err), time.Since(start)) }()
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, &Error{Kind: ErrUnavailable, detail: detail{Route: route}, cause: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return answer{}, &Error{Kind: ErrUnavailable, detail: detail{Route: route, Status: resp.StatusCode}, cause: err}
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// operationName turns a route ("/email/code", "graphql me") into a metric
// label ("email_code", "graphql_me"): a fixed set, never an id.
func operationName(route string) string {
	return strings.Trim(strings.NewReplacer("/", "_", " ", "_", "-", "_").Replace(route), "_")
}

// callOutcome sorts an answer for the metrics: ok, limited (429), refused
// (another 4xx: a wrong code, a refused registration), error (5xx or any
// other status) or unavailable (no answer at all).
func callOutcome(status int, err error) string {
	switch {
	case err != nil:
		return "unavailable"
	case status >= 200 && status < 300:
		return "ok"
	case status == http.StatusTooManyRequests:
		return "limited"
	case status >= 400 && status < 500:
		return "refused"
	}
	return "error"
}

// fail builds the typed error for an answer; secrets are scrubbed from core's text.
func fail(kind error, route string, a answer, secrets ...string) error {
	return &Error{Kind: kind, detail: detail{Route: route, Status: a.status, core: coreText(a, secrets...)}}
}

// Core's default block durations (core/api/src/config/schema.ts): an hour
// for code requests, logins per phone and authenticator codes; 4 hours once
// the failed logins per IP are spent. Its SMS provider's own limit says "a
// few minutes".
const (
	blockHour          = time.Hour
	blockFailedLoginIP = 4 * time.Hour
	blockProvider      = 10 * time.Minute
	// Core blocks a phone for 4 hours after 5 Telegram nonce requests in an hour.
	blockTelegramNoncePhone = 4 * time.Hour
)

func limit(what string, block time.Duration, route string, a answer, secrets ...string) error {
	return &LimitError{What: what, RetryAfter: retryAfter(a.header), Block: block, detail: detail{Route: route, Status: a.status, core: coreText(a, secrets...)}}
}

func coreText(a answer, secrets ...string) string {
	if e, ok := parseError(a.body); ok {
		if e.name != "" {
			return scrub(e.name, secrets...)
		}
		return scrub(e.text, secrets...)
	}
	return scrub(string(a.body), secrets...)
}

func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

// unexpected is the answer for everything not documented: 5xx, 3xx, an
// unknown text, an unparseable body.
func unexpected(route string, a answer, secrets ...string) error {
	return fail(ErrUnavailable, route, a, secrets...)
}

// texts core answers that several routes share
const (
	textUnknown      = "Unknown error" // a DomainError made without a message (core's error-parsers.ts)
	textMissingInput = "Missing input"
)

// EmailCode asks core to mail a sign-in code to email and returns the id of
// the login flow (core returns one for unknown addresses too, so nobody can
// probe which addresses have accounts).
func (c *Client) EmailCode(ctx context.Context, ip, email string) (string, error) {
	const route = "/email/code"
	a, err := c.post(ctx, route, ip, map[string]string{"email": email})
	if err != nil {
		return "", err
	}
	if a.status == http.StatusOK {
		var ok struct {
			Result string `json:"result"`
		}
		if json.Unmarshal(a.body, &ok) != nil || ok.Result == "" {
			return "", unexpected(route, a)
		}
		return ok.Result, nil
	}
	e, parsed := parseError(a.body)
	switch {
	case !parsed || e.name != "":
		return "", unexpected(route, a)
	case a.status == http.StatusUnprocessableEntity:
		// "Missing input", or the malformed address itself.
		return "", fail(ErrInvalidInput, route, a)
	case a.status == http.StatusBadRequest && e.text == textUnknown:
		// Both request-code limits (per IP, per address) are DomainErrors
		// without a message, so the text cannot say which one it was.
		return "", limit(LimitUnknown, blockHour, route, a)
	}
	// Any other 400 is Kratos failing to start the flow; 500 a throw.
	return "", unexpected(route, a)
}

type loginJSON struct {
	AuthToken    string `json:"authToken"`
	TOTPRequired bool   `json:"totpRequired"`
	ID           string `json:"id"`
}

func (l loginJSON) login(route string, a answer) (Login, error) {
	if l.AuthToken == "" || (!l.TOTPRequired && !ids.IsUUID(l.ID)) {
		return Login{}, unexpected(route, a, l.AuthToken)
	}
	out := Login{AuthToken: l.AuthToken, TOTPRequired: l.TOTPRequired}
	if !l.TOTPRequired {
		out.ID = l.ID
	}
	return out, nil
}

// EmailLogin checks the code of the flow EmailCode started.
func (c *Client) EmailLogin(ctx context.Context, ip, emailLoginID, code string) (Login, error) {
	const route = "/email/login"
	a, err := c.post(ctx, route, ip, map[string]string{"emailLoginId": emailLoginID, "code": code})
	if err != nil {
		return Login{}, err
	}
	secrets := []string{code, emailLoginID}
	if a.status == http.StatusOK {
		var ok struct {
			Result *loginJSON `json:"result"`
		}
		if json.Unmarshal(a.body, &ok) != nil || ok.Result == nil {
			return Login{}, unexpected(route, a, secrets...)
		}
		return ok.Result.login(route, a)
	}
	return Login{}, mapEmailLogin(route, a, secrets)
}

func mapEmailLogin(route string, a answer, secrets []string) error {
	e, parsed := parseError(a.body)
	if !parsed || e.name != "" {
		return unexpected(route, a, secrets...)
	}
	switch a.status {
	case http.StatusUnprocessableEntity:
		if e.text == textUnknown {
			// Core's answer to a code that is not six digits.
			return fail(ErrWrongCode, route, a, secrets...)
		}
		// "Missing input", or the login id (not a UUID) echoed back.
		return fail(ErrInvalidInput, route, a, secrets...)
	case http.StatusUnauthorized:
		if e.text == "invalid code" {
			return fail(ErrWrongCode, route, a, secrets...)
		}
	case http.StatusTooManyRequests:
		// Either the failed-logins-per-IP limit (blocked 4 hours) or
		// Kratos' attempts on this flow; core answers both with "too many
		// requests", so the longer wait is the one to tell.
		return limit(LimitUnknown, blockFailedLoginIP, route, a, secrets...)
	case http.StatusBadRequest:
		if e.text == textUnknown {
			// Core answers 400 "Unknown error" for an expired code, an
			// unverified address and an unknown flow alike. Asking for a new
			// code is the right advice for the first (codes live 15 minutes,
			// by far the common case); for an unverified address it fails the
			// same way again, which our own per-flow caps bound.
			return fail(ErrCodeExpired, route, a, secrets...)
		}
	}
	return unexpected(route, a, secrets...)
}

// TOTPValidate sends the authenticator code for a sign-in that answered
// TOTPRequired; on success core elevates authToken itself (same token).
func (c *Client) TOTPValidate(ctx context.Context, ip, authToken, code string) error {
	const route = "/totp/validate"
	a, err := c.post(ctx, route, ip, map[string]string{"totpCode": code, "authToken": authToken})
	if err != nil {
		return err
	}
	secrets := []string{code, authToken}
	if a.status == http.StatusOK {
		return nil
	}
	e, parsed := parseError(a.body)
	if !parsed || e.name != "" {
		return unexpected(route, a, secrets...)
	}
	switch a.status {
	case http.StatusUnprocessableEntity:
		switch e.text {
		case textMissingInput:
			return fail(ErrInvalidInput, route, a, secrets...)
		case "Invalid value for AuthToken":
			return fail(ErrSessionRejected, route, a, secrets...)
		}
		// A code that is not six characters long, echoed back.
		return fail(ErrWrongCode, route, a, secrets...)
	case http.StatusBadRequest:
		switch e.text {
		case "Request failed with status code 400":
			// Kratos' refusal of the code, as axios words it.
			return fail(ErrWrongCode, route, a, secrets...)
		case textUnknown:
			// The per-token limit (8 tries an hour) is a DomainError without
			// a message.
			return limit(LimitTOTP, blockHour, route, a, secrets...)
		}
	case http.StatusUnauthorized:
		if e.text == "invalid code" {
			return fail(ErrWrongCode, route, a, secrets...)
		}
	case http.StatusTooManyRequests:
		return limit(LimitUnknown, blockHour, route, a, secrets...)
	case http.StatusInternalServerError:
		// Kratos refusing the session token (401, or 403 for a session it
		// will not elevate) surfaces as a throw with axios' wording: the
		// token is unknown or expired and retrying with it cannot help.
		// Any other 500 is core failing.
		switch e.text {
		case "Request failed with status code 401", "Request failed with status code 403":
			return fail(ErrSessionRejected, route, a, secrets...)
		}
	}
	return unexpected(route, a, secrets...)
}

// PhoneCaptcha asks core for a Geetest challenge for the phone page.
func (c *Client) PhoneCaptcha(ctx context.Context, ip string) (Captcha, error) {
	const route = "/phone/captcha"
	a, err := c.post(ctx, route, ip, struct{}{})
	if err != nil {
		return Captcha{}, err
	}
	if a.status != http.StatusOK {
		// 500 "error creating challenge": Geetest or its configuration.
		return Captcha{}, unexpected(route, a)
	}
	var ok struct {
		Result *struct {
			ID            string `json:"id"`
			ChallengeCode string `json:"challengeCode"`
			NewCaptcha    bool   `json:"newCaptcha"`
			FailbackMode  bool   `json:"failbackMode"`
		} `json:"result"`
	}
	if json.Unmarshal(a.body, &ok) != nil || ok.Result == nil || ok.Result.ID == "" || ok.Result.ChallengeCode == "" {
		return Captcha{}, unexpected(route, a)
	}
	r := ok.Result
	return Captcha{ID: r.ID, ChallengeCode: r.ChallengeCode, NewCaptcha: r.NewCaptcha, FailbackMode: r.FailbackMode}, nil
}

// PhoneCode asks core to send a code to phone (E.164) by channel ("sms" or
// "whatsapp"), with the browser's Geetest result.
func (c *Client) PhoneCode(ctx context.Context, ip, phone, channel string, geetest GeetestResult) error {
	const route = "/phone/code"
	a, err := c.post(ctx, route, ip, map[string]string{
		"phone":          phone,
		"challengeCode":  geetest.Challenge,
		"validationCode": geetest.Validate,
		"secCode":        geetest.Seccode,
		"channel":        channel,
	})
	if err != nil {
		return err
	}
	if a.status == http.StatusOK {
		var ok struct {
			Success bool `json:"success"`
		}
		if json.Unmarshal(a.body, &ok) != nil || !ok.Success {
			return unexpected(route, a)
		}
		return nil
	}
	e, parsed := parseError(a.body)
	if !parsed || a.status != http.StatusBadRequest {
		return unexpected(route, a)
	}
	switch e.text {
	case "missing inputs":
		return fail(ErrInvalidInput, route, a)
	case "invalid phone":
		return fail(ErrInvalidPhone, route, a)
	}
	if kind, ok := phoneCodeErrors[e.name]; ok {
		return fail(kind, route, a)
	}
	switch name := e.name; {
	case name == "UserCodeAttemptIpRateLimiterExceededError":
		return limit(LimitIP, blockHour, route, a)
	case name == "UserAttemptPhoneIdentifierRateLimiterExceededError",
		// the same limit under the names older cores gave it
		name == "UserCodeAttemptIdentifierRateLimiterExceededError",
		name == "UserCodeAttemptPhoneRateLimiterExceededError":
		return limit(LimitIdentifier, blockHour, route, a)
	case name == "PhoneProviderRateLimitExceededError":
		return limit(LimitProvider, blockProvider, route, a)
	case strings.HasSuffix(name, "LimiterExceededError"):
		return limit(LimitUnknown, blockHour, route, a)
	}
	// NotImplementedError (core's configuration) and anything unknown.
	return unexpected(route, a)
}

// phoneCodeErrors are the serialized DomainErrors /phone/code answers (400,
// (O) form) other than limits: Geetest's, the channel checks, and the SMS
// provider's (core/api/src/domain/phone-provider/errors.ts, as
// services/twilio-service.ts and prelude-service.ts raise them).
var phoneCodeErrors = map[string]error{
	"CaptchaUserFailToPassError":              ErrCaptchaFailed,
	"UnknownCaptchaError":                     ErrCaptchaUnavailable,
	"InvalidChannel":                          ErrInvalidChannel,
	"InvalidChannelForCountry":                ErrInvalidChannel,
	"InvalidPhoneNumber":                      ErrInvalidPhone,
	"InvalidPhoneNumberPhoneProviderError":    ErrInvalidPhone,
	"InvalidTypePhoneProviderError":           ErrNotMobile,
	"RestrictedRegionPhoneProviderError":      ErrRegionRestricted,
	"UnsubscribedRecipientPhoneProviderError": ErrOptedOut,
	"RestrictedRecipientPhoneNumberError":     ErrPhoneCheck,
	"MissingTypePhoneProviderError":           ErrPhoneCheck,
	"PhoneProviderConnectionError":            ErrProviderUnavailable,
	"PhoneProviderUnavailableError":           ErrProviderUnavailable,
	"UnknownPhoneProviderServiceError":        ErrProviderUnavailable,
	"PhoneProviderServiceError":               ErrProviderUnavailable,
}

// phone/login's 401 texts: core's error map (graphql/error-map.ts and
// graphql/error.ts) applied to whatever the login returned.
const (
	textWrongPhoneCode  = "Invalid or incorrect code entered."
	textLoginIPLimit    = "Too many login attempts on same network, please wait for a while and try again."
	textLoginPhoneLimit = "Too many login attempts, please wait for a while and try again."
	textProviderLimit   = "Too many phone number attempts, please try again in a few minutes."
	textIPNotOnboarding = "This IP address is not allowed to onboard."
	textPhoneNotAllowed = "This phone number is not allowed to onboard."
)

// phoneLoginErrors are /phone/login's other 401 texts and what they mean.
var phoneLoginErrors = map[string]error{
	textWrongPhoneCode: ErrWrongCode,
	// ExpiredOrNonExistentPhoneNumberError (Twilio Verify's 404, Prelude's
	// expired_or_not_found): the verification expired (Twilio's last about
	// 10 minutes), was used, or never existed. A new code is the way on.
	"Invalid or incorrect phone entered.": ErrCodeExpired,
	// InvalidOrApprovedVerificationError: Twilio's "already approved or
	// invalid" verification, a used one.
	"Issue detected with verification. Please try again later or contact support.": ErrCodeExpired,
	textIPNotOnboarding:                                                            ErrNetworkNotAllowedToRegister,
	textPhoneNotAllowed:                                                            ErrNotAllowedToRegister,
	"Error fetching phone information.":                                            ErrPhoneCheck, // InvalidPhoneMetadataForOnboardingError
	"Phone provider temporarily unreachable":                                       ErrProviderUnavailable,
	"Phone number is not a valid phone number":                                     ErrInvalidPhone,
	"Invalid phone number type. Please use a mobile number.":                       ErrNotMobile,
	"Issue checking phone number. Please try again later or contact support.":      ErrPhoneCheck,
	"Phone number is not from a valid region":                                      ErrRegionRestricted,
	"Issue detected with phone number. Please try again later or contact support.": ErrPhoneCheck,
	"Phone number has opted out of receiving messages":                             ErrOptedOut,
}

// PhoneLogin checks the code sent to phone. An unknown phone number becomes a
// new account (core does it).
func (c *Client) PhoneLogin(ctx context.Context, ip, phone, code string) (Login, error) {
	const route = "/phone/login"
	a, err := c.post(ctx, route, ip, map[string]string{"phone": phone, "code": code})
	if err != nil {
		return Login{}, err
	}
	if a.status == http.StatusOK {
		// No "result" wrapper on this route.
		var ok loginJSON
		if json.Unmarshal(a.body, &ok) != nil {
			return Login{}, unexpected(route, a, code)
		}
		return ok.login(route, a)
	}
	e, parsed := parseError(a.body)
	if !parsed || e.name != "" {
		return Login{}, unexpected(route, a, code)
	}
	switch a.status {
	case http.StatusBadRequest:
		switch e.text {
		case "invalid code":
			return Login{}, fail(ErrWrongCode, route, a, code)
		case "missing inputs":
			return Login{}, fail(ErrInvalidInput, route, a, code)
		case "invalid phone":
			return Login{}, fail(ErrInvalidPhone, route, a, code)
		}
	case http.StatusUnauthorized:
		switch e.text {
		case textLoginIPLimit:
			return Login{}, limit(LimitIP, blockFailedLoginIP, route, a, code)
		case textLoginPhoneLimit:
			return Login{}, limit(LimitIdentifier, blockHour, route, a, code)
		case textProviderLimit:
			return Login{}, limit(LimitProvider, blockProvider, route, a, code)
		}
		if kind, ok := phoneLoginErrors[e.text]; ok {
			return Login{}, fail(kind, route, a, code)
		}
	}
	return Login{}, unexpected(route, a, code)
}

// The GraphQL documents. getUserId is apps/consent's own query; meQuery adds
// the contact fields of core's public schema (User.email: Email{address,
// verified}, User.phone: Phone).
const (
	meQuery        = `query me { me { id phone email { address verified } } }`
	countriesQuery = `query CountryCodes { globals { supportedCountries { id supportedAuthChannels } } }`
)

type graphqlError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code string `json:"code"`
	} `json:"extensions"`
}

func (c *Client) graphql(ctx context.Context, route, operation, query, authToken string, data any) error {
	return c.graphqlWith(ctx, route, operation, query, map[string]any{}, authToken, data)
}

// graphqlWith sends one GraphQL document. An answer whose data is null
// because core's permission layer refused the bearer token (NOT_AUTHORIZED,
// as a mutation of a non-null payload answers) is ErrSessionRejected.
func (c *Client) graphqlWith(ctx context.Context, route, operation, query string, variables map[string]any, authToken string, data any, secrets ...string) (err error) {
	defer func() { c.noteGraphQL(err) }()
	secrets = append(secrets, authToken)
	payload, err := json.Marshal(map[string]any{"operationName": operation, "query": query, "variables": variables})
	if err != nil {
		return &Error{Kind: ErrUnavailable, detail: detail{Route: route}, cause: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.graphqlURL, bytes.NewReader(payload))
	if err != nil {
		return &Error{Kind: ErrUnavailable, detail: detail{Route: route}, cause: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if authToken != "" {
		req.Header.Set("Authorization", "Bearer "+authToken)
	}
	a, err := c.do(req, route)
	if err != nil {
		return err
	}
	if a.status == http.StatusUnauthorized && authToken != "" {
		// Oathkeeper in front of core refuses an unknown bearer token.
		return fail(ErrSessionRejected, route, a, secrets...)
	}
	if a.status != http.StatusOK {
		return unexpected(route, a, secrets...)
	}
	var resp struct {
		Data   json.RawMessage `json:"data"`
		Errors []graphqlError  `json:"errors"`
	}
	if json.Unmarshal(a.body, &resp) != nil {
		return unexpected(route, a, secrets...)
	}
	if len(resp.Data) == 0 || string(resp.Data) == "null" {
		for _, e := range resp.Errors {
			if authToken != "" && (e.Extensions.Code == "NOT_AUTHORIZED" || e.Message == "Not authorized") {
				return fail(ErrSessionRejected, route, a, secrets...)
			}
		}
		return unexpected(route, a, secrets...)
	}
	if json.Unmarshal(resp.Data, data) != nil {
		return unexpected(route, a, secrets...)
	}
	return nil
}

// Me asks core's GraphQL who authToken belongs to. A token waiting for its
// second factor is refused (ErrSessionRejected) until TOTPValidate succeeds.
func (c *Client) Me(ctx context.Context, authToken string) (Me, error) {
	const route = "graphql me"
	var data struct {
		Me *struct {
			ID    string  `json:"id"`
			Phone *string `json:"phone"`
			Email *struct {
				Address  *string `json:"address"`
				Verified *bool   `json:"verified"`
			} `json:"email"`
		} `json:"me"`
	}
	if err := c.graphql(ctx, route, "me", meQuery, authToken, &data); err != nil {
		return Me{}, err
	}
	if data.Me == nil {
		// {"data":{"me":null},"errors":[…"Not authorized"…]}
		return Me{}, &Error{Kind: ErrSessionRejected, detail: detail{Route: route, Status: http.StatusOK}}
	}
	if !ids.IsUUID(data.Me.ID) {
		return Me{}, &Error{Kind: ErrUnavailable, detail: detail{Route: route, Status: http.StatusOK}, cause: errors.New("me.id is not a UUID")}
	}
	me := Me{ID: data.Me.ID}
	if data.Me.Phone != nil && *data.Me.Phone != "" {
		me.Phone = *data.Me.Phone
		me.PhoneVerified = true
	}
	if e := data.Me.Email; e != nil && e.Address != nil && *e.Address != "" {
		me.Email = *e.Address
		me.EmailVerified = e.Verified != nil && *e.Verified
	}
	return me, nil
}

// SupportedCountries is core's list of countries a phone sign-in may come
// from, with each one's channels.
func (c *Client) SupportedCountries(ctx context.Context) ([]Country, error) {
	const route = "graphql supportedCountries"
	var data struct {
		Globals *struct {
			SupportedCountries []struct {
				ID                    string   `json:"id"`
				SupportedAuthChannels []string `json:"supportedAuthChannels"`
			} `json:"supportedCountries"`
		} `json:"globals"`
	}
	if err := c.graphql(ctx, route, "CountryCodes", countriesQuery, "", &data); err != nil {
		return nil, err
	}
	if data.Globals == nil {
		return nil, &Error{Kind: ErrUnavailable, detail: detail{Route: route, Status: http.StatusOK}, cause: errors.New("no globals")}
	}
	out := make([]Country, 0, len(data.Globals.SupportedCountries))
	for _, sc := range data.Globals.SupportedCountries {
		channels := make([]string, 0, len(sc.SupportedAuthChannels))
		for _, ch := range sc.SupportedAuthChannels {
			channels = append(channels, strings.ToLower(ch))
		}
		out = append(out, Country{ID: strings.ToUpper(sc.ID), Channels: channels})
	}
	return out, nil
}

// Ready reports whether core can sign people in: its /auth routes, which
// every sign-in calls, and its GraphQL (the phone page's countries, the
// account page). The /auth probe is /email/code with no email: core answers
// 422 "Missing input" before any limit, Kratos or message, so nothing is sent
// and nobody's limit is spent (its X-Real-IP is the loopback address). Only
// core's own error answer counts as up: a proxy's 502 or 503, or the 404 of a
// wrong CORE_AUTH_URL, does not, even while GraphQL answers.
func (c *Client) Ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.authURL+"/email/code", strings.NewReader("{}"))
	if err != nil {
		return fmt.Errorf("blink core: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Real-IP", "127.0.0.1")
	a, err := c.do(req, "readiness auth")
	if err != nil {
		return fmt.Errorf("blink core /auth: %w", err)
	}
	if _, isCore := parseError(a.body); a.status < 400 || a.status >= 500 || !isCore {
		return fmt.Errorf("blink core: %w", &Error{Kind: ErrUnavailable, detail: detail{Route: "/email/code", Status: a.status},
			cause: errors.New("an empty /email/code was not refused by core: /auth does not reach core")})
	}
	if _, err := c.SupportedCountries(ctx); err != nil {
		return fmt.Errorf("blink core: %w", err)
	}
	return nil
}
