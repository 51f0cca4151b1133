package consent

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/web/webtest"
)

type fakeHydra struct {
	req           hydra.ConsentRequest
	gets, accepts int
	accepted      hydra.AcceptConsent
}

func (f *fakeHydra) Consent(ctx context.Context, challenge string) (hydra.ConsentRequest, error) {
	f.gets++
	r := f.req
	r.Challenge = challenge
	return r, nil
}

func (f *fakeHydra) AcceptConsent(ctx context.Context, challenge string, a hydra.AcceptConsent) (string, error) {
	f.accepts++
	f.accepted = a
	return "http://hydra.test/oauth2/auth?consent_verifier=v", nil
}

func TestSkipPathsAcceptRequestedScopesAndAudience(t *testing.T) {
	for name, req := range map[string]hydra.ConsentRequest{
		"remembered consent": {Skip: true},
		"skip_consent":       {Client: hydra.OAuthClient{ID: "c", SkipConsent: true}},
	} {
		req.RequestedScope = []string{"openid", "read"}
		req.RequestedAudience = []string{"https://api.blink.sv"}
		hy := &fakeHydra{req: req}
		st := webtest.NewChallenges()
		rec := httptest.NewRecorder()
		HandleShow(hy, st).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/consent?consent_challenge=abc", nil))
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "http://hydra.test/oauth2/auth?consent_verifier=v" {
			t.Errorf("%s: %d %q", name, rec.Code, rec.Header().Get("Location"))
		}
		if hy.gets != 1 || hy.accepts != 1 || st.Queries != 1 {
			t.Errorf("%s: hydra get %d accept %d, database %d; want 1, 1, 1", name, hy.gets, hy.accepts, st.Queries)
		}
		if !slices.Equal(hy.accepted.GrantScope, req.RequestedScope) || !slices.Equal(hy.accepted.GrantAudience, req.RequestedAudience) {
			t.Errorf("%s: granted %v %v", name, hy.accepted.GrantScope, hy.accepted.GrantAudience)
		}
	}
}

func TestConsentPageDoesNotGrant(t *testing.T) {
	hy := &fakeHydra{req: hydra.ConsentRequest{Client: hydra.OAuthClient{ID: "c", Name: "Third <i>Party</i>"}}}
	rec := httptest.NewRecorder()
	HandleShow(hy, webtest.NewChallenges()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/consent?consent_challenge=abc", nil))
	if rec.Code != http.StatusOK || hy.accepts != 0 || !strings.Contains(rec.Body.String(), "Third &lt;i&gt;Party&lt;/i&gt;") {
		t.Errorf("%d accepts %d", rec.Code, hy.accepts)
	}
}

func BenchmarkSkipConsent(b *testing.B) {
	quiet(b)
	hy := &fakeHydra{req: hydra.ConsentRequest{Client: hydra.OAuthClient{ID: "c", SkipConsent: true}, RequestedScope: []string{"openid", "read", "write"}}}
	st := webtest.NewChallenges()
	h := HandleShow(hy, st)
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
