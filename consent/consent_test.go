package consent

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/blinkbitcoin/blink-consent/internal/challenges/challengestest"
	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// fakeHydra answers consent requests: req for every challenge, or the
// challenge's own in byChallenge; the errors make a call fail as the hydra
// client reports Hydra's failures. accepts and rejects count the calls made.
type fakeHydra struct {
	req                          hydra.ConsentRequest
	byChallenge                  map[string]hydra.ConsentRequest
	getErr, acceptErr, rejectErr error
	gets, accepts, rejects       int
	accepted                     hydra.AcceptConsent
	acceptedFor                  string
	rejected                     hydra.Rejection
}

func (f *fakeHydra) Consent(ctx context.Context, challenge string) (hydra.ConsentRequest, error) {
	f.gets++
	if f.getErr != nil {
		return hydra.ConsentRequest{}, f.getErr
	}
	r := f.req
	if c, ok := f.byChallenge[challenge]; ok {
		r = c
	}
	r.Challenge = challenge
	return r, nil
}

func (f *fakeHydra) AcceptConsent(ctx context.Context, challenge string, a hydra.AcceptConsent) (string, error) {
	f.accepts++
	if f.acceptErr != nil {
		return "", f.acceptErr
	}
	f.accepted, f.acceptedFor = a, challenge
	return "http://hydra.test/oauth2/auth?consent_verifier=v", nil
}

func (f *fakeHydra) RejectConsent(ctx context.Context, challenge string, rj hydra.Rejection) (string, error) {
	f.rejects++
	if f.rejectErr != nil {
		return "", f.rejectErr
	}
	f.rejected = rj
	return "http://hydra.test/oauth2/auth?consent_verifier=r", nil
}

var maria = store.User{ID: "u-1", Email: "maria@example.com", EmailVerified: true, Phone: "+50370000000"}

func show(h *fakeHydra, st Store) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Security-Policy", "default-src 'none'; img-src 'self'") // as the middleware sets it
	HandleShow(Deps{Hydra: h, Store: st, Settings: Settings{RememberFor: 60}}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/consent?consent_challenge=abc", nil))
	return rec
}

func submit(h *fakeHydra, st Store, form url.Values) *httptest.ResponseRecorder {
	form.Set("consent_challenge", "abc")
	req := httptest.NewRequest(http.MethodPost, "/consent", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	HandleSubmit(Deps{Hydra: h, Store: st, Settings: Settings{RememberFor: 60}}).ServeHTTP(rec, req)
	return rec
}

// The skip paths' budget: one Hydra get, one accept, one database round trip.
func TestSkipPathsAcceptRequestedScopesAudienceAndClaims(t *testing.T) {
	for name, req := range map[string]hydra.ConsentRequest{
		"remembered consent": {Skip: true},
		"skip_consent":       {Client: hydra.OAuthClient{ID: "c", SkipConsent: true}},
	} {
		req.Subject = "u-1"
		req.RequestedScope = []string{"openid", "read", "email"}
		req.RequestedAudience = []string{"https://api.blink.sv"}
		hy := &fakeHydra{req: req}
		st := challengestest.NewStore(maria)
		rec := show(hy, st)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "http://hydra.test/oauth2/auth?consent_verifier=v" {
			t.Errorf("%s: %d %q", name, rec.Code, rec.Header().Get("Location"))
		}
		if hy.gets != 1 || hy.accepts != 1 || st.Queries != 1 {
			t.Errorf("%s: hydra get %d accept %d, database %d; want 1, 1, 1", name, hy.gets, hy.accepts, st.Queries)
		}
		if !slices.Equal(hy.accepted.GrantScope, req.RequestedScope) || !slices.Equal(hy.accepted.GrantAudience, req.RequestedAudience) {
			t.Errorf("%s: granted %v %v", name, hy.accepted.GrantScope, hy.accepted.GrantAudience)
		}
		if hy.accepted.IDTokenClaims["email"] != "maria@example.com" || hy.accepted.IDTokenClaims["email_verified"] != true {
			t.Errorf("%s: claims %v", name, hy.accepted.IDTokenClaims)
		}
		if rec := show(hy, st); rec.Code != http.StatusGone || hy.accepts != 1 {
			t.Errorf("%s: replay %d, accepts %d", name, rec.Code, hy.accepts)
		}
	}
}

func TestIDTokenClaimsFollowTheGrantedScopes(t *testing.T) {
	for _, tc := range []struct {
		scopes []string
		want   []string
	}{
		{[]string{"openid"}, nil},
		{[]string{"openid", "email"}, []string{"email", "email_verified"}},
		{[]string{"openid", "phone"}, []string{"phone_number", "phone_number_verified"}},
		{[]string{"openid", "email", "phone"}, []string{"email", "email_verified", "phone_number", "phone_number_verified"}},
	} {
		claims := IDTokenClaims(tc.scopes, maria)
		var got []string
		for k := range claims {
			got = append(got, k)
		}
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%v: claims %v, want %v", tc.scopes, got, want)
		}
	}
	if c := IDTokenClaims([]string{"email"}, store.User{ID: "x", Phone: "+1"}); len(c) != 0 {
		t.Errorf("a user without email got %v", c)
	}
}

