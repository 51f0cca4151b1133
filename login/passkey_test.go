package login

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/passkey"
	"github.com/blinkbitcoin/blink-consent/internal/passkey/passkeytest"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
)

// The passkey sign-in's handling, with the real go-webauthn (internal/passkey)
// checking real answers of a software authenticator, over memStore's
// transition (the store's own is tested on PostgreSQL in internal/store).

type ceremony struct {
	c    store.Ceremony
	used bool
}

// passkeyTables are memStore's passkeys and ceremonies, in memStore's lock.
type passkeyTables struct {
	passkeys   map[string]store.Passkey // credential id → row
	ceremonies map[string]*ceremony
}

func (s *memStore) SaveCeremony(_ context.Context, c store.Ceremony, _ time.Duration) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pk.ceremonies == nil {
		s.pk.ceremonies = map[string]*ceremony{}
	}
	live := 0
	for _, e := range s.pk.ceremonies {
		if e.c.FlowID == c.FlowID && !e.used {
			live++
		}
	}
	if live >= store.MaxLiveCeremonies {
		return "", store.ErrCeremonyLimit
	}
	c.ID = newUUID()
	s.pk.ceremonies[c.ID] = &ceremony{c: c}
	return c.ID, nil
}

// SignInWithPasskey does what the store's transition does, in memory.
func (s *memStore) SignInWithPasskey(_ context.Context, req store.PasskeySignIn) (store.PasskeyVerdict, store.Flow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("SignInWithPasskey")
	f, err := s.lock(req.FlowID, req.BrowserHash)
	if err != nil {
		return 0, store.Flow{}, err
	}
	if f.VerifiedAt != nil || f.CompletedAt != nil {
		return 0, store.Flow{}, store.ErrFlowState
	}
	failures := []store.LimitKey{{Bucket: "fail-ip", Key: req.IPKey, Limit: req.PerIP}}
	if err := s.checkLimits(failures); err != nil {
		return 0, store.Flow{}, err
	}
	refuse := func(v store.PasskeyVerdict, count []store.LimitKey) (store.PasskeyVerdict, store.Flow, error) {
		s.record(count)
		s.audited = append(s.audited, store.AuditEvent{Action: store.ActionSignInFailed, Method: "passkey", Result: v.String()})
		return v, *f, nil
	}
	c, ok := s.pk.ceremonies[req.CeremonyID]
	if !ok || c.used || c.c.FlowID != f.ID {
		return refuse(store.PasskeyCeremonyGone, failures)
	}
	c.used = true
	p, ok := s.pk.passkeys[string(req.CredentialID)]
	if !ok {
		return refuse(store.PasskeyUnknown, failures)
	}
	failures = append(failures, store.LimitKey{Bucket: "fail-passkey", Key: p.Subject, Limit: req.PerAccount})
	if err := s.checkLimits(failures[1:]); err != nil {
		return 0, store.Flow{}, err
	}
	use, err := req.Verify(c.c.Session, p)
	if err != nil {
		return refuse(store.PasskeyInvalid, failures)
	}
	if (p.SignCount != 0 || use.SignCount != 0) && use.SignCount <= p.SignCount {
		return refuse(store.PasskeyCounter, failures)
	}
	if u, ok := s.users[p.Subject]; !ok || !u.Active() {
		return refuse(store.PasskeyDisabled, nil)
	}
	if !use.UserVerified && !req.SecondStepKnown {
		return refuse(store.PasskeyNeedsUserVerification, nil)
	}
	p.SignCount, p.BackupState = use.SignCount, use.BackupState
	s.pk.passkeys[string(p.CredentialID)] = p
	now := time.Now()
	_, twoStep := s.totp[p.Subject]
	f.VerifiedAt, f.Channel, f.Identifier, f.UserID, f.BrowserHash = &now, "passkey", "", p.Subject, req.NewBrowserHash
	f.PasskeyUserVerified, f.PasskeyBackupEligible, f.Remember = use.UserVerified, p.BackupEligible, req.Remember
	f.NeedsTOTP = !use.UserVerified && twoStep
	return store.PasskeyAccepted, *f, nil
}

const testOrigin = "https://login.blink.sv"

