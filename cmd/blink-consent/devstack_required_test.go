//go:build !devstack

package main

import (
	"fmt"
	"os"
	"testing"
)

// TestMain fails the package when the tests are built without the dev stack:
// every test here runs against the PostgreSQL and Hydra it starts, and
// passing silently with no tests would hide that none ran.
func TestMain(m *testing.M) {
	fmt.Fprintln(os.Stderr, "cmd/blink-consent: these tests need the development stack; run them with `go test -tags devstack` (make test does)")
	os.Exit(1)
}