func TestConsentPageExplainsAndEscapes(t *testing.T) {
	hy := &fakeHydra{req: hydra.ConsentRequest{Subject: "u-1", RequestedScope: []string{"openid", "read", "write", "teleport"},
		Client: hydra.OAuthClient{ID: "c", Name: "Third <i>Party</i>", LogoURI: "https://cdn.example.com/logo.png",
			PolicyURI: "javascript:alert(1)", TosURI: "https://example.com/tos"}}}
	rec := show(hy, challengestest.NewStore(maria))
	body := rec.Body.String()
	for _, want := range []string{
		"Third &lt;i&gt;Party&lt;/i&gt; wants to use your Blink account",
		"See your balance and transaction history",
		"Send payments and change your account",
		"<code>teleport</code>",
		"This permission has no description",
		`src="https://cdn.example.com/logo.png"`,
		`href="https://example.com/tos"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "javascript:") {
		t.Error("a javascript: link was rendered")
	}
	if csp := rec.Header().Get("Content-Security-Policy"); csp != "default-src 'none'; img-src 'self' https://cdn.example.com" {
		t.Errorf("CSP %q", csp)
	}
	if hy.accepts+hy.rejects != 0 {
		t.Error("showing the page told Hydra something")
	}
}

func TestSubmitGrantsOnlyWhatWasRequested(t *testing.T) {
	req := hydra.ConsentRequest{Subject: "u-1", RequestedScope: []string{"openid", "read", "write"}, RequestedAudience: []string{"https://api.blink.sv"}}
	for name, tc := range map[string]struct {
		form      url.Values
		status    int
		accepts   int
		wantScope []string
	}{
		"subset":           {url.Values{"action": {"allow"}, "scope": {"openid", "read"}}, 303, 1, []string{"openid", "read"}},
		"openid added":     {url.Values{"action": {"allow"}, "scope": {"read"}}, 303, 1, []string{"openid", "read"}},
		"extra scope":      {url.Values{"action": {"allow"}, "scope": {"openid", "read", "admin"}}, 400, 0, nil},
		"foreign audience": {url.Values{"action": {"allow"}, "scope": {"openid"}, "audience": {"https://evil.example"}}, 400, 0, nil},
		"no action":        {url.Values{"scope": {"openid"}}, 400, 0, nil},
	} {
		hy := &fakeHydra{req: req}
		rec := submit(hy, challengestest.NewStore(maria), tc.form)
		if rec.Code != tc.status || hy.accepts != tc.accepts {
			t.Errorf("%s: %d accepts %d", name, rec.Code, hy.accepts)
			continue
		}
		if tc.accepts == 1 && !slices.Equal(hy.accepted.GrantScope, tc.wantScope) {
			t.Errorf("%s: granted %v", name, hy.accepted.GrantScope)
		}
	}
}

func TestDenyAndDoubleSubmit(t *testing.T) {
	hy := &fakeHydra{req: hydra.ConsentRequest{Subject: "u-1", RequestedScope: []string{"openid"}}}
	st := challengestest.NewStore(maria)
	rec := submit(hy, st, url.Values{"action": {"deny"}})
	if rec.Code != 303 || hy.rejects != 1 || hy.rejected.Error != "access_denied" {
		t.Fatalf("deny: %d rejects %d %+v", rec.Code, hy.rejects, hy.rejected)
	}
	// The back button and a second click: the same place, Hydra told once.
	for _, form := range []url.Values{{"action": {"deny"}}, {"action": {"allow"}, "scope": {"openid"}}} {
		rec = submit(hy, st, form)
		if rec.Code != 303 || rec.Header().Get("Location") != "http://hydra.test/oauth2/auth?consent_verifier=r" || hy.rejects != 1 || hy.accepts != 0 {
			t.Errorf("double submit %v: %d %q rejects %d accepts %d", form, rec.Code, rec.Header().Get("Location"), hy.rejects, hy.accepts)
		}
	}
}

func TestRememberUsesTheSetting(t *testing.T) {
	hy := &fakeHydra{req: hydra.ConsentRequest{Subject: "u-1", RequestedScope: []string{"openid"}}}
	submit(hy, challengestest.NewStore(maria), url.Values{"action": {"allow"}, "scope": {"openid"}, "remember": {"true"}})
	if !hy.accepted.Remember || hy.accepted.RememberFor != 60 {
		t.Errorf("remember: %v for %d", hy.accepted.Remember, hy.accepted.RememberFor)
	}
}

// Without "Remember", no remember_for is sent: Hydra's listing would drop
// the consent once it passed, while the app's refresh token still works.
func TestNoRememberForWithoutRemember(t *testing.T) {
	hy := &fakeHydra{req: hydra.ConsentRequest{Subject: "u-1", RequestedScope: []string{"openid"}}}
	submit(hy, challengestest.NewStore(maria), url.Values{"action": {"allow"}, "scope": {"openid"}})
	if hy.accepts != 1 || hy.accepted.Remember || hy.accepted.RememberFor != 0 {
		t.Errorf("not remembered: %d accepts, remember %v for %d, want remember_for 0", hy.accepts, hy.accepted.Remember, hy.accepted.RememberFor)
	}
}

func BenchmarkSkipConsent(b *testing.B) {
	quiet(b)
	hy := &fakeHydra{req: hydra.ConsentRequest{Subject: "u-1", Client: hydra.OAuthClient{ID: "c", SkipConsent: true}, RequestedScope: []string{"openid", "read", "write"}}}
	st := challengestest.NewStore(maria)
	h := HandleShow(Deps{Hydra: hy, Store: st})
	req := httptest.NewRequest(http.MethodGet, "/consent?consent_challenge="+strings.Repeat("x", 1200), nil)
	b.ReportAllocs()
	for b.Loop() {
		st.Forget()
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

// A form posted for a challenge already answered, where that answer's
// redirect is unknown, says the answer was saved and offers the way back to
// the app when the client has a website (its client_uri).
func TestDoneConsentGoesBackToTheApp(t *testing.T) {
	for uri, want := range map[string]bool{"https://app.example/home": true, "": false, "javascript:alert(1)": false} {
		hy := &fakeHydra{req: hydra.ConsentRequest{Subject: "u-1", RequestedScope: []string{"openid"}, Client: hydra.OAuthClient{ID: "c", Name: "App", ClientURI: uri}}}
		st := challengestest.NewStore(maria)
		st.Mark("abc")
		rec := submit(hy, st, url.Values{"action": {"allow"}, "scope": {"openid"}})
		body := rec.Body.String()
		has := strings.Contains(body, `<a class="button primary" href="https://app.example/home" rel="noopener noreferrer">Back to the app</a>`)
		if rec.Code != http.StatusOK || hy.accepts != 0 || has != want || strings.Contains(body, "javascript:") {
			t.Errorf("client_uri %q: %d accepts %d, back link %v\n%s", uri, rec.Code, hy.accepts, has, body)
		}
	}
}
