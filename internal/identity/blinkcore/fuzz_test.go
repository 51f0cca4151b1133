package blinkcore

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzCoreAnswers feeds every call of the client whatever status and body a
// broken or hostile core could send. Whatever comes back, the client never
// panics, a failure is always one of the typed errors the login pages turn
// into their own words, and the token it sent never shows in an error.
func FuzzCoreAnswers(f *testing.F) {
	f.Add(200, `{"result":"8f5c0f63-0f5e-4f8a-8a8f-8a8f8a8f8a8f"}`)
	f.Add(200, `{"result":{"authToken":"ory_st_abc","totpRequired":false,"id":"x"}}`)
	f.Add(200, `{"authToken":"ory_st_abc","totpRequired":true}`)
	f.Add(400, `{"error":{"name":"CaptchaUserFailToPassError","level":"info"}}`)
	f.Add(401, `{"error":"invalid code"}`)
	f.Add(429, `{"error":"too many requests"}`)
	f.Add(500, `<html>oops</html>`)
	f.Add(200, `{"data":{"me":{"id":"x","phone":null,"email":{"address":"a@b.c","verified":true}}}}`)
	f.Add(200, `{"data":{"globals":{"supportedCountries":[{"id":"SV","supportedAuthChannels":["SMS"]}]}}}`)
	f.Add(200, `{"data":null,"errors":[{"message":"ory_st_secret leaked"}]}`)
	f.Add(500, `{"error":"ECHO"}`)
	f.Add(422, `ECHO`)
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 100 || status > 599 {
			status = 500
		}
		core := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			answer := []byte(body)
			if strings.Contains(body, "ECHO") {
				// Core's answers may quote what it was sent (some routes echo
				// the input): send the request back inside the body.
				sent, _ := io.ReadAll(r.Body)
				answer = []byte(strings.ReplaceAll(body, "ECHO", string(sent)+" "+r.Header.Get("Authorization")))
			}
			w.Write(answer)
		}))
		defer core.Close()
		c := New(core.URL+"/auth", core.URL+"/graphql", nil)
		ctx := context.Background()
		const ip, token = "192.0.2.1", "ory_st_fuzzsecrettoken0123456789abcd"
		var errs []error
		_, err := c.EmailCode(ctx, ip, "a@example.com")
		errs = append(errs, err)
		_, err = c.EmailLogin(ctx, ip, "8f5c0f63-0f5e-4f8a-8a8f-8a8f8a8f8a8f", "123456")
		errs = append(errs, err)
		errs = append(errs, c.TOTPValidate(ctx, ip, token, "123456"))
		_, err = c.PhoneCaptcha(ctx, ip)
		errs = append(errs, err)
		errs = append(errs, c.PhoneCode(ctx, ip, "+50370000000", "sms", GeetestResult{"c", "v", "s"}))
		_, err = c.PhoneLogin(ctx, ip, "+50370000000", "123456")
		errs = append(errs, err)
		_, err = c.Me(ctx, token)
		errs = append(errs, err)
		_, err = c.SupportedCountries(ctx)
		errs = append(errs, err)
		for _, err := range errs {
			if err == nil {
				continue
			}
			var limited *LimitError
			typed := errors.As(err, &limited)
			for _, kind := range []error{ErrWrongCode, ErrCodeExpired, ErrCaptchaFailed, ErrNotAllowedToRegister,
				ErrInvalidChannel, ErrInvalidInput, ErrSessionRejected, ErrUnavailable} {
				typed = typed || errors.Is(err, kind)
			}
			if !typed {
				t.Errorf("an untyped error for status %d body %q: %v", status, body, err)
			}
			if strings.Contains(err.Error(), token) || strings.Contains(CoreText(err), token) {
				t.Errorf("the token reached an error: %v", err)
			}
		}
	})
}
