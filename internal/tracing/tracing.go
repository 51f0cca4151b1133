// Package tracing exports OpenTelemetry traces over OTLP: a span per request
// (named by its route pattern), per Hydra admin call, per Blink core call, per
// database query and per outbox delivery. Every method is safe on a nil
// *Tracing, which is tracing off: no exporter, no wrapping, nothing spent.
//
// What leaves the process is decided at one place, the exporter's allowlist
// (allowlist.go): only the attribute keys listed there are sent, so a URL
// with a challenge, a user agent, a client address or a query's arguments
// never reach the collector, whatever an instrumentation records.
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/jackc/pgx/v5"

	"net/url"
)

// The exporter's bounds: a collector that is slow or gone costs a replica at
// most a full queue of spans (then new ones are dropped, never waited for)
// and one blocked export at a time, never a request's time.
const (
	maxQueue      = 2048
	maxBatch      = 512
	exportTimeout = 10 * time.Second
	// retryFor bounds the exporter's retries of one batch, within exportTimeout.
	retryFor = 8 * time.Second
)

// scopeName is the instrumentation scope of the spans this package starts.
const scopeName = "github.com/blinkbitcoin/blink-consent"

// Tracing is one serve's tracer provider and propagator; nil is off.
type Tracing struct {
	provider   *sdktrace.TracerProvider
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
}

// Settings say where spans go; config.Tracing reads them from the
// environment (the OpenTelemetry variables) and converts to this.
type Settings struct {
	// Endpoint is the collector: for http/protobuf the full traces URL
	// (…/v1/traces), for grpc the collector's address as a URL; nil is off.
	Endpoint *url.URL
	// Protocol is ProtocolGRPC or ProtocolHTTP.
	Protocol string
	// ServiceName is the resource's service.name.
	ServiceName string
	// BatchDelay is how long finished spans wait to be sent together; 0
	// means the SDK's 5 s.
	BatchDelay time.Duration
}

// The OTLP protocols, as OTEL_EXPORTER_OTLP_PROTOCOL names them.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// On reports whether spans are recorded and exported.
func (s Settings) On() bool { return s.Endpoint != nil }

// New starts exporting to cfg's collector, or returns nil (off) when cfg has
// no endpoint. Exporting starts lazily: an unreachable collector is not an
// error here, and never becomes one for a request.
func New(ctx context.Context, cfg Settings, version string) (*Tracing, error) {
	if !cfg.On() {
		return nil, nil
	}
	var exporter sdktrace.SpanExporter
	var err error
	retry := struct {
		initial, max, total time.Duration
	}{time.Second, 4 * time.Second, retryFor}
	switch cfg.Protocol {
	case ProtocolGRPC:
		exporter, err = otlptracegrpc.New(ctx,
			otlptracegrpc.WithEndpointURL(cfg.Endpoint.String()),
			otlptracegrpc.WithTimeout(exportTimeout),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: retry.initial, MaxInterval: retry.max, MaxElapsedTime: retry.total}))
	default:
		exporter, err = otlptracehttp.New(ctx,
			otlptracehttp.WithEndpointURL(cfg.Endpoint.String()),
			otlptracehttp.WithTimeout(exportTimeout),
			otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: retry.initial, MaxInterval: retry.max, MaxElapsedTime: retry.total}))
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: the OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithAttributes(
		semconv.ServiceName(cfg.ServiceName), semconv.ServiceVersion(version)))
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	batch := []sdktrace.BatchSpanProcessorOption{
		sdktrace.WithMaxQueueSize(maxQueue),
		sdktrace.WithMaxExportBatchSize(maxBatch),
		sdktrace.WithExportTimeout(exportTimeout),
	}
	if cfg.BatchDelay > 0 {
		batch = append(batch, sdktrace.WithBatchTimeout(cfg.BatchDelay))
	}
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithBatcher(allowlisted{exporter}, batch...),
	)
	// W3C trace context only. Baggage is never read nor sent: a trusted
	// ingress may pass a browser's baggage header through, and whatever it
	// holds must not reach Hydra or core as if we had said it.
	propagator := propagation.TraceContext{}
	// Global for any library that reads it; this package passes its own
	// provider and propagator explicitly, so several serves in one process
	// (the tests) each keep theirs.
	otel.SetTextMapPropagator(propagator)
	otel.SetErrorHandler(exportErrors{})
	return &Tracing{provider: provider, tracer: provider.Tracer(scopeName), propagator: propagator}, nil
}

