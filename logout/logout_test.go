package logout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/web"
)

// calls is the order in which Hydra and the store were told things.
type calls []string

// fakeHydra answers logout requests as Hydra v2.3.0 does: a logout request
// once accepted answers 410 with where to go, once rejected 404.
type fakeHydra struct {
	log       *calls
	req       hydra.LogoutRequest
	getErr    error
	acceptErr error
	rejectErr error
	accepted  map[string]bool
	rejected  map[string]bool
}

func newHydra(log *calls, req hydra.LogoutRequest) *fakeHydra {
	return &fakeHydra{log: log, req: req, accepted: map[string]bool{}, rejected: map[string]bool{}}
}

func (f *fakeHydra) Logout(ctx context.Context, challenge string) (hydra.LogoutRequest, error) {
	*f.log = append(*f.log, "get "+challenge)
	switch {
	case f.getErr != nil:
		return hydra.LogoutRequest{}, f.getErr
	case f.accepted[challenge]:
		return hydra.LogoutRequest{}, &hydra.HandledError{RedirectTo: "https://app.example/signed-out"}
	case f.rejected[challenge]:
		return hydra.LogoutRequest{}, fmt.Errorf("%w (get logout request)", hydra.ErrNotFound)
	}
	r := f.req
	r.Challenge = challenge
	return r, nil
}

func (f *fakeHydra) AcceptLogout(ctx context.Context, challenge string) (string, error) {
	*f.log = append(*f.log, "accept "+challenge)
	if f.acceptErr != nil {
		return "", f.acceptErr
	}
	f.accepted[challenge] = true
	return "https://app.example/signed-out", nil
}

func (f *fakeHydra) RejectLogout(ctx context.Context, challenge string) error {
	*f.log = append(*f.log, "reject "+challenge)
	if f.rejectErr != nil {
		return f.rejectErr
	}
	f.rejected[challenge] = true
	return nil
}

// fakeStore ends the account page's sessions of a login session.
type fakeStore struct {
	log      *calls
	sessions map[string]int64 // account sessions per Hydra sid
	err      error
}

func (s *fakeStore) EndLoginSession(ctx context.Context, sid string) (int64, error) {
	*s.log = append(*s.log, "end "+sid)
	if s.err != nil {
		return 0, s.err
	}
	n := s.sessions[sid]
	delete(s.sessions, sid)
	return n, nil
}

var app = hydra.OAuthClient{ID: "app", Name: "Cafe <b>Bitcoin</b>", ClientURI: "https://app.example/home"}

type world struct {
	log   calls
	hydra *fakeHydra
	store *fakeStore
	deps  Deps
}

func newWorld(c hydra.OAuthClient) *world {
	w := &world{}
	w.hydra = newHydra(&w.log, hydra.LogoutRequest{Subject: "u-1", SessionID: "sid-1", Client: c})
	w.store = &fakeStore{log: &w.log, sessions: map[string]int64{"sid-1": 2, "sid-2": 1}}
	w.deps = Deps{Hydra: w.hydra, Store: w.store}
	return w
}

// show GETs the logout page in lang, which the server's middleware would
// have picked from Accept-Language.
func (w *world) show(query string, lang i18n.Lang) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/logout?"+query, nil)
	r = r.WithContext(i18n.WithLang(r.Context(), lang))
	rec := httptest.NewRecorder()
	HandleShow(w.deps).ServeHTTP(rec, r)
	return rec
}

func (w *world) submit(form url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/logout", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		r.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	HandleSubmit(w.deps).ServeHTTP(rec, r)
	return rec
}

// cleared returns the names of the cookies the response removes.
func cleared(rec *httptest.ResponseRecorder) []string {
	var names []string
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 && c.Value == "" && c.Path == "/" && c.HttpOnly {
			names = append(names, c.Name)
		}
	}
	slices.Sort(names)
	return names
}

var bothCookies = []string{web.AccountCookie, web.BrowserCookie}

