package config

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The OTLP protocols the exporter speaks (OTEL_EXPORTER_OTLP_PROTOCOL).
const (
	OTLPHTTP = "http/protobuf"
	OTLPGRPC = "grpc"
)

// DefaultServiceName names this service's spans when neither OTEL_SERVICE_NAME
// nor TRACING_SERVICE_NAME is set.
const DefaultServiceName = "blink-consent"

// TracingVariables are the settings loadTracing reads; `blink-consent dev`
// passes them on to the service it starts.
var TracingVariables = []string{
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	"OTEL_SERVICE_NAME", "TRACING_SERVICE_NAME", "OTEL_BSP_SCHEDULE_DELAY", "OTEL_SDK_DISABLED",
}

// Tracing is where OpenTelemetry traces go. With no Endpoint, tracing is off.
type Tracing struct {
	// Endpoint is the collector: for http/protobuf the full traces URL
	// (…/v1/traces), for grpc the collector's address as a URL.
	Endpoint *url.URL
	Protocol string
	// ServiceName is the resource's service.name.
	ServiceName string
	// BatchDelay is how long finished spans wait to be sent together
	// (OTEL_BSP_SCHEDULE_DELAY); 0 means the SDK's 5 s.
	BatchDelay time.Duration
}

// On reports whether spans are recorded and exported.
func (t Tracing) On() bool { return t.Endpoint != nil }

// loadTracing reads the standard OpenTelemetry variables, read through getenv
// like every other setting, and Blink's chart's TRACING_SERVICE_NAME.
func loadTracing(getenv func(string) string, c *Config, fail func(name, format string, args ...any)) {
	t := Tracing{ServiceName: DefaultServiceName}
	// The standard name wins over the chart's: it is the more deliberate setting.
	for _, name := range []string{"TRACING_SERVICE_NAME", "OTEL_SERVICE_NAME"} {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			t.ServiceName = v
		}
	}

	t.Protocol = OTLPHTTP
	protocolVar := "OTEL_EXPORTER_OTLP_PROTOCOL"
	for _, name := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			t.Protocol, protocolVar = strings.ToLower(v), name
		}
	}
	if t.Protocol != OTLPHTTP && t.Protocol != OTLPGRPC {
		fail(protocolVar, "must be http/protobuf (the default) or grpc; http/json is not supported")
	}

	if v := strings.TrimSpace(getenv("OTEL_BSP_SCHEDULE_DELAY")); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 || ms > 60000 {
			fail("OTEL_BSP_SCHEDULE_DELAY", "must be milliseconds, from 1 to 60000")
		} else {
			t.BatchDelay = time.Duration(ms) * time.Millisecond
		}
	}

	disabled, err := parseBool(getenv("OTEL_SDK_DISABLED"))
	if err != nil {
		fail("OTEL_SDK_DISABLED", "must be true or false")
	}
	// The signal's own variable is the whole URL; the general one is a base
	// the signal's path is added to (the OpenTelemetry specification's rule).
	endpoint, name, whole := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", true
	if endpoint == "" {
		endpoint, name, whole = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")), "OTEL_EXPORTER_OTLP_ENDPOINT", false
	}
	if endpoint == "" || disabled {
		c.Tracing = Tracing{ServiceName: t.ServiceName, Protocol: t.Protocol}
		return
	}
	u, err := parseCollectorURL(endpoint)
	if err != nil {
		fail(name, "%v", err)
		return
	}
	if t.Protocol == OTLPHTTP && !whole {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	}
	t.Endpoint = u
	c.Tracing = t
}

// parseCollectorURL never quotes the value: a collector URL can carry a token.
func parseCollectorURL(v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, errors.New("must be an http:// or https:// URL, such as http://otel-collector:4318 (4317 with grpc)")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("must not contain a query or a fragment")
	}
	return u, nil
}
