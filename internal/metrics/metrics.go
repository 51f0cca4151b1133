// Package metrics holds the service's Prometheus metrics. Each server has its
// own Metrics and registry (tests run several servers in one process); every
// method is safe on a nil *Metrics, which counts nothing.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "blink_consent"

// Metrics are one server's metrics and the registry that exposes them.
type Metrics struct {
	registry        *prometheus.Registry
	requestDuration *prometheus.HistogramVec
	signIns         *prometheus.CounterVec
	codes           *prometheus.CounterVec
	limitRefusals   *prometheus.CounterVec
	hydraDuration   *prometheus.HistogramVec
	coreDuration    *prometheus.HistogramVec
	coreGraphQLUp   prometheus.Gauge
	ready           prometheus.Gauge
	// untrustedForwarded counts requests carrying X-Forwarded-For from a
	// peer outside TRUSTED_PROXIES; /readyz reports it too.
	untrustedForwarded atomic.Uint64
	dependencyUp       *prometheus.GaugeVec
	purges             *prometheus.CounterVec
	outboxListening    prometheus.Gauge
}

// New returns metrics on a registry of their own, with the Go runtime and
// process collectors.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help:    "Time to answer a request on the public listener, by route pattern, method and status code.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "code"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "sign_ins_total",
			Help: "Sign-in steps by method (email, sms, whatsapp, passkey, remembered) and result (success, wrong_code, expired_code, limited, disabled, …).",
		}, []string{"method", "result"}),
		codes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "codes_total",
			Help: "One-time code messages by channel and outcome: queued by a sign-in; sent, retry, failed or abandoned by the outbox worker.",
		}, []string{"channel", "outcome"}),
		limitRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "limit_refusals_total",
			Help: "Requests refused by a rate limit, by limit bucket.",
		}, []string{"limit"}),
		hydraDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "hydra_request_duration_seconds",
			Help:    "Time of Hydra admin API calls, by operation and outcome (ok, handled, not_found, rejected, error).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"operation", "outcome"}),
		coreDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "core_request_duration_seconds",
			Help:    "Time of calls to Blink core's auth API and GraphQL (IDENTITY_SOURCE=blink), by operation and outcome (ok, limited, refused, error, unavailable).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation", "outcome"}),
		coreGraphQLUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "core_graphql_up",
			Help: "IDENTITY_SOURCE=blink: 1 when the last call to Blink core's GraphQL got an answer, 0 when it was unreachable, timed out, 5xx or unreadable (sign-in goes on without it).",
		}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "ready",
			Help: "1 while this replica serves, 0 once it is stopping (set by each /readyz).",
		}),
		dependencyUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "dependency_up",
			Help: "1 when the dependency (postgres, hydra, blink_core) answered this replica's last /readyz check, 0 when it did not.",
		}, []string{"dependency"}),
		purges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "retention_purges_total",
			Help: "Tries of this replica's retention purge, by result: ok (it purged), skipped (another replica held the lock), failed.",
		}, []string{"result"}),
		outboxListening: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "outbox_listening",
			Help: "1 while the outbox worker listens for queued messages (PostgreSQL LISTEN), 0 while it only polls because that connection is lost.",
		}),
	}
	untrusted := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: namespace, Name: "untrusted_forwarded_requests_total",
		Help: "Requests carrying X-Forwarded-For from a peer not in TRUSTED_PROXIES (the header is ignored). Growing behind your own proxy means TRUSTED_PROXIES misses it and every client shares its address.",
	}, func() float64 { return float64(m.untrustedForwarded.Load()) })
	m.registry.MustRegister(untrusted)
	// Every result from the start, so increase() sees the first failure.
	for _, result := range []string{"ok", "skipped", "failed"} {
		m.purges.WithLabelValues(result)
	}
	m.registry.MustRegister(m.requestDuration, m.signIns, m.codes, m.limitRefusals, m.hydraDuration, m.coreDuration, m.coreGraphQLUp, m.ready, m.dependencyUp, m.purges, m.outboxListening,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus exposition format. A
// collector that fails (the outbox query while PostgreSQL is down) leaves its
// series out of that scrape; the others are still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry, ErrorHandling: promhttp.ContinueOnError})
}

// Register adds a collector (the outbox and pool collectors below) to the registry.
func (m *Metrics) Register(c prometheus.Collector) {
	if m != nil {
		m.registry.MustRegister(c)
	}
}

// SignIn counts one sign-in step's result.
func (m *Metrics) SignIn(method, result string) {
	if m != nil {
		m.signIns.WithLabelValues(method, result).Inc()
	}
}

// Code counts what became of one code message on channel.
func (m *Metrics) Code(channel, outcome string) {
	if m != nil {
		m.codes.WithLabelValues(channel, outcome).Inc()
	}
}

// OutboxListening records whether the outbox worker listens for queued
// messages (0: it only polls, until its connection is back).
func (m *Metrics) OutboxListening(up bool) {
	if m == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.outboxListening.Set(v)
}

// LimitRefusal counts one request refused by the limit bucket.
func (m *Metrics) LimitRefusal(bucket string) {
	if m != nil {
		m.limitRefusals.WithLabelValues(bucket).Inc()
	}
}

