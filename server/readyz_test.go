package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/blinkbitcoin/blink-consent/internal/devstack/corestandin"
	"github.com/blinkbitcoin/blink-consent/internal/identity/blinkcore"
	"github.com/blinkbitcoin/blink-consent/internal/metrics"
)

type answers struct{ err error }

func (a answers) Ping(context.Context) error  { return a.err }
func (a answers) Ready(context.Context) error { return a.err }

func readyz(t *testing.T, h http.Handler) (int, map[string]string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var status map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &status); err != nil {
		t.Fatalf("/readyz body %q: %v", rec.Body.String(), err)
	}
	return rec.Code, status
}

// scrapeDependencies returns blink_consent_dependency_up by dependency, as
// m's /metrics serves it.
func scrapeDependencies(t *testing.T, m *metrics.Metrics) map[string]string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	up := map[string]string{}
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, `blink_consent_dependency_up{dependency="`); ok {
			name, value, _ := strings.Cut(rest, `"} `)
			up[name] = value
		}
	}
	return up
}

// In blink mode /readyz asks Blink core too, through the real client, and
// names it when it does not answer — still 200: a shared dependency down is
// no reason to take this replica out of the Service.
func TestReadyzReportsBlinkCore(t *testing.T) {
	core, err := corestandin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	client := blinkcore.New(core.AuthURL(), core.GraphQLURL(), nil)
	m := metrics.New()
	h := handleReadyz(answers{}, answers{}, client, new(atomic.Bool), m)

	code, status := readyz(t, h)
	if code != http.StatusOK || status["blink_core"] != "ok" || status["postgres"] != "ok" || status["hydra"] != "ok" || status["service"] != "ok" {
		t.Errorf("core up: %d %v", code, status)
	}
	asked := map[string]int{}
	for _, c := range core.Calls() {
		asked[c.Path]++
	}
	if asked["/graphql"] != 1 || asked["/auth/email/code"] != 1 || len(asked) != 2 {
		t.Errorf("core received %v for one /readyz, want one GraphQL call and one /auth call", asked)
	}
	if len(core.SeenIPs()) != 1 || core.SeenIPs()[0] != "127.0.0.1" {
		t.Errorf("the /auth probe sent a code or spent a person's limit: seen IPs %v", core.SeenIPs())
	}
	if up := scrapeDependencies(t, m); up["postgres"] != "1" || up["hydra"] != "1" || up["blink_core"] != "1" {
		t.Errorf("blink_consent_dependency_up with everything up: %v", up)
	}

	core.Down(true)
	code, status = readyz(t, h)
	if code != http.StatusOK || status["blink_core"] != "unavailable" || status["postgres"] != "ok" || status["hydra"] != "ok" {
		t.Errorf("core down: %d %v, want 200 naming blink_core only", code, status)
	}
	if up := scrapeDependencies(t, m); up["postgres"] != "1" || up["hydra"] != "1" || up["blink_core"] != "0" {
		t.Errorf("blink_consent_dependency_up with core down: %v", up)
	}

	core.Down(false)
	if code, status = readyz(t, h); code != http.StatusOK || status["blink_core"] != "ok" {
		t.Errorf("core back: %d %v", code, status)
	}
}

// Sign-in calls core's /auth routes: with those failing behind a proxy (502)
// while its GraphQL answers, core is reported unavailable; so is a
// CORE_AUTH_URL that reaches something other than core (404).
func TestReadyzProbesCoresAuthRoutes(t *testing.T) {
	core, err := corestandin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	target, _ := url.Parse(core.URL())
	graphql := httputil.NewSingleHostReverseProxy(target)
	for _, auth := range []struct {
		name   string
		answer http.HandlerFunc
	}{
		{"502 from the proxy", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "Bad Gateway", http.StatusBadGateway) }},
		{"404 of another service", http.NotFound},
	} {
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/auth/") {
				auth.answer(w, r)
				return
			}
			graphql.ServeHTTP(w, r)
		}))
		client := blinkcore.New(proxy.URL+"/auth", proxy.URL+"/graphql", nil)
		if _, err := client.SupportedCountries(context.Background()); err != nil {
			t.Fatalf("GraphQL through the proxy: %v", err)
		}
		m := metrics.New()
		code, status := readyz(t, handleReadyz(answers{}, answers{}, client, new(atomic.Bool), m))
		if code != http.StatusOK || status["blink_core"] != "unavailable" {
			t.Errorf("/auth %s, GraphQL up: %d %v, want blink_core unavailable", auth.name, code, status)
		}
		if up := scrapeDependencies(t, m); up["blink_core"] != "0" {
			t.Errorf("/auth %s: blink_consent_dependency_up %v", auth.name, up)
		}
		proxy.Close()
	}
}

// In postgres mode core is not asked, and not named; Hydra or PostgreSQL down
// is reported, and /readyz still answers 200.
func TestReadyzWithoutCore(t *testing.T) {
	code, status := readyz(t, handleReadyz(answers{}, answers{}, nil, new(atomic.Bool), nil))
	if _, named := status["blink_core"]; code != http.StatusOK || named {
		t.Errorf("postgres mode: %d %v", code, status)
	}
	m := metrics.New()
	code, status = readyz(t, handleReadyz(answers{err: errors.New("down")}, answers{err: errors.New("down")}, nil, new(atomic.Bool), m))
	if code != http.StatusOK || status["hydra"] != "unavailable" || status["postgres"] != "unavailable" || status["service"] != "ok" {
		t.Errorf("hydra and postgres down: %d %v, want 200 naming both", code, status)
	}
	if up := scrapeDependencies(t, m); up["postgres"] != "0" || up["hydra"] != "0" || len(up) != 2 {
		t.Errorf("blink_consent_dependency_up: %v", up)
	}
}

// Once the service is stopping, /readyz answers 503 even with every dependency
// up, so new requests go to other replicas before the listener closes.
func TestReadyzWhileStopping(t *testing.T) {
	var stopping atomic.Bool
	h := handleReadyz(answers{}, answers{}, nil, &stopping, nil)
	if code, status := readyz(t, h); code != http.StatusOK || status["service"] != "ok" {
		t.Errorf("running: %d %v", code, status)
	}
	stopping.Store(true)
	if code, status := readyz(t, h); code != http.StatusServiceUnavailable || status["service"] != "stopping" || status["hydra"] != "ok" || status["postgres"] != "ok" {
		t.Errorf("stopping: %d %v, want 503 naming the service as stopping", code, status)
	}
}
