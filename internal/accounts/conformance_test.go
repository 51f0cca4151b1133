package accounts_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/accounts"
	"github.com/blinkbitcoin/blink-consent/internal/accounts/accountstest"
	"github.com/blinkbitcoin/blink-consent/internal/accounts/blinkcore"
	"github.com/blinkbitcoin/blink-consent/internal/accounts/postgres"
	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/devstack/corestandin"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// Every identity source passes the one conformance suite: the postgres source
// on a real PostgreSQL, the Blink core source against the wire-format stand-in
// of core (its flows in the same real PostgreSQL). When PostgreSQL cannot be
// started the run fails and says why; it never skips.
var testPG *devstack.Postgres

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "blink-consent-accounts-pg-*")
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	testPG, err = devstack.StartPostgres(context.Background(), dir, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the identity sources' tests need a real PostgreSQL: %v\n", err)
		return 1
	}
	defer testPG.Stop()
	return m.Run()
}

var databases atomic.Int64

func newStore(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	url, err := testPG.CreateDatabase(ctx, fmt.Sprintf("accounts_%d", databases.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

var (
	keys   = secret.NewKeys([]byte("conformance-key-0123456789abcdef"))
	plenty = store.Limit{Max: 1000, Window: time.Hour}
	limits = accounts.Limits{SendPerEmail: plenty, SendPerPhone: plenty, SendPerIP: plenty, FailPerIdentifier: plenty, FailPerIP: plenty,
		Code: store.CodeLimits{TriesPerCode: 5, FailuresPerIdentity: 100, Lockout: time.Hour}, TOTPTriesPerFlow: 5, MaxSends: 5}
	codePattern = regexp.MustCompile(`\b[0-9]{6}\b`)
)

func TestPostgresSource(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	src := postgres.Source{Store: db, Keys: keys, Limits: limits, CodeTTL: 10 * time.Minute, Domain: "login.blink.test", CreatePhoneUsers: true}
	// The newest message to email that may be sent (a decoy never is), opened as the worker would.
	message := func(t *testing.T, email string) (string, bool) {
		msgs, err := db.RecentMessages(ctx, 500)
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
			return codePattern.FindString(e.Text), true
		}
		return "", false
	}
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
		LastCode:      func(t *testing.T, email string) string { c, _ := message(t, email); return c },
		CodeDelivered: func(t *testing.T, email string) bool { _, ok := message(t, email); return ok },
	})
}

func TestBlinkCoreSource(t *testing.T) {
	db := newStore(t)
	core, err := corestandin.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { core.Close() })
	var mu sync.Mutex
	delivered := map[string][]string{}
	core.SetOnMessage(func(channel, to, text string) {
		mu.Lock()
		defer mu.Unlock()
		delivered[strings.ToLower(to)] = append(delivered[strings.ToLower(to)], text)
	})
	src := blinkcore.NewSource(blinkcore.New(core.AuthURL(), core.GraphQLURL(), nil), db, keys, limits, blinkcore.Options{})
	accountstest.Run(t, accountstest.Harness{
		Source: src,
		Store:  db,
		NewAccount: func(t *testing.T, email string, withTOTP bool) (string, func() string) {
			id := core.AddIdentity(email, "")
			if !withTOTP {
				return id, nil
			}
			s := core.EnrolTOTP(id)
			return id, func() string { return corestandin.TOTPCode(s, time.Now()) }
		},
		LastCode: func(t *testing.T, email string) string { return core.Code(email) },
		CodeDelivered: func(t *testing.T, email string) bool {
			code := core.Code(email)
			mu.Lock()
			defer mu.Unlock()
			for _, text := range delivered[strings.ToLower(email)] {
				if code != "" && strings.Contains(text, code) {
					return true
				}
			}
			return false
		},
	})
}
