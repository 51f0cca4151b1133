package login

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/challenges/challengestest"
	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// fakeHydra answers like Hydra's admin API and counts the calls.
type fakeHydra struct {
	req                  hydra.LoginRequest
	gets, accepts, rejts int
	accepted             hydra.AcceptLogin
	rejected             hydra.Rejection
}

func (f *fakeHydra) Login(ctx context.Context, challenge string) (hydra.LoginRequest, error) {
	f.gets++
	r := f.req
	r.Challenge = challenge
	return r, nil
}

func (f *fakeHydra) AcceptLogin(ctx context.Context, challenge string, a hydra.AcceptLogin) (string, error) {
	f.accepts++
	f.accepted = a
	return "http://hydra.test/oauth2/auth?login_verifier=v", nil
}

func (f *fakeHydra) RejectLogin(ctx context.Context, challenge string, rj hydra.Rejection) (string, error) {
	f.rejts++
	f.rejected = rj
	return "http://hydra.test/oauth2/auth?login_verifier=r", nil
}

// skipStore serves the skip path from the in-memory fake; any other store
// call hits the nil interface and panics, failing the test.
type skipStore struct {
	Store
	fake *challengestest.Store
}

func (s skipStore) UseRememberedLogin(ctx context.Context, c, subject, sessionID string) (store.User, store.SignInKind, bool, error) {
	u, first, err := s.fake.UseChallengeForUser(ctx, c, subject)
	return u, store.SignInKind{AMR: []string{"otp", "email"}, ACR: "1"}, first, err
}
func (s skipStore) ReleaseChallenge(ctx context.Context, c string) error {
	return s.fake.ReleaseChallenge(ctx, c)
}
func (s skipStore) SeenRequestURL(ctx context.Context, c string) (string, error) {
	return s.fake.SeenRequestURL(ctx, c)
}

func newFakeStore(users ...store.User) skipStore {
	return skipStore{fake: challengestest.NewStore(users...)}
}

func deps(hy Hydra, st Store) Deps { return Deps{Hydra: hy, Store: st} }

func get(h http.Handler, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

// The skip path's budget: one Hydra get, one accept, one database round trip.
func TestRememberedLoginBudgetAndSubject(t *testing.T) {
	hy := &fakeHydra{req: hydra.LoginRequest{Skip: true, Subject: "u-1"}}
	st := newFakeStore(store.User{ID: "u-1", Email: "a@b.c"})
	rec := get(HandleShow(deps(hy, st)), "/login?login_challenge=abc")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "http://hydra.test/oauth2/auth?login_verifier=v" {
		t.Fatalf("got %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	if hy.gets != 1 || hy.accepts != 1 || hy.rejts != 0 || st.fake.Queries != 1 {
		t.Errorf("calls: hydra get %d accept %d reject %d, database %d; want 1, 1, 0, 1", hy.gets, hy.accepts, hy.rejts, st.fake.Queries)
	}
	if hy.accepted.Subject != "u-1" {
		t.Errorf("accepted subject %q, want exactly Hydra's", hy.accepted.Subject)
	}
	if hy.accepted.ACR != "1" || len(hy.accepted.AMR) != 2 {
		t.Errorf("the remembered sign-in did not say again what the session was: %q %v", hy.accepted.ACR, hy.accepted.AMR)
	}

	// The same challenge again is refused without a second accept.
	rec = get(HandleShow(deps(hy, st)), "/login?login_challenge=abc")
	if rec.Code != http.StatusGone || hy.accepts != 1 {
		t.Errorf("replay: %d, accepts %d", rec.Code, hy.accepts)
	}
}

func TestRememberedLoginOfDisabledOrMissingUserIsRejected(t *testing.T) {
	now := time.Now()
	for name, users := range map[string][]store.User{
		"disabled": {{ID: "u-1", DisabledAt: &now}},
		"deleted":  nil,
	} {
		hy := &fakeHydra{req: hydra.LoginRequest{Skip: true, Subject: "u-1"}}
		rec := get(HandleShow(deps(hy, newFakeStore(users...))), "/login?login_challenge=abc")
		if rec.Code != http.StatusSeeOther || hy.accepts != 0 || hy.rejts != 1 || hy.rejected.Error != "access_denied" {
			t.Errorf("%s: %d accepts %d rejects %d %+v", name, rec.Code, hy.accepts, hy.rejts, hy.rejected)
		}
	}
}

func BenchmarkRememberedLogin(b *testing.B) {
	quiet(b)
	hy := &fakeHydra{req: hydra.LoginRequest{Skip: true, Subject: "u-1"}}
	st := newFakeStore(store.User{ID: "u-1"})
	h := HandleShow(deps(hy, st))
	req := httptest.NewRequest(http.MethodGet, "/login?login_challenge="+strings.Repeat("x", 1200), nil)
	b.ReportAllocs()
	for b.Loop() {
		st.fake.Forget()
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

func (s skipStore) ChallengeRedirect(ctx context.Context, c string) (string, error) {
	return s.fake.ChallengeRedirect(ctx, c)
}