// A client trusted with skip_logout_consent signs out at once: the account
// page's sessions of Hydra's sid end first, then Hydra, and both cookies go.
func TestSkipLogoutConsentSignsOutAtOnce(t *testing.T) {
	w := newWorld(hydra.OAuthClient{ID: "app", SkipLogoutConsent: true})
	rec := w.show("logout_challenge=abc", i18n.English)
	if rec.Code != 303 || rec.Header().Get("Location") != "https://app.example/signed-out" {
		t.Fatalf("%d %q\n%s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	if want := (calls{"get abc", "end sid-1", "accept abc"}); !slices.Equal(w.log, want) {
		t.Errorf("calls %v, want %v", w.log, want)
	}
	if _, ok := w.store.sessions["sid-1"]; ok || w.store.sessions["sid-2"] != 1 {
		t.Errorf("account sessions left %v: want sid-1's ended, sid-2's kept", w.store.sessions)
	}
	if got := cleared(rec); !slices.Equal(got, bothCookies) {
		t.Errorf("cookies cleared %v, want %v", got, bothCookies)
	}
}

// Otherwise the person is asked, in their language, and nothing ends yet.
func TestLogoutAsksFirst(t *testing.T) {
	for _, lang := range []i18n.Lang{i18n.English, i18n.Spanish} {
		w := newWorld(app)
		rec := w.show("logout_challenge=abc", lang)
		body := rec.Body.String()
		for _, want := range []string{
			lang.T("logout.title"), lang.T("logout.yes"), lang.T("logout.no"),
			`name="logout_challenge" value="abc"`,
			"Cafe &lt;b&gt;Bitcoin&lt;/b&gt;",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: page lacks %q", lang, want)
			}
		}
		if rec.Code != 200 || !slices.Equal(w.log, calls{"get abc"}) || len(cleared(rec)) != 0 || len(w.store.sessions) != 2 {
			t.Errorf("%s: %d calls %v cleared %v sessions %v", lang, rec.Code, w.log, cleared(rec), w.store.sessions)
		}
	}
}

// Yes: the account page's sessions end BEFORE Hydra's accept (a failure in
// between leaves the person signed in everywhere, never half signed out),
// both sign-in cookies are cleared (__Host- over https), and the browser
// goes where Hydra says.
func TestYesEndsTheSessionThenHydra(t *testing.T) {
	for _, secure := range []bool{false, true} {
		w := newWorld(app)
		w.deps.Settings.SecureCookies = secure
		rec := w.submit(url.Values{"logout_challenge": {"abc"}, "action": {"yes"}})
		if rec.Code != 303 || rec.Header().Get("Location") != "https://app.example/signed-out" {
			t.Fatalf("secure %v: %d %q\n%s", secure, rec.Code, rec.Header().Get("Location"), rec.Body)
		}
		if want := (calls{"get abc", "end sid-1", "accept abc"}); !slices.Equal(w.log, want) {
			t.Errorf("secure %v: calls %v, want %v", secure, w.log, want)
		}
		want := bothCookies
		if secure {
			want = []string{"__Host-" + web.AccountCookie, "__Host-" + web.BrowserCookie}
		}
		if got := cleared(rec); !slices.Equal(got, want) {
			t.Errorf("secure %v: cookies cleared %v, want %v", secure, got, want)
		}
		for _, c := range rec.Result().Cookies() {
			if c.Secure != secure || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("secure %v: cookie %s secure %v samesite %v", secure, c.Name, c.Secure, c.SameSite)
			}
		}
	}
}

// The sid that ends is the one Hydra holds for the challenge: a second
// signed-in person's cookies, or a sid in the form, change nothing.
func TestYesEndsHydrasSessionOnly(t *testing.T) {
	w := newWorld(app)
	rec := w.submit(url.Values{"logout_challenge": {"abc"}, "action": {"yes"}, "sid": {"sid-2"}},
		&http.Cookie{Name: web.AccountCookie, Value: strings.Repeat("b", 43)})
	if rec.Code != 303 || !slices.Equal(w.log, calls{"get abc", "end sid-1", "accept abc"}) || w.store.sessions["sid-2"] != 1 {
		t.Errorf("%d calls %v sessions %v", rec.Code, w.log, w.store.sessions)
	}
}

