//go:build devstack

package main

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/config"
	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/identity/blinkcore"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// blinkAccountClientID is the blink-mode stack's ACCOUNT_CLIENT_ID.
const blinkAccountClientID = "3c5e0a8e-6a39-4c8e-9b1e-acc0000e0001"

var blinkAccount struct {
	once sync.Once
	rp   *relyingParty
}

// blinkAccountClient registers (once per stack) the client whose id is the
// blink stack's ACCOUNT_CLIENT_ID, as the account page's own client.
func blinkAccountClient(t *testing.T, st *stack) *relyingParty {
	t.Helper()
	blinkAccount.once.Do(func() {
		blinkAccount.rp = newRelyingParty(t, st, devstack.ClientSpec{ID: blinkAccountClientID, Name: "Blink account", Scopes: []string{"openid", "email"}, SkipConsent: true})
	})
	if blinkAccount.rp == nil {
		t.Fatal("the account client could not be registered")
	}
	return blinkAccount.rp
}

// blinkKeys are the blink stack's SECRET_KEYs, to build a Blink source as the service does.
func blinkKeys(t *testing.T, st *stack) secret.Keys {
	t.Helper()
	current, previous, err := config.SecretKeys(func(k string) string { return st.env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return secret.NewKeys(current, previous...)
}

// In blink mode, a sign-in to the account page's client (ACCOUNT_CLIENT_ID)
// keeps the user's core auth token, sealed, under the login session Hydra
// names in the ID token's sid; a sign-in to any other client keeps none.
// On the real Hydra: the sid is Hydra's, read from the ID token.
func TestBlinkAccountClientSignInKeepsASealedCoreToken(t *testing.T) {
	st, core := blinkStack(t)
	const email = "blink.account@example.com"
	id := core.AddIdentity(email, "")
	account := blinkAccountClient(t, st)
	other := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "email"}, SkipConsent: true})

	signIn := func(rp *relyingParty) (sid string, hops journey) {
		t.Helper()
		b := newBrowser(t)
		codePage := blinkIdentify(t, st, b, rp.start(b).Last(), url.Values{"method": {"email"}, "email": {email}})
		j := blinkCode(st, b, codePage, core.Code(email))
		_, claims := rp.tokens(t, j)
		sid, _ = claims["sid"].(string)
		if claims["sub"] != id || sid == "" {
			t.Fatalf("claims %v: want sub %s and a sid", claims, id)
		}
		return sid, j
	}

	otherSID, _ := signIn(other)
	if n := queryIntOn(t, st, `SELECT count(*) FROM core_tokens WHERE user_id::text = $1`, id); n != 0 {
		t.Fatalf("a sign-in to another client kept %d core tokens", n)
	}

	accountSID, j := signIn(account)
	if accountSID == otherSID {
		t.Fatal("two browsers share a login session")
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM core_tokens WHERE session_id = $1 AND user_id::text = $2 AND expires_at > now()
		AND expires_at <= now() + interval '1 hour' AND position('ory_st_' in encode(sealed, 'escape')) = 0`, accountSID, id); n != 1 {
		t.Fatalf("the account client's sign-in kept %d sealed, expiring core tokens for its sid, want 1", n)
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM core_tokens WHERE user_id::text = $1`, id); n != 1 {
		t.Errorf("%d core tokens kept for the user, want only the account client's", n)
	}
	for _, h := range j.Hops {
		if strings.Contains(h.Body, "ory_st_") || strings.Contains(strings.Join(h.Header.Values("Set-Cookie"), ";"), "ory_st_") || strings.Contains(h.Location, "ory_st_") {
			t.Fatal("core's auth token reached the browser")
		}
	}
	if bytes.Contains([]byte(serviceLog.String()), []byte("ory_st_")) {
		t.Error("a core auth token is in the service's log")
	}

	// What is kept is the user's live core token: the Blink source, with the
	// service's keys, reads core with it for that subject and sid only.
	src := blinkcore.NewSource(blinkcore.New(core.AuthURL(), core.GraphQLURL(), nil), openStore(t, st), blinkKeys(t, st), identity.Limits{}, blinkcore.Options{})
	ctx := context.Background()
	if on, err := src.TOTPStatus(ctx, identity.Who{Subject: id, SessionID: accountSID}); err != nil || on {
		t.Errorf("TOTPStatus with the kept token: %v %v", on, err)
	}
	if _, err := src.TOTPStatus(ctx, identity.Who{Subject: id, SessionID: otherSID}); err != identity.ErrFreshSignIn {
		t.Errorf("TOTPStatus for the other client's session: %v, want ErrFreshSignIn", err)
	}
}