// passkeyWorld is a world with passkeys on and one registered for each
// user given, returning their authenticators.
func passkeyWorld(t *testing.T, o passkeytest.Options, users ...store.User) (*world, map[string]*passkeytest.Authenticator) {
	t.Helper()
	w := newWorld(t, users...)
	u, _ := url.Parse(testOrigin)
	rp, err := passkey.New(u, "Blink")
	if err != nil {
		t.Fatal(err)
	}
	w.d.Passkeys = rp
	w.d.Settings.PasskeyFailPerIP = store.Limit{Max: 20, Window: time.Hour}
	w.d.Settings.PasskeyFailPerAccount = store.Limit{Max: 6, Window: time.Hour}
	w.build()
	w.st.pk.passkeys = map[string]store.Passkey{}
	auths := map[string]*passkeytest.Authenticator{}
	for _, user := range users {
		auths[user.ID] = register(t, rp, w.st, user.ID, o)
	}
	return w, auths
}

// regStore is a registration's store for the tests: it keeps the ceremony
// in memory and the passkey in memStore.
type regStore struct {
	st      *memStore
	session []byte
}

func (r *regStore) SaveCeremony(_ context.Context, c store.Ceremony, _ time.Duration) (string, error) {
	r.session = c.Session
	return "reg", nil
}

func (r *regStore) AddPasskey(_ context.Context, in store.NewPasskey) (store.Passkey, error) {
	p, err := in.Create(r.session)
	if err == nil {
		r.st.pk.passkeys[string(p.CredentialID)] = p
	}
	return p, err
}

