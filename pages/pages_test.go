package pages

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/a-h/templ"

	"github.com/blinkbitcoin/blink-consent/internal/challenges"
	"github.com/blinkbitcoin/blink-consent/internal/challenges/challengestest"
	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/views"
)

// startURL is a flow's start as Hydra gives it: its & must reach the page escaped.
const startURL = "http://hydra.test/oauth2/auth?client_id=app&state=s1"

// store is the in-memory challenge store, whose reads and writes can fail
// as PostgreSQL's do.
type store struct {
	*challengestest.Challenges
	usedErr, redirectErr error
}

func newStore() *store { return &store{Challenges: challengestest.NewChallenges()} }

func (s *store) ChallengeUsed(ctx context.Context, challenge string) (bool, error) {
	if s.usedErr != nil {
		return false, s.usedErr
	}
	return s.Challenges.ChallengeUsed(ctx, challenge)
}

func (s *store) SetChallengeRedirect(ctx context.Context, challenge, redirectTo string) error {
	if s.redirectErr != nil {
		return s.redirectErr
	}
	return s.Challenges.SetChallengeRedirect(ctx, challenge, redirectTo)
}

func (s *store) used(t *testing.T, challenge string) bool {
	t.Helper()
	u, err := s.Challenges.ChallengeUsed(context.Background(), challenge)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (s *store) redirect(challenge string) string {
	r, _ := s.Challenges.ChallengeRedirect(context.Background(), challenge)
	return r
}

func request(lang i18n.Lang) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/consent?consent_challenge=abc", nil)
	return r.WithContext(i18n.WithLang(web.WithRequestID(r.Context(), "req-42"), lang))
}

// link is how the error page writes a button's link.
func link(class, href, key string) string {
	return fmt.Sprintf(`<a class="button %s" href="%s">%s</a>`, class, html.EscapeString(href), i18n.English.T(key))
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		kind   string
	}{
		{&hydra.HandledError{RedirectTo: "https://hydra.test/x"}, 410, "used"},
		{fmt.Errorf("accept: %w", &hydra.HandledError{}), 410, "used"},
		{challenges.ErrUsed, 410, "used"},
		{fmt.Errorf("consent: %w", challenges.ErrUsed), 410, "used"},
		{challenges.ErrAccountDisabled, 403, "disabled"},
		{fmt.Errorf("%w (get consent request)", hydra.ErrExpired), 410, "expired"},
		{fmt.Errorf("%w (get logout request)", hydra.ErrNotFound), 404, "unknown"},
		{fmt.Errorf("%w: accept: status 400 invalid_request", hydra.ErrInvalid), 400, "badrequest"},
		{fmt.Errorf("%w: get: timed out", hydra.ErrUnavailable), 503, "unavailable"},
		{errors.New("store: connection reset"), 500, "internal"},
		{context.Canceled, 500, "internal"},
	} {
		status, kind := Classify(tc.err)
		if status != tc.status || kind != tc.kind {
			t.Errorf("%v: %d %s, want %d %s", tc.err, status, kind, tc.status, tc.kind)
		}
	}
}

// Fail shows the kind's page in the request's language with its reference for
// support, and never the error's own words (which may hold a challenge).
func TestFailShowsThePageInWordsNotTheError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		kind string
	}{
		{fmt.Errorf("%w: consent_challenge=ory_cc_SECRET", hydra.ErrUnavailable), "unavailable"},
		{fmt.Errorf("%w (ory_cc_SECRET)", hydra.ErrExpired), "expired"},
		{fmt.Errorf("%w (ory_cc_SECRET)", hydra.ErrNotFound), "unknown"},
		{fmt.Errorf("pgx: ory_cc_SECRET"), "internal"},
		{challenges.ErrAccountDisabled, "disabled"},
	} {
		for _, lang := range []i18n.Lang{i18n.English, i18n.Spanish} {
			rec := httptest.NewRecorder()
			Fail(rec, request(lang), tc.err)
			body := rec.Body.String()
			status, _ := Classify(tc.err)
			if rec.Code != status || !strings.Contains(body, html.EscapeString(lang.T("error."+tc.kind+".title"))) ||
				!strings.Contains(body, html.EscapeString(lang.T("error."+tc.kind+".body"))) || !strings.Contains(body, "req-42") {
				t.Errorf("%s %s: %d\n%s", tc.kind, lang, rec.Code, body)
			}
			if strings.Contains(body, "SECRET") || strings.Contains(body, "pgx") {
				t.Errorf("%s %s: the error's text reached the page", tc.kind, lang)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("%s: Content-Type %q", tc.kind, ct)
			}
		}
	}
}

