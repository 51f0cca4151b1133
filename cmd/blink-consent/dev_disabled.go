//go:build !devstack

package main

import (
	"context"
	"errors"
	"io"
)

// cmdDev stands in for the development stack (throwaway PostgreSQL, Hydra, demo
// relying party, Blink core stand-in), which production builds leave out.
func cmdDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return errors.New("dev: this binary was built without the development stack; build it with `make build-dev` (go build -tags devstack)")
}
