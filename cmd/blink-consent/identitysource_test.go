//go:build devstack

package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"

	"github.com/blinkbitcoin/blink-consent/internal/config"
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

// With IDENTITY_SOURCE=blink and no SMTP or SMS settings — what the README
// recommends: core sends the codes — no channel can carry a notification, so
// the account page's two-step notices are not queued (they used to be, and the
// outbox worker marked them failed, firing BlinkConsentCodeDeliveryFailing).
// With SMTP set, email can.
func TestBlinkModeWithoutSMTPQueuesNoNotices(t *testing.T) {
	env := map[string]string{
		"DATABASE_URL": "postgres://u:p@127.0.0.1:1/db", "HYDRA_ADMIN_URL": "http://127.0.0.1:4445", "PUBLIC_URL": "https://login.example.com",
		"SECRET_KEY": randomHex(32), "IDENTITY_SOURCE": "blink", "CORE_AUTH_URL": "http://core/auth", "GRAPHQL_ENDPOINT": "http://core/graphql", "TRUSTED_PROXIES": "10.42.0.0/16",
	}
	for _, c := range []struct {
		smtp string
		want bool
	}{{"", false}, {testSMTP.URL(), true}} {
		env["SMTP_URL"], env["SMTP_FROM"], env["SMTP_CA_FILE"] = c.smtp, "", ""
		if c.smtp != "" {
			env["SMTP_FROM"], env["SMTP_CA_FILE"] = "Blink <no-reply@blink.test>", testSMTP.caFile
		}
		cfg, err := config.Load(func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		senders, err := newSenders(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		can := notifyChannels(senders)
		if can("email") != c.want || can("sms") {
			t.Errorf("SMTP_URL %q: email %v, sms %v; want email %v and no sms", c.smtp, can("email"), can("sms"), c.want)
		}
	}
}
