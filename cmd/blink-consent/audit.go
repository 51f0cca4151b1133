package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"text/tabwriter"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/config"
)

const auditUsage = `Usage: blink-consent audit --user ID [--since 24h|7d]

Prints the user's security events, oldest first: time (UTC), event, who
(user, cli, system), app (client id), method, result, the client's IP masked
(IPv4 to its /24, IPv6 to its /48) and details. Needs DATABASE_URL.`

func cmdAudit(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	userID := fs.String("user", "", "the user's id (the OAuth subject)")
	since := 24 * time.Hour
	fs.Func("since", "how far back to look: a duration such as 24h or a number of days such as 7d (default 24h)", func(v string) error {
		d, err := config.ParseDays(v)
		if err != nil {
			return err
		}
		if d <= 0 {
			return errors.New("must be more than 0")
		}
		since = d
		return nil
	})
	if help, err := parseFlags(fs, args, stdout, auditUsage); help || err != nil {
		return err
	}
	if *userID == "" {
		return errors.New("audit: --user is required")
	}
	db, err := openForCLI(ctx, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	events, err := db.AuditTrail(ctx, *userID, time.Now().Add(-since))
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if len(events) == 0 {
		fmt.Fprintf(stdout, "no events for %s in the last %s\n", *userID, since)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tBY\tCLIENT\tMETHOD\tRESULT\tIP\tDETAILS")
	for _, e := range events {
		details := ""
		if len(e.Details) > 0 {
			b, _ := json.Marshal(e.Details)
			details = string(b)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.At.UTC().Format(time.RFC3339), e.Action, e.Actor,
			orDash(e.ClientID), orDash(e.Method), orDash(e.Result), orDash(maskIP(e.IP)), details)
	}
	return tw.Flush()
}

// maskIP keeps the network, not the host: enough for support to tell a
// country or a provider apart, not to single out a household.
func maskIP(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		if ip == "" {
			return ""
		}
		return "(masked)"
	}
	bits := 48
	if a.Unmap().Is4() {
		a, bits = a.Unmap(), 24
	}
	p, _ := a.Prefix(bits)
	return p.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
