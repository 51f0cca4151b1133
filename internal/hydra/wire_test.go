package hydra

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"
	"time"

	client "github.com/ory/hydra-client-go/v2"
)

// A login and a consent request as Hydra v2.3.0 sends them, every field the
// SDK knows filled in, and one it does not.
const (
	clientBody = `{"client_id":"c1","client_name":"App","client_uri":"https://app.example","logo_uri":"https://app.example/l.png",
		"policy_uri":"https://app.example/p","tos_uri":"https://app.example/t","skip_consent":true,"skip_logout_consent":false,
		"redirect_uris":["https://app.example/cb"],"grant_types":["authorization_code","refresh_token"],"response_types":["code"],
		"scope":"openid offline read","audience":["api"],"owner":"","subject_type":"public","token_endpoint_auth_method":"client_secret_basic",
		"jwks":{"keys":[]},"metadata":{"tier":1},"created_at":"2026-11-27T10:00:00Z","updated_at":"2026-11-27T10:00:00.5Z",
		"access_token_strategy":"opaque","contacts":null,"allowed_cors_origins":[]}`
	oidcJSON         = `{"ui_locales":["es","en"],"login_hint":"x@y.z","acr_values":["2"],"display":"page","id_token_hint_claims":{"sub":"u1"}}`
	loginRequestBody = `{"challenge":"ch-login","skip":true,"subject":"u1","session_id":"sid","request_url":"http://127.0.0.1:4444/oauth2/auth?client_id=c1",
		"requested_scope":["openid","read"],"requested_access_token_audience":["api"],"client":` + clientBody + `,"oidc_context":` + oidcJSON + `,
		"new_in_a_later_hydra":{"x":1}}`
	consentRequestBody = `{"challenge":"ch-consent","skip":false,"subject":"u1","request_url":"http://127.0.0.1:4444/oauth2/auth?client_id=c1",
		"requested_scope":["openid","read"],"requested_access_token_audience":["api"],"acr":"1","amr":["email"],"context":{"k":"v"},
		"login_challenge":"lc","login_session_id":"ls","client":` + clientBody + `,"oidc_context":` + oidcJSON + `}`
)

// sdkClient is what OAuthClient keeps of the SDK's decoded client.
func sdkClient(c *client.OAuth2Client) OAuthClient {
	if c == nil {
		return OAuthClient{}
	}
	return OAuthClient{ID: c.GetClientId(), Name: c.GetClientName(), LogoURI: c.GetLogoUri(), ClientURI: c.GetClientUri(),
		PolicyURI: c.GetPolicyUri(), TosURI: c.GetTosUri(), SkipConsent: c.GetSkipConsent(),
		SkipLogoutConsent: c.GetSkipLogoutConsent(), BackChannelLogoutURI: c.GetBackchannelLogoutUri()}
}

// The lean decode keeps what the SDK's own UnmarshalJSON gives for every
// field LoginRequest and ConsentRequest carry, through Login and Consent.
func TestLeanDecodeMatchesTheSDK(t *testing.T) {
	ctx := context.Background()
	var sdkLogin client.OAuth2LoginRequest
	if err := json.Unmarshal([]byte(loginRequestBody), &sdkLogin); err != nil {
		t.Fatal(err)
	}
	want := LoginRequest{Challenge: sdkLogin.Challenge, Skip: sdkLogin.Skip, Subject: sdkLogin.Subject,
		SessionID: sdkLogin.GetSessionId(), RequestURL: sdkLogin.RequestUrl, RequestedScope: sdkLogin.RequestedScope,
		Client: sdkClient(&sdkLogin.Client), UILocales: sdkLogin.OidcContext.UiLocales, LoginHint: sdkLogin.OidcContext.GetLoginHint()}
	c, _ := recordingAdmin(t, loginRequestBody)
	got, err := c.Login(ctx, "ch-login")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("login request:\n got  %+v\n want %+v", got, want)
	}
	if got.Client.Name != "App" || got.Client.BackChannelLogoutURI != "" || !got.Client.SkipConsent || got.LoginHint != "x@y.z" || len(got.UILocales) != 2 {
		t.Errorf("the nested client or OpenID Connect context was not decoded: %+v", got)
	}

	var sdkConsent client.OAuth2ConsentRequest
	if err := json.Unmarshal([]byte(consentRequestBody), &sdkConsent); err != nil {
		t.Fatal(err)
	}
	wantC := ConsentRequest{Challenge: sdkConsent.Challenge, Skip: sdkConsent.GetSkip(), Subject: sdkConsent.GetSubject(),
		RequestURL: sdkConsent.GetRequestUrl(), RequestedScope: sdkConsent.RequestedScope,
		RequestedAudience: sdkConsent.RequestedAccessTokenAudience, Client: sdkClient(sdkConsent.Client),
		UILocales: sdkConsent.OidcContext.UiLocales, Context: sdkConsent.Context.(map[string]any),
		ACR: sdkConsent.GetAcr(), AMR: sdkConsent.Amr}
	c, _ = recordingAdmin(t, consentRequestBody)
	gotC, err := c.Consent(ctx, "ch-consent")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotC, wantC) {
		t.Errorf("consent request:\n got  %+v\n want %+v", gotC, wantC)
	}
	if gotC.Context["k"] != "v" || gotC.ACR != "1" || gotC.Client.ID != "c1" {
		t.Errorf("the consent request was not decoded: %+v", gotC)
	}

	// A body without its challenge is refused as unreadable, as before.
	c, _ = recordingAdmin(t, `{"skip":true,"subject":"u1","client":{"client_id":"c1"}}`)
	if _, err := c.Login(ctx, "ch-login"); err == nil {
		t.Error("a login request without a challenge was accepted")
	}
}

