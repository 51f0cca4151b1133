// Package otlptest is an in-process OTLP/HTTP collector for tests: it keeps
// every span it is sent, and every request body as it came, so a test can
// look for a secret in all of it.
package otlptest

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

// Span is one received span, flattened for assertions.
type Span struct {
	TraceID, SpanID, ParentID string
	Name                      string
	Scope                     string
	Service                   string
	// Attributes hold every attribute of the span, its events and links,
	// values written as text.
	Attributes map[string]string
	Status     string
}

// Receiver is the collector. Its URL is an OTEL_EXPORTER_OTLP_ENDPOINT.
type Receiver struct {
	URL    string
	server *httptest.Server
	mu     sync.Mutex
	spans  []Span
	bodies [][]byte
}

// Start listens on a free loopback port.
func Start() *Receiver {
	r := &Receiver{}
	r.server = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.server.URL
	return r
}

// Close stops the receiver.
func (r *Receiver) Close() { r.server.Close() }

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/v1/traces" || req.Method != http.MethodPost {
		http.NotFound(w, req)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var export coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &export); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var spans []Span
	for _, rs := range export.ResourceSpans {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				service = text(kv.Value)
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				span := Span{
					TraceID: hex.EncodeToString(s.TraceId), SpanID: hex.EncodeToString(s.SpanId), ParentID: hex.EncodeToString(s.ParentSpanId),
					Name: s.Name, Scope: ss.GetScope().GetName(), Service: service, Attributes: map[string]string{},
					Status: s.GetStatus().GetCode().String() + " " + s.GetStatus().GetMessage(),
				}
				for _, kv := range s.Attributes {
					span.Attributes[kv.Key] = text(kv.Value)
				}
				for _, e := range s.Events {
					for _, kv := range e.Attributes {
						span.Attributes["event "+e.Name+" "+kv.Key] = text(kv.Value)
					}
				}
				for _, l := range s.Links {
					for _, kv := range l.Attributes {
						span.Attributes["link "+kv.Key] = text(kv.Value)
					}
				}
				spans = append(spans, span)
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, spans...)
	r.bodies = append(r.bodies, raw)
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Write(out)
}

func text(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	}
	return fmt.Sprint(v.GetValue())
}

// Spans are the spans received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Named are the received spans called name.
func (r *Receiver) Named(name string) []Span {
	var out []Span
	for _, s := range r.Spans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// Contains reports whether any request body the receiver got holds s, in
// any field: names, attributes, events, resource.
func (r *Receiver) Contains(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.bodies {
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// Hanging is a collector that never answers: each request's handler blocks,
// counted as received, then as returned once released or once the exporter
// gave up on it.
type Hanging struct {
	URL      string
	server   *httptest.Server
	release  chan struct{}
	once     sync.Once
	mu       sync.Mutex
	received int
	returned int
	got      chan struct{} // closed on the first request
	gotOnce  sync.Once
}

// StartHanging listens on a free loopback port.
func StartHanging() *Hanging {
	h := &Hanging{release: make(chan struct{}), got: make(chan struct{})}
	h.server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h.mu.Lock()
		h.received++
		h.mu.Unlock()
		h.gotOnce.Do(func() { close(h.got) })
		// Read the whole body: only then does the server notice the client
		// going away and cancel the request's context.
		io.Copy(io.Discard, req.Body)
		// Until released, or until the exporter gives up (its timeout): a
		// request that finishes while returned is 0 never waited for it.
		select {
		case <-h.release:
		case <-req.Context().Done():
		}
		h.mu.Lock()
		h.returned++
		h.mu.Unlock()
	}))
	h.server.Start()
	h.URL = h.server.URL
	return h
}

// FirstRequest is closed once the first export arrived (and hangs).
func (h *Hanging) FirstRequest() <-chan struct{} { return h.got }

// Counts are the requests received and the handlers that have returned.
func (h *Hanging) Counts() (received, returned int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.received, h.returned
}

// Release lets every handler return, now and later, and stops the server.
func (h *Hanging) Release() {
	h.once.Do(func() { close(h.release) })
	h.server.CloseClientConnections()
	h.server.Close()
}
