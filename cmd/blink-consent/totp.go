package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/skip2/go-qrcode"

	"github.com/blinkbitcoin/blink-consent/internal/config"
	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/identity/postgres"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// stdin is where `users totp enroll` reads the confirming code; tests replace it.
var stdin io.Reader = os.Stdin

const totpUsage = `Usage:
  blink-consent users totp enroll --user ID                  show a QR code, confirm a code, save
  blink-consent users totp import --user ID --secret BASE32  keep an authenticator set up elsewhere
  blink-consent users totp import --user ID --uri otpauth://totp/…
  blink-consent users totp remove --user ID                  turn two-step sign-in off (support)

Each needs DATABASE_URL and SECRET_KEY; each change is audited and the user is told.
`

func cmdTOTP(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprint(stdout, totpUsage)
		if len(args) == 0 {
			return errors.New("users totp: no subcommand given")
		}
		return nil
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("users totp "+sub, flag.ContinueOnError)
	userID := fs.String("user", "", "the user's id (the OAuth subject)")
	secretFlag, uriFlag := new(string), new(string)
	if sub == "import" {
		secretFlag = fs.String("secret", "", "the base32 secret the user's app already has")
		uriFlag = fs.String("uri", "", "or the otpauth://totp/… URI")
	}
	switch sub {
	case "enroll", "import", "remove":
	default:
		fmt.Fprint(stderr, totpUsage)
		return fmt.Errorf("users totp: unknown subcommand %q", sub)
	}
	if help, err := parseFlags(fs, rest, stdout, totpUsage); help || err != nil {
		return err
	}
	if *userID == "" {
		return errors.New("users totp: --user is required")
	}
	current, previous, err := config.SecretKeys(getenv)
	if err != nil {
		return err
	}
	keys := secret.NewKeys(current, previous...)
	db, err := openForCLI(ctx, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := db.UserByID(ctx, *userID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("users totp: no user %s", *userID)
	}
	if err != nil {
		return err
	}

	// enroll and remove are the very steps the account page takes, with "cli" as the actor.
	src := postgres.Source{Store: db, Keys: keys, Seal: sealNotification}
	who := identity.Who{Subject: u.ID, Actor: "cli"}
	switch sub {
	case "remove":
		err := src.RemoveTOTP(ctx, who)
		if errors.Is(err, identity.ErrTOTPOff) {
			return fmt.Errorf("users totp remove: %s has no authenticator app", u.ID)
		}
		if err != nil {
			return fmt.Errorf("users totp remove: %w", err)
		}
		fmt.Fprintln(stdout, "two-step sign-in removed; the user is notified")
		return nil
	case "import":
		var s []byte
		switch {
		case *secretFlag != "" && *uriFlag == "":
			s, err = totp.ParseSecret(*secretFlag)
		case *uriFlag != "" && *secretFlag == "":
			s, err = totp.ParseURI(*uriFlag)
		default:
			return errors.New("users totp import: give --secret or --uri")
		}
		if err != nil {
			return err
		}
		return saveImported(ctx, db, keys, u, s, stdout)
	}

	// enroll
	e, err := src.BeginTOTP(ctx, who)
	if errors.Is(err, identity.ErrTOTPOn) {
		return fmt.Errorf("users totp enroll: %s already has an authenticator app; remove it first with `users totp remove`", u.ID)
	}
	if err != nil {
		return fmt.Errorf("users totp enroll: %w", err)
	}
	fmt.Fprintf(stdout, "Scan this with the user's authenticator app, or enter the key %s\n\n%s\n\n", e.Secret, e.URI)
	if qr, err := qrcode.New(e.URI, qrcode.Medium); err == nil {
		fmt.Fprintln(stdout, terminalQR(qr.Bitmap()))
	}
	fmt.Fprint(stdout, "Enter the 6-digit code the app shows now: ")
	line, _ := bufio.NewReader(stdin).ReadString('\n')
	err = src.ConfirmTOTP(ctx, who, e.ID, strings.TrimSpace(line))
	switch {
	case errors.Is(err, identity.ErrWrongCode):
		return errors.New("users totp enroll: that code does not match; nothing was saved")
	case err != nil:
		return fmt.Errorf("users totp enroll: %w", err)
	}
	fmt.Fprintln(stdout, "two-step sign-in is on; the user is notified")
	return nil
}

// saveImported saves a secret set up elsewhere: no code to confirm it with.
func saveImported(ctx context.Context, db *store.Store, keys secret.Keys, u store.User, s []byte, stdout io.Writer) error {
	sealed, err := keys.Seal(s, []byte(u.ID))
	if err != nil {
		return err
	}
	notice, err := identity.TOTPNotice(keys, u, i18n.English, "notify.totp.added", sealNotification, nil)
	if err != nil {
		return fmt.Errorf("users totp: %w", err)
	}
	if err := db.SaveTOTP(ctx, u.ID, sealed, nil, store.ActionTOTPImported, "cli", notice); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "two-step sign-in is on; the user is notified")
	return nil
}

// sealNotification seals the message telling the user; a variable so a test
// can make it fail.
var sealNotification identity.SealFunc = delivery.Seal

// terminalQR draws a QR code with half-block characters, two modules a line.
func terminalQR(bits [][]bool) string {
	var b strings.Builder
	for y := 0; y < len(bits); y += 2 {
		for x := range bits[y] {
			top, bottom := bits[y][x], y+1 < len(bits) && bits[y+1][x]
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteString(" ")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
