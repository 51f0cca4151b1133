package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/blinkbitcoin/blink-consent/internal/accounts/blinkcore"
	"github.com/blinkbitcoin/blink-consent/internal/devstack/corestandin"
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

// In blink mode /readyz asks Blink core too, through the real client, and
// names it when it does not answer.
func TestReadyzReportsBlinkCore(t *testing.T) {
	core, err := corestandin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	client := blinkcore.New(core.AuthURL(), core.GraphQLURL(), nil)
	h := handleReadyz(answers{}, answers{}, client, new(atomic.Bool), nil)

	code, status := readyz(t, h)
	if code != http.StatusOK || status["blink_core"] != "ok" || status["postgres"] != "ok" || status["hydra"] != "ok" {
		t.Errorf("core up: %d %v", code, status)
	}
	asked := 0
	for _, c := range core.Calls() {
		if c.Path == "/graphql" {
			asked++
		}
	}
	if asked != 1 {
		t.Errorf("core received %d GraphQL calls for one /readyz, want 1", asked)
	}

	core.Down(true)
	code, status = readyz(t, h)
	if code != http.StatusServiceUnavailable || status["blink_core"] != "unavailable" || status["postgres"] != "ok" || status["hydra"] != "ok" {
		t.Errorf("core down: %d %v, want 503 naming blink_core only", code, status)
	}

	core.Down(false)
	if code, status = readyz(t, h); code != http.StatusOK {
		t.Errorf("core back: %d %v", code, status)
	}
}

// In postgres mode core is not asked, and not named.
func TestReadyzWithoutCore(t *testing.T) {
	code, status := readyz(t, handleReadyz(answers{}, answers{}, nil, new(atomic.Bool), nil))
	if _, named := status["blink_core"]; code != http.StatusOK || named {
		t.Errorf("postgres mode: %d %v", code, status)
	}
	code, status = readyz(t, handleReadyz(answers{}, answers{err: errors.New("down")}, nil, new(atomic.Bool), nil))
	if code != http.StatusServiceUnavailable || status["hydra"] != "unavailable" {
		t.Errorf("hydra down: %d %v", code, status)
	}
}

// Once the service is stopping, /readyz answers 503 even with every dependency
// up, so new requests go to other replicas before the listener closes.
func TestReadyzWhileStopping(t *testing.T) {
	var stopping atomic.Bool
	h := handleReadyz(answers{}, answers{}, nil, &stopping, nil)
	if code, status := readyz(t, h); code != http.StatusOK || status["service"] != "" {
		t.Errorf("running: %d %v", code, status)
	}
	stopping.Store(true)
	if code, status := readyz(t, h); code != http.StatusServiceUnavailable || status["service"] != "stopping" || status["hydra"] != "ok" || status["postgres"] != "ok" {
		t.Errorf("stopping: %d %v, want 503 naming the service as stopping", code, status)
	}
}
