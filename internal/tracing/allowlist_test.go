package tracing

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// What is not on the allowlist stays in the process: attributes, event
// attributes (an error's message) and a failed status's description.
func TestAllowlistKeepsOnlyListedKeys(t *testing.T) {
	memory := tracetest.NewInMemoryExporter()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSyncer(allowlisted{memory}))
	_, span := provider.Tracer("test").Start(context.Background(), "hydra GET /admin/oauth2/auth/requests/login")
	span.SetAttributes(attribute.String("url.full", "http://hydra/admin?login_challenge=s3cret"), attribute.Int("http.response.status_code", 500))
	span.RecordError(errors.New(`Get "http://hydra/admin?login_challenge=s3cret": EOF`))
	span.SetStatus(codes.Error, `Get "http://hydra/admin?login_challenge=s3cret": EOF`)
	span.End()

	spans := memory.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans exported", len(spans))
	}
	s := spans[0]
	var kept []string
	for _, kv := range s.Attributes {
		kept = append(kept, string(kv.Key))
	}
	if len(kept) != 1 || kept[0] != "http.response.status_code" {
		t.Errorf("attributes exported: %v", kept)
	}
	if s.Status.Code != codes.Error || s.Status.Description != "" {
		t.Errorf("status: %+v, want Error without its text", s.Status)
	}
	for _, e := range s.Events {
		for _, kv := range e.Attributes {
			if strings.Contains(kv.Value.Emit(), "s3cret") {
				t.Errorf("event %s exported %s=%s", e.Name, kv.Key, kv.Value.Emit())
			}
		}
	}
}
