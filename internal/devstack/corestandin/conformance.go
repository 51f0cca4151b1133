package corestandin

import (
	"regexp"
	"strings"
	"time"
)

// Case is one request and the answer Blink core gives it, taken from core's
// code (core/api/src/servers/authentication/index.ts, app/authentication/*,
// graphql/error-map.ts, domain/phone-provider/errors.ts, services/twilio-
// service.ts) and from oathkeeper in front of its GraphQL. Conformance is
// the table: the stand-in's tests replay every case against the stand-in
// and require the exact answer, and the client's tests replay every case
// through the client and require the meaning, so a drift on either side
// fails a test.
type Case struct {
	Name string
	// Setup puts the stand-in in the state the case needs and returns the
	// values to put in Body and Header for {name} placeholders; may be nil.
	Setup  func(s *Standin) map[string]string
	Route  string // e.g. /auth/phone/login, /graphql
	IP     string // X-Real-IP; "" sends none
	Header map[string]string
	Body   string
	Status int
	// Answer is the exact body, after the placeholders; when it is a
	// pattern (Pattern true) it must match the whole body.
	Answer  string
	Pattern bool
	// Means is what a client of core must make of the answer: ok,
	// wrong_code, code_expired, invalid_input, invalid_phone, not_mobile,
	// region, opted_out, phone_check, provider_unavailable, captcha,
	// captcha_unchecked, channel, registration, registration_network,
	// session_rejected, unavailable, or limit:<what>:<core's block>.
	Means string
}