// The ways forward of a known flow's error page.
func TestFailFlowWaysForward(t *testing.T) {
	startAgain := link("primary", startURL, "error.start_again")
	startAgainSecond := link("secondary", startURL, "error.start_again")
	backTo := func(u string) string { return link("primary", u, "error.back_to_app") }
	for _, tc := range []struct {
		name             string
		err              error
		seen, recorded   string
		status           int
		want, wantAbsent []string
	}{
		{name: "expired, start kept", err: hydra.ErrExpired, seen: startURL, status: 410,
			want: []string{startAgain}, wantAbsent: []string{"error.back_to_app"}},
		{name: "expired, a recorded redirect is no way back", err: hydra.ErrExpired, seen: startURL, recorded: "https://hydra.test/recorded", status: 410,
			want: []string{startAgain}, wantAbsent: []string{"https://hydra.test/recorded"}},
		{name: "unavailable, start kept", err: hydra.ErrUnavailable, seen: startURL, status: 503,
			want: []string{startAgain}},
		{name: "used at Hydra: its redirect", err: &hydra.HandledError{RedirectTo: "https://hydra.test/handled"}, seen: startURL, recorded: "https://hydra.test/recorded", status: 410,
			want: []string{backTo("https://hydra.test/handled"), startAgainSecond}, wantAbsent: []string{"https://hydra.test/recorded"}},
		{name: "used at Hydra without a redirect: ours", err: &hydra.HandledError{}, recorded: "https://hydra.test/recorded", status: 410,
			want: []string{backTo("https://hydra.test/recorded")}, wantAbsent: []string{"error.start_again"}},
		{name: "used here: the recorded redirect", err: challenges.ErrUsed, recorded: "https://hydra.test/recorded", status: 410,
			want: []string{backTo("https://hydra.test/recorded")}},
		{name: "used, nothing known", err: challenges.ErrUsed, status: 410,
			wantAbsent: []string{`class="button`}},
		{name: "expired, nothing kept", err: hydra.ErrExpired, status: 410,
			wantAbsent: []string{`class="button`}},
		{name: "unknown challenge: no start again", err: hydra.ErrNotFound, seen: startURL, recorded: "https://hydra.test/recorded", status: 404,
			wantAbsent: []string{`class="button`}},
		{name: "internal: no start again", err: errors.New("boom"), seen: startURL, status: 500,
			wantAbsent: []string{`class="button`}},
	} {
		st := newStore()
		ctx := context.Background()
		if tc.seen != "" {
			st.SeeChallenge(ctx, "abc", tc.seen)
		}
		if tc.recorded != "" {
			st.SetChallengeRedirect(ctx, "abc", tc.recorded)
		}
		rec := httptest.NewRecorder()
		FailFlow(rec, request(i18n.English), st, "abc", tc.err)
		body := rec.Body.String()
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, rec.Code, tc.status)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: page lacks %s\n%s", tc.name, w, body)
			}
		}
		for _, w := range tc.wantAbsent {
			if strings.Contains(body, w) || strings.Contains(body, i18n.English.T(w)) {
				t.Errorf("%s: page has %s", tc.name, w)
			}
		}
	}
}