// When the account sessions cannot end, Hydra is not told, the person keeps
// every cookie, and the page says something went wrong — never that they
// were signed out.
func TestYesWithoutTheStoreSignsNobodyOut(t *testing.T) {
	w := newWorld(app)
	w.store.err = errors.New("connection refused")
	rec := w.submit(url.Values{"logout_challenge": {"abc"}, "action": {"yes"}})
	body := rec.Body.String()
	if rec.Code != 500 || !strings.Contains(body, i18n.English.T("error.internal.title")) {
		t.Errorf("%d\n%s", rec.Code, body)
	}
	if !slices.Equal(w.log, calls{"get abc", "end sid-1"}) || w.hydra.accepted["abc"] {
		t.Errorf("calls %v: Hydra was told", w.log)
	}
	if len(rec.Result().Cookies()) != 0 || rec.Header().Get("Location") != "" {
		t.Errorf("cookies %v location %q: the person was sent on as signed out", rec.Result().Cookies(), rec.Header().Get("Location"))
	}
	for _, word := range []string{"signed out", "Signed out"} {
		if strings.Contains(body, word) {
			t.Errorf("the page says %q", word)
		}
	}
	// Once the store is back, the same form signs out.
	w.store.err = nil
	if rec := w.submit(url.Values{"logout_challenge": {"abc"}, "action": {"yes"}}); rec.Code != 303 || !w.hydra.accepted["abc"] {
		t.Errorf("retry: %d", rec.Code)
	}
}

// A double submit of Yes: Hydra answers 410 with where to go, and the
// browser goes there; a used challenge without that place is the used page.
func TestYesTwice(t *testing.T) {
	w := newWorld(app)
	w.submit(url.Values{"logout_challenge": {"abc"}, "action": {"yes"}})
	rec := w.submit(url.Values{"logout_challenge": {"abc"}, "action": {"yes"}})
	if rec.Code != 410 || !strings.Contains(rec.Body.String(), i18n.English.T("error.used.title")) {
		t.Errorf("second yes after the get saw it used: %d\n%s", rec.Code, rec.Body)
	}
	// Two posts racing: both passed the get, the second's accept is Hydra's 410.
	w = newWorld(app)
	w.hydra.acceptErr = &hydra.HandledError{RedirectTo: "https://app.example/signed-out"}
	rec = w.submit(url.Values{"logout_challenge": {"abc"}, "action": {"yes"}})
	if rec.Code != 303 || rec.Header().Get("Location") != "https://app.example/signed-out" || !slices.Equal(cleared(rec), bothCookies) {
		t.Errorf("racing yes: %d %q cleared %v", rec.Code, rec.Header().Get("Location"), cleared(rec))
	}
	w.hydra.acceptErr = &hydra.HandledError{}
	rec = w.submit(url.Values{"logout_challenge": {"abc"}, "action": {"yes"}})
	if rec.Code != 410 || len(rec.Result().Cookies()) != 0 {
		t.Errorf("racing yes without a redirect: %d cookies %v", rec.Code, rec.Result().Cookies())
	}
}

// Hydra failing on the accept: its page, and no cookie cleared.
func TestAcceptFailures(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		kind   string
	}{
		{fmt.Errorf("%w: accept logout request: timed out", hydra.ErrUnavailable), 503, "unavailable"},
		{fmt.Errorf("%w (accept logout request)", hydra.ErrExpired), 410, "expired"},
		{fmt.Errorf("%w (accept logout request)", hydra.ErrNotFound), 404, "unknown"},
	} {
		w := newWorld(app)
		w.hydra.acceptErr = tc.err
		rec := w.submit(url.Values{"logout_challenge": {"abc"}, "action": {"yes"}})
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), i18n.English.T("error."+tc.kind+".title")) ||
			len(rec.Result().Cookies()) != 0 || rec.Header().Get("Location") != "" {
			t.Errorf("%s: %d cookies %v\n%s", tc.kind, rec.Code, rec.Result().Cookies(), rec.Body)
		}
	}
}

