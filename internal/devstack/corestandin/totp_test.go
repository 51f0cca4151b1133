package corestandin

import (
	"encoding/json"
	"testing"
	"time"
)

// The dashboard's own documents (apps/dashboard/services/graphql/mutations/totp.ts).
const (
	initiateDoc = `mutation UserTotpRegistrationInitiate { userTotpRegistrationInitiate { totpRegistrationId totpSecret errors { code message path } } }`
	validateDoc = `mutation UserTotpRegistrationValidate($input: UserTotpRegistrationValidateInput!) { userTotpRegistrationValidate(input: $input) { errors { code message path } me { id } } }`
	deleteDoc   = `mutation UserTotpDelete { userTotpDelete { errors { code message path } } }`
)

// Enrolling through the mutations makes a real secret: the next sign-in
// needs it (totpRequired) and /totp/validate takes its codes; the delete
// mutation takes it away again. Every answer is pinned byte for byte.
func TestTOTPMutationsWireFormat(t *testing.T) {
	s := start(t)
	id := s.AddIdentity("eva@example.com", "+16505554351")
	auth := s.AuthURL()
	const ip = "192.0.2.5"
	login := func() string {
		t.Helper()
		r := post(t, auth+"/phone/login", ip, `{"phone":"+16505554351","code":"000000"}`)
		var l struct {
			AuthToken    string
			TOTPRequired bool
		}
		json.Unmarshal([]byte(r.body), &l)
		if l.TOTPRequired {
			return "totp:" + l.AuthToken
		}
		return l.AuthToken
	}
	gql := func(tok, query string, variables any) reply {
		body, _ := json.Marshal(map[string]any{"query": query, "variables": variables})
		return post(t, s.GraphQLURL(), "", string(body), "Authorization", "Bearer "+tok)
	}
	tok := login()

	// An unknown token never reaches core: oathkeeper answers 401. Without
	// any token, core's permission layer refuses the mutation.
	expect(t, gql("ory_st_nope", initiateDoc, nil), 401, oathkeeper401)
	expect(t, gql("ory_st_nope", deleteDoc, nil), 401, oathkeeper401)
	anonymous := func(query string) reply {
		body, _ := json.Marshal(map[string]any{"query": query})
		return post(t, s.GraphQLURL(), "", string(body))
	}
	expect(t, anonymous(initiateDoc), 200,
		`{"data":null,"errors":[{"message":"Not authorized","path":["userTotpRegistrationInitiate"],"extensions":{"code":"NOT_AUTHORIZED"}}]}`)
	expect(t, anonymous(deleteDoc), 200,
		`{"data":null,"errors":[{"message":"Not authorized","path":["userTotpDelete"],"extensions":{"code":"NOT_AUTHORIZED"}}]}`)
	expect(t, gql(tok, deleteDoc, nil), 200,
		`{"data":{"userTotpDelete":{"errors":[{"code":"UNEXPECTED_CLIENT_ERROR","message":"Unexpected error occurred, please try again or contact support if it persists (code: UnknownKratosError: Request failed with status code 404)","path":null}]}}}`)

	r := gql(tok, initiateDoc, nil)
	var init struct {
		Data struct {
			P struct {
				ID     string `json:"totpRegistrationId"`
				Secret string `json:"totpSecret"`
			} `json:"userTotpRegistrationInitiate"`
		} `json:"data"`
	}
	json.Unmarshal([]byte(r.body), &init)
	regID, secretB32 := init.Data.P.ID, init.Data.P.Secret
	expect(t, r, 200, `{"data":{"userTotpRegistrationInitiate":{"totpRegistrationId":"`+regID+`","totpSecret":"`+secretB32+`","errors":[]}}}`)
	if !uuidV4.MatchString(regID) || len(secretB32) != 32 {
		t.Fatalf("registration %q secret %q: want a UUID and 32 base32 characters", regID, secretB32)
	}
	secret, err := b32.DecodeString(secretB32)
	if err != nil {
		t.Fatal(err)
	}
	if got := login(); got[:5] == "totp:" {
		t.Fatal("a registration not yet validated made the sign-in ask for TOTP")
	}

	validate := func(tok, regID, code string) reply {
		return gql(tok, validateDoc, map[string]any{"input": map[string]string{"totpCode": code, "totpRegistrationId": regID}})
	}
	right := TOTPCode(secret, time.Now())
	wrong := "000000"
	if right == wrong {
		wrong = "111111"
	}
	expect(t, validate(tok, regID, wrong), 200,
		`{"data":{"userTotpRegistrationValidate":{"errors":[{"code":"BAD_ERROR_CODE","message":"An error occurred. It's likely that the code you entered is not correct","path":null}],"me":null}}}`)
	expect(t, validate(tok, "00000000-0000-4000-8000-000000000000", right), 200,
		`{"data":{"userTotpRegistrationValidate":{"errors":[{"code":"UNEXPECTED_CLIENT_ERROR","message":"Unexpected error occurred, please try again or contact support if it persists (code: UnknownKratosError: Request failed with status code 404)","path":null}],"me":null}}}`)
	// Another account's token cannot use this registration.
	s.AddIdentity("", "+16505554352")
	other := post(t, auth+"/phone/login", ip, `{"phone":"+16505554352","code":"000000"}`)
	var o struct{ AuthToken string }
	json.Unmarshal([]byte(other.body), &o)
	if r := validate(o.AuthToken, regID, right); r.body == `{"data":{"userTotpRegistrationValidate":{"errors":[],"me":{"id":"`+id+`"}}}}` {
		t.Fatal("another account validated this registration")
	}
	expect(t, validate(tok, regID, right), 200, `{"data":{"userTotpRegistrationValidate":{"errors":[],"me":{"id":"`+id+`"}}}}`)
	if got := s.TOTPSecret(id); string(got) != string(secret) {
		t.Fatal("the validated secret is not the account's")
	}
	// The one-factor session no longer authenticates (Kratos: highest
	// available AAL; core validated through a session of its own): oathkeeper
	// refuses it.
	expect(t, gql(tok, initiateDoc, nil), 401, oathkeeper401)

	// The next sign-in needs TOTP, and codes of this secret elevate it.
	tok2 := login()
	if tok2[:5] != "totp:" {
		t.Fatal("the next sign-in did not ask for TOTP")
	}
	tok2 = tok2[5:]
	if r := post(t, auth+"/totp/validate", ip, `{"totpCode":"`+TOTPCode(secret, time.Now())+`","authToken":"`+tok2+`"}`); r.status != 200 {
		t.Fatalf("totp/validate with the enrolled secret: %d %s", r.status, r.body)
	}
	expect(t, gql(tok2, initiateDoc, nil), 200,
		`{"data":{"userTotpRegistrationInitiate":{"totpRegistrationId":null,"totpSecret":null,"errors":[{"code":"TOTP_ACCOUNT_ALREADY_EXISTS_ERROR","message":"TOTP has already been enabled for this account. If you need to reset it, please contact support.","path":null}]}}}`)
	expect(t, gql(tok2, deleteDoc, nil), 200, `{"data":{"userTotpDelete":{"errors":[]}}}`)
	if got := login(); got[:5] == "totp:" {
		t.Fatal("after userTotpDelete the sign-in still asks for TOTP")
	}

	// A registration expires.
	tok3 := login()
	json.Unmarshal([]byte(gql(tok3, initiateDoc, nil).body), &init)
	s.ExpireTOTPRegistrations()
	secret, _ = b32.DecodeString(init.Data.P.Secret)
	expect(t, validate(tok3, init.Data.P.ID, TOTPCode(secret, time.Now())), 200,
		`{"data":{"userTotpRegistrationValidate":{"errors":[{"code":"UNEXPECTED_CLIENT_ERROR","message":"Unexpected error occurred, please try again or contact support if it persists (code: UnknownKratosError: Request failed with status code 410)","path":null}],"me":null}}}`)
}
