package corestandin

import (
	"crypto/rand"
	"net/http"
	"regexp"
	"slices"
	"time"
)

// Two-step sign-in from an account page: core's userTotpRegistrationInitiate,
// userTotpRegistrationValidate and userTotpDelete (public schema at
// 977c6647), authenticated by the Bearer token alone, each payload with its
// errors array of {code, message, path}. Core keeps a pending registration
// as a Kratos settings flow; here it is a map entry with the same lifetime.

// RegistrationLifetime is how long a TOTP registration waits for its code
// (Kratos' default settings flow lifespan).
const RegistrationLifetime = time.Hour

// Core's answers for the TOTP mutations (graphql/error.ts, error-map.ts).
const (
	codeBadCode          = "BAD_ERROR_CODE"
	textBadCode          = "An error occurred. It's likely that the code you entered is not correct"
	codeTOTPExists       = "TOTP_ACCOUNT_ALREADY_EXISTS_ERROR"
	textTOTPExists       = "TOTP has already been enabled for this account. If you need to reset it, please contact support."
	codeUnexpectedClient = "UNEXPECTED_CLIENT_ERROR"
)

// kratosFailure is core's text for a Kratos answer it does not map.
func kratosFailure(status string) string {
	return "Unexpected error occurred, please try again or contact support if it persists (code: UnknownKratosError: Request failed with status code " + status + ")"
}

type registration struct {
	identityID string
	secret     []byte
	expires    time.Time
}

// ExpireTOTPRegistrations makes every pending registration expired, as
// Kratos' settings flows are after their lifespan.
func (s *Standin) ExpireTOTPRegistrations() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.registrations {
		r.expires = s.now().Add(-time.Second)
	}
}

// TOTPSecret is the account's authenticator secret, nil when it has none.
func (s *Standin) TOTPSecret(id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ident := s.identities[id]; ident != nil {
		return append([]byte(nil), ident.totpSecret...)
	}
	return nil
}

// notAuthorized is graphql-shield's refusal of a mutation field: its payload
// is non-null, so data is null.
func notAuthorized(w http.ResponseWriter, field string) {
	writeJSON(w, http.StatusOK, obj{{"data", nil}, {"errors", []obj{{
		{"message", "Not authorized"},
		{"path", []string{field}},
		{"extensions", obj{{"code", "NOT_AUTHORIZED"}}},
	}}}})
}

// selected keeps the fields the query names, in the order it names them, as
// a GraphQL server answers (it reads the query loosely, by field names).
func selected(query string, fields ...kv) obj {
	type at struct {
		i int
		kv
	}
	var found []at
	for _, f := range fields {
		if loc := regexp.MustCompile(`\b` + f.key + `\b`).FindStringIndex(query); loc != nil {
			found = append(found, at{loc[0], f})
		}
	}
	slices.SortStableFunc(found, func(a, b at) int { return a.i - b.i })
	out := make(obj, 0, len(found))
	for _, f := range found {
		out = append(out, f.kv)
	}
	return out
}

// payloadError is the payload's errors array with core's one Error.
func payloadError(query, code, message string) []obj {
	return []obj{selected(query, kv{"code", code}, kv{"message", message}, kv{"path", nil})}
}

// meSelection is the User a payload's `me { … }` asks for.
func meSelection(id *identity, query string) any {
	return selected(query, kv{"id", id.id}, kv{"totpEnabled", id.totpSecret != nil})
}

func (s *Standin) totpInitiate(w http.ResponseWriter, r *http.Request, query string) {
	const field = "userTotpRegistrationInitiate"
	s.mu.Lock()
	id := s.authenticatedLocked(r)
	if id == nil {
		s.mu.Unlock()
		notAuthorized(w, field)
		return
	}
	if id.totpSecret != nil {
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, obj{{"data", obj{{field, selected(query,
			kv{"totpRegistrationId", nil}, kv{"totpSecret", nil}, kv{"errors", payloadError(query, codeTOTPExists, textTOTPExists)})}}}})
		return
	}
	secret := make([]byte, 20)
	rand.Read(secret)
	regID := newUUID()
	s.registrations[regID] = &registration{identityID: id.id, secret: secret, expires: s.now().Add(RegistrationLifetime)}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, obj{{"data", obj{{field, selected(query,
		kv{"totpRegistrationId", regID}, kv{"totpSecret", b32.EncodeToString(secret)}, kv{"errors", []obj{}})}}}})
}

func (s *Standin) totpRegistrationValidate(w http.ResponseWriter, r *http.Request, query string, variables map[string]any) {
	const field = "userTotpRegistrationValidate"
	input, _ := variables["input"].(map[string]any)
	code, _ := input["totpCode"].(string)
	regID, _ := input["totpRegistrationId"].(string)
	if code == "" || regID == "" {
		writeJSON(w, http.StatusBadRequest, obj{{"errors", []obj{{
			{"message", `Variable "$input" got invalid value; Field "totpCode" and "totpRegistrationId" of required type were not provided.`},
			{"extensions", obj{{"code", "BAD_USER_INPUT"}}},
		}}}})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.authenticatedLocked(r)
	if id == nil {
		notAuthorized(w, field)
		return
	}
	answer := func(errs []obj) {
		writeJSON(w, http.StatusOK, obj{{"data", obj{{field, selected(query, kv{"errors", errs}, kv{"me", nil})}}}})
	}
	reg := s.registrations[regID]
	now := s.now()
	switch {
	case reg == nil || reg.identityID != id.id:
		// Kratos knows no such settings flow for this identity.
		answer(payloadError(query, codeUnexpectedClient, kratosFailure("404")))
		return
	case !now.Before(reg.expires):
		answer(payloadError(query, codeUnexpectedClient, kratosFailure("410")))
		return
	case id.totpSecret != nil, !validTOTP(code, reg.secret, now):
		answer(payloadError(query, codeBadCode, textBadCode))
		return
	}
	id.totpSecret = reg.secret
	delete(s.registrations, regID)
	// Without input.authToken (our client never sends it) core validates
	// through a Kratos session of its own, then logs it out
	// (app/authentication/totp.ts): the Bearer's session is not elevated,
	// and from now on oathkeeper refuses it (highest available AAL).
	writeJSON(w, http.StatusOK, obj{{"data", obj{{field, selected(query, kv{"errors", []obj{}}, kv{"me", meSelection(id, query)})}}}})
}

func (s *Standin) totpDelete(w http.ResponseWriter, r *http.Request, query string) {
	const field = "userTotpDelete"
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.authenticatedLocked(r)
	if id == nil {
		notAuthorized(w, field)
		return
	}
	if id.totpSecret == nil {
		// Kratos' admin API has no TOTP credential to delete.
		writeJSON(w, http.StatusOK, obj{{"data", obj{{field, selected(query, kv{"errors", payloadError(query, codeUnexpectedClient, kratosFailure("404"))}, kv{"me", nil})}}}})
		return
	}
	id.totpSecret = nil
	writeJSON(w, http.StatusOK, obj{{"data", obj{{field, selected(query, kv{"errors", []obj{}}, kv{"me", meSelection(id, query)})}}}})
}
