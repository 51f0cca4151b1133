package login

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
)

// remembered makes Hydra hold a skip=true request for subject, whose login
// session the store knows was signed in with kind.
func (w *world) remembered(subject string, kind *store.SignInKind) string {
	c := "lc" + strings.ReplaceAll(newUUID(), "-", "")
	sid := "sess-" + c[2:10]
	w.hy.add(hydra.LoginRequest{Challenge: c, Skip: true, Subject: subject, SessionID: sid, Client: hydra.OAuthClient{ID: "app"}})
	if kind != nil {
		w.st.sessions[sid] = session{userID: subject, kind: *kind}
	}
	return c
}

// A remembered sign-in (skip=true) is accepted at once with exactly Hydra's
// subject, saying again what the session's sign-in was (its amr and acr):
// one Hydra get, one database round trip, one accept.
func TestRememberedLoginAcceptsHydrasSubjectWithTheSessionsAMR(t *testing.T) {
	w := newWorld(t, maria)
	c := w.remembered(maria.ID, &store.SignInKind{AMR: []string{"otp", "email", "totp", "mfa"}, ACR: "2", Remember: true})
	b := w.browser("203.0.113.7")
	rec := b.get("/login?login_challenge=" + c)
	wantRedirect(t, rec, "http://hydra.test/oauth2/auth?login_verifier=accept-"+c)
	wantAnswers(t, w.hy, "accept:"+maria.ID)
	a := lastAccept(t, w.hy)
	if !slices.Equal(a.AMR, []string{"otp", "email", "totp", "mfa"}) || a.ACR != "2" || a.Context["remembered"] != true {
		t.Errorf("accepted amr %v acr %q context %v; want the session's", a.AMR, a.ACR, a.Context)
	}
	if a.Remember {
		t.Error("a remembered sign-in asked Hydra to remember it again")
	}
	if w.hy.count("get") != 1 || w.st.Queries != 1 {
		t.Errorf("hydra gets %d, database round trips %d; want 1 and 1", w.hy.count("get"), w.st.Queries)
	}
	if !w.st.claimed(c) {
		t.Error("the challenge is not claimed")
	}
	if got := signIns(t, w.m, "remembered", "success"); got != 1 {
		t.Errorf("remembered successes %v", got)
	}
	if len(b.cookies) != 0 || len(w.st.flows) != 0 {
		t.Errorf("a remembered sign-in started a flow (%d) or set cookies %v", len(w.st.flows), b.cookies)
	}

	// The same challenge again: Hydra says it was handled; no second answer,
	// and the page leads back to the app.
	rec = b.get("/login?login_challenge=" + c)
	wantPage(t, rec, http.StatusGone, "error.used.title")
	wantAnswers(t, w.hy, "accept:"+maria.ID)
}

// A session this service does not know (signed in before it kept them)
// is accepted with an empty amr and acr: nothing is claimed that it cannot show.
func TestRememberedLoginOfUnknownSessionClaimsNothing(t *testing.T) {
	w := newWorld(t, maria)
	c := w.remembered(maria.ID, nil)
	wantRedirect(t, w.browser("203.0.113.7").get("/login?login_challenge="+c), "http://hydra.test/oauth2/auth?login_verifier=accept-"+c)
	if a := lastAccept(t, w.hy); a.Subject != maria.ID || len(a.AMR) != 0 || a.ACR != "" {
		t.Errorf("accepted %+v", a)
	}
}

// A remembered sign-in of an account disabled or deleted since is rejected
// at Hydra (access_denied), and the challenge stays claimed.
func TestRememberedLoginOfDisabledOrDeletedAccountIsRejected(t *testing.T) {
	now := time.Now()
	disabled := maria
	disabled.DisabledAt = &now
	for _, tc := range []struct {
		name      string
		users     []store.User
		elsewhere bool
	}{
		{"disabled", []store.User{disabled}, false},
		{"deleted", nil, false},
		{"disabled, accounts elsewhere", []store.User{disabled}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.users...)
			w.d.Settings.AccountsElsewhere = tc.elsewhere
			w.build()
			c := w.remembered(maria.ID, nil)
			rec := w.browser("203.0.113.7").get("/login?login_challenge=" + c)
			wantRedirect(t, rec, "http://hydra.test/oauth2/auth?login_verifier=reject-"+c)
			wantAnswers(t, w.hy, "reject:access_denied")
			if !w.st.claimed(c) {
				t.Error("the rejected challenge was released")
			}
			if got := signIns(t, w.m, "remembered", "disabled"); got != 1 {
				t.Errorf("remembered disabled %v", got)
			}
		})
	}
}

// With accounts kept elsewhere (Blink core), a remembered subject this
// service has not seen is not a deleted account: it is accepted as Hydra
// remembers it.
func TestRememberedLoginOfAccountElsewhereIsAccepted(t *testing.T) {
	w := newWorld(t)
	w.d.Settings.AccountsElsewhere = true
	w.build()
	c := w.remembered("core-account-7", nil)
	wantRedirect(t, w.browser("203.0.113.7").get("/login?login_challenge="+c), "http://hydra.test/oauth2/auth?login_verifier=accept-"+c)
	wantAnswers(t, w.hy, "accept:core-account-7")
}