// ShowPage keeps the flow's start for a later "Start again", and refuses a
// challenge already answered with the way back to where it went.
func TestShowPage(t *testing.T) {
	st := newStore()
	rec := httptest.NewRecorder()
	if !ShowPage(rec, request(i18n.English), st, "abc", startURL) || rec.Body.Len() != 0 {
		t.Fatalf("a fresh challenge was refused: %d %s", rec.Code, rec.Body)
	}
	if got, _ := st.SeenRequestURL(context.Background(), "abc"); got != startURL {
		t.Errorf("kept request URL %q", got)
	}
	// No request URL (Hydra gave none): the kept one stays.
	if !ShowPage(httptest.NewRecorder(), request(i18n.English), st, "abc", "") {
		t.Fatal("refused without a request URL")
	}
	if got, _ := st.SeenRequestURL(context.Background(), "abc"); got != startURL {
		t.Errorf("kept request URL %q after a show without one", got)
	}

	// Answered: the page is refused, the answer's way back offered.
	st.Mark("abc")
	st.SetChallengeRedirect(context.Background(), "abc", "https://hydra.test/went")
	rec = httptest.NewRecorder()
	if ShowPage(rec, request(i18n.Spanish), st, "abc", startURL) {
		t.Fatal("a used challenge's page was shown")
	}
	body := rec.Body.String()
	if rec.Code != http.StatusGone || !strings.Contains(body, i18n.Spanish.T("error.used.title")) ||
		!strings.Contains(body, `href="https://hydra.test/went"`) || !strings.Contains(body, i18n.Spanish.T("error.back_to_app")) {
		t.Errorf("used: %d\n%s", rec.Code, body)
	}

	// The store down: an error page, not the form.
	st = newStore()
	st.usedErr = errors.New("connection refused")
	rec = httptest.NewRecorder()
	if ShowPage(rec, request(i18n.English), st, "abc", startURL) || rec.Code != 500 {
		t.Errorf("store down: shown, or %d", rec.Code)
	}
}

// Answer claims the challenge once, tells Hydra, records where it went and
// sends the browser there.
func TestAnswerTellsOnceAndRecordsTheRedirect(t *testing.T) {
	st := newStore()
	tells, dones := 0, 0
	tell := func() (string, error) { tells++; return "https://hydra.test/first", nil }
	done := func() { dones++ }

	rec := httptest.NewRecorder()
	Answer(rec, request(i18n.English), st, "abc", tell, done)
	if rec.Code != 303 || rec.Header().Get("Location") != "https://hydra.test/first" || tells != 1 {
		t.Fatalf("first: %d %q told %d", rec.Code, rec.Header().Get("Location"), tells)
	}
	if !st.used(t, "abc") || st.redirect("abc") != "https://hydra.test/first" {
		t.Errorf("after the answer: used %v, recorded %q", st.used(t, "abc"), st.redirect("abc"))
	}

	// A double submit goes where the first went; Hydra is not told twice.
	rec = httptest.NewRecorder()
	Answer(rec, request(i18n.English), st, "abc", func() (string, error) { tells++; return "https://hydra.test/second", nil }, done)
	if rec.Code != 303 || rec.Header().Get("Location") != "https://hydra.test/first" || tells != 1 || dones != 0 {
		t.Errorf("double submit: %d %q told %d done %d", rec.Code, rec.Header().Get("Location"), tells, dones)
	}
}

// A second post whose first answer's redirect is unknown renders done.
func TestAnswerDoneWhenTheFirstRedirectIsUnknown(t *testing.T) {
	st := newStore()
	st.Mark("abc")
	tells, dones := 0, 0
	rec := httptest.NewRecorder()
	Answer(rec, request(i18n.English), st, "abc", func() (string, error) { tells++; return "x", nil }, func() { dones++ })
	if tells != 0 || dones != 1 || rec.Header().Get("Location") != "" {
		t.Errorf("told %d done %d location %q", tells, dones, rec.Header().Get("Location"))
	}
}

