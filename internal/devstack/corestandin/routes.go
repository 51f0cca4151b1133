package corestandin

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Core's texts (core/api/src/servers/authentication/index.ts and
// core/api/src/graphql/error-map.ts).
const (
	textIPNotDefined     = "IP is not defined"
	textMissingInput     = "Missing input"
	textUnknown          = "Unknown error"
	textInvalidCode      = "invalid code"
	textTooMany          = "too many requests"
	textBadToken         = "Invalid value for AuthToken"
	textKratos400        = "Request failed with status code 400"
	textKratos401        = "Request failed with status code 401"
	textMissingInputs    = "missing inputs"
	textInvalidPhone     = "invalid phone"
	textWrongPhoneCode   = "Invalid or incorrect code entered."
	textVerificationGone = "Invalid or incorrect phone entered."
	textLoginIPLimit     = "Too many login attempts on same network, please wait for a while and try again."
	textLoginPhoneLimit  = "Too many login attempts, please wait for a while and try again."
	textIPNotOnboarding  = "This IP address is not allowed to onboard."
	textPhoneNotAllowed  = "This phone number is not allowed to onboard."
	nameCaptchaFailed    = "CaptchaUserFailToPassError"
	nameCodeIPLimit      = "UserCodeAttemptIpRateLimiterExceededError"
	nameCodePhoneLimit   = "UserAttemptPhoneIdentifierRateLimiterExceededError"
	nameInvalidChannel   = "InvalidChannel"
	nameChannelNotOffers = "InvalidChannelForCountry"
)

// Limiter key prefixes: routes that share a limiter in core share a prefix here.
const (
	keyCodeIP  = "request_code_attempt_ip:"
	keyCodeID  = "request_code_attempt_id:"
	keyLoginIP = "login_attempt_ip:"
	keyLoginID = "login_attempt_id:"
)

var (
	emailPattern    = regexp.MustCompile(`^[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$`)
	sixDigits       = regexp.MustCompile(`^[0-9]{6}$`)
	sixDigitsPrefix = regexp.MustCompile(`^[0-9]{6}`) // /phone/login's check has no $
)

func normalizePhone(s string) (string, bool) {
	if !strings.HasPrefix(s, "+") {
		return "", false
	}
	n, err := phonenumbers.Parse(s, "")
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", false
	}
	return phonenumbers.Format(n, phonenumbers.E164), true
}

func (s *Standin) emailCode(w http.ResponseWriter, ip string, body map[string]string) {
	raw := body["email"]
	if raw == "" {
		errorS(w, http.StatusUnprocessableEntity, textMissingInput)
		return
	}
	if !emailPattern.MatchString(raw) {
		// core's InvalidEmailAddress carries the address as its message
		errorS(w, http.StatusUnprocessableEntity, raw)
		return
	}
	email := strings.ToLower(raw)

	s.mu.Lock()
	now := s.now()
	if !s.counters.consume(s.limits.CodeRequestPerIP, keyCodeIP+ip, now) ||
		!s.counters.consume(s.limits.CodeRequestPerIdentifier, keyCodeID+email, now) {
		s.mu.Unlock()
		errorS(w, http.StatusBadRequest, textUnknown)
		return
	}
	flowID, code := newUUID(), newCode()
	s.emailFlows[flowID] = &emailFlow{email: email, code: code, expires: now.Add(EmailCodeLifetime)}
	s.lastCode[email] = code
	_, known := s.byEmail[email]
	s.mu.Unlock()

	if known {
		s.send("email", email, "Your Blink sign-in code is "+code)
	} else {
		// Kratos mails unknown addresses a notice, never a working code.
		s.send("email", email, "Someone tried to sign in to Blink with this address, which has no account.")
	}
	writeJSON(w, http.StatusOK, map[string]string{"result": flowID})
}

type loginResult struct {
	AuthToken    string `json:"authToken"`
	TOTPRequired bool   `json:"totpRequired"`
	ID           string `json:"id,omitempty"` // absent when TOTP is required, as in core
}

// loginLocked issues a session for an identity.
// phoneAccountLocked is the account a verified phone signs in to, as both
// /phone/login and /telegram-passport/login find it: the phone's own, or a new
// one unless core refuses to onboard the network or the phone, which it then
// answers (false).
func (s *Standin) phoneAccountLocked(w http.ResponseWriter, ip, phone string) (*identity, bool) {
	if id := s.byPhone[phone]; id != nil {
		return id, true
	}
	switch {
	case s.deniedIPs[ip]:
		errorS(w, http.StatusUnauthorized, textIPNotOnboarding)
		return nil, false
	case s.deniedPhones[phone]:
		errorS(w, http.StatusUnauthorized, textPhoneNotAllowed)
		return nil, false
	}
	id := &identity{id: newUUID(), phone: phone}
	s.addLocked(id)
	return id, true
}