func register(t *testing.T, rp *passkey.RP, st *memStore, subject string, o passkeytest.Options) *passkeytest.Authenticator {
	t.Helper()
	auth := passkeytest.New(testOrigin, "login.blink.sv", o)
	rs := &regStore{st: st}
	u := passkey.User{Subject: subject, Name: subject}
	begun, err := rp.BeginRegistration(context.Background(), rs, u, []byte("s"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.FinishRegistration(context.Background(), rs, u, []byte("s"), begun.Ceremony, auth.Register(begun.PublicKey, subject), "Phone", nil); err != nil {
		t.Fatal(err)
	}
	return auth
}

// passkeyOptions asks for a ceremony of flow.
func (b *browser) passkeyOptions(flow string) passkey.Begun {
	t := b.w.t
	t.Helper()
	rec := b.get("/login/passkey/options?flow=" + flow)
	if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("options: %d %s", rec.Code, rec.Body)
	}
	var begun passkey.Begun
	if err := json.Unmarshal(rec.Body.Bytes(), &begun); err != nil {
		t.Fatal(err)
	}
	return begun
}

// signInWithPasskey runs the ceremony with auth and posts its answer.
func (b *browser) signInWithPasskey(flow string, auth *passkeytest.Authenticator, remember bool) *httptestRecorder {
	begun := b.passkeyOptions(flow)
	form := url.Values{"flow": {flow}, "ceremony": {begun.Ceremony}, "credential": {string(auth.SignIn(begun.PublicKey))}}
	if remember {
		form.Set("remember", "true")
	}
	return b.post("/login/passkey", form)
}

// A passkey with user verification is a complete sign-in: no code, no
// authenticator step even for a two-step account, amr hwk/user/mfa and acr
// 2, remember-me honoured, "passkey" audited and counted.
func TestPasskeySignsIn(t *testing.T) {
	w, auths := passkeyWorld(t, passkeytest.Options{}, maria)
	w.st.totp[maria.ID] = "246810" // two-step: not asked after a verified passkey
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow := b.open(c)
	before := b.browserCookie()
	wantRedirect(t, b.signInWithPasskey(flow, auths[maria.ID], true), acceptURL(c))
	a := lastAccept(t, w.hy)
	if a.Subject != maria.ID || a.ACR != "2" || !slices.Equal(a.AMR, []string{"hwk", "user", "mfa"}) || !a.Remember || a.Context["method"] != "passkey" {
		t.Errorf("accepted %+v", a)
	}
	f := w.st.flow(flow)
	if f.CompletedAt == nil || b.browserCookie() == before || !bytes.Equal(f.BrowserHash, web.HashToken(b.browserCookie())) {
		t.Errorf("flow %+v", f)
	}
	if e := w.st.signIns[0].Event; e.Method != "passkey" || e.Action != store.ActionSignInSucceeded || e.UserID != maria.ID {
		t.Errorf("audit %+v", e)
	}
	if signIns(t, w.m, "passkey", "success") != 1 {
		t.Error("not counted as a passkey sign-in")
	}
	if len(w.st.outbox) != 0 {
		t.Error("a message was sent")
	}
}

// Without user verification a two-step account still needs its
// authenticator code; then amr says both and acr is 2.
func TestPasskeyWithoutUserVerificationNeedsTheSecondStep(t *testing.T) {
	w, auths := passkeyWorld(t, passkeytest.Options{NoUserVerification: true, Synced: true}, maria)
	w.st.totp[maria.ID] = "246810"
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow := b.open(c)
	wantRedirect(t, b.signInWithPasskey(flow, auths[maria.ID], false), "/login/totp?flow="+flow)
	if len(w.hy.answers()) != 0 {
		t.Fatal("Hydra was told before the second step")
	}
	wantRedirect(t, b.post("/login/totp", url.Values{"flow": {flow}, "code": {"246810"}}), acceptURL(c))
	a := lastAccept(t, w.hy)
	if a.ACR != "2" || !slices.Equal(a.AMR, []string{"swk", "totp", "mfa"}) || a.Remember {
		t.Errorf("accepted %+v", a)
	}
	if e := w.st.signIns[0].Event; e.Method != "passkey+totp" {
		t.Errorf("audit %+v", e)
	}

	// One factor without a second step: acr 1.
	w2, auths2 := passkeyWorld(t, passkeytest.Options{NoUserVerification: true}, ana)
	b2 := w2.browser("203.0.113.8")
	c2 := w2.challenge()
	wantRedirect(t, b2.signInWithPasskey(b2.open(c2), auths2[ana.ID], false), acceptURL(c2))
	if a := lastAccept(t, w2.hy); a.ACR != "1" || !slices.Equal(a.AMR, []string{"hwk"}) {
		t.Errorf("accepted %+v", a)
	}
}

// With Blink core the authenticator app is core's, so a passkey without user
// verification is refused with a message; nothing is told to Hydra.
func TestPasskeyWithoutUserVerificationWithBlinkCore(t *testing.T) {
	w, auths := passkeyWorld(t, passkeytest.Options{NoUserVerification: true}, maria)
	w.d.Settings.AccountsElsewhere = true
	w.build()
	b := w.browser("203.0.113.7")
	flow := b.open(w.challenge())
	rec := b.signInWithPasskey(flow, auths[maria.ID], false)
	wantPage(t, rec, http.StatusUnprocessableEntity, "login.passkey.error.verify", "login.passkey.use_code")
	if f := w.st.flow(flow); f.VerifiedAt != nil || len(w.hy.answers()) != 0 {
		t.Errorf("flow %+v", f)
	}
}

// Each refusal: the identifier page with a message and the code sign-in a
// tap away; the flow not verified, Hydra not told, the refusal counted.
func TestPasskeyRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		run    func(w *world, b *browser, flow string, auths map[string]*passkeytest.Authenticator) *httptestRecorder
		status int
		key    string
		result string
	}{
		{"not an answer", func(w *world, b *browser, flow string, _ map[string]*passkeytest.Authenticator) *httptestRecorder {
			begun := b.passkeyOptions(flow)
			return b.post("/login/passkey", url.Values{"flow": {flow}, "ceremony": {begun.Ceremony}, "credential": {"{}"}})
		}, http.StatusBadRequest, "login.passkey.error.invalid", "invalid_passkey"},
		{"an unknown passkey", func(w *world, b *browser, flow string, _ map[string]*passkeytest.Authenticator) *httptestRecorder {
			return b.signInWithPasskey(flow, passkeytest.New(testOrigin, "login.blink.sv", passkeytest.Options{}), false)
		}, http.StatusUnprocessableEntity, "login.passkey.error.unknown", "unknown_passkey"},
		{"a replayed ceremony", func(w *world, b *browser, flow string, auths map[string]*passkeytest.Authenticator) *httptestRecorder {
			// The challenge was answered once (by a passkey nobody has
			// registered): answering it again, rightly, is refused.
			begun := b.passkeyOptions(flow)
			stranger := passkeytest.New(testOrigin, "login.blink.sv", passkeytest.Options{})
			form := url.Values{"flow": {flow}, "ceremony": {begun.Ceremony}, "credential": {string(stranger.SignIn(begun.PublicKey))}}
			b.post("/login/passkey", form)
			form.Set("credential", string(auths[maria.ID].SignIn(begun.PublicKey)))
			return b.post("/login/passkey", form)
		}, http.StatusUnprocessableEntity, "login.passkey.error.expired", "ceremony_gone"},
		{"another origin", func(w *world, b *browser, flow string, auths map[string]*passkeytest.Authenticator) *httptestRecorder {
			auths[maria.ID].Origin = "https://login.blink.sv.example"
			return b.signInWithPasskey(flow, auths[maria.ID], false)
		}, http.StatusUnprocessableEntity, "login.passkey.error.invalid", "invalid_passkey"},
		{"a counter that went back", func(w *world, b *browser, flow string, auths map[string]*passkeytest.Authenticator) *httptestRecorder {
			// Signed in once elsewhere (counter 1), then the counter says 1 again.
			other := w.browser("198.51.100.9")
			other.signInWithPasskey(other.open(w.challenge()), auths[maria.ID], false)
			auths[maria.ID].SetCounter(0)
			return b.signInWithPasskey(flow, auths[maria.ID], false)
		}, http.StatusUnprocessableEntity, "login.passkey.error.invalid", "counter_went_back"},
		{"a disabled account", func(w *world, b *browser, flow string, auths map[string]*passkeytest.Authenticator) *httptestRecorder {
			u := w.st.users[maria.ID]
			now := time.Now()
			u.DisabledAt = &now
			w.st.users[maria.ID] = u
			return b.signInWithPasskey(flow, auths[maria.ID], false)
		}, http.StatusForbidden, "login.passkey.error.disabled", "disabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, auths := passkeyWorld(t, passkeytest.Options{}, maria)
			b := w.browser("203.0.113.7")
			flow := b.open(w.challenge())
			rec := tc.run(w, b, flow, auths)
			wantPage(t, rec, tc.status, tc.key, "login.passkey.use_code")
			if !strings.Contains(rec.Body.String(), `href="/login/identify?flow=`+flow) {
				t.Error("no way to the code sign-in")
			}
			if f := w.st.flow(flow); f.VerifiedAt != nil || f.CompletedAt != nil {
				t.Errorf("flow %+v", f)
			}
			for _, a := range w.hy.answers() {
				if a.Op == "accept" && a.Challenge == w.st.flow(flow).Challenge {
					t.Error("Hydra accepted the refused flow")
				}
			}
			if signIns(t, w.m, "passkey", tc.result) != 1 {
				t.Errorf("not counted as %s", tc.result)
			}
		})
	}
}

