//go:build devstack

package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// giveRecoveryCodes stores ten recovery codes for a user who has an
// authenticator app, as turning two-step sign-in on from /account does.
func giveRecoveryCodes(t *testing.T, userID string) []string {
	t.Helper()
	codes, hashes, err := identity.NewRecoveryCodeSet()
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t, testStack)
	if err := st.ReplaceRecoveryCodes(context.Background(), hashes, store.AuditEvent{UserID: userID, Action: "recovery codes made", Actor: "test", Method: "recovery_code", Result: "ok"}, nil); err != nil {
		t.Fatal(err)
	}
	return codes
}

func submitRecovery(b *browser, page hop, code string) journey {
	return b.Post(testStack.ServiceURL+"/login/totp", url.Values{"flow": {flowID(b.t, page)}, "recovery_code": {code}, "action": {"recovery"}})
}

// A recovery code completes the authenticator step once, through the real
// Hydra to tokens whose amr says so; the same code in a later sign-in is
// refused and Hydra hears nothing; the rows, the audit trail and the
// person's mail say what happened.
func TestRecoveryCodeSignsInOnceThroughHydra(t *testing.T) {
	const email = "lost.phone@example.com"
	subject := addUser(t, testStack, email)
	s := importTOTP(t, subject)
	codes := giveRecoveryCodes(t, subject)

	rp, b, page := totpPage(t, email, false)
	for _, want := range []string{"Lost your authenticator app?", `name="recovery_code"`, `value="recovery"`} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("the authenticator step lacks %s", want)
		}
	}
	flow := flowID(t, page)
	challenge := challengeOf(t, flow)
	// As a person might type it from paper: upper case, spaces.
	typed := strings.ToUpper(strings.ReplaceAll(codes[0], "-", " "))
	_, claims := rp.tokens(t, submitRecovery(b, page, typed))
	if claims["sub"] != subject || claims["acr"] != "2" || fmt.Sprint(claims["amr"]) != "[otp email recovery_code mfa]" {
		t.Errorf("claims %v", claims)
	}
	if a := testSpy.Accepts(challenge); len(a) != 1 || a[0].Subject != subject {
		t.Errorf("Hydra accepted %+v, want one accept of %s", a, subject)
	}
	if got := queryString(t, `SELECT count(*) FILTER (WHERE used_at IS NULL) || ' ' || string_agg(used_flow::text, ',') FROM recovery_codes WHERE user_id = $1::uuid`, subject); got != "9 "+flow {
		t.Errorf("recovery_codes after one use: %q, want 9 unused and one used by %s", got, flow)
	}
	if got := queryString(t, `SELECT coalesce(second_factor, '') FROM login_flows WHERE id::text = $1`, flow); got != "recovery_code" {
		t.Errorf("the flow's second factor is %q", got)
	}
	if n := queryInt(t, `SELECT count(*) FROM audit_events WHERE user_id = $1::uuid AND action = 'recovery code used' AND method = 'recovery_code'`, subject); n != 1 {
		t.Errorf("%d audit rows for the used code", n)
	}
	if n := queryInt(t, `SELECT count(*) FROM audit_events WHERE user_id = $1::uuid AND action = 'sign-in succeeded' AND method = 'email+recovery_code'`, subject); n != 1 {
		t.Errorf("%d sign-ins audited as email+recovery_code", n)
	}
	waitNotice(t, email, i18n.English.T("notify.recovery.used"))

	// The same code again, in a new sign-in: refused, nothing used, Hydra not told.
	exec(t, `DELETE FROM rate_events WHERE key = $1`, email)
	_, b2, page2 := totpPage(t, email, false)
	h := submitRecovery(b2, page2, codes[0]).Last()
	if h.Status != http.StatusUnprocessableEntity || !strings.Contains(h.Body, i18n.English.T("login.totp.recovery.error")) ||
		!strings.Contains(h.Body, `<details class="lost" id="lost" open>`) || !strings.Contains(h.Body, `required autofocus aria-describedby="recovery-hint recovery-error"`) {
		t.Errorf("a used recovery code: %d\n%s", h.Status, excerpt(h.Body))
	}
	if a := testSpy.Accepts(challengeOf(t, flowID(t, page2))); len(a) != 0 {
		t.Errorf("Hydra accepted %+v for a used recovery code", a)
	}
	if n := queryInt(t, `SELECT count(*) FROM recovery_codes WHERE user_id = $1::uuid AND used_at IS NULL`, subject); n != 9 {
		t.Errorf("%d unused codes after a refused one, want 9", n)
	}
	if n := queryInt(t, `SELECT count(*) FROM audit_events WHERE user_id = $1::uuid AND action = 'sign-in failed' AND method = 'recovery_code'`, subject); n != 1 {
		t.Errorf("%d failed recovery codes audited", n)
	}
	// The flow is still at its second step: the authenticator app finishes it.
	if h := submitTOTP(b2, page2, totp.Code(s, time.Now())).Last(); h.Status >= 400 {
		t.Errorf("the app's code after a refused recovery code: %d", h.Status)
	}
}