func (s *Standin) loginLocked(id *identity) loginResult {
	token := newToken()
	s.sessions[token] = &session{identityID: id.id}
	if id.totpSecret != nil {
		return loginResult{AuthToken: token, TOTPRequired: true}
	}
	return loginResult{AuthToken: token, ID: id.id}
}

func (s *Standin) emailLogin(w http.ResponseWriter, ip string, body map[string]string) {
	flowID, code := body["emailLoginId"], body["code"]
	if flowID == "" {
		errorS(w, http.StatusUnprocessableEntity, textMissingInput)
		return
	}
	if !isUUID(flowID) {
		errorS(w, http.StatusUnprocessableEntity, flowID)
		return
	}
	if code == "" {
		errorS(w, http.StatusUnprocessableEntity, textMissingInput)
		return
	}
	if !sixDigits.MatchString(code) {
		errorS(w, http.StatusUnprocessableEntity, textUnknown)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if !s.counters.consume(s.limits.FailedLoginPerIP, keyLoginIP+ip, now) {
		errorS(w, http.StatusTooManyRequests, textTooMany)
		return
	}
	flow := s.emailFlows[flowID]
	switch {
	case flow == nil || !now.Before(flow.expires):
		errorS(w, http.StatusBadRequest, textUnknown)
		return
	case flow.tries >= s.limits.EmailCodeTries:
		errorS(w, http.StatusTooManyRequests, textTooMany)
		return
	}
	flow.tries++
	id := s.byEmail[flow.email]
	if flow.used || code != flow.code || id == nil {
		errorS(w, http.StatusUnauthorized, textInvalidCode)
		return
	}
	if !id.emailVerified {
		errorS(w, http.StatusBadRequest, textUnknown)
		return
	}
	flow.used = true
	s.counters.reward(keyLoginIP + ip)
	writeJSON(w, http.StatusOK, map[string]any{"result": s.loginLocked(id)})
}

func (s *Standin) totpValidate(w http.ResponseWriter, ip string, body map[string]string) {
	code, token := body["totpCode"], body["authToken"]
	if code == "" {
		errorS(w, http.StatusUnprocessableEntity, textMissingInput)
		return
	}
	if len(code) != 6 {
		errorS(w, http.StatusUnprocessableEntity, code)
		return
	}
	if token == "" {
		errorS(w, http.StatusUnprocessableEntity, textMissingInput)
		return
	}
	if len(token) != 32 && len(token) != 39 {
		errorS(w, http.StatusUnprocessableEntity, textBadToken)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	hashed := sha256.Sum256([]byte(token))
	if !s.counters.consume(s.limits.LoginPerIdentifier, keyLoginID+hex.EncodeToString(hashed[:]), now) {
		errorS(w, http.StatusBadRequest, textUnknown)
		return
	}
	sess := s.sessions[token]
	if sess == nil {
		errorS(w, http.StatusInternalServerError, textKratos401)
		return
	}
	id := s.identities[sess.identityID]
	if id == nil || id.totpSecret == nil || !validTOTP(code, id.totpSecret, now) {
		errorS(w, http.StatusBadRequest, textKratos400)
		return
	}
	sess.elevated = true
	w.WriteHeader(http.StatusOK)
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func totpOpts() totp.ValidateOpts {
	return totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
}

func validTOTP(code string, secret []byte, now time.Time) bool {
	ok, err := totp.ValidateCustom(code, b32.EncodeToString(secret), now, totpOpts())
	return err == nil && ok
}

// TOTPCode is the authenticator code for secret at t, for tests.
func TOTPCode(secret []byte, t time.Time) string {
	code, err := totp.GenerateCodeCustom(b32.EncodeToString(secret), t, totpOpts())
	if err != nil {
		panic(err)
	}
	return code
}

func (s *Standin) phoneCaptcha(w http.ResponseWriter, ip string, body map[string]string) {
	challenge := randomFrom("0123456789abcdef", 32)
	s.mu.Lock()
	s.challenges[challenge] = true
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, obj{{"result", obj{
		{"id", GeetestID}, {"challengeCode", challenge}, {"newCaptcha", true}, {"failbackMode", false},
	}}})
}

func (s *Standin) phoneCode(w http.ResponseWriter, ip string, body map[string]string) {
	raw, challenge, validate, seccode := body["phone"], body["challengeCode"], body["validationCode"], body["secCode"]
	if raw == "" || challenge == "" || validate == "" || seccode == "" {
		errorS(w, http.StatusBadRequest, textMissingInputs)
		return
	}
	phone, ok := normalizePhone(raw)
	if !ok {
		errorS(w, http.StatusBadRequest, textInvalidPhone)
		return
	}

	s.mu.Lock()
	now := s.now()
	issued := s.challenges[challenge]
	// Geetest validates a challenge once.
	delete(s.challenges, challenge)
	fail := ""
	switch {
	case !issued, s.strictGeetest && (validate != geetestValidate(challenge) || seccode != geetestValidate(challenge)+"|jordan"):
		fail = nameCaptchaFailed
	case !s.counters.consume(s.limits.CodeRequestPerIP, keyCodeIP+ip, now):
		fail = nameCodeIPLimit
	case !s.counters.consume(s.limits.CodeRequestPerIdentifier, keyCodeID+phone, now):
		fail = nameCodePhoneLimit
	default:
		fail = s.checkChannelLocked(phone, body["channel"])
	}
	if fail != "" {
		s.mu.Unlock()
		errorO(w, fail)
		return
	}
	code := s.fixedPhoneCode
	if code == "" {
		// A new verification replaces the number's earlier one, as Twilio
		// Verify's does, and lives PhoneCodeLifetime.
		code = newCode()
		s.pendingPhone[phone] = phoneVerification{code: code, expires: now.Add(PhoneCodeLifetime)}
	}
	s.lastCode[phone] = code
	s.mu.Unlock()

	s.send(strings.ToLower(body["channel"]), phone, "Your Blink code is "+code)
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

func (s *Standin) checkChannelLocked(phone, channel string) string {
	ch := strings.ToUpper(channel)
	if ch == "" {
		ch = "SMS"
	}
	if ch != "SMS" && ch != "WHATSAPP" {
		// telegram included: it has its own flow
		return nameInvalidChannel
	}
	n, err := phonenumbers.Parse(phone, "")
	if err != nil {
		return nameChannelNotOffers
	}
	region := phonenumbers.GetRegionCodeForNumber(n)
	for _, c := range s.countries {
		if strings.EqualFold(c.ID, region) && slices.Contains(c.Channels, ch) {
			return ""
		}
	}
	return nameChannelNotOffers
}

func (s *Standin) phoneLogin(w http.ResponseWriter, ip string, body map[string]string) {
	raw, code := body["phone"], body["code"]
	if raw == "" || code == "" {
		errorS(w, http.StatusBadRequest, textMissingInputs)
		return
	}
	if !sixDigitsPrefix.MatchString(code) {
		errorS(w, http.StatusBadRequest, textInvalidCode)
		return
	}
	phone, ok := normalizePhone(raw)
	if !ok {
		errorS(w, http.StatusBadRequest, textInvalidPhone)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if !s.counters.consume(s.limits.FailedLoginPerIP, keyLoginIP+ip, now) {
		errorS(w, http.StatusUnauthorized, textLoginIPLimit)
		return
	}
	if !s.counters.consume(s.limits.LoginPerIdentifier, keyLoginID+phone, now) {
		errorS(w, http.StatusUnauthorized, textLoginPhoneLimit)
		return
	}
	if s.fixedPhoneCode != "" {
		// core's UNSECURE_DEFAULT_LOGIN_CODE: no provider, nothing expires
		if code != s.fixedPhoneCode {
			errorS(w, http.StatusUnauthorized, textWrongPhoneCode)
			return
		}
	} else {
		v, sent := s.pendingPhone[phone]
		switch {
		case !sent || !now.Before(v.expires):
			// Twilio Verify answers 404 for a verification that expired,
			// was approved already or never existed; core maps it to
			// ExpiredOrNonExistentPhoneNumberError.
			delete(s.pendingPhone, phone)
			errorS(w, http.StatusUnauthorized, textVerificationGone)
			return
		case code != v.code:
			errorS(w, http.StatusUnauthorized, textWrongPhoneCode)
			return
		}
		// approved: gone for any later check
		delete(s.pendingPhone, phone)
	}
	s.counters.reward(keyLoginIP + ip)
	id, ok := s.phoneAccountLocked(w, ip, phone)
	if !ok {
		return
	}
	// No "result" wrapper on this route.
	writeJSON(w, http.StatusOK, s.loginLocked(id))
}

var (
	meField     = regexp.MustCompile(`\bme\b`)
	phoneField  = regexp.MustCompile(`\bphone\b`)
	emailField  = regexp.MustCompile(`\bemail\b`)
	totpField   = regexp.MustCompile(`\btotpEnabled\b`)
	notAuthJSON = []obj{{
		{"message", "Not authorized"},
		{"path", []string{"me"}},
		{"extensions", obj{{"code", "NOT_AUTHORIZED"}}},
	}}
)

// graphql answers the two documents a sign-in sends; it reads the selection
// loosely (which field names occur) rather than parsing GraphQL.
func (s *Standin) graphql(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if f, ok := s.takeFailure(r.URL.Path); ok {
		f.write(w)
		return
	}
	if _, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); bearer {
		s.mu.Lock()
		passed := s.authenticatedLocked(r) != nil
		s.mu.Unlock()
		if !passed {
			// Blink's oathkeeper checks a Bearer token with Kratos whoami
			// (required_aal highest_available) before core sees the
			// request: an unknown, expired or not-yet-elevated token gets
			// its 401, never a GraphQL answer.
			oathkeeperUnauthorized(w)
			return
		}
	}
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if err := decodeJSON(w, r, &req); err != nil || req.Query == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": []map[string]string{{"message": "Must provide query string."}}})
		return
	}
	switch {
	case strings.Contains(req.Query, "userTotpRegistrationInitiate"):
		s.totpInitiate(w, r, req.Query)
	case strings.Contains(req.Query, "userTotpRegistrationValidate"):
		s.totpRegistrationValidate(w, r, req.Query, req.Variables)
	case strings.Contains(req.Query, "userTotpDelete"):
		s.totpDelete(w, r, req.Query)
	case strings.Contains(req.Query, "supportedCountries"):
		s.mu.Lock()
		list := make([]obj, 0, len(s.countries))
		for _, c := range s.countries {
			list = append(list, obj{{"id", c.ID}, {"supportedAuthChannels", c.Channels}})
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, obj{{"data", obj{{"globals", obj{{"supportedCountries", list}}}}}})
	case meField.MatchString(req.Query):
		me := s.me(r, req.Query)
		if me == nil {
			writeJSON(w, http.StatusOK, obj{{"data", obj{{"me", nil}}}, {"errors", notAuthJSON}})
			return
		}
		writeJSON(w, http.StatusOK, obj{{"data", obj{{"me", me}}}})
	default:
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": []map[string]string{{"message": "the stand-in answers only me, globals.supportedCountries and the three TOTP mutations"}}})
	}
}

// oathkeeperUnauthorized is oathkeeper's JSON error answer to a request its
// bearer_token authenticator refused.
func oathkeeperUnauthorized(w http.ResponseWriter) {
	writeJSON(w, http.StatusUnauthorized, obj{{"error", obj{
		{"code", 401}, {"status", "Unauthorized"}, {"message", "Access credentials are invalid"},
	}}})
}

// authenticatedLocked is the identity of the request's Bearer token when
// that session has passed every factor its account has (Kratos whoami with
// required_aal highest_available), else nil. An account that gains an
// authenticator therefore stops being served to its one-factor sessions.
func (s *Standin) authenticatedLocked(r *http.Request) *identity {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil
	}
	sess := s.sessions[token]
	if sess == nil {
		return nil
	}
	id := s.identities[sess.identityID]
	if id == nil || (id.totpSecret != nil && !sess.elevated) {
		return nil
	}
	return id
}

// me is the selection for a Bearer token that has passed every factor its
// account has (Kratos whoami with required_aal highest_available), else nil.
func (s *Standin) me(r *http.Request, query string) obj {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.authenticatedLocked(r)
	if id == nil {
		return nil
	}
	// fields in the order the query names them, as a GraphQL server answers
	type field struct {
		at int
		kv
	}
	fields := []field{{meField.FindStringIndex(query)[0], kv{"id", id.id}}}
	if at := phoneField.FindStringIndex(query); at != nil {
		fields = append(fields, field{at[0], kv{"phone", nullable(id.phone)}})
	}
	if at := emailField.FindStringIndex(query); at != nil {
		var email any
		if id.email != "" {
			email = obj{{"address", id.email}, {"verified", id.emailVerified}}
		}
		fields = append(fields, field{at[0], kv{"email", email}})
	}
	if at := totpField.FindStringIndex(query); at != nil {
		fields = append(fields, field{at[0], kv{"totpEnabled", id.totpSecret != nil}})
	}
	slices.SortStableFunc(fields, func(a, b field) int { return a.at - b.at })
	me := make(obj, 0, len(fields))
	for _, f := range fields {
		me = append(me, f.kv)
	}
	return me
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
