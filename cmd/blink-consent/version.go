package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/blinkbitcoin/blink-consent/internal/hydra"
)

// version and commit are set at build time with
// -ldflags "-X main.version=… -X main.commit=…" (make build, the Dockerfile).
var (
	version = "dev"
	commit  = ""
)

// reportedModules are the dependencies whose versions matter when reading a
// bug report: the Hydra client, the database driver, the templates, the
// router, the tracing SDK and the account page's ID token checks.
var reportedModules = []string{
	"github.com/ory/hydra-client-go/v2",
	"github.com/jackc/pgx/v5",
	"github.com/a-h/templ",
	"github.com/go-chi/chi/v5",
	"go.opentelemetry.io/otel/sdk",
	"github.com/coreos/go-oidc/v3",
}

func cmdVersion(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if help, err := parseFlags(fs, args, stdout, "Usage: blink-consent version\n\nPrints the version, the commit it was built from, the Hydra version it targets,\nthe Go version and the versions of the modules that matter."); help || err != nil {
		return err
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprintf(stdout, "blink-consent %s (commit %s, %s, for Ory Hydra %s)\n", version, buildCommit(bi), runtime.Version(), hydra.TargetVersion)
	for _, path := range reportedModules {
		fmt.Fprintf(stdout, "  %s %s\n", path, moduleVersion(bi, path))
	}
	return nil
}

// buildCommit is the commit given at build time, else the one the go command
// stamped from the checkout (absent in a build without .git, as in the image).
func buildCommit(bi *debug.BuildInfo) string {
	if commit != "" {
		return commit
	}
	if bi != nil {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

func moduleVersion(bi *debug.BuildInfo, path string) string {
	if bi != nil {
		for _, m := range bi.Deps {
			if m.Path == path {
				if m.Replace != nil {
					return fmt.Sprintf("%s replaced by %s %s", m.Version, m.Replace.Path, m.Replace.Version)
				}
				return m.Version
			}
		}
	}
	return "unknown"
}