// No keeps the person signed in: Hydra rejects, nothing ends here, no
// cookie goes, and the page offers the way back to the app.
func TestNoKeepsThePersonSignedIn(t *testing.T) {
	for _, lang := range []i18n.Lang{i18n.English, i18n.Spanish} {
		w := newWorld(app)
		r := url.Values{"logout_challenge": {"abc"}, "action": {"no"}}
		req := httptest.NewRequest(http.MethodPost, "/logout", strings.NewReader(r.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req = req.WithContext(i18n.WithLang(req.Context(), lang))
		rec := httptest.NewRecorder()
		HandleSubmit(w.deps).ServeHTTP(rec, req)
		body := rec.Body.String()
		if rec.Code != 200 || !strings.Contains(body, lang.T("logout.kept.title")) ||
			!strings.Contains(body, `href="https://app.example/home"`) || !strings.Contains(body, lang.T("logout.back", "Cafe &lt;b&gt;Bitcoin&lt;/b&gt;")) {
			t.Errorf("%s: %d\n%s", lang, rec.Code, body)
		}
		if !slices.Equal(w.log, calls{"get abc", "reject abc"}) || len(w.store.sessions) != 2 || len(rec.Result().Cookies()) != 0 {
			t.Errorf("%s: calls %v sessions %v cookies %v", lang, w.log, w.store.sessions, rec.Result().Cookies())
		}
	}
	// An app without a website: no link.
	w := newWorld(hydra.OAuthClient{ID: "app", ClientURI: "javascript:alert(1)"})
	rec := w.submit(url.Values{"logout_challenge": {"abc"}, "action": {"no"}})
	if rec.Code != 200 || strings.Contains(rec.Body.String(), "javascript:") || strings.Contains(rec.Body.String(), `class="button primary"`) {
		t.Errorf("no website: %d\n%s", rec.Code, rec.Body)
	}
	// No after No: Hydra forgot the request (404): the unknown page.
	w = newWorld(app)
	w.submit(url.Values{"logout_challenge": {"abc"}, "action": {"no"}})
	if rec := w.submit(url.Values{"logout_challenge": {"abc"}, "action": {"no"}}); rec.Code != 404 {
		t.Errorf("second no: %d", rec.Code)
	}
	// Hydra down on the reject: not "You are still signed in" (though true), the unavailable page.
	w = newWorld(app)
	w.hydra.rejectErr = hydra.ErrUnavailable
	rec = w.submit(url.Values{"logout_challenge": {"abc"}, "action": {"no"}})
	if rec.Code != 503 || strings.Contains(rec.Body.String(), i18n.English.T("logout.kept.title")) {
		t.Errorf("reject failed: %d\n%s", rec.Code, rec.Body)
	}
}

// Hydra's answers to the get, and a missing or malformed challenge, each
// have their page; none ends a session or clears a cookie.
func TestLogoutRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		query  string
		getErr error
		status int
		kind   string
		gets   int
	}{
		{"missing", "", nil, 400, "missing", 0},
		{"malformed", "logout_challenge=%3Cscript%3E", nil, 404, "unknown", 0},
		{"expired", "logout_challenge=abc", fmt.Errorf("%w (get logout request)", hydra.ErrExpired), 410, "expired", 1},
		{"used", "logout_challenge=abc", &hydra.HandledError{RedirectTo: "https://app.example/signed-out"}, 410, "used", 1},
		{"rejected or unknown", "logout_challenge=abc", fmt.Errorf("%w (get logout request)", hydra.ErrNotFound), 404, "unknown", 1},
		{"unavailable", "logout_challenge=abc", fmt.Errorf("%w: get logout request: timed out", hydra.ErrUnavailable), 503, "unavailable", 1},
	} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			w := newWorld(hydra.OAuthClient{ID: "app", SkipLogoutConsent: true})
			w.hydra.getErr = tc.getErr
			var rec *httptest.ResponseRecorder
			if method == http.MethodGet {
				rec = w.show(tc.query, i18n.English)
			} else {
				form, _ := url.ParseQuery(tc.query)
				form.Set("action", "yes")
				rec = w.submit(form)
			}
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), i18n.English.T("error."+tc.kind+".title")) {
				t.Errorf("%s %s: %d\n%s", tc.name, method, rec.Code, rec.Body)
			}
			if len(w.log) != tc.gets || len(w.store.sessions) != 2 || len(rec.Result().Cookies()) != 0 {
				t.Errorf("%s %s: calls %v sessions %v cookies %v", tc.name, method, w.log, w.store.sessions, rec.Result().Cookies())
			}
		}
	}
}

// A form with neither Yes nor No, or one that cannot be read, changes nothing.
func TestSubmitBadForms(t *testing.T) {
	w := newWorld(app)
	rec := w.submit(url.Values{"logout_challenge": {"abc"}, "action": {"maybe"}})
	if rec.Code != 400 || !slices.Equal(w.log, calls{"get abc"}) || len(rec.Result().Cookies()) != 0 {
		t.Errorf("unknown action: %d calls %v", rec.Code, w.log)
	}
	w = newWorld(app)
	r := httptest.NewRequest(http.MethodPost, "/logout", strings.NewReader("logout_challenge=%zz"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec = httptest.NewRecorder()
	HandleSubmit(w.deps).ServeHTTP(rec, r)
	if rec.Code != 400 || len(w.log) != 0 || !strings.Contains(rec.Body.String(), i18n.English.T("error.badrequest.title")) {
		t.Errorf("unreadable form: %d calls %v", rec.Code, w.log)
	}
}
