package blinkcore

import (
	"context"
	"strings"
	"testing"
)

// Core's answers to the TOTP mutations and me.totpEnabled, and the typed
// error each becomes; the token goes as a Bearer header only, and neither
// token nor code is ever part of an error.

const (
	notAuthorized = `{"data":null,"errors":[{"message":"Not authorized","path":["x"],"extensions":{"code":"NOT_AUTHORIZED"}}]}`
	kratos410     = `Unexpected error occurred, please try again or contact support if it persists (code: UnknownKratosError: Request failed with status code 410)`
	kratos404     = `Unexpected error occurred, please try again or contact support if it persists (code: UnknownKratosError: Request failed with status code 404)`
	kratos500     = `Unexpected error occurred, please try again or contact support if it persists (code: UnknownKratosError: Request failed with status code 500)`
)

func payload(field, rest string) string { return `{"data":{"` + field + `":` + rest + `}}` }

func TestTOTPRegistrationInitiateAnswers(t *testing.T) {
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	var got TOTPRegistration
	f := run(t, []row{
		{"200", 200, payload("userTotpRegistrationInitiate", `{"totpRegistrationId":"`+uuid1+`","totpSecret":"`+secret+`","errors":[]}`), nil},
		{"exists", 200, payload("userTotpRegistrationInitiate", `{"totpRegistrationId":null,"totpSecret":null,"errors":[{"code":"TOTP_ACCOUNT_ALREADY_EXISTS_ERROR","message":"TOTP has already been enabled for this account. If you need to reset it, please contact support.","path":null}]}`), ErrTOTPExists},
		{"not authorized", 200, notAuthorized, ErrSessionRejected},
		{"401 from Oathkeeper", 401, `{"error":{"code":401,"status":"Unauthorized"}}`, ErrSessionRejected},
		{"Kratos failed", 200, payload("userTotpRegistrationInitiate", `{"totpRegistrationId":null,"totpSecret":null,"errors":[{"code":"UNEXPECTED_CLIENT_ERROR","message":"`+kratos500+`","path":null}]}`), ErrUnavailable},
		{"no id", 200, payload("userTotpRegistrationInitiate", `{"totpRegistrationId":null,"totpSecret":"`+secret+`","errors":[]}`), ErrUnavailable},
		{"short secret", 200, payload("userTotpRegistrationInitiate", `{"totpRegistrationId":"`+uuid1+`","totpSecret":"JBSWY3DP","errors":[]}`), ErrUnavailable},
	}, func(c *Client) (err error) {
		got, err = c.TOTPRegistrationInitiate(context.Background(), token1)
		return err
	})
	if f.header.Get("Authorization") != "Bearer "+token1 || f.body["query"] != totpInitiateMutation || strings.Contains(f.rawBody, token1) {
		t.Errorf("sent %v %s", f.header, f.rawBody)
	}
	f.answer = canned{status: 200, body: payload("userTotpRegistrationInitiate", `{"totpRegistrationId":"`+uuid1+`","totpSecret":"`+secret+`","errors":[]}`)}
	got, err := f.client().TOTPRegistrationInitiate(context.Background(), token1)
	if err != nil || got.ID != uuid1 || len(got.Secret) != 20 {
		t.Errorf("%+v %v", got, err)
	}
}

func TestTOTPRegistrationValidateAnswers(t *testing.T) {
	const code = "123456"
	f := run(t, []row{
		{"200", 200, payload("userTotpRegistrationValidate", `{"errors":[],"me":{"id":"`+uuid1+`","totpEnabled":true}}`), nil},
		{"wrong code", 200, payload("userTotpRegistrationValidate", `{"errors":[{"code":"BAD_ERROR_CODE","message":"An error occurred. It's likely that the code you entered is not correct","path":null}],"me":null}`), ErrWrongCode},
		{"expired", 200, payload("userTotpRegistrationValidate", `{"errors":[{"code":"UNEXPECTED_CLIENT_ERROR","message":"`+kratos410+`","path":null}],"me":null}`), ErrRegistrationGone},
		{"unknown", 200, payload("userTotpRegistrationValidate", `{"errors":[{"code":"UNEXPECTED_CLIENT_ERROR","message":"`+kratos404+`","path":null}],"me":null}`), ErrRegistrationGone},
		{"Kratos failed", 200, payload("userTotpRegistrationValidate", `{"errors":[{"code":"UNEXPECTED_CLIENT_ERROR","message":"`+kratos500+`","path":null}],"me":null}`), ErrUnavailable},
		{"refresh", 200, payload("userTotpRegistrationValidate", `{"errors":[{"code":"SESSION_REFRESH_REQUIRED_ERROR","message":"Session refresh required.","path":null}],"me":null}`), ErrSessionRejected},
		{"not authorized", 200, notAuthorized, ErrSessionRejected},
		{"echoes the code", 200, payload("userTotpRegistrationValidate", `{"errors":[{"code":"INVALID_INPUT","message":"`+code+` `+token1+`","path":null}],"me":null}`), ErrUnavailable},
	}, func(c *Client) error {
		err := c.TOTPRegistrationValidate(context.Background(), token1, uuid1, code)
		if err != nil && (strings.Contains(err.Error(), code) || strings.Contains(CoreText(err), code) || strings.Contains(CoreText(err), token1)) {
			t.Errorf("the code or token is in the error: %v / %s", err, CoreText(err))
		}
		return err
	})
	if f.header.Get("Authorization") != "Bearer "+token1 || strings.Contains(f.rawBody, token1) ||
		!strings.Contains(f.rawBody, `"variables":{"input":{"totpCode":"123456","totpRegistrationId":"`+uuid1+`"}}`) {
		t.Errorf("sent %v %s", f.header, f.rawBody)
	}
}

func TestTOTPDeleteAndStatusAnswers(t *testing.T) {
	f := run(t, []row{
		{"200", 200, payload("userTotpDelete", `{"errors":[],"me":{"id":"`+uuid1+`","totpEnabled":false}}`), nil},
		{"nothing to delete", 200, payload("userTotpDelete", `{"errors":[{"code":"UNEXPECTED_CLIENT_ERROR","message":"`+kratos404+`","path":null}],"me":null}`), ErrRegistrationGone},
		{"not authorized", 200, notAuthorized, ErrSessionRejected},
	}, func(c *Client) error { return c.TOTPDelete(context.Background(), token1) })
	if f.header.Get("Authorization") != "Bearer "+token1 || strings.Contains(f.rawBody, token1) {
		t.Errorf("sent %v %s", f.header, f.rawBody)
	}
	g := run(t, []row{
		{"on", 200, `{"data":{"me":{"id":"` + uuid1 + `","totpEnabled":true}}}`, nil},
		{"me null", 200, `{"data":{"me":null},"errors":[{"message":"Not authorized","path":["me"],"extensions":{"code":"NOT_AUTHORIZED"}}]}`, ErrSessionRejected},
		{"no field", 200, `{"data":{"me":{"id":"` + uuid1 + `"}}}`, ErrUnavailable},
	}, func(c *Client) error {
		_, err := c.TOTPEnabled(context.Background(), token1)
		return err
	})
	for body, want := range map[string]bool{
		`{"data":{"me":{"id":"` + uuid1 + `","totpEnabled":true}}}`:  true,
		`{"data":{"me":{"id":"` + uuid1 + `","totpEnabled":false}}}`: false,
	} {
		g.answer = canned{status: 200, body: body}
		if on, err := g.client().TOTPEnabled(context.Background(), token1); err != nil || on != want {
			t.Errorf("%s: %v %v", body, on, err)
		}
	}
}
