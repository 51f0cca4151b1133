//go:build devstack

package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
)

// scrape reads st's /metrics: the raw text and the parsed families.
func scrape(t *testing.T, st *stack) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	resp, err := http.Get(st.HealthURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return string(body), families
}

// sample is the value of the family's series with exactly labels (a
// histogram's count), 0 when there is none.
func sample(families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := families[name]
	if f == nil {
		return 0
	}
	for _, m := range f.Metric {
		if len(m.Label) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.Label {
			if labels[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

// One email sign-in — a resend refused by the cooldown, a wrong code, then
// the right one — moves the sign-in, code, limit, request and Hydra metrics
// by what happened, and no label carries the email, the flow or the challenge.
func TestMetricsAfterAnEmailSignIn(t *testing.T) {
	st, err := newTestStack(context.Background(), "metrics", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Stop() })
	const email = "metrics.sign.in@example.com"
	addUser(t, st, email)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "email"}, SkipConsent: true})
	b := newBrowser(t)

	_, before := scrape(t, st)
	signIn := map[string]string{"method": "email", "result": "success"}
	sent := map[string]string{"channel": "email", "outcome": "sent"}
	queued := map[string]string{"channel": "email", "outcome": "queued"}
	wrong := map[string]string{"method": "email", "result": "wrong_code"}
	cooldown := map[string]string{"limit": "flow-cooldown"}

	start, codePage, code := askCode(t, st, rp, b, st.ServiceURL, email)
	if h := b.Post(st.ServiceURL+"/login/code", url.Values{"flow": {flowID(t, codePage)}, "action": {"resend"}}).Last(); h.Status != http.StatusTooManyRequests {
		t.Fatalf("a resend at once answered %d, want 429", h.Status)
	}
	wrongCode := "000000"
	if code == wrongCode {
		wrongCode = "111111"
	}
	if h := b.Post(st.ServiceURL+"/login/code", codeForm(codePage, wrongCode)).Last(); h.Status != http.StatusUnprocessableEntity {
		t.Fatalf("a wrong code answered %d, want 422", h.Status)
	}
	done := b.Post(st.ServiceURL+"/login/code", codeForm(codePage, code))
	if _, claims := rp.tokens(t, done); claims["email"] != email {
		t.Fatalf("the sign-in did not finish: %v", claims)
	}
	challenge := start.Last().URL.Query().Get("login_challenge")
	if challenge == "" {
		t.Fatalf("no login_challenge in %s", start.Last().URL)
	}

	text, after := scrape(t, st)
	if got := sample(after, "blink_consent_sign_ins_total", signIn) - sample(before, "blink_consent_sign_ins_total", signIn); got != 1 {
		t.Errorf("sign_ins_total{method=email,result=success} moved by %v, want 1", got)
	}
	if got := sample(after, "blink_consent_sign_ins_total", wrong) - sample(before, "blink_consent_sign_ins_total", wrong); got != 1 {
		t.Errorf("sign_ins_total{method=email,result=wrong_code} moved by %v, want 1", got)
	}
	if got := sample(after, "blink_consent_limit_refusals_total", cooldown) - sample(before, "blink_consent_limit_refusals_total", cooldown); got != 1 {
		t.Errorf("limit_refusals_total{limit=flow-cooldown} moved by %v, want 1", got)
	}
	if got := sample(after, "blink_consent_codes_total", queued) - sample(before, "blink_consent_codes_total", queued); got != 1 {
		t.Errorf("codes_total{channel=email,outcome=queued} moved by %v, want 1", got)
	}
	if got := sample(after, "blink_consent_codes_total", sent) - sample(before, "blink_consent_codes_total", sent); got != 1 {
		t.Errorf("codes_total{channel=email,outcome=sent} moved by %v, want 1", got)
	}
	for _, route := range []struct{ route, method, code string }{
		{"/login", "GET", "200"}, {"/login/identify", "POST", "303"}, {"/login/code", "GET", "200"}, {"/login/code", "POST", "303"},
	} {
		labels := map[string]string{"route": route.route, "method": route.method, "code": route.code}
		if sample(after, "blink_consent_http_request_duration_seconds", labels) < 1 {
			t.Errorf("no request timed for %v", labels)
		}
	}
	for _, op := range []string{"get_login_request", "accept_login_request"} {
		if sample(after, "blink_consent_hydra_request_duration_seconds", map[string]string{"operation": op, "outcome": "ok"}) < 1 {
			t.Errorf("no Hydra %s timed", op)
		}
	}
	for _, name := range []string{"blink_consent_outbox_depth", "blink_consent_outbox_oldest_queued_seconds",
		"blink_consent_db_pool_total_conns", "blink_consent_db_pool_acquires_total", "go_goroutines", "process_resident_memory_bytes"} {
		if after[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	// The code went out woken by NOTIFY: the worker listens.
	if got := sample(after, "blink_consent_outbox_listening", nil); got != 1 {
		t.Errorf("outbox_listening %v, want 1", got)
	}
	if sample(after, "blink_consent_db_pool_acquires_total", nil) <= sample(before, "blink_consent_db_pool_acquires_total", nil) {
		t.Error("the pool's acquire count did not move")
	}
	for what, secret := range map[string]string{"the email": email, "the email's local part": "metrics.sign.in",
		"the flow id": flowID(t, codePage), "the challenge": challenge, "the challenge's start": challenge[:16]} {
		if strings.Contains(text, secret) {
			t.Errorf("/metrics carries %s", what)
		}
	}

	// The Grafana dashboard (deploy/grafana) queries only what this real
	// scrape has, after a sign-in and a readiness probe (which sets
	// blink_consent_dependency_up).
	if code, _ := readyzOf(t, st.HealthURL); code != http.StatusOK {
		t.Fatalf("/readyz: %d", code)
	}
	_, real := scrape(t, st)
	queried := dashboardMetrics(t, "../../deploy/grafana/blink-consent.json")
	if len(queried) < 10 {
		t.Fatalf("the dashboard queries only %v", queried)
	}
	for _, name := range queried {
		base := name
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && real[b] != nil && real[b].GetType() == dto.MetricType_HISTOGRAM {
				base = b
			}
		}
		if real[base] == nil {
			t.Errorf("the dashboard queries %s, which the service's /metrics does not have", name)
		}
	}
}

// dashboardMetrics lists the metric names a Grafana dashboard's queries read.
func dashboardMetrics(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	seen := map[string]bool{}
	var names []string
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			for _, name := range regexp.MustCompile(`\b(?:blink_consent|go|process)_[a-z_]+\b`).FindAllString(target.Expr, -1) {
				if !seen[name] {
					seen[name] = true
					names = append(names, name)
				}
			}
		}
	}
	return names
}

