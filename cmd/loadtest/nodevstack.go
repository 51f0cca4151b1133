//go:build !devstack

// Command loadtest needs the dev stack: build it with -tags devstack (make loadtest does).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "loadtest: built without the dev stack; use `make loadtest` (go run -tags devstack ./cmd/loadtest)")
	os.Exit(2)
}
