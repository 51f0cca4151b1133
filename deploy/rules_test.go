package deploy

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.yaml.in/yaml/v3"

	"github.com/blinkbitcoin/blink-consent/internal/metrics"
)

// The rule file decodes strictly into Prometheus's rule-file shape, every
// rule has an expression on our metrics, a valid `for`, a severity and a summary.
func TestPrometheusRulesParse(t *testing.T) {
	b, err := os.ReadFile("prometheus-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatal(err)
	}
	if len(file.Groups) == 0 {
		t.Fatal("no rule groups")
	}
	known := knownMetrics(t)
	metricName := regexp.MustCompile(`blink_consent_[a-z_]+`)
	seen := map[string]bool{}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || seen[r.Alert] {
				t.Errorf("alert name %q empty or repeated", r.Alert)
			}
			seen[r.Alert] = true
			if !strings.Contains(r.Expr, "blink_consent_") && !strings.Contains(r.Expr, "up{") {
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
		}
	}
	for _, want := range []string{"BlinkConsentOutboxStuck", "BlinkConsentOutboxBacklog", "BlinkConsentHydraErrors", "BlinkConsentCoreErrors",
		"BlinkConsentDependencyDown", "BlinkConsentDown", "BlinkConsentSignInFailures"} {
		if !seen[want] {
			t.Errorf("no %s alert", want)
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
