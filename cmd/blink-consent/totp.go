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
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/blinkbitcoin/blink-consent/internal/config"
	"github.com/blinkbitcoin/blink-consent/internal/contact"
	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
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

	switch sub {
	case "remove":
		notice, err := notification(keys, u, "notify.totp.removed")
		if err != nil {
			return err
		}
		err = db.RemoveTOTP(ctx, u.ID, "cli", notice)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("users totp remove: %s has no authenticator app", u.ID)
		}
		if err == nil {
			fmt.Fprintln(stdout, "two-step sign-in removed; the user is notified")
		}
		return err
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
		return saveTOTP(ctx, db, keys, u, s, nil, "totp imported", stdout)
	}

	// enroll
	s, err := totp.NewSecret()
	if err != nil {
		return err
	}
	uri := totp.URI(s, accountName(u))
	fmt.Fprintf(stdout, "Scan this with the user's authenticator app, or enter the key %s\n\n%s\n\n", totp.Base32(s), uri)
	if qr, err := qrcode.New(uri, qrcode.Medium); err == nil {
		fmt.Fprintln(stdout, terminalQR(qr.Bitmap()))
	}
	fmt.Fprint(stdout, "Enter the 6-digit code the app shows now: ")
	line, _ := bufio.NewReader(stdin).ReadString('\n')
	step, ok := totp.Match(s, strings.TrimSpace(line), time.Now())
	if !ok {
		return errors.New("users totp enroll: that code does not match; nothing was saved")
	}
	return saveTOTP(ctx, db, keys, u, s, &step, "totp enrolled", stdout)
}

func saveTOTP(ctx context.Context, db *store.Store, keys secret.Keys, u store.User, s []byte, step *int64, action string, stdout io.Writer) error {
	sealed, err := keys.Seal(s, []byte(u.ID))
	if err != nil {
		return err
	}
	notice, err := notification(keys, u, "notify.totp.added")
	if err != nil {
		return err
	}
	if err := db.SaveTOTP(ctx, u.ID, sealed, step, action, "cli", notice); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "two-step sign-in is on; the user is notified")
	return nil
}

// accountName is what the app lists: the email, or the masked phone number.
func accountName(u store.User) string {
	if u.Email != "" {
		return u.Email
	}
	return contact.MaskPhone(u.Phone)
}

// sealNotification seals the message telling the user; a variable so a test
// can make it fail.
var sealNotification = delivery.Seal

// notification tells the user, by email or else SMS, in English and Spanish
// (the account keeps no language). When it cannot be made the command fails
// before changing anything: a change the user is not told of is not made.
func notification(keys secret.Keys, u store.User, key string) (*store.Message, error) {
	text := i18n.English.T(key) + "\n\n" + i18n.Spanish.T(key)
	e := delivery.Envelope{Channel: "email", To: u.Email, Subject: i18n.English.T("notify.totp.subject") + " / " + i18n.Spanish.T("notify.totp.subject"), Text: text}
	if u.Email == "" {
		e = delivery.Envelope{Channel: "sms", To: u.Phone, Text: text}
	}
	m, err := sealNotification(keys, e, time.Now().Add(24*time.Hour))
	if err != nil {
		return nil, fmt.Errorf("users totp: the notification to the user could not be sealed, so nothing was changed: %w", err)
	}
	return m, nil
}

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