// Expand puts the values into s's {name} placeholders.
func Expand(s string, values map[string]string) string {
	for k, v := range values {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

// Matches reports whether body is the case's answer.
func (c Case) Matches(body string, values map[string]string) bool {
	want := Expand(c.Answer, values)
	if !c.Pattern {
		return body == want
	}
	return regexp.MustCompile(`^(?:` + want + `)$`).MatchString(body)
}

const (
	confIP    = "203.0.113.50"
	confPhone = "+16505550101"
)

// issueChallenge is a Geetest challenge as /phone/captcha gives one.
func (s *Standin) issueChallenge() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := randomFrom("0123456789abcdef", 32)
	s.challenges[c] = true
	return c
}

// sendPhoneCode is what /phone/code leaves behind with a provider: code,
// verified against until sentAt plus PhoneCodeLifetime.
func (s *Standin) sendPhoneCode(phone, code string, sentAt time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fixedPhoneCode = ""
	s.pendingPhone[phone] = phoneVerification{code: code, expires: sentAt.Add(PhoneCodeLifetime)}
}

// session signs id in with one factor and returns the token.
func (s *Standin) session(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loginLocked(s.identities[id]).AuthToken
}

// emailFlow starts an email login for email whose Kratos flow has no tries left.
func (s *Standin) spentEmailFlow(email string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := newUUID()
	s.emailFlows[id] = &emailFlow{email: email, code: newCode(), expires: s.now().Add(EmailCodeLifetime), tries: s.limits.EmailCodeTries}
	return id
}

func noLimit(s *Standin, set func(*Limits)) {
	l := DefaultLimits()
	set(&l)
	s.SetLimits(l)
}

func fail(f Failure) func(s *Standin) map[string]string {
	return func(s *Standin) map[string]string { s.FailNext(f); return nil }
}

func failCode(f Failure) func(s *Standin) map[string]string {
	return func(s *Standin) map[string]string {
		s.FailNext(f)
		return map[string]string{"challenge": s.issueChallenge()}
	}
}

const (
	tokenPattern = `ory_st_[A-Za-z0-9]{32}`
	uuidPattern  = `[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`
	phoneBody    = `{"phone":"` + confPhone + `","challengeCode":"{challenge}","validationCode":"v","secCode":"v|jordan","channel":"sms"}`
)

// Conformance is the table of core's answers (see Case). Each case starts
// from a fresh stand-in.
func Conformance() []Case {
	login := func(code string) string { return `{"phone":"` + confPhone + `","code":"` + code + `"}` }
	sent := func(code string, ago time.Duration) func(s *Standin) map[string]string {
		return func(s *Standin) map[string]string { s.sendPhoneCode(confPhone, code, time.Now().Add(-ago)); return nil }
	}
	challenge := func(s *Standin) map[string]string { return map[string]string{"challenge": s.issueChallenge()} }
	limited := func(set func(*Limits)) func(s *Standin) map[string]string {
		return func(s *Standin) map[string]string {
			noLimit(s, set)
			return map[string]string{"challenge": s.issueChallenge()}
		}
	}
	totpSession := func(s *Standin) map[string]string {
		id := s.AddIdentity("", "+16505550199")
		s.EnrolTOTP(id)
		return map[string]string{"token": s.session(id)}
	}
	session := func(s *Standin) map[string]string {
		id := s.AddIdentity("", "+16505550198")
		return map[string]string{"token": s.session(id), "id": id}
	}
	bearer := map[string]string{"Authorization": "Bearer {token}"}
	const me = `{"query":"query me { me { id } }","variables":{}}`
	const oathkeeper = `{"error":{"code":401,"status":"Unauthorized","message":"Access credentials are invalid"}}`
	gone := `{"error":"` + textVerificationGone + `"}`

	return []Case{
		// /phone/login (core: app/authentication/login.ts, error-map.ts)
		{Name: "phone login: the code of a live verification registers", Setup: sent("123456", time.Minute), Route: "/auth/phone/login", IP: confIP, Body: login("123456"),
			Status: 200, Answer: `\{"authToken":"` + tokenPattern + `","totpRequired":false,"id":"` + uuidPattern + `"\}`, Pattern: true, Means: "ok"},
		{Name: "phone login: a wrong code", Setup: sent("123456", time.Minute), Route: "/auth/phone/login", IP: confIP, Body: login("654321"),
			Status: 401, Answer: `{"error":"Invalid or incorrect code entered."}`, Means: "wrong_code"},
		{Name: "phone login: an expired verification (Twilio Verify 404)", Setup: sent("123456", PhoneCodeLifetime), Route: "/auth/phone/login", IP: confIP, Body: login("123456"),
			Status: 401, Answer: gone, Means: "code_expired"},
		{Name: "phone login: no verification (used, or never sent)", Setup: func(s *Standin) map[string]string { s.SetPhoneCode(""); return nil },
			Route: "/auth/phone/login", IP: confIP, Body: login("123456"), Status: 401, Answer: gone, Means: "code_expired"},
		{Name: "phone login: an approved or invalid verification", Setup: fail(FailLoginVerificationApproved), Route: "/auth/phone/login", IP: confIP, Body: login("123456"),
			Status: 401, Answer: `{"error":"Issue detected with verification. Please try again later or contact support."}`, Means: "code_expired"},
		{Name: "phone login: not six digits", Route: "/auth/phone/login", IP: confIP, Body: login("12a456"), Status: 400, Answer: `{"error":"invalid code"}`, Means: "wrong_code"},
		{Name: "phone login: missing inputs", Route: "/auth/phone/login", IP: confIP, Body: `{"phone":"` + confPhone + `"}`, Status: 400, Answer: `{"error":"missing inputs"}`, Means: "invalid_input"},
		{Name: "phone login: not a phone number", Route: "/auth/phone/login", IP: confIP, Body: `{"phone":"+1","code":"123456"}`, Status: 400, Answer: `{"error":"invalid phone"}`, Means: "invalid_phone"},
		{Name: "phone login: failed logins per IP", Setup: limited(func(l *Limits) { l.FailedLoginPerIP.Points = 0 }), Route: "/auth/phone/login", IP: confIP, Body: login("000000"),
			Status: 401, Answer: `{"error":"` + textLoginIPLimit + `"}`, Means: "limit:ip:4h"},
		{Name: "phone login: logins per phone", Setup: limited(func(l *Limits) { l.LoginPerIdentifier.Points = 0 }), Route: "/auth/phone/login", IP: confIP, Body: login("000000"),
			Status: 401, Answer: `{"error":"` + textLoginPhoneLimit + `"}`, Means: "limit:identifier:1h"},
		{Name: "phone login: no new account from this IP", Setup: func(s *Standin) map[string]string { s.DenyOnboardingIP(confIP); return nil }, Route: "/auth/phone/login", IP: confIP, Body: login("000000"),
			Status: 401, Answer: `{"error":"` + textIPNotOnboarding + `"}`, Means: "registration_network"},
		{Name: "phone login: no new account for this number", Setup: func(s *Standin) map[string]string { s.DenyOnboardingPhone(confPhone); return nil }, Route: "/auth/phone/login", IP: confIP, Body: login("000000"),
			Status: 401, Answer: `{"error":"` + textPhoneNotAllowed + `"}`, Means: "registration"},
		{Name: "phone login: phone metadata for onboarding", Setup: fail(FailLoginPhoneMetadata), Route: "/auth/phone/login", IP: confIP, Body: login("000000"),
			Status: 401, Answer: `{"error":"Error fetching phone information."}`, Means: "phone_check"},
		{Name: "phone login: provider unreachable", Setup: fail(FailLoginProviderUnreachable), Route: "/auth/phone/login", IP: confIP, Body: login("000000"),
			Status: 401, Answer: `{"error":"Phone provider temporarily unreachable"}`, Means: "provider_unavailable"},
		{Name: "phone login: provider's limit", Setup: fail(FailLoginProviderRateLimit), Route: "/auth/phone/login", IP: confIP, Body: login("000000"),
			Status: 401, Answer: `{"error":"Too many phone number attempts, please try again in a few minutes."}`, Means: "limit:provider:10m"},
		{Name: "phone login: an unexpected error", Setup: fail(FailLoginUnexpected), Route: "/auth/phone/login", IP: confIP, Body: login("000000"),
			Status: 401, Answer: `{"error":"Unknown error occurred (code: UnknownPhoneProviderServiceError)"}`, Means: "unavailable"},

		// /phone/code (core: app/authentication/request-code.ts)
		{Name: "phone code: sent", Setup: challenge, Route: "/auth/phone/code", IP: confIP, Body: phoneBody, Status: 200, Answer: `{"success":true}`, Means: "ok"},
		{Name: "phone code: a challenge Geetest did not issue", Route: "/auth/phone/code", IP: confIP, Body: Expand(phoneBody, map[string]string{"challenge": "forged"}),
			Status: 400, Answer: `{"error":{"name":"CaptchaUserFailToPassError","level":"info"}}`, Means: "captcha"},
		{Name: "phone code: Geetest unreachable", Setup: failCode(FailCaptchaUnknown), Route: "/auth/phone/code", IP: confIP, Body: phoneBody, Status: 400, Answer: FailCaptchaUnknown.Body, Means: "captcha_unchecked"},
		{Name: "phone code: missing inputs", Route: "/auth/phone/code", IP: confIP, Body: `{"phone":"` + confPhone + `"}`, Status: 400, Answer: `{"error":"missing inputs"}`, Means: "invalid_input"},
		{Name: "phone code: not a phone number", Setup: challenge, Route: "/auth/phone/code", IP: confIP, Body: strings.Replace(phoneBody, confPhone, "+1", 1),
			Status: 400, Answer: `{"error":"invalid phone"}`, Means: "invalid_phone"},
		{Name: "phone code: code requests per IP", Setup: limited(func(l *Limits) { l.CodeRequestPerIP.Points = 0 }), Route: "/auth/phone/code", IP: confIP, Body: phoneBody,
			Status: 400, Answer: `{"error":{"name":"UserCodeAttemptIpRateLimiterExceededError","level":"info"}}`, Means: "limit:ip:1h"},
		{Name: "phone code: code requests per phone", Setup: limited(func(l *Limits) { l.CodeRequestPerIdentifier.Points = 0 }), Route: "/auth/phone/code", IP: confIP, Body: phoneBody,
			Status: 400, Answer: `{"error":{"name":"UserAttemptPhoneIdentifierRateLimiterExceededError","level":"info"}}`, Means: "limit:identifier:1h"},
		{Name: "phone code: telegram is not a code channel", Setup: challenge, Route: "/auth/phone/code", IP: confIP, Body: strings.Replace(phoneBody, `"sms"`, `"telegram"`, 1),
			Status: 400, Answer: `{"error":{"name":"InvalidChannel","level":"info"}}`, Means: "channel"},
		{Name: "phone code: a channel the country does not offer", Setup: challenge, Route: "/auth/phone/code", IP: confIP,
			Body:   strings.Replace(strings.Replace(phoneBody, confPhone, "+442071838750", 1), `"sms"`, `"whatsapp"`, 1),
			Status: 400, Answer: `{"error":{"name":"InvalidChannelForCountry","level":"info"}}`, Means: "channel"},
		{Name: "phone code: InvalidPhoneNumber", Setup: failCode(FailInvalidPhoneNumber), Route: "/auth/phone/code", IP: confIP, Body: phoneBody, Status: 400, Answer: FailInvalidPhoneNumber.Body, Means: "invalid_phone"},
		{Name: "phone code: provider unavailable", Setup: failCode(FailProviderUnavailable), Route: "/auth/phone/code", IP: confIP, Body: phoneBody, Status: 400,
			Answer: `{"error":{"name":"PhoneProviderUnavailableError","level":"critical"}}`, Means: "provider_unavailable"},
		{Name: "phone code: provider connection", Setup: failCode(FailProviderConnection), Route: "/auth/phone/code", IP: confIP, Body: phoneBody, Status: 400,
			Answer: `{"error":{"name":"PhoneProviderConnectionError","level":"warn"}}`, Means: "provider_unavailable"},
		{Name: "phone code: provider unknown error", Setup: failCode(FailProviderUnknown), Route: "/auth/phone/code", IP: confIP, Body: phoneBody, Status: 400, Answer: FailProviderUnknown.Body, Means: "provider_unavailable"},
		{Name: "phone code: provider's limit", Setup: failCode(FailProviderRateLimit), Route: "/auth/phone/code", IP: confIP, Body: phoneBody, Status: 400, Answer: FailProviderRateLimit.Body, Means: "limit:provider:10m"},
		{Name: "phone code: provider: invalid number", Setup: failCode(FailProviderInvalidNumber), Route: "/auth/phone/code", IP: confIP, Body: phoneBody, Status: 400, Answer: FailProviderInvalidNumber.Body, Means: "invalid_phone"},
		{Name: "phone code: provider: not a mobile", Setup: failCode(FailProviderNotMobile), Route: "/auth/phone/code", IP: confIP, Body: phoneBody, Status: 400, Answer: FailProviderNotMobile.Body, Means: "not_mobile"},
		{Name: "phone code: provider: type unknown", Setup: failCode(FailProviderMissingType), Route: "/auth/phone/code", IP: confIP, Body: phoneBody, Status: 400, Answer: FailProviderMissingType.Body, Means: "phone_check"},
		{Name: "phone code: provider: region", Setup: failCode(FailProviderRestrictedRegion), Route: "/auth/phone/code", IP: confIP, Body: phoneBody, Status: 400, Answer: FailProviderRestrictedRegion.Body, Means: "region"},
		{Name: "phone code: provider: opted out", Setup: failCode(FailProviderUnsubscribed), Route: "/auth/phone/code", IP: confIP, Body: phoneBody, Status: 400, Answer: FailProviderUnsubscribed.Body, Means: "opted_out"},
		{Name: "phone code: provider: fraud block", Setup: failCode(FailProviderRestrictedNumber), Route: "/auth/phone/code", IP: confIP, Body: phoneBody, Status: 400, Answer: FailProviderRestrictedNumber.Body, Means: "phone_check"},
		{Name: "phone code: not implemented (core's configuration)", Setup: failCode(FailCodeRouteNotImplemented), Route: "/auth/phone/code", IP: confIP, Body: phoneBody, Status: 400, Answer: FailCodeRouteNotImplemented.Body, Means: "unavailable"},

		// /email/* (core: servers/authentication/index.ts)
		{Name: "email code: a limit", Setup: limited(func(l *Limits) { l.CodeRequestPerIP.Points = 0 }), Route: "/auth/email/code", IP: confIP, Body: `{"email":"conf@example.com"}`,
			Status: 400, Answer: `{"error":"Unknown error"}`, Means: "limit::1h"},
		{Name: "email code: a throw", Setup: fail(FailEmailCodeThrow), Route: "/auth/email/code", IP: confIP, Body: `{"email":"conf@example.com"}`, Status: 500, Answer: FailEmailCodeThrow.Body, Means: "unavailable"},
		{Name: "email login: the flow's tries are spent", Setup: func(s *Standin) map[string]string {
			s.AddIdentity("conf@example.com", "")
			return map[string]string{"flow": s.spentEmailFlow("conf@example.com")}
		}, Route: "/auth/email/login", IP: confIP, Body: `{"emailLoginId":"{flow}","code":"123456"}`, Status: 429, Answer: `{"error":"too many requests"}`, Means: "limit::4h"},
		{Name: "email login: an unknown or expired flow", Route: "/auth/email/login", IP: confIP, Body: `{"emailLoginId":"00000000-0000-4000-8000-000000000000","code":"123456"}`,
			Status: 400, Answer: `{"error":"Unknown error"}`, Means: "code_expired"},
		{Name: "no X-Real-IP", Route: "/auth/phone/login", Body: login("123456"), Status: 400, Answer: `{"error":"IP is not defined"}`, Means: "unavailable"},

		// GraphQL through oathkeeper (charts: the bearer_token rule, Kratos whoami with required_aal highest_available)
		{Name: "graphql: a signed-in token", Setup: session, Route: "/graphql", Header: bearer, Body: me, Status: 200, Answer: `{"data":{"me":{"id":"{id}"}}}`, Means: "ok"},
		{Name: "graphql: an unknown token", Setup: func(*Standin) map[string]string {
			return map[string]string{"token": "ory_st_" + strings.Repeat("x", 32)}
		},
			Route: "/graphql", Header: bearer, Body: me, Status: 401, Answer: oathkeeper, Means: "session_rejected"},
		{Name: "graphql: a token waiting for its second factor", Setup: totpSession, Route: "/graphql", Header: bearer, Body: me, Status: 401, Answer: oathkeeper, Means: "session_rejected"},
		{Name: "graphql: core down behind oathkeeper", Setup: func(s *Standin) map[string]string { m := session(s); s.FailNext(FailGraphQLUpstream); return m },
			Route: "/graphql", Header: bearer, Body: me, Status: 502, Answer: FailGraphQLUpstream.Body, Means: "unavailable"},
	}
}
