//go:build devstack

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/config"
	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/devstack/corestandin"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/passkey"
	"github.com/blinkbitcoin/blink-consent/internal/passkey/passkeytest"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// Passkeys on the real Hydra v2.3.0 and PostgreSQL, in both identity modes:
// a passkey is registered through internal/passkey (the foundation the
// account page uses) for a software authenticator that signs real WebAuthn
// answers (github.com/descope/virtualwebauthn), then signs in to a
// third-party client through Hydra to tokens. Nothing of go-webauthn is
// mocked: the service checks the answers as it checks a browser's.

// passkeyStacks are the stacks of these tests: WebAuthn needs a domain name
// as the relying party id (an IP address is refused, by browsers and by
// go-webauthn), so their PUBLIC_URL is http://localhost:<port> where the
// other stacks' is http://127.0.0.1:<port>. The postgres one reaches Hydra's
// admin API through a spy, to see what Hydra was told.
var passkeyStacks struct {
	once      sync.Once
	pg, blink *stack
	spy       *hydraSpy
	core      *corestandin.Standin
	err       error
}

func signInStacks(t testing.TB) (pg, blink *stack, spy *hydraSpy, core *corestandin.Standin) {
	t.Helper()
	p := &passkeyStacks
	p.once.Do(func() {
		if p.core, p.err = corestandin.Start("127.0.0.1:0"); p.err != nil {
			return
		}
		if p.pg, p.spy, p.err = localhostStack("passkeys", nil, true); p.err != nil {
			return
		}
		p.blink, _, p.err = localhostStack("passkeys_blink", map[string]string{
			"IDENTITY_SOURCE":  "blink",
			"CORE_AUTH_URL":    p.core.AuthURL(),
			"GRAPHQL_ENDPOINT": p.core.GraphQLURL(),
		}, false)
	})
	if p.err != nil {
		t.Fatalf("the passkey stacks: %v", p.err)
	}
	return p.pg, p.blink, p.spy, p.core
}

// localhostStack starts a stack whose PUBLIC_URL (and ServiceURL, what the
// test browsers use) is http://localhost:<port>, with a spy before Hydra's
// admin API when asked.
func localhostStack(name string, env map[string]string, withSpy bool) (*stack, *hydraSpy, error) {
	opts, err := testStackOptions(name, 0, env)
	if err != nil {
		return nil, nil, err
	}
	if opts.ServicePort, err = devstack.FreePort(); err != nil {
		return nil, nil, err
	}
	public := "http://localhost:" + strconv.Itoa(opts.ServicePort)
	opts.Env["PUBLIC_URL"] = public
	var spy *hydraSpy
	if withSpy {
		if opts.HydraAdminPort, err = devstack.FreePort(); err != nil {
			return nil, nil, err
		}
		if spy, err = startHydraSpy("http://127.0.0.1:" + strconv.Itoa(opts.HydraAdminPort)); err != nil {
			return nil, nil, err
		}
		opts.Env["HYDRA_ADMIN_URL"] = spy.URL
	}
	st, err := startStack(context.Background(), testPG, opts)
	if err != nil {
		return nil, nil, err
	}
	st.ServiceURL = public
	return st, spy, nil
}

