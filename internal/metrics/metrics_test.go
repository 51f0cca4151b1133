package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A nil *Metrics counts nothing and never panics: unit tests of the login
// handlers leave it out.
func TestNilMetricsCountNothing(t *testing.T) {
	var m *Metrics
	m.SignIn("email", "success")
	m.Code("email", "sent")
	m.LimitRefusal("send-ip")
	m.HydraCall("get_login_request", "ok", time.Millisecond)
	m.SetReady(true)
	m.Register(nil)
	h := m.Requests(http.NotFoundHandler())
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
}

// Requests labels a request with chi's route pattern, never the raw path or query.
func TestRequestsUseTheRoutePattern(t *testing.T) {
	m := New()
	r := chi.NewRouter()
	r.Use(m.Requests)
	r.Get("/login/{step}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/login/secret-step?login_challenge=abc123", nil))
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/nowhere/else", nil))

	got := scrapeText(t, m)
	if !strings.Contains(got, `blink_consent_http_request_duration_seconds_count{code="418",method="GET",route="/login/{step}"} 1`) {
		t.Errorf("no series for the route pattern:\n%s", got)
	}
	if !strings.Contains(got, `route="unmatched"`) {
		t.Errorf("an unmatched path is not labelled unmatched")
	}
	for _, leak := range []string{"secret-step", "abc123", "/nowhere"} {
		if strings.Contains(got, leak) {
			t.Errorf("/metrics carries %q", leak)
		}
	}
}

func TestOutboxCollector(t *testing.T) {
	m := New()
	m.Register(NewOutboxCollector(func(ctx context.Context) (int, time.Duration, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("the outbox query has no deadline")
		}
		return 3, 90 * time.Second, nil
	}, time.Second))
	got := scrapeText(t, m)
	for _, want := range []string{"blink_consent_outbox_depth 3", "blink_consent_outbox_oldest_queued_seconds 90"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q", want)
		}
	}
}

// A failed outbox query leaves the outbox series out rather than report an
// empty outbox, and the other metrics are still served.
func TestOutboxCollectorError(t *testing.T) {
	c := NewOutboxCollector(func(context.Context) (int, time.Duration, error) { return 0, 0, errors.New("down") }, time.Second)
	m := New()
	m.Register(c)
	m.SignIn("email", "success")
	got := scrapeText(t, m)
	if strings.Contains(got, "blink_consent_outbox_depth") {
		t.Errorf("an outbox that could not be read is reported:\n%s", got)
	}
	if !strings.Contains(got, `blink_consent_sign_ins_total{method="email",result="success"} 1`) {
		t.Errorf("the other metrics are not served:\n%s", got)
	}
}

// The metric names and help pass promlint (units, _total suffixes).
func TestMetricsLint(t *testing.T) {
	m := New()
	m.SignIn("email", "success")
	m.Code("email", "sent")
	m.LimitRefusal("send-ip")
	m.HydraCall("get_login_request", "ok", time.Millisecond)
	problems, err := testutil.GatherAndLint(m.registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "blink_consent_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

func scrapeText(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}
