package config

import (
	"strings"
	"testing"
	"time"
)

func TestTracingIsOffWithoutAnEndpoint(t *testing.T) {
	m := valid()
	m["OTEL_SERVICE_NAME"] = "consent"
	c, err := Load(env(m))
	if err != nil {
		t.Fatal(err)
	}
	if c.Tracing.On() || c.Tracing.Endpoint != nil {
		t.Errorf("tracing is on with no endpoint: %+v", c.Tracing)
	}
	m["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://otel-collector:4318"
	m["OTEL_SDK_DISABLED"] = "true"
	if c, err := Load(env(m)); err != nil || c.Tracing.On() {
		t.Errorf("OTEL_SDK_DISABLED=true left tracing on: %+v %v", c.Tracing, err)
	}
}

func TestTracingEndpoints(t *testing.T) {
	for _, tc := range []struct {
		vars     map[string]string
		protocol string
		url      string
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318"}, OTLPHTTP, "http://otel-collector:4318/v1/traces"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel.example.com/otlp/"}, OTLPHTTP, "https://otel.example.com/otlp/v1/traces"},
		// The signal's own variable is used as it is, and wins.
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4318/custom"}, OTLPHTTP, "http://b:4318/custom"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, OTLPGRPC, "http://otel-collector:4317"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, OTLPGRPC, "http://c:4317"},
	} {
		m := valid()
		for k, v := range tc.vars {
			m[k] = v
		}
		c, err := Load(env(m))
		if err != nil {
			t.Errorf("%v: %v", tc.vars, err)
			continue
		}
		if !c.Tracing.On() || c.Tracing.Protocol != tc.protocol || c.Tracing.Endpoint.String() != tc.url {
			t.Errorf("%v: on %v, %s %v; want %s %s", tc.vars, c.Tracing.On(), c.Tracing.Protocol, c.Tracing.Endpoint, tc.protocol, tc.url)
		}
	}
}

func TestTracingServiceName(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{nil, "blink-consent"},
		{map[string]string{"TRACING_SERVICE_NAME": "consent"}, "consent"},
		{map[string]string{"OTEL_SERVICE_NAME": "otel-name"}, "otel-name"},
		{map[string]string{"TRACING_SERVICE_NAME": "consent", "OTEL_SERVICE_NAME": "otel-name"}, "otel-name"},
	} {
		m := valid()
		m["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://otel-collector:4318"
		for k, v := range tc.vars {
			m[k] = v
		}
		if c, err := Load(env(m)); err != nil || c.Tracing.ServiceName != tc.want {
			t.Errorf("%v: service name %q (%v), want %q", tc.vars, c.Tracing.ServiceName, err, tc.want)
		}
	}
}

func TestTracingBatchDelay(t *testing.T) {
	m := valid()
	m["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://otel-collector:4318"
	m["OTEL_BSP_SCHEDULE_DELAY"] = "200"
	if c, err := Load(env(m)); err != nil || c.Tracing.BatchDelay != 200*time.Millisecond {
		t.Errorf("OTEL_BSP_SCHEDULE_DELAY=200: %v %v", c.Tracing.BatchDelay, err)
	}
}

func TestTracingRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, value, want string
	}{
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "otel-collector:4318", "OTEL_EXPORTER_OTLP_ENDPOINT: must be an http:// or https:// URL"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://tok3n@collector/", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: must be an http:// or https:// URL"},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "OTEL_EXPORTER_OTLP_PROTOCOL: must be http/protobuf (the default) or grpc"},
		{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: must be http/protobuf (the default) or grpc"},
		{"OTEL_BSP_SCHEDULE_DELAY", "5s", "OTEL_BSP_SCHEDULE_DELAY: must be milliseconds"},
		{"OTEL_SDK_DISABLED", "maybe", "OTEL_SDK_DISABLED: must be true or false"},
	} {
		m := valid()
		m[tc.name] = tc.value
		_, err := Load(env(m))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: %v, want %q", tc.name, tc.value, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "tok3n") {
			t.Errorf("%s: the error quotes the value: %v", tc.name, err)
		}
	}
}
