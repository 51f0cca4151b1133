package login

import (
	"bufio"
	"bytes"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/captcha"
	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/metrics"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
)

// world is one login service over fakes: Hydra, the store and the identity
// source, with the routes of server/routes.go.
type world struct {
	t   *testing.T
	hy  *fakeHydra
	st  *memStore
	src *fakeSource
	m   *metrics.Metrics
	d   Deps
	h   http.Handler
	log *syncBuffer
}

// The accounts the tests sign in.
var (
	maria = store.User{ID: "0b5a3f7e-0000-4000-8000-000000000001", Email: "maria@example.com", EmailVerified: true}
	jose  = store.User{ID: "0b5a3f7e-0000-4000-8000-000000000002", Phone: "+50370000000", PhoneVerified: true}
	ana   = store.User{ID: "0b5a3f7e-0000-4000-8000-000000000003", Email: "ana@example.com", EmailVerified: true}
)

func defaultSettings() Settings {
	return Settings{
		RememberFor: 30 * 24 * time.Hour, FlowTTL: 30 * time.Minute, ResendAfter: time.Minute,
		Email: true, SMS: true, WhatsApp: true, SMSCountries: []string{"SV", "US"},
	}
}

// newWorld builds the service; change w.d (Settings, Accounts, Captcha)
// and call w.build() again to vary it.
func newWorld(t *testing.T, users ...store.User) *world {
	t.Helper()
	st := newMemStore(users...)
	w := &world{t: t, hy: newFakeHydra(), st: st, src: newFakeSource(st), m: metrics.New(), log: &syncBuffer{}}
	w.d = Deps{Hydra: w.hy, Store: st, Accounts: w.src, Captcha: captcha.Off{}, Settings: defaultSettings(), Metrics: w.m}
	w.build()
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(w.log, nil)))
	t.Cleanup(func() {
		slog.SetDefault(prev)
		// No code, cookie value or full challenge ever reaches the log.
		logged := w.log.String()
		for _, m := range st.outbox {
			// A code alone, not a run of digits inside an id.
			if regexp.MustCompile(`(^|[^0-9a-f])` + m.Code + `([^0-9a-f]|$)`).MatchString(logged) {
				t.Errorf("the log holds a code %s", m.Code)
			}
		}
		for c := range w.hy.requests {
			if len(c) > 8 && strings.Contains(logged, c) {
				t.Errorf("the log holds a challenge %s", c)
			}
		}
	})
	return w
}

func (w *world) build() {
	mux := http.NewServeMux()
	d := w.d
	mux.Handle("GET /login", HandleShow(d))
	mux.Handle("GET /login/identify", HandleIdentifyPage(d))
	mux.Handle("POST /login/identify", HandleIdentify(d))
	mux.Handle("GET /login/code", HandleCodePage(d))
	mux.Handle("POST /login/code", HandleCode(d))
	mux.Handle("GET /login/telegram", HandleTelegramPage(d))
	mux.Handle("POST /login/telegram", HandleTelegram(d))
	mux.Handle("GET /login/passkey/options", HandlePasskeyOptions(d))
	mux.Handle("POST /login/passkey", HandlePasskey(d))
	mux.Handle("GET /login/totp", HandleTOTPPage(d))
	mux.Handle("POST /login/totp", HandleTOTP(d))
	w.h = mux
}

// challenge makes Hydra hold a fresh (skip=false) login request for client
// "app" and returns its challenge.
func (w *world) challenge() string {
	c := "lc" + strings.ReplaceAll(newUUID(), "-", "")
	w.hy.add(hydra.LoginRequest{Challenge: c, SessionID: "sess-" + c[2:10], Client: hydra.OAuthClient{ID: "app", Name: "Blink App"}})
	return c
}

// browser is one person's browser: its cookies and address.
type browser struct {
	w       *world
	ip      string
	cookies map[string]*http.Cookie
}

func (w *world) browser(ip string) *browser {
	return &browser{w: w, ip: ip, cookies: map[string]*http.Cookie{}}
}

func (b *browser) do(method, target string, form url.Values) *httptest.ResponseRecorder {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.RemoteAddr = b.ip + ":40000"
	for _, c := range b.cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	rec := httptest.NewRecorder()
	// As the security middleware sets it.
	rec.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'")
	b.w.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return rec
}

func (b *browser) get(target string) *httptest.ResponseRecorder {
	return b.do(http.MethodGet, target, nil)
}

func (b *browser) post(target string, form url.Values) *httptest.ResponseRecorder {
	return b.do(http.MethodPost, target, form)
}

// browserCookie is the value of the browser's flow cookie, or "".
func (b *browser) browserCookie() string {
	if c, ok := b.cookies[web.BrowserCookie]; ok {
		return c.Value
	}
	return ""
}

