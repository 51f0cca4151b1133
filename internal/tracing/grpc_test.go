package tracing

import (
	"context"
	"net"
	"net/url"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

type grpcCollector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	names []string
}

func (c *grpcCollector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				c.names = append(c.names, s.Name)
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// OTEL_EXPORTER_OTLP_PROTOCOL=grpc exports to an OTLP/gRPC collector.
func TestGRPCExport(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	collector := &grpcCollector{}
	server := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(server, collector)
	go server.Serve(l)
	defer server.Stop()

	u, _ := url.Parse("http://" + l.Addr().String())
	tr, err := New(context.Background(), Settings{Endpoint: u, Protocol: ProtocolGRPC, ServiceName: "grpc-test"}, "v")
	if err != nil {
		t.Fatal(err)
	}
	_, end := tr.StartDelivery(context.Background(), "email", 1)
	end("sent")
	shutdown(t, tr)
	collector.mu.Lock()
	defer collector.mu.Unlock()
	if len(collector.names) != 1 || collector.names[0] != "outbox deliver" {
		t.Errorf("the gRPC collector received %v, want the delivery span", collector.names)
	}
}
