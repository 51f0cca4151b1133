package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/blinkbitcoin/blink-consent/internal/config"
	"github.com/blinkbitcoin/blink-consent/internal/contact"
	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

const disableUsage = `Usage: blink-consent users disable --user ID
       blink-consent users enable --user ID

disable stops the user signing in, remembered sign-ins included, and ends
their Hydra login and consent sessions, which revokes every access and refresh
token their apps hold. Needs DATABASE_URL and HYDRA_ADMIN_URL. When Hydra
cannot be reached the user is still disabled and the command fails saying so:
run it again once Hydra is back. enable lets the user sign in again (their
apps must sign in anew). Both are audited.`

func cmdUsersDisable(ctx context.Context, args []string, disable bool, getenv func(string) string, stdout io.Writer) error {
	name := "users enable"
	if disable {
		name = "users disable"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	userID := fs.String("user", "", "the user's id (the OAuth subject)")
	if help, err := parseFlags(fs, args, stdout, disableUsage); help || err != nil {
		return err
	}
	if *userID == "" {
		return fmt.Errorf("%s: --user is required", name)
	}
	var admin *hydra.Client
	if disable {
		u, err := config.HydraAdminURL(getenv)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		admin = hydra.New(u, hydraTimeout)
	}
	db, err := openForCLI(ctx, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	err = db.SetUserDisabled(ctx, *userID, disable, "cli")
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s: no user %s", name, *userID)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if !disable {
		fmt.Fprintln(stdout, "the user can sign in again")
		return nil
	}
	if err := admin.RevokeSessions(ctx, *userID); err != nil {
		return fmt.Errorf("users disable: the user is disabled and cannot sign in, but Hydra was not told, so their apps' tokens still work until they expire; run the command again: %w", err)
	}
	if err := db.Audit(ctx, store.AuditEvent{UserID: *userID, Action: store.ActionHydraSessionsRevoked, Actor: "cli", Result: "ok"}); err != nil {
		return fmt.Errorf("users disable: %w", err)
	}
	fmt.Fprintln(stdout, "the user is disabled; their Hydra sessions and tokens are revoked")
	return nil
}

const unlockUsage = `Usage: blink-consent users unlock --identifier EMAIL_OR_PHONE

Clears what keeps an email or phone number from signing in: its consecutive
failed codes (and the lock after 100), the failures its RATE_FAIL_IDENTIFIER
limit counts, and the codes its RATE_SEND_EMAIL or RATE_SEND_PHONE limit
counts, so it can ask for a code at once and the next right code signs in.
Per-IP limits are left alone. Says what it cleared. A phone number needs its
country code (+503…). Needs DATABASE_URL. Audited.`

func cmdUsersUnlock(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("users unlock", flag.ContinueOnError)
	raw := fs.String("identifier", "", "the email address or phone number (E.164) that is locked")
	if help, err := parseFlags(fs, args, stdout, unlockUsage); help || err != nil {
		return err
	}
	identifier, err := normaliseIdentifier(*raw)
	if err != nil {
		return fmt.Errorf("users unlock: %w", err)
	}
	db, err := openForCLI(ctx, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := db.Unlock(ctx, identifier, "cli")
	if err != nil {
		return fmt.Errorf("users unlock: %w", err)
	}
	if !u.Any() {
		fmt.Fprintln(stdout, "nothing to clear: the identifier had no failed codes and no codes counted by its send limit")
		return nil
	}
	fmt.Fprintf(stdout, "unlocked: cleared %d consecutive failed codes, %d failed codes counted by the failure limit, %d codes counted by the send limit; it can ask for a code now and the next right code signs in\n",
		u.Failures, u.FailureLimit, u.SendLimit)
	return nil
}

// normaliseIdentifier writes an identifier the way the sign-in stores it: an
// email in lower case, a phone number in E.164 form (of any country: an
// operator may unlock a number the sign-in no longer accepts).
func normaliseIdentifier(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("--identifier is required")
	}
	if strings.Contains(raw, "@") {
		email, err := contact.Email(raw)
		if err != nil {
			return "", fmt.Errorf("--identifier %q is not an email address", raw)
		}
		return email, nil
	}
	if !strings.HasPrefix(raw, "+") {
		return "", fmt.Errorf("--identifier %q: give a phone number with its country code (+…)", raw)
	}
	e164, region, err := contact.Phone(raw, "", nil)
	if errors.Is(err, contact.ErrCountry) {
		e164, _, err = contact.Phone(raw, "", []string{region})
	}
	if err != nil {
		return "", fmt.Errorf("--identifier %q is not a phone number that can sign in", raw)
	}
	return e164, nil
}