// The outbox gauges read the database at scrape time.
func TestMetricsOutboxBacklog(t *testing.T) {
	st := testStack
	exec(t, `INSERT INTO outbox (channel, destination, sealed, not_after, next_attempt_at, created_at)
		VALUES ('email', 'backlog@example.com', '\x00', now() + interval '1 hour', now() + interval '1 hour', now() - interval '5 minutes')`)
	t.Cleanup(func() { exec(t, `DELETE FROM outbox WHERE destination = 'backlog@example.com'`) })
	_, fams := scrape(t, st)
	if depth := sample(fams, "blink_consent_outbox_depth", nil); depth < 1 {
		t.Errorf("outbox_depth %v, want ≥ 1", depth)
	}
	if oldest := sample(fams, "blink_consent_outbox_oldest_queued_seconds", nil); oldest < 300 {
		t.Errorf("outbox_oldest_queued_seconds %v, want ≥ 300", oldest)
	}
}

// DATABASE_MAX_CONNS sizes serve's pool, as blink_consent_db_pool_max_conns
// shows; and a replica reports itself serving as soon as it listens.
func TestServeSizesThePoolFromDATABASE_MAX_CONNS(t *testing.T) {
	st, err := newTestStack(context.Background(), "poolsize", 0, map[string]string{"DATABASE_MAX_CONNS": "7"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Stop() })
	_, families := scrape(t, st)
	if sample(families, "blink_consent_db_pool_max_conns", nil) != 7 {
		t.Errorf("blink_consent_db_pool_max_conns %v, want 7", families["blink_consent_db_pool_max_conns"])
	}
	// Serving, though nothing has probed /readyz yet (BlinkConsentDown reads it).
	if sample(families, "blink_consent_ready", nil) != 1 {
		t.Errorf("blink_consent_ready %v before any probe, want 1", families["blink_consent_ready"])
	}
}