// recorded is one admin request as the fake Hydra received it.
type recorded struct {
	method, path, query, contentType, userAgent string
	body                                        []byte
}

func recordingAdmin(t *testing.T, answer string) (*Client, *[]recorded) {
	t.Helper()
	var got []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), r.Header.Get("User-Agent"), b})
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return New(u, time.Second), &got
}

// The accepts send what the SDK's own call sends: same method, path, query,
// headers and body, byte for byte.
func TestAcceptsSendWhatTheSDKSends(t *testing.T) {
	ctx := context.Background()
	login := AcceptLogin{Subject: "u1", Remember: true, RememberFor: 3600, ACR: "1", AMR: []string{"email"}, Context: map[string]any{"k": "v"}}
	consent := AcceptConsent{GrantScope: []string{}, GrantAudience: nil, Remember: true, RememberFor: 0,
		IDTokenClaims: map[string]any{"email": "a@b.c"}, AccessTokenClaim: map[string]any{"x": 1}}
	const answer = `{"redirect_to":"http://127.0.0.1:4444/oauth2/auth?v=1"}`

	ours, gotOurs := recordingAdmin(t, answer)
	if to, err := ours.AcceptLogin(ctx, "ch/1+2", login); err != nil || to != "http://127.0.0.1:4444/oauth2/auth?v=1" {
		t.Fatalf("AcceptLogin = %q, %v", to, err)
	}
	if _, err := ours.AcceptConsent(ctx, "ch/3", consent); err != nil {
		t.Fatal(err)
	}

	sdk, gotSDK := recordingAdmin(t, answer)
	lb := client.NewAcceptOAuth2LoginRequest(login.Subject)
	lb.SetRemember(true)
	lb.SetRememberFor(3600)
	lb.SetAcr("1")
	lb.SetAmr(login.AMR)
	lb.Context = login.Context
	if _, _, err := sdk.api.AcceptOAuth2LoginRequest(ctx).LoginChallenge("ch/1+2").AcceptOAuth2LoginRequest(*lb).Execute(); err != nil {
		t.Fatal(err)
	}
	cb := client.NewAcceptOAuth2ConsentRequest()
	cb.GrantScope, cb.GrantAccessTokenAudience = []string{}, []string{}
	cb.SetRemember(true)
	cb.SetRememberFor(0)
	s := client.NewAcceptOAuth2ConsentRequestSession()
	s.IdToken, s.AccessToken = consent.IDTokenClaims, consent.AccessTokenClaim
	cb.SetSession(*s)
	if _, _, err := sdk.api.AcceptOAuth2ConsentRequest(ctx).ConsentChallenge("ch/3").AcceptOAuth2ConsentRequest(*cb).Execute(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*gotOurs, *gotSDK) {
		t.Errorf("sent:\n ours %q\n SDK  %q", *gotOurs, *gotSDK)
	}
}

// The GETs ask what the SDK asks, and an answer without its challenge is unreadable.
func TestGetsAskWhatTheSDKAsks(t *testing.T) {
	ctx := context.Background()
	ours, gotOurs := recordingAdmin(t, loginRequestBody)
	if lr, err := ours.Login(ctx, "a b&c"); err != nil || lr.Challenge != "ch-login" {
		t.Fatalf("Login = %+v, %v", lr, err)
	}
	sdk, gotSDK := recordingAdmin(t, loginRequestBody)
	if _, _, err := sdk.api.GetOAuth2LoginRequest(ctx).LoginChallenge("a b&c").Execute(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*gotOurs, *gotSDK) {
		t.Errorf("asked:\n ours %q\n SDK  %q", *gotOurs, *gotSDK)
	}

	noChallenge, _ := recordingAdmin(t, `{"skip":true,"subject":"u1","client":{}}`)
	if _, err := noChallenge.Login(ctx, "c"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a login request without its challenge: %v", err)
	}
	if _, err := noChallenge.Consent(ctx, "c"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a consent request without its challenge: %v", err)
	}
}