// stackRP is the relying party of st, as serve.go makes it from PUBLIC_URL.
func stackRP(t testing.TB, st *stack) *passkey.RP {
	t.Helper()
	u, err := url.Parse(st.ServiceURL)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := passkey.New(u, "Blink")
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// registerPasskey adds a passkey of a new software authenticator for
// subject on st, and returns the authenticator.
func registerPasskey(t testing.TB, st *stack, subject, name string, o passkeytest.Options) *passkeytest.Authenticator {
	t.Helper()
	ctx := context.Background()
	db, rp := openStore(t, st), stackRP(t, st)
	auth := passkeytest.New(st.ServiceURL, "localhost", o)
	u := passkey.User{Subject: subject, Name: name}
	begun, err := rp.BeginRegistration(ctx, db, u, []byte("test-session"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.FinishRegistration(ctx, db, u, []byte("test-session"), begun.Ceremony, auth.Register(begun.PublicKey, subject), name, nil); err != nil {
		t.Fatalf("registering a passkey: %v", err)
	}
	return auth
}

// passkeyOptions asks st for a sign-in ceremony of the flow on page, as
// passkey.js does.
func passkeyOptions(t testing.TB, st *stack, b *browser, page hop) passkey.Begun {
	t.Helper()
	h := b.Get(st.ServiceURL + "/login/passkey/options?flow=" + flowID(t, page)).Last()
	var begun passkey.Begun
	if h.Status != http.StatusOK || json.Unmarshal([]byte(h.Body), &begun) != nil {
		t.Fatalf("passkey options: %d %s", h.Status, h.Body)
	}
	return begun
}

// postPasskey posts an answer to a ceremony, as passkey.js does.
func postPasskey(st *stack, b *browser, flow, ceremony string, answer []byte, remember bool) journey {
	form := url.Values{"flow": {flow}, "ceremony": {ceremony}, "credential": {string(answer)}}
	if remember {
		form.Set("remember", "true")
	}
	return b.Post(st.ServiceURL+"/login/passkey", form)
}

// passkeySignIn signs in from the identifier page with auth.
func passkeySignIn(t testing.TB, st *stack, b *browser, page hop, auth *passkeytest.Authenticator, remember bool) journey {
	t.Helper()
	begun := passkeyOptions(t, st, b, page)
	return postPasskey(st, b, flowID(t, page), begun.Ceremony, auth.SignIn(begun.PublicKey), remember)
}

// passkeyRows is what a refused passkey must leave as it was: every
// passkey's counter, backup state and last use, and the successful sign-ins.
func passkeyRows(t testing.TB, st *stack) string {
	t.Helper()
	return fmt.Sprint(
		queryIntOn(t, st, `SELECT coalesce(sum(sign_count), 0)::int FROM passkeys`),
		queryIntOn(t, st, `SELECT count(*) FROM passkeys WHERE backup_state`),
		queryIntOn(t, st, `SELECT count(*) FROM passkeys WHERE last_used_at IS NOT NULL`),
		queryIntOn(t, st, `SELECT count(*) FROM audit_events WHERE action = 'sign-in succeeded'`),
		queryIntOn(t, st, `SELECT count(*) FROM login_flows WHERE channel = 'passkey'`))
}

func TestPasskeySignInThroughHydra(t *testing.T) {
	st, _, spy, _ := signInStacks(t)
	subject := addUser(t, st, "passkey.hydra@example.com")
	auth := registerPasskey(t, st, subject, "YubiKey", passkeytest.Options{})
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "email"}, SkipConsent: true})
	b := newBrowser(t)
	start := rp.start(b)
	page := start.Last()
	for _, want := range []string{`autocomplete="username webauthn"`, `id="passkey-button"`, "/assets/", "passkey.js",
		html.EscapeString(i18n.English.T("login.passkey.button"))} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("the identifier page lacks %s", want)
		}
	}
	flow := flowID(t, page)
	j := passkeySignIn(t, st, b, page, auth, true)
	if len(j.Pages()) != 0 {
		t.Fatalf("a page on the way: %v", paths(j))
	}
	_, claims := rp.tokens(t, j)
	if claims["sub"] != subject || claims["email"] != "passkey.hydra@example.com" || claims["acr"] != "2" || fmt.Sprint(claims["amr"]) != "[hwk user mfa]" {
		t.Errorf("claims %v", claims)
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM passkeys WHERE subject = $1 AND sign_count = 1 AND last_used_at IS NOT NULL`, subject); n != 1 {
		t.Error("the counter and last use were not stored")
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND channel = 'passkey' AND user_id = $2 AND completed_at IS NOT NULL AND remember`, flow, subject); n != 1 {
		t.Error("the flow was not completed by the passkey with remember-me")
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM audit_events WHERE user_id = $1 AND action = 'sign-in succeeded' AND method = 'passkey'`, subject); n != 1 {
		t.Error("the sign-in was not audited with method passkey")
	}
	if accepts := spy.Accepts(loginChallenge(t, start)); len(accepts) != 1 {
		t.Errorf("Hydra got %d accepts", len(accepts))
	}
	// Remember me: the next sign-in is remembered, and says again what it was.
	again := rp.start(b)
	if len(again.Pages()) != 0 {
		t.Fatalf("the next sign-in was not remembered: %v", paths(again))
	}
	if _, claims := rp.tokens(t, again); claims["sub"] != subject || claims["acr"] != "2" || fmt.Sprint(claims["amr"]) != "[hwk user mfa]" {
		t.Errorf("remembered claims %v", claims)
	}
}

// With Blink core: the passkey belongs to core's subject; signing in with
// it asks core nothing, and the claims come from the account row cached at
// the code sign-in.
func TestBlinkPasskeySignIn(t *testing.T) {
	_, st, _, core := signInStacks(t)
	id := core.AddIdentity("blink.passkey@example.com", "")
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "email"}, SkipConsent: true})
	first := newBrowser(t)
	codePage := blinkIdentify(t, st, first, rp.start(first).Last(), url.Values{"method": {"email"}, "email": {"blink.passkey@example.com"}})
	if _, claims := rp.tokens(t, blinkCode(st, first, codePage, core.Code("blink.passkey@example.com"))); claims["sub"] != id {
		t.Fatalf("code sign-in: %v", claims)
	}
	auth := registerPasskey(t, st, id, "iPhone", passkeytest.Options{Synced: true})

	b := newBrowser(t)
	page := rp.start(b).Last()
	calls := len(core.Calls())
	_, claims := rp.tokens(t, passkeySignIn(t, st, b, page, auth, false))
	if claims["sub"] != id || claims["email"] != "blink.passkey@example.com" || claims["acr"] != "2" || fmt.Sprint(claims["amr"]) != "[swk user mfa]" {
		t.Errorf("claims %v", claims)
	}
	if after := core.Calls(); len(after) != calls {
		t.Errorf("the passkey sign-in called core: %v", after[calls:])
	}

	// Without user verification: refused (core keeps the authenticator app,
	// which only a code sign-in can check), rows unchanged.
	weak := registerPasskey(t, st, id, "Key", passkeytest.Options{NoUserVerification: true})
	b2 := newBrowser(t)
	page = rp.start(b2).Last()
	before := passkeyRows(t, st)
	h := passkeySignIn(t, st, b2, page, weak, false).Last()
	if h.Status != http.StatusUnprocessableEntity || !strings.Contains(h.Body, html.EscapeString(i18n.English.T("login.passkey.error.verify"))) {
		t.Errorf("no user verification in blink mode: %d\n%s", h.Status, excerpt(h.Body))
	}
	if after := passkeyRows(t, st); after != before {
		t.Errorf("rows changed: %s → %s", before, after)
	}

	// Disabled with `users disable`: refused, rows unchanged.
	if err := openStore(t, st).SetUserDisabled(context.Background(), id, true, "cli"); err != nil {
		t.Fatal(err)
	}
	b3 := newBrowser(t)
	page = rp.start(b3).Last()
	before = passkeyRows(t, st)
	h = passkeySignIn(t, st, b3, page, auth, false).Last()
	if h.Status != http.StatusForbidden || !strings.Contains(h.Body, html.EscapeString(i18n.English.T("login.passkey.error.disabled"))) {
		t.Errorf("a disabled subject: %d\n%s", h.Status, excerpt(h.Body))
	}
	if after := passkeyRows(t, st); after != before {
		t.Errorf("rows changed: %s → %s", before, after)
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM audit_events WHERE user_id = $1 AND action = 'sign-in failed' AND method = 'passkey' AND result = 'disabled'`, id); n != 1 {
		t.Error("the refusal was not audited")
	}
}

