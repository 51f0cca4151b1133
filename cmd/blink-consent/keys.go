package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/blinkbitcoin/blink-consent/internal/config"
	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

const keysUsage = `Usage: blink-consent keys rotate

Re-seals every sealed value (TOTP secrets, queued messages) under SECRET_KEY,
opening them with SECRET_KEY or any key in SECRET_KEY_PREVIOUS. Values already
under SECRET_KEY are left alone, so it is safe to run again, and safe while the
service runs (rows are locked while they change). Needs DATABASE_URL,
SECRET_KEY and SECRET_KEY_PREVIOUS. Fails when a value opens under no key given.
See docs/operations.md, "Rotating SECRET_KEY".
`

func cmdKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprint(stdout, keysUsage)
		if len(args) == 0 {
			return errors.New("keys: no subcommand given")
		}
		return nil
	}
	if args[0] != "rotate" {
		fmt.Fprint(stderr, keysUsage)
		return fmt.Errorf("keys: unknown subcommand %q", args[0])
	}
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	if help, err := parseFlags(fs, args[1:], stdout, keysUsage); help || err != nil {
		return err
	}
	current, previous, err := config.SecretKeys(getenv)
	if err != nil {
		return err
	}
	db, err := openForCLI(ctx, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	return rotateKeys(ctx, db, secret.NewKeys(current, previous...), secret.NewKeys(current), stdout)
}

// rotateKeys re-seals under the current key what only a previous one opens.
func rotateKeys(ctx context.Context, db *store.Store, all, currentOnly secret.Keys, stdout io.Writer) error {
	totp, err := db.ResealTOTP(ctx, func(v store.Sealed) ([]byte, bool, error) {
		ad := []byte(v.UserID)
		if _, err := currentOnly.Open(v.Value, ad); err == nil {
			return nil, true, nil
		}
		plain, err := all.Open(v.Value, ad)
		if err != nil {
			return nil, false, store.ErrUnreadable
		}
		resealed, err := all.Seal(plain, ad)
		return resealed, false, err
	})
	report(stdout, "TOTP secrets", totp)
	if err != nil {
		return err
	}
	messages, err := db.ResealOutbox(ctx, func(v store.Sealed) ([]byte, bool, error) {
		m := store.OutboxMessage{Channel: v.Channel, Destination: v.Destination, Sealed: v.Value}
		if _, err := delivery.Open(currentOnly, m); err == nil {
			return nil, true, nil
		}
		e, err := delivery.Open(all, m)
		if err != nil {
			return nil, false, store.ErrUnreadable
		}
		sealed, err := delivery.Seal(all, e, m.NotAfter)
		if err != nil {
			return nil, false, err
		}
		return sealed.Sealed, false, nil
	})
	report(stdout, "queued messages", messages)
	if err != nil {
		return err
	}
	if n := totp.Unreadable + messages.Unreadable; n > 0 {
		return fmt.Errorf("keys rotate: %d sealed values open under none of SECRET_KEY and SECRET_KEY_PREVIOUS; left as they are: if an older key opens them, add it to SECRET_KEY_PREVIOUS and run this again", n)
	}
	return nil
}

func report(w io.Writer, what string, c store.ResealCounts) {
	fmt.Fprintf(w, "%s: %d re-sealed, %d already under the current key, %d unreadable\n", what, c.Resealed, c.Current, c.Unreadable)
}