// When Hydra could not be told, the claim is released so the same form can
// be posted again, and the page offers "Start again".
func TestAnswerReleasesWhenHydraFails(t *testing.T) {
	st := newStore()
	st.SeeChallenge(context.Background(), "abc", startURL)
	rec := httptest.NewRecorder()
	Answer(rec, request(i18n.English), st, "abc", func() (string, error) {
		return "", fmt.Errorf("%w: accept: timed out", hydra.ErrUnavailable)
	}, func() { t.Error("done rendered for a failure") })
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), link("primary", startURL, "error.start_again")) {
		t.Errorf("hydra down: %d\n%s", rec.Code, rec.Body)
	}
	if st.used(t, "abc") || st.redirect("abc") != "" {
		t.Fatalf("after a failed tell: used %v, recorded %q; want released, nothing recorded", st.used(t, "abc"), st.redirect("abc"))
	}
	rec = httptest.NewRecorder()
	Answer(rec, request(i18n.English), st, "abc", func() (string, error) { return "https://hydra.test/retry", nil }, nil)
	if rec.Code != 303 || rec.Header().Get("Location") != "https://hydra.test/retry" {
		t.Errorf("retry: %d %q", rec.Code, rec.Header().Get("Location"))
	}
}

// A disabled account's reject reached Hydra: the claim stays, the page says
// the account cannot sign in, and a second post does not tell Hydra again.
func TestAnswerKeepsTheClaimOfADisabledAccount(t *testing.T) {
	st := newStore()
	tells := 0
	rec := httptest.NewRecorder()
	Answer(rec, request(i18n.English), st, "abc", func() (string, error) { tells++; return "", challenges.ErrAccountDisabled }, nil)
	if rec.Code != 403 || !strings.Contains(rec.Body.String(), i18n.English.T("error.disabled.title")) || !st.used(t, "abc") {
		t.Fatalf("disabled: %d used %v\n%s", rec.Code, st.used(t, "abc"), rec.Body)
	}
	dones := 0
	Answer(httptest.NewRecorder(), request(i18n.English), st, "abc", func() (string, error) { tells++; return "x", nil }, func() { dones++ })
	if tells != 1 || dones != 1 {
		t.Errorf("second post: told %d done %d", tells, dones)
	}
}

// Hydra's 410 on the answer: the page goes back where Hydra says.
func TestAnswerHandledAtHydra(t *testing.T) {
	st := newStore()
	rec := httptest.NewRecorder()
	Answer(rec, request(i18n.English), st, "abc", func() (string, error) {
		return "", &hydra.HandledError{RedirectTo: "https://hydra.test/handled"}
	}, nil)
	if rec.Code != 410 || !strings.Contains(rec.Body.String(), link("primary", "https://hydra.test/handled", "error.back_to_app")) {
		t.Errorf("handled: %d\n%s", rec.Code, rec.Body)
	}
}

// A redirect that could not be recorded does not hold the user back.
func TestAnswerGoesOnWhenTheRedirectCannotBeRecorded(t *testing.T) {
	st := newStore()
	st.redirectErr = errors.New("connection reset")
	rec := httptest.NewRecorder()
	Answer(rec, request(i18n.English), st, "abc", func() (string, error) { return "https://hydra.test/next", nil }, nil)
	if rec.Code != 303 || rec.Header().Get("Location") != "https://hydra.test/next" || !st.used(t, "abc") {
		t.Errorf("%d %q used %v", rec.Code, rec.Header().Get("Location"), st.used(t, "abc"))
	}
}

type loginReq struct{ locales []string }

func uiLocales(l loginReq) []string { return l.locales }

// Load reads the challenge, asks Hydra with it, and switches the language to
// the request's ui_locales (before the browser's Accept-Language).
func TestLoad(t *testing.T) {
	var asked []string
	get := func(ctx context.Context, challenge string) (loginReq, error) {
		asked = append(asked, challenge)
		return loginReq{locales: []string{"es-SV"}}, nil
	}
	r := httptest.NewRequest(http.MethodGet, "/login?login_challenge=abc", nil)
	r.Header.Set("Accept-Language", "en-US")
	rec := httptest.NewRecorder()
	req, challenge, r2, ok := Load(rec, r, newStore(), "login_challenge", get, uiLocales)
	if !ok || challenge != "abc" || len(req.locales) != 1 || rec.Body.Len() != 0 {
		t.Fatalf("load: ok %v %q %+v\n%s", ok, challenge, req, rec.Body)
	}
	if len(asked) != 1 || asked[0] != "abc" {
		t.Errorf("Hydra asked %v", asked)
	}
	if got := i18n.FromContext(r2.Context()); got != i18n.Spanish {
		t.Errorf("language %s, want es from ui_locales", got)
	}
	// Without ui_locales the browser's language.
	r.Header.Set("Accept-Language", "es")
	_, _, r2, _ = Load(httptest.NewRecorder(), r, newStore(), "login_challenge",
		func(ctx context.Context, challenge string) (loginReq, error) { return loginReq{}, nil }, uiLocales)
	if got := i18n.FromContext(r2.Context()); got != i18n.Spanish {
		t.Errorf("language %s, want es from Accept-Language", got)
	}
}

