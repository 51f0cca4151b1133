// Command blink-consent is Blink's login and consent provider for Ory Hydra.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "blink-consent:", err)
		os.Exit(1)
	}
}

const usage = `blink-consent — Blink's login and consent provider for Ory Hydra.

Usage:
  blink-consent serve        run the service (configuration from the environment)
  blink-consent migrate      apply database migrations (idempotent)
  blink-consent dev          start PostgreSQL, Hydra, demo clients and the service on this machine
  blink-consent users add    create a user and print its id (the OAuth subject)
  blink-consent users disable|enable|unlock   support: stop a user, let them back, clear a lockout
  blink-consent audit --user ID [--since 24h]   print a user's security events (support)
  blink-consent keys rotate  re-seal stored secrets under SECRET_KEY (after changing it)
  blink-consent version      print the version

Run 'blink-consent COMMAND --help' for a command's flags.
`

// run is the whole program; main only wires it to the process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, rest, getenv, stdout, stderr)
	case "dev":
		return cmdDev(ctx, rest, getenv, stdout, stderr)
	case "users":
		return cmdUsers(ctx, rest, getenv, stdout, stderr)
	case "audit":
		return cmdAudit(ctx, rest, getenv, stdout)
	case "keys":
		return cmdKeys(ctx, rest, getenv, stdout, stderr)
	case "version":
		return cmdVersion(rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// parseFlags parses a command's flags; errHelp means --help was asked for and
// answered, which is not a failure.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer, synopsis string) (help bool, err error) {
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "%s\n", synopsis)
		fs.PrintDefaults()
	}
	err = fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return false, nil
}