var flowField = regexp.MustCompile(`name="flow" value="([0-9a-f-]{36})"`)

// open starts a sign-in on challenge c and returns the page's flow id.
func (b *browser) open(c string) string {
	t := b.w.t
	t.Helper()
	rec := b.get("/login?login_challenge=" + c)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /login: %d %s", rec.Code, rec.Body)
	}
	m := flowField.FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("GET /login: no flow in the page")
	}
	return m[1]
}

// identifyEmail posts an email address on the identifier page.
func (b *browser) identifyEmail(flow, email string) *httptest.ResponseRecorder {
	return b.post("/login/identify", url.Values{"flow": {flow}, "action": {"continue"}, "method": {"email"}, "email": {email}})
}

// identifyPhone posts a phone number on the identifier page.
func (b *browser) identifyPhone(flow, phone, country, channel string) *httptest.ResponseRecorder {
	return b.post("/login/identify", url.Values{"flow": {flow}, "action": {"continue"}, "method": {"phone"},
		"phone": {phone}, "country": {country}, "channel": {channel}, captcha.FormField: {"ok"}})
}

// code posts a code on the code page.
func (b *browser) code(flow, code string) *httptest.ResponseRecorder {
	return b.post("/login/code", url.Values{"flow": {flow}, "action": {"continue"}, "code": {code}})
}

// toCodePage signs in up to the code page by email and returns the flow and
// the code the outbox got.
func (b *browser) toCodePage(c, email string) (string, string) {
	t := b.w.t
	t.Helper()
	flow := b.open(c)
	rec := b.identifyEmail(flow, email)
	wantRedirect(t, rec, "/login/code?flow="+flow)
	return flow, b.w.st.lastSent().Code
}

// httptestRecorder is a response as the tests read it.
type httptestRecorder = httptest.ResponseRecorder

// ---- assertions ---------------------------------------------------------------

func wantRedirect(t *testing.T, rec *httptest.ResponseRecorder, to string) {
	t.Helper()
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != to {
		t.Fatalf("got %d to %q, want 303 to %q\n%s", rec.Code, rec.Header().Get("Location"), to, excerpt(rec))
	}
}

// wantPage checks the status and that the page says the catalog's text for
// each key (in English).
func wantPage(t *testing.T, rec *httptest.ResponseRecorder, status int, keys ...string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("got %d, want %d\n%s", rec.Code, status, excerpt(rec))
	}
	for _, k := range keys {
		wantText(t, rec, i18n.English.T(k))
	}
}

func wantText(t *testing.T, rec *httptest.ResponseRecorder, text string) {
	t.Helper()
	if !strings.Contains(rec.Body.String(), html.EscapeString(text)) {
		t.Errorf("the page does not say %q\n%s", text, excerpt(rec))
	}
}

func excerpt(rec *httptest.ResponseRecorder) string {
	s := rec.Body.String()
	if i := strings.Index(s, "<main"); i >= 0 {
		s = s[i:]
	}
	if len(s) > 1500 {
		s = s[:1500]
	}
	return s
}

// wantAnswers checks what Hydra was told, in order, as "accept:<subject>" or
// "reject:<error>".
func wantAnswers(t *testing.T, hy *fakeHydra, want ...string) {
	t.Helper()
	var got []string
	for _, c := range hy.answers() {
		if c.Op == "accept" {
			got = append(got, "accept:"+c.Accept.Subject)
		} else {
			got = append(got, "reject:"+c.Reject.Error)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Hydra was told %v, want %v", got, want)
	}
}

// lastAccept is the last accept Hydra got.
func lastAccept(t *testing.T, hy *fakeHydra) hydra.AcceptLogin {
	t.Helper()
	as := hy.answers()
	for i := len(as) - 1; i >= 0; i-- {
		if as[i].Op == "accept" {
			return as[i].Accept
		}
	}
	t.Fatal("Hydra got no accept")
	return hydra.AcceptLogin{}
}

// counter reads a series of the metrics, e.g.
// `blink_consent_sign_ins_total{method="email",result="success"}`; 0 when absent.
func counter(t *testing.T, m *metrics.Metrics, series string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

func signIns(t *testing.T, m *metrics.Metrics, method, result string) float64 {
	t.Helper()
	return counter(t, m, `blink_consent_sign_ins_total{method="`+method+`",result="`+result+`"}`)
}

// actions lists the audit events' actions and results, "action/result".
func (s *memStore) actions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.audited {
		out = append(out, string(e.Action)+"/"+e.Result)
	}
	return out
}

// syncBuffer is a log sink the handlers may write from any goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
