//go:build pprof

package main

import (
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux, used by nothing else
	"os"
)

// Only a binary built with -tags pprof (the load tool's profiling run) has
// this: Go's profiler on PPROF_ADDR, a loopback address the load tool picks.
// The production binary and the dev stack never link it.
func init() {
	if addr := os.Getenv("PPROF_ADDR"); addr != "" {
		go http.ListenAndServe(addr, nil)
	}
}
