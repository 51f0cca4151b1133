package consent

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/challenges/challengestest"
	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// faultyStore is the in-memory store whose statements can fail as
// PostgreSQL's do.
type faultyStore struct {
	*challengestest.Store
	useErr, userErr, auditErr error
}

func (s *faultyStore) UseChallengeForUser(ctx context.Context, challenge, subject string) (store.User, bool, error) {
	if s.useErr != nil {
		return store.User{}, false, s.useErr
	}
	return s.Store.UseChallengeForUser(ctx, challenge, subject)
}

func (s *faultyStore) UserByID(ctx context.Context, id string) (store.User, error) {
	if s.userErr != nil {
		return store.User{}, s.userErr
	}
	return s.Store.UserByID(ctx, id)
}

func (s *faultyStore) Audit(ctx context.Context, e store.AuditEvent) error {
	if s.auditErr != nil {
		return s.auditErr
	}
	return s.Store.Audit(ctx, e)
}

func used(t *testing.T, st Store, challenge string) bool {
	t.Helper()
	u, err := st.ChallengeUsed(context.Background(), challenge)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// proxy is the trusted proxy the audit's IP comes through.
var proxy = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}

func deps(h *fakeHydra, st Store) Deps {
	return Deps{Hydra: h, Store: st, Settings: Settings{RememberFor: 3600, TrustedProxies: proxy}}
}

// get GETs the consent page of challenge through the trusted proxy.
func get(d Deps, challenge string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/consent?consent_challenge="+challenge, nil)
	r.RemoteAddr = "192.0.2.1:4000"
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	rec := httptest.NewRecorder()
	HandleShow(d).ServeHTTP(rec, r)
	return rec
}

