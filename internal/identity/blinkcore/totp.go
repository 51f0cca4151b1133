package blinkcore

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/blinkbitcoin/blink-consent/internal/ids"
)

// Two-step sign-in from the account page, through core's public GraphQL
// (core/api/src/graphql/public/schema.graphql at 977c6647), as Blink's own
// dashboard calls it: the user's auth token goes as `Authorization: Bearer`
// only — userTotpRegistrationInitiate and userTotpDelete take no input, and
// the optional authToken of UserTotpRegistrationValidateInput is left out.
// Each payload carries `errors: [Error!]!` ({code, message, path}).
const (
	totpStatusQuery      = `query totpStatus { me { id totpEnabled } }`
	totpInitiateMutation = `mutation UserTotpRegistrationInitiate { userTotpRegistrationInitiate { totpRegistrationId totpSecret errors { code message path } } }`
	totpValidateMutation = `mutation UserTotpRegistrationValidate($input: UserTotpRegistrationValidateInput!) { ` +
		`userTotpRegistrationValidate(input: $input) { errors { code message path } me { id totpEnabled } } }`
	totpDeleteMutation = `mutation UserTotpDelete { userTotpDelete { errors { code message path } me { id totpEnabled } } }`
)

// The answers of the TOTP mutations besides ErrWrongCode, ErrSessionRejected
// and ErrUnavailable.
var (
	// ErrTOTPExists: the account already has an authenticator
	// (TOTP_ACCOUNT_ALREADY_EXISTS_ERROR).
	ErrTOTPExists = errors.New("blinkcore: the account already has an authenticator")
	// ErrRegistrationGone: the registration (a Kratos settings flow) expired
	// or is unknown: Kratos' 410 or 404, which core answers as
	// UNEXPECTED_CLIENT_ERROR naming the status.
	ErrRegistrationGone = errors.New("blinkcore: the TOTP registration is no longer valid")
)

// TOTPRegistration is what userTotpRegistrationInitiate answers: the Kratos
// settings flow id and the new secret (base32, 32 characters).
type TOTPRegistration struct {
	ID     string
	Secret []byte
}

// payloadError is one entry of a payload's errors array.
type payloadError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// payloadFail maps a payload's errors (core's graphql/error-map.ts).
func payloadFail(route string, errs []payloadError, secrets ...string) error {
	e := errs[0]
	text := e.Code + ": " + e.Message
	kind := ErrUnavailable
	switch {
	case e.Code == "BAD_ERROR_CODE": // LikelyBadCoreError: Kratos refused the code
		kind = ErrWrongCode
	case e.Code == "TOTP_ACCOUNT_ALREADY_EXISTS_ERROR":
		kind = ErrTOTPExists
	case e.Code == "SESSION_REFRESH_REQUIRED_ERROR":
		kind = ErrSessionRejected
	case e.Code == "UNEXPECTED_CLIENT_ERROR" && (strings.Contains(e.Message, "status code 410") || strings.Contains(e.Message, "status code 404")):
		kind = ErrRegistrationGone
	}
	return &Error{Kind: kind, detail: detail{Route: route, Status: http.StatusOK, core: scrub(text, secrets...)}}
}

// TOTPEnabled is me.totpEnabled for authToken's user.
func (c *Client) TOTPEnabled(ctx context.Context, authToken string) (bool, error) {
	const route = "graphql me.totpEnabled"
	var data struct {
		Me *struct {
			ID          string `json:"id"`
			TOTPEnabled *bool  `json:"totpEnabled"`
		} `json:"me"`
	}
	if err := c.graphql(ctx, route, "totpStatus", totpStatusQuery, authToken, &data); err != nil {
		return false, err
	}
	if data.Me == nil {
		return false, &Error{Kind: ErrSessionRejected, detail: detail{Route: route, Status: http.StatusOK}}
	}
	if data.Me.TOTPEnabled == nil {
		return false, &Error{Kind: ErrUnavailable, detail: detail{Route: route, Status: http.StatusOK}, cause: errors.New("no totpEnabled")}
	}
	return *data.Me.TOTPEnabled, nil
}

// TOTPRegistrationInitiate asks core for a new secret (userTotpRegistrationInitiate).
func (c *Client) TOTPRegistrationInitiate(ctx context.Context, authToken string) (TOTPRegistration, error) {
	const route = "graphql userTotpRegistrationInitiate"
	var data struct {
		P *struct {
			ID     *string        `json:"totpRegistrationId"`
			Secret *string        `json:"totpSecret"`
			Errors []payloadError `json:"errors"`
		} `json:"userTotpRegistrationInitiate"`
	}
	if err := c.graphql(ctx, route, "UserTotpRegistrationInitiate", totpInitiateMutation, authToken, &data); err != nil {
		return TOTPRegistration{}, err
	}
	if data.P == nil {
		return TOTPRegistration{}, &Error{Kind: ErrUnavailable, detail: detail{Route: route, Status: http.StatusOK}, cause: errors.New("no payload")}
	}
	if len(data.P.Errors) > 0 {
		return TOTPRegistration{}, payloadFail(route, data.P.Errors, authToken)
	}
	if data.P.ID == nil || !ids.IsUUID(*data.P.ID) || data.P.Secret == nil {
		return TOTPRegistration{}, &Error{Kind: ErrUnavailable, detail: detail{Route: route, Status: http.StatusOK}, cause: errors.New("no registration id or secret")}
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(*data.P.Secret, "=")))
	if err != nil || len(secret) < 16 {
		return TOTPRegistration{}, &Error{Kind: ErrUnavailable, detail: detail{Route: route, Status: http.StatusOK}, cause: errors.New("the secret is not base32 of at least 128 bits")}
	}
	return TOTPRegistration{ID: *data.P.ID, Secret: secret}, nil
}

// TOTPRegistrationValidate confirms a registration with a code of its secret
// (userTotpRegistrationValidate); core saves the authenticator only then.
func (c *Client) TOTPRegistrationValidate(ctx context.Context, authToken, registrationID, code string) error {
	const route = "graphql userTotpRegistrationValidate"
	var data struct {
		P *struct {
			Errors []payloadError   `json:"errors"`
			Me     *json.RawMessage `json:"me"`
		} `json:"userTotpRegistrationValidate"`
	}
	input := map[string]any{"input": map[string]any{"totpCode": code, "totpRegistrationId": registrationID}}
	if err := c.graphqlWith(ctx, route, "UserTotpRegistrationValidate", totpValidateMutation, input, authToken, &data, code); err != nil {
		return err
	}
	if data.P == nil {
		return &Error{Kind: ErrUnavailable, detail: detail{Route: route, Status: http.StatusOK}, cause: errors.New("no payload")}
	}
	if len(data.P.Errors) > 0 {
		return payloadFail(route, data.P.Errors, authToken, code)
	}
	return nil
}

// TOTPDelete removes the account's authenticator (userTotpDelete).
func (c *Client) TOTPDelete(ctx context.Context, authToken string) error {
	const route = "graphql userTotpDelete"
	var data struct {
		P *struct {
			Errors []payloadError `json:"errors"`
		} `json:"userTotpDelete"`
	}
	if err := c.graphql(ctx, route, "UserTotpDelete", totpDeleteMutation, authToken, &data); err != nil {
		return err
	}
	if data.P == nil {
		return &Error{Kind: ErrUnavailable, detail: detail{Route: route, Status: http.StatusOK}, cause: errors.New("no payload")}
	}
	if len(data.P.Errors) > 0 {
		return payloadFail(route, data.P.Errors, authToken)
	}
	return nil
}