// tamperClientData changes the client data of an answer after it was signed.
func tamperClientData(answer []byte) []byte {
	var r map[string]any
	_ = json.Unmarshal(answer, &r)
	resp := r["response"].(map[string]any)
	cd, _ := base64.RawURLEncoding.DecodeString(resp["clientDataJSON"].(string))
	cd = bytes.Replace(cd, []byte(`"type":"webauthn.get"`), []byte(`"type":"webauthn.get","crossOrigin":false`), 1)
	resp["clientDataJSON"] = base64.RawURLEncoding.EncodeToString(cd)
	out, _ := json.Marshal(r)
	return out
}

// Each refusal: the identifier page with its message and the way to the
// code sign-in, nothing told to Hydra, and the rows as they were.
func TestPasskeyRefusalsLeaveRowsUnchanged(t *testing.T) {
	st, _, spy, _ := signInStacks(t)
	ana := addUser(t, st, "passkey.ana@example.com")
	bob := addUser(t, st, "passkey.bob@example.com")
	carla := addUser(t, st, "passkey.carla@example.com")
	anaKey := registerPasskey(t, st, ana, "Ana's key", passkeytest.Options{})
	bobKey := registerPasskey(t, st, bob, "Bob's key", passkeytest.Options{})
	carlaKey := registerPasskey(t, st, carla, "Carla's key", passkeytest.Options{})
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "email"}, SkipConsent: true})

	// A good sign-in whose answer is replayed below.
	b := newBrowser(t)
	page := rp.start(b).Last()
	used := passkeyOptions(t, st, b, page)
	usedAnswer := anaKey.SignIn(used.PublicKey)
	if _, claims := rp.tokens(t, postPasskey(st, b, flowID(t, page), used.Ceremony, usedAnswer, false)); claims["sub"] != ana {
		t.Fatalf("claims %v", claims)
	}

	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T) // before the rows are read
		answer func(t *testing.T, b *browser, page hop) journey
		status int
		key    string
	}{
		{"tampered client data", nil, func(t *testing.T, b *browser, page hop) journey {
			begun := passkeyOptions(t, st, b, page)
			return postPasskey(st, b, flowID(t, page), begun.Ceremony, tamperClientData(anaKey.SignIn(begun.PublicKey)), false)
		}, http.StatusUnprocessableEntity, "login.passkey.error.invalid"},
		{"wrong origin", nil, func(t *testing.T, b *browser, page hop) journey {
			// The same server by its IP address: another origin.
			anaKey.Origin = strings.Replace(st.ServiceURL, "localhost", "127.0.0.1", 1)
			defer func() { anaKey.Origin = st.ServiceURL }()
			return passkeySignIn(t, st, b, page, anaKey, false)
		}, http.StatusUnprocessableEntity, "login.passkey.error.invalid"},
		{"a replayed challenge", nil, func(t *testing.T, b *browser, page hop) journey {
			// The used ceremony and its answer, on a new flow.
			return postPasskey(st, b, flowID(t, page), used.Ceremony, usedAnswer, false)
		}, http.StatusUnprocessableEntity, "login.passkey.error.expired"},
		{"a replayed answer to a new challenge", nil, func(t *testing.T, b *browser, page hop) journey {
			begun := passkeyOptions(t, st, b, page)
			return postPasskey(st, b, flowID(t, page), begun.Ceremony, usedAnswer, false)
		}, http.StatusUnprocessableEntity, "login.passkey.error.invalid"},
		{"another account's credential", nil, func(t *testing.T, b *browser, page hop) journey {
			// Bob's passkey claiming to be Ana's (her user handle).
			bobKey.SetUserHandle(ana)
			defer bobKey.SetUserHandle(bob)
			return passkeySignIn(t, st, b, page, bobKey, false)
		}, http.StatusUnprocessableEntity, "login.passkey.error.invalid"},
		{"a counter going backwards", func(t *testing.T) {
			// Carla signs in once (counter 1); a clone then says 1 again.
			other := newBrowser(t)
			if _, claims := rp.tokens(t, passkeySignIn(t, st, other, rp.start(other).Last(), carlaKey, false)); claims["sub"] != carla {
				t.Fatalf("claims %v", claims)
			}
			carlaKey.SetCounter(0)
		}, func(t *testing.T, b *browser, page hop) journey {
			return passkeySignIn(t, st, b, page, carlaKey, false)
		}, http.StatusUnprocessableEntity, "login.passkey.error.invalid"},
		{"a disabled user", nil, func(t *testing.T, b *browser, page hop) journey {
			if err := openStore(t, st).SetUserDisabled(context.Background(), carla, true, "cli"); err != nil {
				t.Fatal(err)
			}
			return passkeySignIn(t, st, b, page, carlaKey, false)
		}, http.StatusForbidden, "login.passkey.error.disabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup(t)
			}
			b := newBrowser(t)
			start := rp.start(b)
			page, challenge := start.Last(), loginChallenge(t, start)
			flow := flowID(t, page)
			before := passkeyRows(t, st)
			j := tc.answer(t, b, page)
			h := j.Last()
			if h.Status != tc.status || !strings.Contains(h.Body, html.EscapeString(i18n.English.T(tc.key))) ||
				!strings.Contains(h.Body, `href="/login/identify?flow=`+flow) {
				t.Errorf("got %d\n%s", h.Status, excerpt(h.Body))
			}
			if j.Callback != nil {
				t.Fatal("the client got a code")
			}
			if after := passkeyRows(t, st); after != before {
				t.Errorf("rows changed: %s → %s", before, after)
			}
			if n := queryIntOn(t, st, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND verified_at IS NULL AND user_id IS NULL`, flow); n != 1 {
				t.Error("the flow was verified")
			}
			if accepts := spy.Accepts(challenge); len(accepts) != 0 {
				t.Error("Hydra got an accept")
			}
		})
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM audit_events WHERE action = 'sign-in failed' AND method = 'passkey' AND result = 'counter_went_back' AND user_id = $1`, carla); n != 1 {
		t.Error("the counter going backwards was not audited")
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM passkeys WHERE subject = $1 AND sign_count = 1`, carla); n != 1 {
		t.Error("the counter that went backwards was stored")
	}
}

// A two-step account (our users table): a passkey with user verification is
// the whole sign-in, no authenticator code; without it the authenticator
// step follows, and then amr says both.
func TestPasskeyOfATwoStepAccount(t *testing.T) {
	st, _, _, _ := signInStacks(t)
	subject := addUser(t, st, "passkey.twostep@example.com")
	secret, _ := totp.NewSecret()
	env := map[string]string{"DATABASE_URL": st.DatabaseURL, "SECRET_KEY": st.env["SECRET_KEY"]}
	if _, errOut, err := runCLI(t, env, "users", "totp", "import", "--user", subject, "--secret", totp.Base32(secret)); err != nil {
		t.Fatalf("totp import: %v %s", err, errOut)
	}
	strong := registerPasskey(t, st, subject, "Phone", passkeytest.Options{})
	weak := registerPasskey(t, st, subject, "Old key", passkeytest.Options{NoUserVerification: true})
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})

	b := newBrowser(t)
	_, claims := rp.tokens(t, passkeySignIn(t, st, b, rp.start(b).Last(), strong, false))
	if claims["sub"] != subject || claims["acr"] != "2" || fmt.Sprint(claims["amr"]) != "[hwk user mfa]" {
		t.Errorf("with user verification: %v", claims)
	}

	b = newBrowser(t)
	j := passkeySignIn(t, st, b, rp.start(b).Last(), weak, false)
	page := j.Last()
	if page.URL.Path != "/login/totp" || page.Status != http.StatusOK || j.Callback != nil {
		t.Fatalf("without user verification: %v", paths(j))
	}
	_, claims = rp.tokens(t, b.Post(st.ServiceURL+"/login/totp", url.Values{"flow": {flowID(t, page)}, "code": {totp.Code(secret, time.Now())}, "action": {"continue"}}))
	if claims["sub"] != subject || claims["acr"] != "2" || fmt.Sprint(claims["amr"]) != "[hwk totp mfa]" {
		t.Errorf("passkey and authenticator code: %v", claims)
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM audit_events WHERE user_id = $1 AND action = 'sign-in succeeded' AND method = 'passkey+totp'`, subject); n != 1 {
		t.Error("not audited as passkey+totp")
	}
}

