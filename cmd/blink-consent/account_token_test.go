//go:build devstack

package main

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/blinkbitcoin/blink-consent/internal/accounts"
	"github.com/blinkbitcoin/blink-consent/internal/accounts/blinkcore"
	"github.com/blinkbitcoin/blink-consent/internal/config"
	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
)

// blinkAccountClientID is the blink-mode stack's ACCOUNT_CLIENT_ID.
const blinkAccountClientID = "3c5e0a8e-6a39-4c8e-9b1e-acc0000e0001"

// In blink mode, a sign-in to the account page's client (ACCOUNT_CLIENT_ID)
// keeps the user's core auth token, sealed, under the login session Hydra
// names in the ID token's sid; a sign-in to any other client keeps none.
// On the real Hydra: the sid is Hydra's, read from the ID token.
func TestBlinkAccountClientSignInKeepsASealedCoreToken(t *testing.T) {
	st, core := blinkStack(t)
	const email = "blink.account@example.com"
	id := core.AddIdentity(email, "")
	account := newRelyingParty(t, st, devstack.ClientSpec{ID: blinkAccountClientID, Scopes: []string{"openid", "email"}, SkipConsent: true})
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
	if n := queryIntOn(t, st, `SELECT count(*) FROM core_tokens`); n != 1 {
		t.Errorf("%d core tokens kept, want only the account client's", n)
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
	current, previous, err := config.SecretKeys(func(k string) string { return st.env[k] })
	if err != nil {
		t.Fatal(err)
	}
	db := openStore(t, st)
	src := blinkcore.NewSource(blinkcore.New(core.AuthURL(), core.GraphQLURL(), nil), db, secret.NewKeys(current, previous...), accounts.Limits{}, blinkcore.Options{})
	ctx := context.Background()
	if on, err := src.TOTPStatus(ctx, accounts.Who{Subject: id, SessionID: accountSID}); err != nil || on {
		t.Errorf("TOTPStatus with the kept token: %v %v", on, err)
	}
	if _, err := src.TOTPStatus(ctx, accounts.Who{Subject: id, SessionID: otherSID}); err != accounts.ErrFreshSignIn {
		t.Errorf("TOTPStatus for the other client's session: %v, want ErrFreshSignIn", err)
	}
}