// Shutdown sends the spans still queued and stops the exporter, waiting no
// longer than ctx allows.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

// Requests gives each request a server span, continuing a trace context the
// request carries (traceparent). Use it first on a chi router: once the
// router has routed the request the span is named by the route pattern,
// "POST /login/code", never by the URL.
func (t *Tracing) Requests(next http.Handler) http.Handler {
	if t == nil {
		return next
	}
	named := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			span := trace.SpanFromContext(r.Context())
			span.SetName(r.Method + " " + rc.RoutePattern())
			span.SetAttributes(semconv.HTTPRoute(rc.RoutePattern()))
		}
	})
	return otelhttp.NewHandler(named, "",
		otelhttp.WithTracerProvider(t.provider),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithPropagators(t.propagator),
		otelhttp.WithSpanNameFormatter(serverSpanName))
}

// serverSpanName is the method until the request is routed; otelhttp asks
// again afterwards when chi set the pattern on the request it was handed.
func serverSpanName(_ string, r *http.Request) string {
	if r.Pattern != "" {
		return r.Method + " " + r.Pattern
	}
	return r.Method
}

// Transport gives each call through base made within a traced operation a
// client span named "<peer> <method> <path>" (the path only: Hydra's
// challenges travel in the query), and sends the trace context along in
// traceparent (and tracestate), never baggage. Calls outside any span (readiness checks) are left alone.
func (t *Tracing) Transport(peer string, base http.RoundTripper) http.RoundTripper {
	if t == nil {
		return base
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return otelhttp.NewTransport(base,
		otelhttp.WithTracerProvider(t.provider),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithPropagators(t.propagator),
		otelhttp.WithFilter(func(r *http.Request) bool { return trace.SpanContextFromContext(r.Context()).IsValid() }),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return peer + " " + r.Method + " " + r.URL.Path }))
}

// QueryTracer gives each database query made within a traced operation a span
// (otelpgx), with the statement's text — our SQL, whose values are all
// parameters — and never its arguments. Nil when off.
func (t *Tracing) QueryTracer() pgx.QueryTracer {
	if t == nil {
		return nil
	}
	return otelpgx.NewTracer(
		otelpgx.WithTracerProvider(t.provider),
		otelpgx.WithMeterProvider(metricnoop.NewMeterProvider()))
}

// The outbox delivery span's attributes.
const (
	outboxChannel = attribute.Key("blink.outbox.channel")
	outboxAttempt = attribute.Key("blink.outbox.attempt")
	outboxOutcome = attribute.Key("blink.outbox.outcome")
)

// StartDelivery starts the span of one outbox message's delivery, a trace of
// its own: its channel and attempt now, its outcome when end is called —
// never the address or the message.
func (t *Tracing) StartDelivery(ctx context.Context, channel string, attempt int) (context.Context, func(outcome string)) {
	if t == nil {
		return ctx, func(string) {}
	}
	ctx, span := t.tracer.Start(ctx, "outbox deliver", trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(outboxChannel.String(channel), outboxAttempt.Int(attempt)))
	return ctx, func(outcome string) {
		span.SetAttributes(outboxOutcome.String(outcome))
		if outcome != "sent" {
			span.SetStatus(codes.Error, "")
		}
		span.End()
	}
}

// exportErrorsEvery spaces the warnings about a collector that cannot be
// reached: the SDK reports each failed batch, every few seconds.
const exportErrorsEvery = time.Minute

var lastExportError atomic.Int64

// exportErrors logs the SDK's errors (failed exports) as warnings, at most
// one per exportErrorsEvery.
type exportErrors struct{}

func (exportErrors) Handle(err error) {
	now := time.Now().UnixNano()
	last := lastExportError.Load()
	if now-last < int64(exportErrorsEvery) || !lastExportError.CompareAndSwap(last, now) {
		return
	}
	slog.Warn("tracing: spans could not be sent to the collector (requests are not affected; repeated at most once a minute)", "err", err)
}