// When Hydra cannot take the answer, the claim is released so the same link
// works again, and the page says sign-in is unavailable (with "Start again").
func TestRememberedLoginWhenHydraFailsReleasesTheChallenge(t *testing.T) {
	w := newWorld(t, maria)
	c := w.remembered(maria.ID, nil)
	w.hy.acceptErr = hydra.ErrUnavailable
	b := w.browser("203.0.113.7")
	wantPage(t, b.get("/login?login_challenge="+c), http.StatusServiceUnavailable, "error.unavailable.title")
	if w.st.claimed(c) {
		t.Fatal("the challenge stayed claimed after Hydra failed")
	}
	w.hy.acceptErr = nil
	wantRedirect(t, b.get("/login?login_challenge="+c), "http://hydra.test/oauth2/auth?login_verifier=accept-"+c)
	wantAnswers(t, w.hy, "accept:"+maria.ID, "accept:"+maria.ID)
}

// A missing or malformed challenge gets its page without asking Hydra; one
// Hydra does not know, or cannot be asked about, gets Hydra's answer.
func TestLoginChallengeRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, target string
		hydraErr     error
		status       int
		key          string
		asked        int
	}{
		{"missing", "/login", nil, http.StatusBadRequest, "error.missing.title", 0},
		{"malformed", "/login?login_challenge=%3Cscript%3E", nil, http.StatusNotFound, "error.unknown.title", 0},
		{"too long", "/login?login_challenge=" + strings.Repeat("a", 9000), nil, http.StatusNotFound, "error.unknown.title", 0},
		{"unknown to Hydra", "/login?login_challenge=nosuchchallenge", nil, http.StatusNotFound, "error.unknown.title", 1},
		{"expired", "/login?login_challenge=abc", hydra.ErrExpired, http.StatusGone, "error.expired.title", 1},
		{"Hydra down", "/login?login_challenge=abc", hydra.ErrUnavailable, http.StatusServiceUnavailable, "error.unavailable.title", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.hy.getErr = tc.hydraErr
			b := w.browser("203.0.113.7")
			wantPage(t, b.get(tc.target), tc.status, tc.key)
			if got := w.hy.count("get"); got != tc.asked {
				t.Errorf("Hydra asked %d times, want %d", got, tc.asked)
			}
			wantAnswers(t, w.hy)
			if len(w.st.flows) != 0 || len(b.cookies) != 0 {
				t.Errorf("a refused challenge left a flow or a cookie: %d %v", len(w.st.flows), b.cookies)
			}
		})
	}
}

// A challenge this service already answered shows the "used" page with the
// way back to the app (where the first answer went), and starts no flow.
func TestLoginPageOfUsedChallenge(t *testing.T) {
	w := newWorld(t, maria)
	c := w.challenge()
	w.st.UseChallenge(t.Context(), c)
	w.st.SetChallengeRedirect(t.Context(), c, "http://hydra.test/oauth2/auth?login_verifier=first")
	b := w.browser("203.0.113.7")
	rec := b.get("/login?login_challenge=" + c)
	wantPage(t, rec, http.StatusGone, "error.used.title")
	if !strings.Contains(rec.Body.String(), "login_verifier=first") {
		t.Errorf("the used page has no way back to where the first answer went\n%s", excerpt(rec))
	}
	if len(w.st.flows) != 0 || len(b.cookies) != 0 {
		t.Error("a used challenge started a flow")
	}
}

// A new sign-in gets a flow bound to a new browser cookie (only its hash is
// stored), the request's start is kept for "Start again", and a reload
// finds the same flow.
func TestLoginPageStartsAFlowBoundToABrowserCookie(t *testing.T) {
	w := newWorld(t)
	c := w.challenge()
	lr := w.hy.requests[c]
	lr.UILocales = []string{"es"}
	w.hy.requests[c] = lr
	b := w.browser("203.0.113.7")
	rec := b.get("/login?login_challenge=" + c)
	wantPage(t, rec, http.StatusOK)
	wantText(t, rec, i18n.Spanish.T("login.tab.email"))
	ck := b.cookies[web.BrowserCookie]
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.MaxAge != 0 || ck.Secure {
		t.Fatalf("browser cookie %+v", ck)
	}
	flow := flowField.FindStringSubmatch(rec.Body.String())[1]
	f := w.st.flow(flow)
	if !bytes.Equal(f.BrowserHash, web.HashToken(ck.Value)) || f.Challenge != c || f.ClientID != "app" || f.ClientName != "Blink App" ||
		f.Lang != "es" || f.HydraSessionID != w.hy.requests[c].SessionID || f.Channel != "" {
		t.Errorf("flow %+v", f)
	}
	if strings.Contains(rec.Body.String(), ck.Value) {
		t.Error("the page shows the cookie value")
	}
	if start, _ := w.st.SeenRequestURL(t.Context(), c); start != w.hy.requests[c].RequestURL {
		t.Errorf("kept start %q", start)
	}
	// A reload: the same flow, the same cookie.
	if again := b.open(c); again != flow || b.browserCookie() != ck.Value || len(w.st.flows) != 1 {
		t.Errorf("a reload gave flow %s (was %s), %d flows", again, flow, len(w.st.flows))
	}
	// Nothing was sent, and Hydra was not answered.
	if len(w.st.outbox) != 0 || w.st.calls["SendCode"] != 0 {
		t.Error("opening the page sent something")
	}
	wantAnswers(t, w.hy)
}

