package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/blinkbitcoin/blink-consent/internal/config"
	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/identity/blinkcore"
	"github.com/blinkbitcoin/blink-consent/internal/identity/postgres"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

const keysUsage = `Usage: blink-consent keys rotate

Re-seals every sealed value (TOTP secrets, queued messages, pending
authenticator enrolments, and with IDENTITY_SOURCE=blink the sign-ins in
progress and the core tokens kept for the account page) under SECRET_KEY,
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

// sealedValues is every kind of value sealed under SECRET_KEY, with what each
// is bound to (its associated data): the same as the code that seals it.
var sealedValues = []struct {
	what   string
	reseal func(*store.Store, context.Context, store.Reseal) (store.ResealCounts, error)
	ad     func(store.Sealed) []byte
}{
	{"TOTP secrets", (*store.Store).ResealTOTP, func(v store.Sealed) []byte { return []byte(v.UserID) }},
	{"queued messages", (*store.Store).ResealOutbox, func(v store.Sealed) []byte { return delivery.AD(v.Channel, v.Destination) }},
	{"pending authenticator enrolments", (*store.Store).ResealEnrollments, func(v store.Sealed) []byte { return postgres.PendingAD(v.Key, v.UserID) }},
	{"Blink core sign-ins in progress", (*store.Store).ResealFlows, func(v store.Sealed) []byte { return blinkcore.StateAD(v.Key) }},
	{"kept Blink core tokens", func(db *store.Store, ctx context.Context, r store.Reseal) (store.ResealCounts, error) {
		return blinkcore.ResealTokens(ctx, db, r)
	}, func(v store.Sealed) []byte { return blinkcore.TokenAD(v.UserID, v.Key) }},
}

// rotateKeys re-seals under the current key what only a previous one opens.
func rotateKeys(ctx context.Context, db *store.Store, all, currentOnly secret.Keys, stdout io.Writer) error {
	unreadable := 0
	for _, kind := range sealedValues {
		counts, err := kind.reseal(db, ctx, func(v store.Sealed) ([]byte, bool, error) {
			ad := kind.ad(v)
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
		fmt.Fprintf(stdout, "%s: %d re-sealed, %d already under the current key, %d unreadable\n", kind.what, counts.Resealed, counts.Current, counts.Unreadable)
		if err != nil {
			return err
		}
		unreadable += counts.Unreadable
	}
	if unreadable > 0 {
		return fmt.Errorf("keys rotate: %d sealed values open under none of SECRET_KEY and SECRET_KEY_PREVIOUS; left as they are: if an older key opens them, add it to SECRET_KEY_PREVIOUS and run this again", unreadable)
	}
	return nil
}