// The failure limits: a refusal by the limit is the 429 page, counted.
func TestPasskeyFailureLimit(t *testing.T) {
	w, auths := passkeyWorld(t, passkeytest.Options{}, maria)
	w.d.Settings.PasskeyFailPerIP = store.Limit{Max: 1, Window: time.Hour}
	w.build()
	b := w.browser("203.0.113.7")
	flow := b.open(w.challenge())
	b.signInWithPasskey(flow, passkeytest.New(testOrigin, "login.blink.sv", passkeytest.Options{}), false)
	rec := b.signInWithPasskey(flow, auths[maria.ID], false)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Errorf("got %d", rec.Code)
	}
	if signIns(t, w.m, "passkey", "limited") != 1 || w.st.flow(flow).VerifiedAt != nil {
		t.Error("not refused by the limit")
	}
}

// The options: bound to the browser's open flow, JSON errors otherwise;
// off when PASSKEYS=off.
func TestPasskeyOptions(t *testing.T) {
	w, _ := passkeyWorld(t, passkeytest.Options{}, maria)
	b := w.browser("203.0.113.7")
	flow := b.open(w.challenge())
	begun := b.passkeyOptions(flow)
	c := w.st.pk.ceremonies[begun.Ceremony]
	if c == nil || c.c.FlowID != flow || c.c.Purpose != store.CeremonySignIn || !strings.Contains(string(begun.PublicKey), `"rpId":"login.blink.sv"`) {
		t.Errorf("ceremony %+v, options %s", c, begun.PublicKey)
	}
	stranger := w.browser("198.51.100.1")
	if rec := stranger.get("/login/passkey/options?flow=" + flow); rec.Code != http.StatusGone || !strings.Contains(rec.Body.String(), `"error":"flow"`) {
		t.Errorf("another browser: %d %s", rec.Code, rec.Body)
	}
	if rec := b.get("/login/passkey/options?flow=nope"); rec.Code != http.StatusGone {
		t.Errorf("no flow: %d", rec.Code)
	}
	for range store.MaxLiveCeremonies - 1 {
		b.passkeyOptions(flow)
	}
	if rec := b.get("/login/passkey/options?flow=" + flow); rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), `"error":"limited"`) {
		t.Errorf("past the ceremonies' bound: %d %s", rec.Code, rec.Body)
	}
	page := b.get("/login/identify?flow=" + flow + "&method=email")
	for _, want := range []string{`autocomplete="username webauthn"`, `id="passkey-form"`, `/login/passkey/options?flow=` + flow, "passkey.js"} {
		if !strings.Contains(page.Body.String(), want) {
			t.Errorf("identifier page lacks %s", want)
		}
	}

	w.d.Passkeys = nil
	w.build()
	if rec := b.get("/login/passkey/options?flow=" + flow); rec.Code != http.StatusNotFound {
		t.Errorf("off: %d", rec.Code)
	}
	if rec := b.post("/login/passkey", url.Values{"flow": {flow}}); rec.Code != http.StatusNotFound {
		t.Errorf("off: %d", rec.Code)
	}
	page = b.get("/login/identify?flow=" + flow + "&method=email")
	if strings.Contains(page.Body.String(), "passkey") || !strings.Contains(page.Body.String(), `autocomplete="email"`) {
		t.Error("passkeys offered while off")
	}
}

