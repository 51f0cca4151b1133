package postgres_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/accounts"
	"github.com/blinkbitcoin/blink-consent/internal/accounts/accountstest"
	"github.com/blinkbitcoin/blink-consent/internal/accounts/postgres"
	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// The postgres source passes the conformance suite on a real PostgreSQL.
// When PostgreSQL cannot be started the run fails and says why; it never skips.
var databaseURL string

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "blink-consent-accounts-pg-*")
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	pg, err := devstack.StartPostgres(context.Background(), dir, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the postgres source's tests need a real PostgreSQL: %v\n", err)
		return 1
	}
	defer pg.Stop()
	if databaseURL, err = pg.CreateDatabase(context.Background(), "accounts_postgres"); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		return 1
	}
	return m.Run()
}

var codePattern = regexp.MustCompile(`\b[0-9]{6}\b`)

func TestConformance(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	keys := secret.NewKeys([]byte("conformance-key-0123456789abcdef"))
	plenty := store.Limit{Max: 1000, Window: time.Hour}
	src := postgres.Source{Store: db, Keys: keys, CodeTTL: 10 * time.Minute, Domain: "login.blink.test", CreatePhoneUsers: true,
		Limits: accounts.Limits{SendPerEmail: plenty, SendPerPhone: plenty, SendPerIP: plenty, FailPerIdentifier: plenty, FailPerIP: plenty,
			Code: store.CodeLimits{TriesPerCode: 5, FailuresPerIdentity: 100, Lockout: time.Hour}, TOTPTriesPerFlow: 5, MaxSends: 5}}
	accountstest.Run(t, accountstest.Harness{
		Source: src,
		Store:  db,
		NewAccount: func(t *testing.T, email string, withTOTP bool) (string, func() string) {
			u, err := db.CreateUser(ctx, store.NewUser{Email: email})
			if err != nil {
				t.Fatal(err)
			}
			if !withTOTP {
				return u.ID, nil
			}
			s, err := totp.NewSecret()
			if err != nil {
				t.Fatal(err)
			}
			sealed, err := keys.Seal(s, []byte(u.ID))
			if err != nil {
				t.Fatal(err)
			}
			if err := db.SaveTOTP(ctx, u.ID, sealed, nil, "totp imported", "test", nil); err != nil {
				t.Fatal(err)
			}
			return u.ID, func() string { return totp.Code(s, time.Now()) }
		},
		// The newest message to email that may be sent (a decoy never is), opened as the worker would.
		LastCode: func(t *testing.T, email string) string {
			msgs, err := db.RecentMessages(ctx, 200)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				if m.Destination != email || m.Status == "decoy" {
					continue
				}
				e, err := delivery.Open(keys, m)
				if err != nil {
					t.Fatal(err)
				}
				return codePattern.FindString(e.Text)
			}
			return ""
		},
	})
}
