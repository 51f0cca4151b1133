package devstack

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// DemoRP is a small relying party for trying sign-ins by hand: it starts an
// authorization-code flow (with PKCE) for one of the demo clients and shows
// the tokens and ID-token claims it got back. Development only.
type DemoRP struct {
	HydraPublicURL string
	Clients        []OAuthClient
}

const demoCookie = "demo_rp_flow"

var demoPage = template.Must(template.New("demo").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo app · blink-consent</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; padding: 0 1rem">
<h1>Demo relying party</h1>
{{if .Error}}<h2>The sign-in did not complete</h2>
<p>error: <code id="oauth-error">{{.Error}}</code></p><p>{{.ErrorDescription}}</p>{{end}}
{{if .Token}}<h2 id="signed-in">Signed in as <code id="subject">{{.Subject}}</code></h2>
<p>Client: {{.ClientName}}; scope: <code id="scope">{{.Scope}}</code></p>
<h3>ID-token claims</h3><pre id="claims">{{.Claims}}</pre>
<h3>Access token</h3><pre style="white-space: pre-wrap; word-break: break-all">{{.Token.AccessToken}}</pre>
<h3>Refresh token</h3><pre style="white-space: pre-wrap; word-break: break-all">{{.Token.RefreshToken}}</pre>
<p><a id="sign-out" href="{{.LogoutURL}}">Sign out of Blink</a></p>
{{end}}
<h2>Start a sign-in</h2>
<ul>{{range .Clients}}<li><a href="/start?client={{.ID}}">Sign in with {{.Name}}</a> (scopes: {{range .Scopes}}{{.}} {{end}})</li>{{end}}</ul>
</body></html>`))

type demoView struct {
	Clients          []OAuthClient
	Error            string
	ErrorDescription string
	Token            *oauth2.Token
	Subject          string
	ClientName       string
	Scope            string
	Claims           string
	LogoutURL        string
}

func (d *DemoRP) config(c OAuthClient) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.ID,
		ClientSecret: c.Secret,
		RedirectURL:  c.RedirectURI,
		Scopes:       c.Scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:   d.HydraPublicURL + "/oauth2/auth",
			TokenURL:  d.HydraPublicURL + "/oauth2/token",
			AuthStyle: oauth2.AuthStyleInHeader,
		},
	}
}

func (d *DemoRP) client(id string) (OAuthClient, bool) {
	for _, c := range d.Clients {
		if c.ID == id {
			return c, true
		}
	}
	return OAuthClient{}, false
}

// ServeHTTP serves /, /start and /callback.
func (d *DemoRP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/":
		d.render(w, demoView{})
	case "/start":
		c, ok := d.client(r.URL.Query().Get("client"))
		if !ok {
			http.Error(w, "unknown client", http.StatusBadRequest)
			return
		}
		state, verifier := randomString(), oauth2.GenerateVerifier()
		http.SetCookie(w, &http.Cookie{Name: demoCookie, Value: url.Values{"c": {c.ID}, "s": {state}, "v": {verifier}}.Encode(),
			Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: 1800})
		http.Redirect(w, r, d.config(c).AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), http.StatusFound)
	case "/callback":
		d.callback(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (d *DemoRP) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		d.render(w, demoView{Error: e, ErrorDescription: q.Get("error_description")})
		return
	}
	ck, err := r.Cookie(demoCookie)
	if err != nil {
		http.Error(w, "no flow in progress: start again from /", http.StatusBadRequest)
		return
	}
	flow, _ := url.ParseQuery(ck.Value)
	c, ok := d.client(flow.Get("c"))
	if !ok || flow.Get("s") == "" || flow.Get("s") != q.Get("state") {
		http.Error(w, "state mismatch: start again from /", http.StatusBadRequest)
		return
	}
	tok, err := d.config(c).Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(flow.Get("v")))
	if err != nil {
		d.render(w, demoView{Error: "token exchange failed", ErrorDescription: err.Error()})
		return
	}
	claims := IDTokenClaims(tok)
	pretty, _ := json.MarshalIndent(claims, "", "  ")
	sub, _ := claims["sub"].(string)
	scope, _ := tok.Extra("scope").(string)
	idToken, _ := tok.Extra("id_token").(string)
	logout := d.HydraPublicURL + "/oauth2/sessions/logout?" + url.Values{"id_token_hint": {idToken}}.Encode()
	d.render(w, demoView{Token: tok, Subject: sub, ClientName: c.Name, Scope: scope, Claims: string(pretty), LogoutURL: logout})
}

func (d *DemoRP) render(w http.ResponseWriter, v demoView) {
	v.Clients = d.Clients
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	demoPage.Execute(w, v)
}

// IDTokenClaims decodes the ID token's payload without verifying it: the token
// came straight from Hydra's token endpoint, and this is for display only.
func IDTokenClaims(tok *oauth2.Token) map[string]any {
	raw, _ := tok.Extra("id_token").(string)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var claims map[string]any
	json.Unmarshal(payload, &claims)
	return claims
}

func randomString() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
