package identitytest

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

var recoveryCodeShape = regexp.MustCompile(`^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`)

// recoveryCodes turns two-step sign-in on through the account page's call
// that makes recovery codes, and checks on the recovery_codes rows, the
// flows, the audit trail and the outbox that each code completes the
// authenticator step exactly once, also when two sign-ins race for it.
func recoveryCodes(t *testing.T, h Harness, m identity.TOTPManager, rc identity.RecoveryCodes) {
	ctx := context.Background()
	since := time.Now().Add(-time.Minute)
	email := uniqueEmail("recovery")
	id, _ := h.NewAccount(t, email, false)
	sid := newSessionID()
	signInTo(t, h, email, h.AccountClientID, sid, nil)
	who := identity.Who{Subject: id, SessionID: sid, IP: selfServiceIP, Lang: i18n.Spanish}

	if _, err := rc.NewRecoveryCodes(ctx, who); !errors.Is(err, identity.ErrTOTPOff) {
		t.Errorf("NewRecoveryCodes without an authenticator: %v, want ErrTOTPOff", err)
	}
	e, err := m.BeginTOTP(ctx, who)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := totp.ParseSecret(e.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.ConfirmTOTPWithRecoveryCodes(ctx, who, e.ID, wrongTOTP(secret)); !errors.Is(err, identity.ErrWrongCode) {
		t.Errorf("a wrong confirming code: %v", err)
	}
	if rows := recoveryRows(t, h, id); len(rows) != 0 {
		t.Fatalf("a wrong confirming code stored %d recovery codes", len(rows))
	}
	codes, err := rc.ConfirmTOTPWithRecoveryCodes(ctx, who, e.ID, totp.Code(secret, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !recoveryCodeShape.MatchString(c) || seen[c] {
			t.Errorf("recovery code %q: not of the shape xxxx-xxxx-xxxx-xxxx or repeated", c)
		}
		seen[c] = true
	}
	if len(codes) != identity.RecoveryCodeCount || countUnused(recoveryRows(t, h, id)) != identity.RecoveryCodeCount {
		t.Fatalf("%d codes shown, rows %+v", len(codes), recoveryRows(t, h, id))
	}

	// A flow waiting for the authenticator step.
	waiting := func() store.Flow {
		f := newFlow(t, h)
		send(t, h, f, email)
		v, verified, err := verify(h, f, codeOf(t, h, email))
		if err != nil || v != store.CodeAccepted || !verified.NeedsTOTP {
			t.Fatalf("the first step: %v needsTOTP=%v %v", v, verified.NeedsTOTP, err)
		}
		return verified
	}
	use := func(f store.Flow, code string) (store.TOTPVerdict, store.Flow, error) {
		return rc.CheckRecoveryCode(ctx, identity.TOTPRequest{Flow: f, Code: code, ClientIP: "192.0.2.10", IPKey: "192.0.2.10",
			NewBrowserHash: append([]byte("second-"), f.BrowserHash...)})
	}

	f := waiting()
	if v, _, err := use(f, "aaaa-bbbb-cccc-dddd"); err != nil || v == store.TOTPAccepted {
		t.Errorf("a made-up recovery code: %v %v", v, err)
	}
	// Typed as a person might: upper case, spaces for dashes.
	typed := strings.ToUpper(strings.ReplaceAll(codes[0], "-", " "))
	v, done, err := use(f, typed)
	if err != nil || v != store.TOTPAccepted || done.TOTPVerifiedAt == nil || done.SecondFactor != "recovery_code" {
		t.Fatalf("the first recovery code: %v %+v %v", v, done, err)
	}
	if a, ok, err := complete(ctx, h, f); err != nil || !ok || a.ID != id {
		t.Fatalf("CompleteFlow after a recovery code: %+v %v %v", a, ok, err)
	}
	rows := recoveryRows(t, h, id)
	if countUnused(rows) != identity.RecoveryCodeCount-1 || usedBy(rows) != f.ID {
		t.Errorf("after one use the rows are %+v, want one used by flow %s", rows, f.ID)
	}

	// The same code again: refused, and nothing more is used.
	f2 := waiting()
	if v, again, err := use(f2, codes[0]); err != nil || v == store.TOTPAccepted || again.TOTPVerifiedAt != nil {
		t.Errorf("a used recovery code again: %v %v", v, err)
	}
	if _, _, err := complete(ctx, h, f2); !errors.Is(err, store.ErrFlowState) {
		t.Errorf("CompleteFlow after a used recovery code: %v, want ErrFlowState", err)
	}
	if got := countUnused(recoveryRows(t, h, id)); got != identity.RecoveryCodeCount-1 {
		t.Errorf("a refused code changed the rows: %d unused", got)
	}

	// Two sign-ins racing with one code: exactly one wins.
	a, b := waiting(), waiting()
	var wg sync.WaitGroup
	verdicts := make([]store.TOTPVerdict, 2)
	for i, fl := range []store.Flow{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			verdicts[i], _, _ = use(fl, codes[1])
		}()
	}
	wg.Wait()
	if (verdicts[0] == store.TOTPAccepted) == (verdicts[1] == store.TOTPAccepted) {
		t.Errorf("two flows racing with one recovery code: %v, want exactly one accepted", verdicts)
	}
	if got := countUnused(recoveryRows(t, h, id)); got != identity.RecoveryCodeCount-2 {
		t.Errorf("after the race %d codes are unused, want %d", got, identity.RecoveryCodeCount-2)
	}

	// New codes replace the old ones, used or not.
	fresh, err := rc.NewRecoveryCodes(ctx, who)
	if err != nil || len(fresh) != identity.RecoveryCodeCount {
		t.Fatalf("NewRecoveryCodes: %d %v", len(fresh), err)
	}
	if got := recoveryRows(t, h, id); len(got) != identity.RecoveryCodeCount || countUnused(got) != identity.RecoveryCodeCount {
		t.Errorf("after NewRecoveryCodes the rows are %+v", got)
	}
	if v, _, err := use(waiting(), codes[2]); err != nil || v == store.TOTPAccepted {
		t.Errorf("an old recovery code after new ones were made: %v %v", v, err)
	}
	if n, err := rc.RecoveryCodesLeft(ctx, who); err != nil || n != identity.RecoveryCodeCount {
		t.Errorf("RecoveryCodesLeft: %d %v", n, err)
	}

	// Turning two-step sign-in off removes them.
	if err := m.RemoveTOTP(ctx, who); err != nil {
		t.Fatal(err)
	}
	if got := recoveryRows(t, h, id); len(got) != 0 {
		t.Errorf("after RemoveTOTP %d recovery codes remain", len(got))
	}

	// Audited, and the person told in the page's language first.
	events, err := h.Store.AuditTrail(ctx, id, since)
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, ev := range events {
		if strings.HasPrefix(string(ev.Action), "recovery") {
			trail = append(trail, string(ev.Action)+" "+ev.Method)
		}
	}
	if got, want := strings.Join(trail, "; "), "recovery code used recovery_code; recovery code used recovery_code; recovery codes made recovery_code"; got != want {
		t.Errorf("audit trail %q, want %q", got, want)
	}
	msgs, err := h.Store.RecentMessages(ctx, 500)
	if err != nil {
		t.Fatal(err)
	}
	told := map[string]int{}
	for _, msg := range msgs {
		if msg.Destination != email {
			continue
		}
		env, err := delivery.Open(h.Keys, msg)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"notify.recovery.used", "notify.recovery.new", "notify.totp.added"} {
			if strings.Contains(env.Text, i18n.English.T(key)) && strings.Contains(env.Text, i18n.Spanish.T(key)) {
				told[key]++
			}
		}
		if strings.Contains(env.Text, i18n.Spanish.T("notify.recovery.new")) && !strings.HasPrefix(env.Text, i18n.Spanish.T("notify.recovery.new")) {
			t.Errorf("a notice asked for from a Spanish page does not start in Spanish: %q", env.Text)
		}
	}
	if told["notify.recovery.used"] != 2 || told["notify.recovery.new"] != 1 || told["notify.totp.added"] != 1 {
		t.Errorf("notices queued: %v, want two uses, one new set, one enrolment", told)
	}
}

func recoveryRows(t *testing.T, h Harness, userID string) []store.RecoveryCode {
	t.Helper()
	rows, err := h.Store.RecoveryCodes(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func countUnused(rows []store.RecoveryCode) int {
	n := 0
	for _, r := range rows {
		if r.UsedAt == nil {
			n++
		}
	}
	return n
}

// usedBy is the flow that used the only used code, "" when not exactly one is used.
func usedBy(rows []store.RecoveryCode) string {
	flow := ""
	for _, r := range rows {
		if r.UsedAt != nil {
			if flow != "" {
				return ""
			}
			flow = r.UsedFlow
		}
	}
	return flow
}
