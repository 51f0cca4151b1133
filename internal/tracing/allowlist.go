package tracing

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// exported are the only attribute keys that leave the process. The
// instrumentations record more — otelhttp the full URL of a Hydra call
// (login_challenge=… in its query), the URL path, the user agent and the
// client's address; otelpgx the database user — and those stay here.
var exported = map[attribute.Key]bool{
	// HTTP, server and client
	"http.request.method":          true,
	"http.request.method_original": true,
	"http.response.status_code":    true,
	"http.route":                   true,
	"url.scheme":                   true,
	"server.address":               true,
	"server.port":                  true,
	"network.protocol.name":        true,
	"network.protocol.version":     true,
	"error.type":                   true,
	"http.request.body.size":       true,
	"http.response.body.size":      true,
	// PostgreSQL (otelpgx): the statement's text is ours, its values parameters
	"db.system.name":          true,
	"db.namespace":            true,
	"db.operation.name":       true,
	"db.query.text":           true,
	"db.collection.name":      true,
	"db.operation.batch.size": true,
	"pgx.operation.type":      true,
	"pgx.rows_affected":       true,
	"pgx.sql_state":           true,
	"pgx.prepare_stmt.name":   true,
	"exception.type":          true,
	outboxChannel:             true,
	outboxAttempt:             true,
	outboxOutcome:             true,
}

// allowlisted exports only the allowed attributes of each span, of its events
// and links, and its status code without the description: descriptions and
// exception messages are error texts, which can quote a URL or a value.
type allowlisted struct{ sdktrace.SpanExporter }

func (a allowlisted) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	out := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		out[i] = filtered{s}
	}
	return a.SpanExporter.ExportSpans(ctx, out)
}

type filtered struct{ sdktrace.ReadOnlySpan }

func (f filtered) Attributes() []attribute.KeyValue { return keep(f.ReadOnlySpan.Attributes()) }

func (f filtered) Events() []sdktrace.Event {
	events := f.ReadOnlySpan.Events()
	out := make([]sdktrace.Event, len(events))
	for i, e := range events {
		e.Attributes = keep(e.Attributes)
		out[i] = e
	}
	return out
}

func (f filtered) Links() []sdktrace.Link {
	links := f.ReadOnlySpan.Links()
	out := make([]sdktrace.Link, len(links))
	for i, l := range links {
		l.Attributes = keep(l.Attributes)
		out[i] = l
	}
	return out
}

func (f filtered) Status() sdktrace.Status {
	s := f.ReadOnlySpan.Status()
	if s.Code == codes.Error {
		s.Description = ""
	}
	return s
}

func keep(attrs []attribute.KeyValue) []attribute.KeyValue {
	out := make([]attribute.KeyValue, 0, len(attrs))
	for _, kv := range attrs {
		if exported[kv.Key] {
			out = append(out, kv)
		}
	}
	return out
}