// Over https the cookie has the __Host- prefix and Secure.
func TestLoginPageCookieUnderHTTPS(t *testing.T) {
	w := newWorld(t)
	w.d.Settings.SecureCookies = true
	w.build()
	b := w.browser("203.0.113.7")
	flow := b.open(w.challenge())
	ck := b.cookies["__Host-"+web.BrowserCookie]
	if ck == nil || !ck.Secure || !ck.HttpOnly {
		t.Fatalf("cookies %v", b.cookies)
	}
	if f := w.st.flow(flow); !bytes.Equal(f.BrowserHash, web.HashToken(ck.Value)) {
		t.Error("the flow is not bound to the __Host- cookie")
	}
}

// A failed write of the flow leaves the browser without a cookie no flow knows.
func TestLoginPageSetsNoCookieWhenTheFlowIsNotStored(t *testing.T) {
	w := newWorld(t)
	w.st.failStartFlow = io.ErrUnexpectedEOF
	b := w.browser("203.0.113.7")
	wantPage(t, b.get("/login?login_challenge="+w.challenge()), http.StatusInternalServerError, "error.internal.title")
	if len(b.cookies) != 0 {
		t.Errorf("cookies %v", b.cookies)
	}
}

// Hydra's login_hint fills in the form when it is an email or a phone
// number; nothing is ever sent because of a hint.
func TestLoginHintPrefillsTheForm(t *testing.T) {
	for _, tc := range []struct {
		hint, want, notWant string
	}{
		{" maria@example.com ", `value="maria@example.com"`, ""},
		{"+50370000000", `value="+50370000000"`, ""},
		{"<b>bold</b>", "", "<b>bold</b>"},
		{strings.Repeat("a", 250) + "@example.com", "", strings.Repeat("a", 250)},
	} {
		w := newWorld(t)
		c := w.challenge()
		lr := w.hy.requests[c]
		lr.LoginHint = tc.hint
		w.hy.requests[c] = lr
		rec := w.browser("203.0.113.7").get("/login?login_challenge=" + c)
		wantPage(t, rec, http.StatusOK)
		body := rec.Body.String()
		if tc.want != "" && !strings.Contains(body, tc.want) {
			t.Errorf("hint %q: the form does not hold %s", tc.hint, tc.want)
		}
		if tc.notWant != "" && strings.Contains(body, tc.notWant) {
			t.Errorf("hint %q shown as is", tc.hint)
		}
		if tc.hint == "+50370000000" && !strings.Contains(body, `<option value="SV" selected>`) {
			t.Errorf("the phone hint did not pick its country\n%s", excerpt(rec))
		}
		if len(w.st.outbox) != 0 || w.st.calls["SendCode"] != 0 {
			t.Errorf("hint %q sent a code", tc.hint)
		}
	}
}

func BenchmarkRememberedLogin(b *testing.B) {
	quiet(b)
	hy := newFakeHydra()
	c := strings.Repeat("x", 1200)
	hy.add(hydra.LoginRequest{Challenge: c, Skip: true, Subject: maria.ID})
	st := newMemStore(maria)
	h := HandleShow(Deps{Hydra: hy, Store: st})
	req := httptest.NewRequest(http.MethodGet, "/login?login_challenge="+c, nil)
	b.ReportAllocs()
	for b.Loop() {
		st.Forget()
		clear(hy.answered)
		hy.calls = hy.calls[:0]
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusSeeOther {
			b.Fatal(rec.Code)
		}
	}
}

// quiet silences the handlers' log lines for a benchmark.
func quiet(b *testing.B) {
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.Cleanup(func() { slog.SetDefault(prev) })
}

// The store cannot claim a remembered sign-in: Hydra is not told.
func TestRememberedLoginWhenTheStoreFails(t *testing.T) {
	w := newWorld(t, maria)
	c := w.remembered(maria.ID, nil)
	w.d.Store = failingRemembered{w.st}
	w.build()
	wantPage(t, w.browser("203.0.113.7").get("/login?login_challenge="+c), http.StatusInternalServerError, "error.internal.title")
	wantAnswers(t, w.hy)
}

type failingRemembered struct{ *memStore }

func (failingRemembered) UseRememberedLogin(context.Context, string, string, string) (store.User, store.SignInKind, bool, error) {
	return store.User{}, store.SignInKind{}, false, errors.New("connection reset")
}