// post POSTs the consent form of challenge through the trusted proxy.
func post(d Deps, challenge string, form url.Values) *httptest.ResponseRecorder {
	form.Set("consent_challenge", challenge)
	r := httptest.NewRequest(http.MethodPost, "/consent", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = "192.0.2.1:4000"
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	rec := httptest.NewRecorder()
	HandleSubmit(d).ServeHTTP(rec, r)
	return rec
}

func allow(scopes ...string) url.Values { return url.Values{"action": {"allow"}, "scope": scopes} }

var everything = hydra.ConsentRequest{
	Subject: "u-1", Client: hydra.OAuthClient{ID: "cafe", Name: "Cafe", ClientURI: "https://cafe.example"},
	RequestURL:        "http://hydra.test/oauth2/auth?client_id=cafe&state=s1",
	RequestedScope:    []string{"openid", "read", "write", "email", "phone"},
	RequestedAudience: []string{"https://api.blink.sv", "https://pay.blink.sv"},
}

// The accept body Hydra receives is exactly the form's choice within what
// the app asked for, with claims from the user's record for those scopes.
func TestAcceptBodyIsTheFormsChoice(t *testing.T) {
	hy := &fakeHydra{req: everything}
	st := challengestest.NewStore(maria)
	form := allow("read", "email")
	form["audience"] = []string{"https://pay.blink.sv"}
	rec := post(deps(hy, st), "abc", form)
	if rec.Code != 303 || rec.Header().Get("Location") != "http://hydra.test/oauth2/auth?consent_verifier=v" {
		t.Fatalf("%d %q\n%s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	want := hydra.AcceptConsent{
		GrantScope:       []string{"openid", "read", "email"},
		GrantAudience:    []string{"https://pay.blink.sv"},
		IDTokenClaims:    map[string]any{"email": "maria@example.com", "email_verified": true},
		AccessTokenClaim: map[string]any{},
	}
	if hy.accepts != 1 || hy.acceptedFor != "abc" || !reflect.DeepEqual(hy.accepted, want) {
		t.Errorf("Hydra received %d accepts for %q:\n%+v\nwant\n%+v", hy.accepts, hy.acceptedFor, hy.accepted, want)
	}
	if !used(t, st, "abc") {
		t.Error("the challenge is not used after the accept")
	}
	if got, _ := st.ChallengeRedirect(context.Background(), "abc"); got != "http://hydra.test/oauth2/auth?consent_verifier=v" {
		t.Errorf("recorded redirect %q", got)
	}
}

// A form cannot grant more than Hydra asked: anything else is refused, Hydra
// hears nothing, the challenge stays open and nothing is audited.
func TestTamperedFormsGrantNothing(t *testing.T) {
	for name, form := range map[string]url.Values{
		"a scope not requested":      allow("read", "admin"),
		"a scope of another case":    allow("READ"),
		"an audience not requested":  {"action": {"allow"}, "scope": {"read"}, "audience": {"https://evil.example"}},
		"one good, one bad audience": {"action": {"allow"}, "audience": {"https://api.blink.sv", "https://evil.example"}},
		"openid when not requested":  allow("openid"),
	} {
		req := everything
		if name == "openid when not requested" {
			req.RequestedScope = []string{"read"}
		}
		hy := &fakeHydra{req: req}
		st := challengestest.NewStore(maria)
		rec := post(deps(hy, st), "abc", form)
		body := rec.Body.String()
		if rec.Code != 400 || !strings.Contains(body, i18n.English.T("consent.tampered.title")) {
			t.Errorf("%s: %d\n%s", name, rec.Code, body)
		}
		if hy.accepts+hy.rejects != 0 || used(t, st, "abc") || len(st.Audited) != 0 {
			t.Errorf("%s: accepts %d rejects %d used %v audited %v", name, hy.accepts, hy.rejects, used(t, st, "abc"), st.Audited)
		}
	}
}

// openid is added only when the app asked for it.
func TestOpenIDOnlyWhenRequested(t *testing.T) {
	hy := &fakeHydra{req: hydra.ConsentRequest{Subject: "u-1", RequestedScope: []string{"read", "write"}}}
	post(deps(hy, challengestest.NewStore(maria)), "abc", allow("read"))
	if !reflect.DeepEqual(hy.accepted.GrantScope, []string{"read"}) {
		t.Errorf("granted %v", hy.accepted.GrantScope)
	}
	// Nothing ticked but openid requested: the sign-in alone.
	hy = &fakeHydra{req: everything}
	post(deps(hy, challengestest.NewStore(maria)), "abc", url.Values{"action": {"allow"}})
	if !reflect.DeepEqual(hy.accepted.GrantScope, []string{"openid"}) || len(hy.accepted.GrantAudience) != 0 || len(hy.accepted.IDTokenClaims) != 0 {
		t.Errorf("nothing ticked: %+v", hy.accepted)
	}
}

// Remember only when ticked ("true"), for REMEMBER_FOR; otherwise nothing
// remembered and no remember_for.
func TestRememberOnlyWhenTicked(t *testing.T) {
	for value, want := range map[string]bool{"true": true, "": false, "false": false, "on": false, "1": false} {
		hy := &fakeHydra{req: everything}
		form := allow("read")
		if value != "" {
			form.Set("remember", value)
		}
		post(deps(hy, challengestest.NewStore(maria)), "abc", form)
		wantFor := int64(0)
		if want {
			wantFor = 3600
		}
		if hy.accepts != 1 || hy.accepted.Remember != want || hy.accepted.RememberFor != wantFor {
			t.Errorf("remember=%q: accepts %d remember %v for %d; want %v for %d", value, hy.accepts, hy.accepted.Remember, hy.accepted.RememberFor, want, wantFor)
		}
	}
	// REMEMBER_FOR 0: remembered until revoked.
	hy := &fakeHydra{req: everything}
	d := deps(hy, challengestest.NewStore(maria))
	d.Settings.RememberFor = 0
	post(d, "abc", url.Values{"action": {"allow"}, "remember": {"true"}})
	if !hy.accepted.Remember || hy.accepted.RememberFor != 0 {
		t.Errorf("until revoked: remember %v for %d", hy.accepted.Remember, hy.accepted.RememberFor)
	}
}

// Skipping the question grants what was requested, remembers nothing new
// (a remembered consent stays as it was; skip_consent is the client's), and
// audits nothing: that path keeps its one database round trip.
func TestSkipRemembersNothingAndAuditsNothing(t *testing.T) {
	for name, req := range map[string]hydra.ConsentRequest{
		"remembered":   {Skip: true},
		"skip_consent": {Client: hydra.OAuthClient{ID: "c", SkipConsent: true}},
	} {
		req.Subject = "u-1"
		req.RequestedScope = []string{"openid", "phone"}
		hy := &fakeHydra{req: req}
		st := challengestest.NewStore(maria)
		rec := get(deps(hy, st), "abc")
		want := hydra.AcceptConsent{
			GrantScope:       []string{"openid", "phone"},
			IDTokenClaims:    map[string]any{"phone_number": "+50370000000", "phone_number_verified": false},
			AccessTokenClaim: map[string]any{},
		}
		if rec.Code != 303 || !reflect.DeepEqual(hy.accepted, want) {
			t.Errorf("%s: %d Hydra received\n%+v\nwant\n%+v", name, rec.Code, hy.accepted, want)
		}
		if len(st.Audited) != 0 || !used(t, st, "abc") {
			t.Errorf("%s: audited %v, used %v", name, st.Audited, used(t, st, "abc"))
		}
	}
	// Neither: the page asks, and Hydra hears nothing.
	hy := &fakeHydra{req: everything}
	st := challengestest.NewStore(maria)
	rec := get(deps(hy, st), "abc")
	if rec.Code != 200 || hy.accepts+hy.rejects != 0 || used(t, st, "abc") {
		t.Errorf("asked: %d accepts %d used %v", rec.Code, hy.accepts, used(t, st, "abc"))
	}
	if got, _ := st.SeenRequestURL(context.Background(), "abc"); got != everything.RequestURL {
		t.Errorf("the flow's start was not kept: %q", got)
	}
}

// The ID token's claims are the user's, for the granted scopes only, with
// their verified flags as they are.
func TestClaimsPerGrantedScope(t *testing.T) {
	juan := store.User{ID: "u-1", Email: "juan@example.com", EmailVerified: false, Phone: "+50371111111", PhoneVerified: true}
	for _, tc := range []struct {
		scopes []string
		want   map[string]any
	}{
		{[]string{"read"}, map[string]any{}},
		{[]string{"email"}, map[string]any{"email": "juan@example.com", "email_verified": false}},
		{[]string{"phone"}, map[string]any{"phone_number": "+50371111111", "phone_number_verified": true}},
		{[]string{"email", "phone"}, map[string]any{"email": "juan@example.com", "email_verified": false, "phone_number": "+50371111111", "phone_number_verified": true}},
	} {
		hy := &fakeHydra{req: everything}
		post(deps(hy, challengestest.NewStore(juan)), "abc", allow(tc.scopes...))
		if !reflect.DeepEqual(hy.accepted.IDTokenClaims, tc.want) {
			t.Errorf("%v: claims %v, want %v", tc.scopes, hy.accepted.IDTokenClaims, tc.want)
		}
	}
}

// Allow and deny are each audited once, after Hydra has the answer, with
// the client, the person's address through the trusted proxy and the choice.
func TestDecisionsAreAudited(t *testing.T) {
	hy := &fakeHydra{req: everything}
	st := challengestest.NewStore(maria)
	form := allow("read")
	form.Set("remember", "true")
	form["audience"] = []string{"https://api.blink.sv"}
	post(deps(hy, st), "abc", form)
	want := []store.AuditEvent{{UserID: "u-1", Action: store.ActionConsentGranted, Actor: "user", ClientID: "cafe", IP: "203.0.113.7",
		Method: "consent", Result: "granted", Details: map[string]any{"scopes": []string{"openid", "read"}, "audience": []string{"https://api.blink.sv"}, "remember": true}}}
	if !reflect.DeepEqual(st.Audited, want) {
		t.Errorf("allow audited\n%+v\nwant\n%+v", st.Audited, want)
	}

	hy = &fakeHydra{req: everything}
	st = challengestest.NewStore(maria)
	rec := post(deps(hy, st), "abc", url.Values{"action": {"deny"}})
	if rec.Code != 303 || rec.Header().Get("Location") != "http://hydra.test/oauth2/auth?consent_verifier=r" || hy.accepts != 0 ||
		hy.rejected != (hydra.Rejection{Error: "access_denied", Description: "The user denied the app access to their Blink account."}) {
		t.Errorf("deny: %d %q accepts %d rejected %+v", rec.Code, rec.Header().Get("Location"), hy.accepts, hy.rejected)
	}
	want = []store.AuditEvent{{UserID: "u-1", Action: store.ActionConsentDenied, Actor: "user", ClientID: "cafe", IP: "203.0.113.7",
		Method: "consent", Result: "denied"}}
	if !reflect.DeepEqual(st.Audited, want) || !used(t, st, "abc") {
		t.Errorf("deny audited\n%+v\nwant\n%+v", st.Audited, want)
	}
}

// A double submit goes where the first went: Hydra told once, audited once.
func TestDoubleSubmitAuditsOnce(t *testing.T) {
	hy := &fakeHydra{req: everything}
	st := challengestest.NewStore(maria)
	d := deps(hy, st)
	post(d, "abc", allow("read"))
	for _, form := range []url.Values{allow("read"), allow("read", "write"), {"action": {"deny"}}} {
		rec := post(d, "abc", form)
		if rec.Code != 303 || rec.Header().Get("Location") != "http://hydra.test/oauth2/auth?consent_verifier=v" {
			t.Errorf("%v: %d %q", form, rec.Code, rec.Header().Get("Location"))
		}
	}
	if hy.accepts != 1 || hy.rejects != 0 || len(st.Audited) != 1 || !reflect.DeepEqual(hy.accepted.GrantScope, []string{"openid", "read"}) {
		t.Errorf("accepts %d rejects %d audited %d granted %v", hy.accepts, hy.rejects, len(st.Audited), hy.accepted.GrantScope)
	}
	// The page itself is refused now, with the way back to where it went.
	rec := get(d, "abc")
	if rec.Code != 410 || !strings.Contains(rec.Body.String(), `href="http://hydra.test/oauth2/auth?consent_verifier=v"`) {
		t.Errorf("page after the answer: %d\n%s", rec.Code, rec.Body)
	}
}

// Hydra failing on the answer: no audit (nothing was decided), the claim
// released so the same form works once Hydra is back.
func TestHydraFailureReleasesAndAuditsNothing(t *testing.T) {
	for _, action := range []url.Values{allow("read"), {"action": {"deny"}}} {
		hy := &fakeHydra{req: everything, acceptErr: fmt.Errorf("%w: accept: timed out", hydra.ErrUnavailable),
			rejectErr: fmt.Errorf("%w: reject: timed out", hydra.ErrUnavailable)}
		st := challengestest.NewStore(maria)
		d := deps(hy, st)
		get(d, "abc") // the page keeps the flow's start
		rec := post(d, "abc", action)
		if rec.Code != 503 || !strings.Contains(rec.Body.String(), `href="`+html.EscapeString(everything.RequestURL)+`"`) {
			t.Errorf("%v: %d\n%s", action, rec.Code, rec.Body)
		}
		if used(t, st, "abc") || len(st.Audited) != 0 {
			t.Fatalf("%v: used %v audited %v; want released, nothing audited", action, used(t, st, "abc"), st.Audited)
		}
		hy.acceptErr, hy.rejectErr = nil, nil
		if rec := post(d, "abc", action); rec.Code != 303 || len(st.Audited) != 1 {
			t.Errorf("%v retry: %d audited %d", action, rec.Code, len(st.Audited))
		}
	}
}

// A failed audit does not undo a decision Hydra has.
func TestAuditFailureKeepsTheDecision(t *testing.T) {
	hy := &fakeHydra{req: everything}
	st := &faultyStore{Store: challengestest.NewStore(maria), auditErr: errors.New("connection reset")}
	rec := post(deps(hy, st), "abc", allow("read"))
	if rec.Code != 303 || hy.accepts != 1 || !used(t, st, "abc") {
		t.Errorf("%d accepts %d", rec.Code, hy.accepts)
	}
}

// Another signed-in person's consent is their own: the claims and the audit
// follow the subject Hydra holds for the challenge, never the form.
func TestASecondPersonsConsent(t *testing.T) {
	juan := store.User{ID: "u-2", Email: "juan@example.com", EmailVerified: true}
	hy := &fakeHydra{byChallenge: map[string]hydra.ConsentRequest{
		"maria": {Subject: "u-1", Client: hydra.OAuthClient{ID: "cafe"}, RequestedScope: []string{"openid", "email"}},
		"juan":  {Subject: "u-2", Client: hydra.OAuthClient{ID: "cafe"}, RequestedScope: []string{"openid", "email"}},
	}}
	st := challengestest.NewStore(maria, juan)
	d := deps(hy, st)
	form := allow("email")
	form.Set("subject", "u-2")
	post(d, "maria", form)
	if hy.acceptedFor != "maria" || hy.accepted.IDTokenClaims["email"] != "maria@example.com" || st.Audited[0].UserID != "u-1" {
		t.Errorf("maria's consent: for %q claims %v audit %+v", hy.acceptedFor, hy.accepted.IDTokenClaims, st.Audited)
	}
	// Maria's answer leaves Juan's challenge open, and his consent is his.
	if rec := get(d, "juan"); rec.Code != 200 || !strings.Contains(rec.Body.String(), "juan@example.com") {
		t.Errorf("juan's page: %d", rec.Code)
	}
	post(d, "juan", allow("email"))
	if hy.accepts != 2 || hy.acceptedFor != "juan" || hy.accepted.IDTokenClaims["email"] != "juan@example.com" || len(st.Audited) != 2 || st.Audited[1].UserID != "u-2" {
		t.Errorf("juan's consent: %d accepts, for %q claims %v audit %+v", hy.accepts, hy.acceptedFor, hy.accepted.IDTokenClaims, st.Audited)
	}
}

// With the accounts kept elsewhere (Blink core), a subject not seen here
// yet gets its consent with no claims; without, the unknown subject is
// refused.
func TestAccountsElsewhere(t *testing.T) {
	req := hydra.ConsentRequest{Subject: "core-7", Client: hydra.OAuthClient{ID: "cafe"}, RequestedScope: []string{"openid", "email"}}

	// Asked, then allowed.
	hy := &fakeHydra{req: req}
	st := challengestest.NewStore(maria)
	d := deps(hy, st)
	d.Settings.AccountsElsewhere = true
	if rec := get(d, "abc"); rec.Code != 200 {
		t.Errorf("page: %d\n%s", rec.Code, rec.Body)
	}
	post(d, "abc", allow("email"))
	if hy.accepts != 1 || len(hy.accepted.IDTokenClaims) != 0 || !reflect.DeepEqual(hy.accepted.GrantScope, []string{"openid", "email"}) ||
		len(st.Audited) != 1 || st.Audited[0].UserID != "core-7" {
		t.Errorf("allow: accepts %d %+v audited %+v", hy.accepts, hy.accepted, st.Audited)
	}

	// skip_consent.
	skip := req
	skip.Client.SkipConsent = true
	hy = &fakeHydra{req: skip}
	st = challengestest.NewStore(maria)
	d = deps(hy, st)
	d.Settings.AccountsElsewhere = true
	if rec := get(d, "abc"); rec.Code != 303 || hy.accepts != 1 || hy.rejects != 0 || len(hy.accepted.IDTokenClaims) != 0 {
		t.Errorf("skip: %d accepts %d rejects %d claims %v", rec.Code, hy.accepts, hy.rejects, hy.accepted.IDTokenClaims)
	}

	// Our own accounts: a subject we do not know can no longer sign in.
	hy = &fakeHydra{req: skip}
	st = challengestest.NewStore(maria)
	rec := get(deps(hy, st), "abc")
	if rec.Code != 303 || rec.Header().Get("Location") != "http://hydra.test/oauth2/auth?consent_verifier=r" || hy.accepts != 0 ||
		hy.rejected != (hydra.Rejection{Error: "access_denied", Description: "This account can no longer sign in."}) || !used(t, st, "abc") {
		t.Errorf("unknown subject, skip: %d %q accepts %d rejected %+v", rec.Code, rec.Header().Get("Location"), hy.accepts, hy.rejected)
	}
	hy = &fakeHydra{req: req}
	st = challengestest.NewStore(maria)
	for _, rec := range []*httptest.ResponseRecorder{get(deps(hy, st), "abc"), post(deps(hy, st), "abc", allow("email"))} {
		if rec.Code != 500 || hy.accepts+hy.rejects != 0 || used(t, st, "abc") || len(st.Audited) != 0 {
			t.Errorf("unknown subject: %d accepts %d rejects %d", rec.Code, hy.accepts, hy.rejects)
		}
	}
}

// A disabled account: skipped consent is rejected at Hydra (and stays
// used), an allow is refused with the disabled page and tells Hydra nothing.
func TestDisabledAccount(t *testing.T) {
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	disabled := maria
	disabled.DisabledAt = &when

	skip := everything
	skip.Skip = true
	hy := &fakeHydra{req: skip}
	st := challengestest.NewStore(disabled)
	d := deps(hy, st)
	rec := get(d, "abc")
	if rec.Code != 303 || hy.accepts != 0 || hy.rejects != 1 || hy.rejected.Error != "access_denied" || !used(t, st, "abc") || len(st.Audited) != 0 {
		t.Errorf("skip: %d accepts %d rejects %d %+v used %v", rec.Code, hy.accepts, hy.rejects, hy.rejected, used(t, st, "abc"))
	}
	if rec := get(d, "abc"); rec.Code != 410 || hy.rejects != 1 {
		t.Errorf("reload: %d rejects %d", rec.Code, hy.rejects)
	}

	hy = &fakeHydra{req: everything}
	st = challengestest.NewStore(disabled)
	rec = post(deps(hy, st), "abc", allow("read", "email"))
	if rec.Code != 403 || !strings.Contains(rec.Body.String(), i18n.English.T("error.disabled.title")) {
		t.Errorf("allow: %d\n%s", rec.Code, rec.Body)
	}
	if hy.accepts+hy.rejects != 0 || used(t, st, "abc") || len(st.Audited) != 0 {
		t.Errorf("allow: accepts %d rejects %d used %v audited %v", hy.accepts, hy.rejects, used(t, st, "abc"), st.Audited)
	}
}

// The skip path's failures: the store down tells Hydra nothing; Hydra down
// releases the claim so a reload tries again.
func TestSkipPathFailures(t *testing.T) {
	skip := everything
	skip.Client.SkipConsent = true
	hy := &fakeHydra{req: skip}
	st := &faultyStore{Store: challengestest.NewStore(maria), useErr: errors.New("connection refused")}
	if rec := get(deps(hy, st), "abc"); rec.Code != 500 || hy.accepts+hy.rejects != 0 {
		t.Errorf("store down: %d accepts %d", rec.Code, hy.accepts)
	}

	hy = &fakeHydra{req: skip, acceptErr: fmt.Errorf("%w: accept: status 502", hydra.ErrUnavailable)}
	st2 := challengestest.NewStore(maria)
	d := deps(hy, st2)
	if rec := get(d, "abc"); rec.Code != 503 || used(t, st2, "abc") {
		t.Errorf("hydra down: %d used %v", rec.Code, used(t, st2, "abc"))
	}
	hy.acceptErr = nil
	if rec := get(d, "abc"); rec.Code != 303 || hy.accepts != 2 {
		t.Errorf("reload: %d accepts %d", rec.Code, hy.accepts)
	}
}

// Hydra's answers to the get, and a missing or malformed challenge, each
// have their page and tell Hydra nothing.
func TestConsentRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, challenge string
		getErr          error
		gets, status    int
		kind            string
	}{
		{"missing", "", nil, 0, 400, "missing"},
		{"malformed", "<script>", nil, 0, 404, "unknown"},
		{"expired", "abc", fmt.Errorf("%w (get consent request)", hydra.ErrExpired), 1, 410, "expired"},
		{"used at Hydra", "abc", &hydra.HandledError{RedirectTo: "https://cafe.example/cb"}, 1, 410, "used"},
		{"unknown", "abc", fmt.Errorf("%w (get consent request)", hydra.ErrNotFound), 1, 404, "unknown"},
		{"unavailable", "abc", hydra.ErrUnavailable, 1, 503, "unavailable"},
	} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			hy := &fakeHydra{req: everything, getErr: tc.getErr}
			st := challengestest.NewStore(maria)
			var rec *httptest.ResponseRecorder
			if method == http.MethodGet {
				rec = get(deps(hy, st), url.QueryEscape(tc.challenge))
			} else {
				rec = post(deps(hy, st), tc.challenge, allow("read"))
			}
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), html.EscapeString(i18n.English.T("error."+tc.kind+".title"))) {
				t.Errorf("%s %s: %d\n%s", tc.name, method, rec.Code, rec.Body)
			}
			if hy.gets != tc.gets || hy.accepts+hy.rejects != 0 || used(t, st, "abc") {
				t.Errorf("%s %s: gets %d accepts %d rejects %d", tc.name, method, hy.gets, hy.accepts, hy.rejects)
			}
		}
	}
	// A form that cannot be read: nothing asked.
	hy := &fakeHydra{req: everything}
	r := httptest.NewRequest(http.MethodPost, "/consent", strings.NewReader("consent_challenge=%zz"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	HandleSubmit(deps(hy, challengestest.NewStore(maria))).ServeHTTP(rec, r)
	if rec.Code != 400 || hy.gets != 0 {
		t.Errorf("unreadable form: %d gets %d", rec.Code, hy.gets)
	}
}

// The page speaks the app's ui_locales and names the person by email, or by
// phone when they have no email.
func TestConsentPageLanguageAndName(t *testing.T) {
	req := everything
	req.UILocales = []string{"es"}
	pedro := store.User{ID: "u-1", Phone: "+50372222222"}
	hy := &fakeHydra{req: req}
	rec := get(deps(hy, challengestest.NewStore(pedro)), "abc")
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `<html lang="es">`) || !strings.Contains(body, "+50372222222") {
		t.Errorf("%d\n%s", rec.Code, body)
	}
	// A logo that is not https adds no image source.
	req.Client.LogoURI = "http://cdn.example.com/logo.png"
	rec = httptest.NewRecorder()
	rec.Header().Set("Content-Security-Policy", "img-src 'self'")
	r := httptest.NewRequest(http.MethodGet, "/consent?consent_challenge=abc", nil)
	HandleShow(deps(&fakeHydra{req: req}, challengestest.NewStore(pedro))).ServeHTTP(rec, r)
	if strings.Contains(rec.Body.String(), "cdn.example.com") || rec.Header().Get("Content-Security-Policy") != "img-src 'self'" {
		t.Errorf("http logo: CSP %q", rec.Header().Get("Content-Security-Policy"))
	}
}