// A verified flow refuses the options and the sign-in (its identity is frozen).
func TestPasskeyAfterAVerifiedCode(t *testing.T) {
	w, auths := passkeyWorld(t, passkeytest.Options{}, maria)
	w.st.totp[maria.ID] = "246810"
	b := w.browser("203.0.113.7")
	flow := b.toTOTPStep(w.challenge())
	if rec := b.get("/login/passkey/options?flow=" + flow); rec.Code != http.StatusConflict {
		t.Errorf("options of a verified flow: %d", rec.Code)
	}
	rec := b.post("/login/passkey", url.Values{"flow": {flow}, "ceremony": {"x"}, "credential": {string(auths[maria.ID].CredentialID())}})
	wantPage(t, rec, http.StatusConflict)
	if errors.Is(nil, store.ErrFlowState) || w.st.calls["SignInWithPasskey"] != 0 {
		t.Error("the transition ran")
	}
}

// A Spanish sign-in offers passkeys, carries the browser's error messages
// and shows the server's refusals in Spanish.
func TestPasskeyInSpanish(t *testing.T) {
	w, _ := passkeyWorld(t, passkeytest.Options{}, maria)
	c := w.challenge()
	lr := w.hy.requests[c]
	lr.UILocales = []string{"es"}
	w.hy.requests[c] = lr
	b := w.browser("203.0.113.7")
	flow := b.open(c)
	page := b.get("/login/identify?flow=" + flow + "&method=email")
	for _, k := range []string{"login.passkey.button", "login.passkey.error.cancelled", "login.passkey.error.security", "login.passkey.error.unsupported", "login.passkey.error.failed"} {
		wantText(t, page, i18n.Spanish.T(k))
	}
	rec := b.signInWithPasskey(flow, passkeytest.New(testOrigin, "login.blink.sv", passkeytest.Options{}), false)
	wantText(t, rec, i18n.Spanish.T("login.passkey.error.unknown"))
	wantText(t, rec, i18n.Spanish.T("login.passkey.use_code"))
}
