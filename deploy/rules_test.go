package deploy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"sigs.k8s.io/yaml"

	"github.com/blinkbitcoin/blink-consent/internal/metrics"
)

// The rule file decodes strictly into Prometheus's rule-file shape, every
// rule has an expression on our metrics, a valid `for`, a severity and a summary.
func TestPrometheusRulesParse(t *testing.T) {
	file := readRules(t)
	if len(file.Groups) == 0 {
		t.Fatal("no rule groups")
	}
	known := knownMetrics(t)
	runbooks, err := os.ReadFile("../docs/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	var runbookSections []string
	for _, line := range strings.Split(string(runbooks), "\n") {
		if name, ok := strings.CutPrefix(line, "## "); ok {
			runbookSections = append(runbookSections, strings.TrimSpace(name))
		}
	}
	metricName := regexp.MustCompile(`blink_consent_[a-z_]+`)
	seen := map[string]bool{}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || seen[r.Alert] {
				t.Errorf("alert name %q empty or repeated", r.Alert)
			}
			seen[r.Alert] = true
			if !strings.Contains(r.Expr, "blink_consent_") && !strings.Contains(r.Expr, "kube_job_") {
				t.Errorf("%s: expression %q reads none of our metrics", r.Alert, r.Expr)
			}
			for _, name := range metricName.FindAllString(r.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
				if !known[base] {
					t.Errorf("%s: no metric %s", r.Alert, name)
				}
			}
			if strings.Count(r.Expr, "(") != strings.Count(r.Expr, ")") {
				t.Errorf("%s: unbalanced parentheses", r.Alert)
			}
			if _, err := time.ParseDuration(r.For); err != nil {
				t.Errorf("%s: for %q: %v", r.Alert, r.For, err)
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: no summary or description", r.Alert)
			}
			// Each alert's runbook is its own section of docs/runbooks.md
			// (GitHub's anchor of "## BlinkConsentX" is "#blinkconsentx").
			if want := runbookBase + "#" + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			if !slices.Contains(runbookSections, r.Alert) {
				t.Errorf("%s: docs/runbooks.md has no section \"## %s\"", r.Alert, r.Alert)
			}
		}
	}
	for _, want := range []string{"BlinkConsentOutboxStuck", "BlinkConsentOutboxBacklog", "BlinkConsentHydraErrors", "BlinkConsentCoreErrors",
		"BlinkConsentDependencyDown", "BlinkConsentDown", "BlinkConsentSignInFailures", "BlinkConsentLimitRefusalsSpiking",
		"BlinkConsentDatabasePoolWaits", "BlinkConsentMigrateFailed", "BlinkConsentRetentionFailing"} {
		if !seen[want] {
			t.Errorf("no %s alert", want)
		}
	}
}

const (
	// rulesFile is the one rule file: the chart renders it as a PrometheusRule.
	rulesFile = "helm/blink-consent/files/prometheus-rules.yaml"
	// runbookBase is where docs/runbooks.md is read on GitHub.
	runbookBase = "https://github.com/blinkbitcoin/blink-consent/blob/main/docs/runbooks.md"
)

// readRules decodes the rule file strictly.
func readRules(t *testing.T) ruleFile {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var file ruleFile
	if err := yaml.UnmarshalStrict(b, &file); err != nil {
		t.Fatal(err)
	}
	return file
}

// Prometheus's own promtool (pinned in tools/promtool, built into bin/promtool
// like Helm) checks the rule file and runs prometheus-rules.test.yaml: every
// alert fires when it should and stays quiet when it should, on series shaped
// like the real scrape.
func TestRulesWithPromtool(t *testing.T) {
	promtool := toolBin(t, "PROMTOOL_BIN", "promtool", "make bin/promtool (tools/promtool pins Prometheus v0.316.0, promtool 3.16)")
	for _, args := range [][]string{{"check", "rules", rulesFile}, {"test", "rules", "prometheus-rules.test.yaml"}} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// knownMetrics are the names the service exposes (each labelled metric used once).
func knownMetrics(t *testing.T) map[string]bool {
	m := metrics.New()
	m.Register(metrics.NewOutboxCollector(func(context.Context) (int, time.Duration, error) { return 0, 0, nil }, time.Second))
	// A pool that never connects (pgxpool dials lazily) has statistics all the same.
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	m.Register(metrics.NewPoolCollector(pool.Stat))
	m.SignIn("email", "success")
	m.Code("email", "sent")
	m.LimitRefusal("send-ip")
	m.HydraCall("get_login_request", "ok", time.Millisecond)
	m.CoreCall("email_code", "ok", time.Millisecond)
	m.SetDependencyUp("hydra", true)
	h := m.Requests(http.NotFoundHandler())
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	known := map[string]bool{}
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			known[strings.Fields(name)[0]] = true
		}
	}
	if !known["blink_consent_outbox_depth"] {
		t.Fatalf("the metrics do not list the outbox:\n%s", rec.Body)
	}
	return known
}
