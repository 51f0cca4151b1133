package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/mail"
	"regexp"
	"strings"

	"github.com/blinkbitcoin/blink-consent/internal/store"
)

const usersUsage = `Usage:
  blink-consent users add --email ADDRESS [--phone +E164]   create a user and print its id
  blink-consent users totp enroll|import|remove --user ID   two-step sign-in (see users totp --help)
  blink-consent users disable --user ID                     stop the user; revoke their Hydra sessions and tokens
  blink-consent users enable --user ID                      let a disabled user sign in again
  blink-consent users unlock --identifier EMAIL_OR_PHONE    clear a lockout after failed codes
`

func cmdUsers(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		fmt.Fprint(stdout, usersUsage)
		if len(args) == 0 {
			return errors.New("users: no subcommand given")
		}
		return nil
	}
	switch args[0] {
	case "add":
		return cmdUsersAdd(ctx, args[1:], getenv, stdout)
	case "totp":
		return cmdTOTP(ctx, args[1:], getenv, stdout, stderr)
	case "disable", "enable":
		return cmdUsersDisable(ctx, args[1:], args[0] == "disable", getenv, stdout)
	case "unlock":
		return cmdUsersUnlock(ctx, args[1:], getenv, stdout)
	}
	fmt.Fprint(stderr, usersUsage)
	return fmt.Errorf("users: unknown subcommand %q", args[0])
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

func cmdUsersAdd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("users add", flag.ContinueOnError)
	email := fs.String("email", "", "the user's email address (stored lower-case, marked verified)")
	phone := fs.String("phone", "", "the user's phone number in E.164 form, e.g. +50370000000 (marked verified)")
	if help, err := parseFlags(fs, args, stdout, "Usage: blink-consent users add --email ADDRESS [--phone +E164]\n\nCreates a user and prints its id, the subject Hydra puts in tokens. Needs DATABASE_URL."); help || err != nil {
		return err
	}
	n := store.NewUser{}
	if *email != "" {
		addr, err := mail.ParseAddress(*email)
		if err != nil || addr.Address != strings.TrimSpace(*email) {
			return fmt.Errorf("users add: --email %q is not an email address", *email)
		}
		n.Email, n.EmailVerified = strings.ToLower(addr.Address), true
	}
	if *phone != "" {
		if !e164.MatchString(*phone) {
			return fmt.Errorf("users add: --phone %q is not in E.164 form (+ and 7 to 15 digits)", *phone)
		}
		n.Phone, n.PhoneVerified = *phone, true
	}
	if n.Email == "" && n.Phone == "" {
		return errors.New("users add: give --email, --phone or both")
	}
	db, err := openForCLI(ctx, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := db.CreateUser(ctx, n)
	if err != nil {
		return fmt.Errorf("users add: %w", err)
	}
	fmt.Fprintln(stdout, u.ID)
	return nil
}