// Load refuses a missing or malformed challenge without asking Hydra, and a
// flow Hydra let expire gets "Start again" to its kept start.
func TestLoadRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, query string
		hydraErr    error
		asks        int
		status      int
		kind        string
		startAgain  bool
	}{
		{name: "missing", query: "", status: 400, kind: "missing"},
		{name: "malformed", query: "login_challenge=%3Cscript%3E", status: 404, kind: "unknown"},
		{name: "expired", query: "login_challenge=abc", hydraErr: hydra.ErrExpired, asks: 1, status: 410, kind: "expired", startAgain: true},
		{name: "unknown", query: "login_challenge=abc", hydraErr: hydra.ErrNotFound, asks: 1, status: 404, kind: "unknown"},
		{name: "unavailable", query: "login_challenge=abc", hydraErr: hydra.ErrUnavailable, asks: 1, status: 503, kind: "unavailable", startAgain: true},
	} {
		st := newStore()
		st.SeeChallenge(context.Background(), "abc", startURL)
		asks := 0
		get := func(ctx context.Context, challenge string) (loginReq, error) {
			asks++
			return loginReq{}, tc.hydraErr
		}
		rec := httptest.NewRecorder()
		_, challenge, _, ok := Load(rec, httptest.NewRequest(http.MethodGet, "/login?"+tc.query, nil), st, "login_challenge", get, uiLocales)
		body := rec.Body.String()
		if ok || challenge != "" || asks != tc.asks || rec.Code != tc.status || !strings.Contains(body, i18n.English.T("error."+tc.kind+".title")) {
			t.Errorf("%s: ok %v %q asks %d, %d\n%s", tc.name, ok, challenge, asks, rec.Code, body)
		}
		if has := strings.Contains(body, link("primary", startURL, "error.start_again")); has != tc.startAgain {
			t.Errorf("%s: start again %v", tc.name, has)
		}
		if strings.Contains(body, "script") && tc.name == "malformed" {
			t.Errorf("%s: the challenge reached the page", tc.name)
		}
	}
}

// A component that fails leaves no half page: a plain 500.
func TestRenderNeverLeavesHalfAPage(t *testing.T) {
	broken := templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		io.WriteString(w, "<h1>half")
		return errors.New("template failed")
	})
	rec := httptest.NewRecorder()
	Render(rec, request(i18n.English), http.StatusOK, broken)
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "half") {
		t.Errorf("%d %q", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	Render(rec, request(i18n.English), http.StatusTeapot, views.Notice("consent.done.title", "consent.done.body", "App", ""))
	if rec.Code != http.StatusTeapot || !strings.Contains(rec.Body.String(), i18n.English.T("consent.done.title")) {
		t.Errorf("%d\n%s", rec.Code, rec.Body)
	}
}

func TestProblemStartAgain(t *testing.T) {
	rec := httptest.NewRecorder()
	ProblemStartAgain(rec, request(i18n.Spanish), http.StatusGone, "expired", startURL)
	body := rec.Body.String()
	if rec.Code != 410 || !strings.Contains(body, i18n.Spanish.T("error.expired.title")) ||
		!strings.Contains(body, `href="`+html.EscapeString(startURL)+`"`) || !strings.Contains(body, i18n.Spanish.T("error.start_again")) {
		t.Errorf("%d\n%s", rec.Code, body)
	}
}