// HydraCall records one Hydra admin call.
func (m *Metrics) HydraCall(operation, outcome string, took time.Duration) {
	if m != nil {
		m.hydraDuration.WithLabelValues(operation, outcome).Observe(took.Seconds())
	}
}

// CoreCall records one call to Blink core.
func (m *Metrics) CoreCall(operation, outcome string, took time.Duration) {
	if m != nil {
		m.coreDuration.WithLabelValues(operation, outcome).Observe(took.Seconds())
	}
}

// UntrustedForwarded counts one request carrying X-Forwarded-For from a peer
// not in TRUSTED_PROXIES.
func (m *Metrics) UntrustedForwarded() {
	if m != nil {
		m.untrustedForwarded.Add(1)
	}
}

// UntrustedForwardedCount is how many such requests were counted; 0 on nil.
func (m *Metrics) UntrustedForwardedCount() uint64 {
	if m == nil {
		return 0
	}
	return m.untrustedForwarded.Load()
}

// CoreGraphQL records whether Blink core's GraphQL answered the last call.
func (m *Metrics) CoreGraphQL(up bool) {
	if m != nil {
		m.coreGraphQLUp.Set(gauge(up))
	}
}

// SetReady records whether this replica serves (false once it is stopping).
func (m *Metrics) SetReady(ready bool) {
	if m != nil {
		m.ready.Set(gauge(ready))
	}
}

// Purge counts one try of the retention purge: ok, skipped or failed.
func (m *Metrics) Purge(result string) {
	if m != nil {
		m.purges.WithLabelValues(result).Inc()
	}
}

// SetDependencyUp records whether dependency answered a readiness check.
func (m *Metrics) SetDependencyUp(dependency string, up bool) {
	if m != nil {
		m.dependencyUp.WithLabelValues(dependency).Set(gauge(up))
	}
}

func gauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Requests times every request by chi's route pattern (never the raw path,
// which holds flow ids and challenges). Use it on a chi router: the pattern
// is known once the router has routed the request.
func (m *Metrics) Requests(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		m.requestDuration.WithLabelValues(route, method(r.Method), strconv.Itoa(status)).Observe(time.Since(start).Seconds())
	})
}

// method keeps the label to the methods the service answers.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodHead:
		return m
	}
	return "other"
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// OutboxBacklog is what the outbox collector asks the store at scrape time.
type OutboxBacklog func(ctx context.Context) (depth int, oldest time.Duration, err error)

// NewOutboxCollector reports the outbox's queued messages and the age of the
// oldest, read when Prometheus scrapes (bounded by timeout). A failed query
// reports an error instead, so the series go absent rather than say 0.
func NewOutboxCollector(backlog OutboxBacklog, timeout time.Duration) prometheus.Collector {
	return &outboxCollector{
		backlog: backlog, timeout: timeout,
		depth: prometheus.NewDesc(namespace+"_outbox_depth", "Messages queued in the outbox (waiting for a first try or a retry).", nil, nil),
		oldest: prometheus.NewDesc(namespace+"_outbox_oldest_queued_seconds",
			"Age of the oldest message still queued in the outbox; 0 when none is.", nil, nil),
	}
}

type outboxCollector struct {
	backlog       OutboxBacklog
	timeout       time.Duration
	depth, oldest *prometheus.Desc
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.depth; ch <- c.oldest }

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	depth, oldest, err := c.backlog(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.depth, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(depth))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, oldest.Seconds())
}

// NewPoolCollector reports pgxpool's connection statistics.
func NewPoolCollector(stat func() *pgxpool.Stat) prometheus.Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(namespace+"_db_pool_"+name, help, nil, nil)
	}
	return &poolCollector{stat: stat,
		acquired:        d("acquired_conns", "Connections currently in use."),
		idle:            d("idle_conns", "Connections idle in the pool."),
		total:           d("total_conns", "Connections open (acquired, idle and being opened)."),
		max:             d("max_conns", "The pool's maximum size."),
		acquires:        d("acquires_total", "Connections acquired from the pool."),
		acquireDuration: d("acquire_duration_seconds_total", "Total time spent waiting to acquire a connection."),
		emptyAcquires:   d("empty_acquires_total", "Acquires that had to wait for a connection (none was idle)."),
		canceled:        d("canceled_acquires_total", "Acquires cancelled by their context before getting a connection."),
	}
}

type poolCollector struct {
	stat                                                                           func() *pgxpool.Stat
	acquired, idle, total, max, acquires, acquireDuration, emptyAcquires, canceled *prometheus.Desc
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.acquired, c.idle, c.total, c.max, c.acquires, c.acquireDuration, c.emptyAcquires, c.canceled} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stat()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.acquired, float64(s.AcquiredConns()))
	gauge(c.idle, float64(s.IdleConns()))
	gauge(c.total, float64(s.TotalConns()))
	gauge(c.max, float64(s.MaxConns()))
	counter(c.acquires, float64(s.AcquireCount()))
	counter(c.acquireDuration, s.AcquireDuration().Seconds())
	counter(c.emptyAcquires, float64(s.EmptyAcquireCount()))
	counter(c.canceled, float64(s.CanceledAcquireCount()))
}