// The layer the account page stands on, end to end on the real Hydra in
// blink mode: the token kept from a sign-in to the account client turns
// two-step sign-in on at core; the next real sign-in asks for a code of that
// secret and ends with acr 2; that sign-in's (two-step) token turns it off;
// the sign-in after asks for no code. Each change is audited and the user
// told through our outbox.
func TestBlinkTwoStepSelfServiceWithTheKeptToken(t *testing.T) {
	st, core := blinkStack(t)
	const email = "blink.selfservice@example.com"
	id := core.AddIdentity(email, "")
	account := blinkAccountClient(t, st)
	src := blinkcore.NewSource(blinkcore.New(core.AuthURL(), core.GraphQLURL(), nil), openStore(t, st), blinkKeys(t, st), identity.Limits{}, blinkcore.Options{})
	ctx := context.Background()

	// signIn signs in to the account client; code, when set, answers the authenticator step.
	signIn := func(code func() string) (sid, acr string) {
		t.Helper()
		b := newBrowser(t)
		codePage := blinkIdentify(t, st, b, account.start(b).Last(), url.Values{"method": {"email"}, "email": {email}})
		j := blinkCode(st, b, codePage, core.Code(email))
		if last := j.Last(); last.URL.Path == "/login/totp" {
			if code == nil {
				t.Fatal("the sign-in asked for an authenticator code")
			}
			j = b.Post(st.ServiceURL+"/login/totp", url.Values{"flow": {flowID(t, last)}, "code": {code()}, "action": {"continue"}})
		} else if code != nil {
			t.Fatalf("the sign-in did not ask for an authenticator code: %v", paths(j))
		}
		_, claims := account.tokens(t, j)
		sid, _ = claims["sid"].(string)
		acr, _ = claims["acr"].(string)
		return sid, acr
	}

	sid, _ := signIn(nil)
	who := identity.Who{Subject: id, SessionID: sid, IP: "198.51.100.77"}
	e, err := src.BeginTOTP(ctx, who)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := totp.ParseURI(e.URI)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.ConfirmTOTP(ctx, who, e.ID, totp.Code(secret, time.Now())); err != nil {
		t.Fatal(err)
	}
	if got := core.TOTPSecret(id); string(got) != string(secret) {
		t.Fatal("core does not hold the secret the enrolment showed")
	}

	sid2, acr := signIn(func() string { return totp.Code(secret, time.Now()) })
	if acr != "2" {
		t.Errorf("the sign-in after enrolment has acr %q, want 2", acr)
	}
	if err := src.RemoveTOTP(ctx, identity.Who{Subject: id, SessionID: sid2, IP: "198.51.100.77"}); err != nil {
		t.Fatal(err)
	}
	if _, acr := signIn(nil); acr != "1" {
		t.Errorf("the sign-in after removal has acr %q, want 1", acr)
	}

	if n := queryIntOn(t, st, `SELECT count(*) FROM audit_events WHERE user_id::text = $1 AND actor = 'user' AND ip = '198.51.100.77'
		AND action IN ('totp enrolled', 'totp removed')`, id); n != 2 {
		t.Errorf("%d audited changes, want the enrolment and the removal", n)
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM outbox WHERE destination = $1`, email); n != 2 {
		t.Errorf("%d notices queued to %s, want 2", n, email)
	}
}
