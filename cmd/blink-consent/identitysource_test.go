//go:build devstack

package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/blinkbitcoin/blink-consent/internal/devstack/corestandin"
)

func getReadyz(t *testing.T, healthURL string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get(healthURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var status map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, status
}

// serve with IDENTITY_SOURCE=blink asks Blink core on /readyz, next to
// PostgreSQL and Hydra, and names it when it is down; with postgres it does not.
func TestServeBlinkModeReadyzNamesCore(t *testing.T) {
	core, err := corestandin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	st, err := newTestStack(context.Background(), "blinkready", 0, map[string]string{
		"IDENTITY_SOURCE":  "blink",
		"CORE_AUTH_URL":    core.AuthURL(),
		"GRAPHQL_ENDPOINT": core.GraphQLURL(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop()

	code, status := getReadyz(t, st.HealthURL)
	if code != http.StatusOK || status["blink_core"] != "ok" || status["postgres"] != "ok" || status["hydra"] != "ok" {
		t.Errorf("core up: %d %v", code, status)
	}
	if n := len(core.Calls()); n == 0 {
		t.Error("/readyz said ok without asking core")
	}
	core.Down(true)
	code, status = getReadyz(t, st.HealthURL)
	if code != http.StatusOK || status["blink_core"] != "unavailable" || status["postgres"] != "ok" || status["hydra"] != "ok" {
		t.Errorf("core down: %d %v, want 200 naming blink_core", code, status)
	}

	code, status = getReadyz(t, testStack.HealthURL)
	if _, named := status["blink_core"]; code != http.StatusOK || named {
		t.Errorf("postgres mode: %d %v", code, status)
	}
}
