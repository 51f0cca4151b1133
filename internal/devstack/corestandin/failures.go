package corestandin

import (
	"net/http"
	"strings"
)

// Failure is an answer core gives when something behind it refuses or
// breaks: its SMS provider, Geetest, an onboarding check, a limit, a throw.
// FailNext makes a route give one, so every answer core can give can be
// tried through the stand-in.
type Failure struct {
	// Route is the path it answers, e.g. /auth/phone/code or /graphql.
	Route  string
	Status int
	// Body is the answer exactly as core writes it.
	Body string
}

func (f Failure) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(f.Status)
	w.Write([]byte(f.Body))
}

// FailNext makes the next request to f.Route answer f, once: after the IP
// check (every /auth route checks X-Real-IP first) and before the route's own
// work, so nothing changes in the stand-in.
func (s *Standin) FailNext(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext[f.Route] = f
}

func (s *Standin) takeFailure(path string) (Failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.failNext[path]
	if ok {
		delete(s.failNext, path)
	}
	return f, ok
}

// codeFailure is /phone/code's answer to a DomainError: 400 and the error
// serialized, its name then its level (core/api/src/domain/shared/errors.ts:
// info unless the class says otherwise).
func codeFailure(name, level string) Failure {
	return Failure{Route: "/auth/phone/code", Status: http.StatusBadRequest,
		Body: `{"error":{"name":"` + name + `","level":"` + level + `"}}`}
}

// loginFailure is /phone/login's answer to an error: 401 and the text core's
// error map gives it (core/api/src/graphql/error-map.ts, error.ts).
func loginFailure(text string) Failure {
	return Failure{Route: "/auth/phone/login", Status: http.StatusUnauthorized,
		Body: `{"error":"` + strings.ReplaceAll(text, `"`, `\"`) + `"}`}
}

// The failures core answers that the stand-in does not produce by itself.
// /phone/code: core/api/src/domain/phone-provider/errors.ts as
// services/twilio-service.ts raises them, and Geetest's.
var (
	FailCaptchaUnknown            = codeFailure("UnknownCaptchaError", "info")
	FailInvalidPhoneNumber        = codeFailure("InvalidPhoneNumber", "info")
	FailProviderUnavailable       = codeFailure("PhoneProviderUnavailableError", "critical")
	FailProviderConnection        = codeFailure("PhoneProviderConnectionError", "warn")
	FailProviderUnknown           = codeFailure("UnknownPhoneProviderServiceError", "critical")
	FailProviderRateLimit         = codeFailure("PhoneProviderRateLimitExceededError", "info")
	FailProviderInvalidNumber     = codeFailure("InvalidPhoneNumberPhoneProviderError", "info")
	FailProviderNotMobile         = codeFailure("InvalidTypePhoneProviderError", "info")
	FailProviderMissingType       = codeFailure("MissingTypePhoneProviderError", "critical")
	FailProviderRestrictedRegion  = codeFailure("RestrictedRegionPhoneProviderError", "info")
	FailProviderUnsubscribed      = codeFailure("UnsubscribedRecipientPhoneProviderError", "info")
	FailProviderRestrictedNumber  = codeFailure("RestrictedRecipientPhoneNumberError", "info")
	FailCodeRouteNotImplemented   = codeFailure("NotImplementedError", "info")
	FailLoginProviderUnreachable  = loginFailure("Phone provider temporarily unreachable")
	FailLoginProviderRateLimit    = loginFailure("Too many phone number attempts, please try again in a few minutes.")
	FailLoginVerificationApproved = loginFailure("Issue detected with verification. Please try again later or contact support.")
	FailLoginPhoneMetadata        = loginFailure("Error fetching phone information.")
	FailLoginUnexpected           = loginFailure("Unknown error occurred (code: UnknownPhoneProviderServiceError)")
	// A throw inside /email/code: Express answers 500 with the message.
	FailEmailCodeThrow = Failure{Route: "/auth/email/code", Status: http.StatusInternalServerError, Body: `{"error":"connect ECONNREFUSED 10.0.0.7:4433"}`}
	// Oathkeeper with core down behind it.
	FailGraphQLUpstream = Failure{Route: "/graphql", Status: http.StatusBadGateway, Body: `{"error":{"code":502,"status":"Bad Gateway","message":"An upstream server failed"}}`}
)