// Passkeys need a domain name: on an IP address they stay off (browsers and
// go-webauthn refuse one as the relying party id); PASSKEYS=off is off.
func TestPasskeysNeedADomainName(t *testing.T) {
	for _, tc := range []struct {
		public   string
		on, want bool
	}{
		{"http://localhost:3000", true, true},
		{"https://login.blink.sv", true, true},
		{"http://127.0.0.1:3000", true, false},
		{"http://[::1]:3000", true, false},
		{"https://login.blink.sv", false, false},
	} {
		u, _ := url.Parse(tc.public)
		rp, err := passkeyRP(config.Config{PublicURL: u, Passkeys: tc.on, PasskeyRPName: "Blink"})
		if err != nil || (rp != nil) != tc.want {
			t.Errorf("%s (PASSKEYS on: %v): relying party %v, %v", tc.public, tc.on, rp != nil, err)
		}
	}
}

// The account's failure limit (RATE_FAIL_IDENTIFIER, 6 an hour) counts
// refused passkeys from any address; once reached, even the right passkey is
// refused with the 429 page, and nothing changes.
func TestPasskeyFailureLimitPerAccount(t *testing.T) {
	st, _, spy, _ := signInStacks(t)
	subject := addUser(t, st, "passkey.limit@example.com")
	key := registerPasskey(t, st, subject, "Key", passkeytest.Options{})
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	for i := range 6 {
		b := newBrowser(t) // another address each time
		page := rp.start(b).Last()
		begun := passkeyOptions(t, st, b, page)
		if h := postPasskey(st, b, flowID(t, page), begun.Ceremony, tamperClientData(key.SignIn(begun.PublicKey)), false).Last(); h.Status != http.StatusUnprocessableEntity {
			t.Fatalf("refusal %d: %d", i+1, h.Status)
		}
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM rate_events WHERE bucket = 'fail-passkey' AND key = $1`, subject); n != 6 {
		t.Errorf("%d failures counted against the account", n)
	}
	b := newBrowser(t)
	start := rp.start(b)
	before := passkeyRows(t, st)
	h := passkeySignIn(t, st, b, start.Last(), key, false).Last()
	if h.Status != http.StatusTooManyRequests || h.Header.Get("Retry-After") == "" {
		t.Errorf("the right passkey over the limit: %d", h.Status)
	}
	if after := passkeyRows(t, st); after != before {
		t.Errorf("rows changed: %s → %s", before, after)
	}
	if len(spy.Accepts(loginChallenge(t, start))) != 0 {
		t.Error("Hydra got an accept")
	}
}
