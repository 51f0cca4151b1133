package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func cmdVersion(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if help, err := parseFlags(fs, args, stdout, "Usage: blink-consent version\n\nPrints the version, the commit it was built from and the Hydra version it targets."); help || err != nil {
		return err
	}
	rev := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rev = s.Value
			}
		}
	}
	fmt.Fprintf(stdout, "blink-consent %s (commit %s, %s, for Ory Hydra %s)\n", version, rev, runtime.Version(), devstack.HydraVersion)
	return nil
}
