package login

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// An account disabled after its code was sent: the right code is rejected
// at Hydra (access_denied), so the challenge can never be accepted later;
// the claim stays, the flow is not completed, nothing is recorded as a
// sign-in, and the person gets the "disabled" page.
func TestFinishRejectsADisabledAccount(t *testing.T) {
	w := newWorld(t, maria)
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow, code := b.toCodePage(c, "maria@example.com")
	u := w.st.users[maria.ID]
	u.DisabledAt = ptr(time.Now())
	w.st.users[maria.ID] = u
	wantPage(t, b.code(flow, code), http.StatusForbidden, "error.disabled.title")
	wantAnswers(t, w.hy, "reject:access_denied")
	if !w.st.claimed(c) {
		t.Error("the rejected challenge was released")
	}
	if f := w.st.flow(flow); f.CompletedAt != nil || len(w.st.signIns) != 0 {
		t.Errorf("a disabled account was signed in: %+v %v", f, w.st.signIns)
	}
	if got := signIns(t, w.m, "email", "disabled"); got != 1 {
		t.Errorf("disabled %v", got)
	}
	// Enabled again, the same challenge still cannot be accepted.
	u.DisabledAt = nil
	w.st.users[maria.ID] = u
	b.code(flow, code)
	wantAnswers(t, w.hy, "reject:access_denied")
}

// When Hydra cannot take the reject of a disabled account, the claim is
// released (Hydra was not told) and the page says sign-in is unavailable.
func TestFinishDisabledWhenHydraIsDown(t *testing.T) {
	w := newWorld(t, maria)
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow, code := b.toCodePage(c, "maria@example.com")
	u := w.st.users[maria.ID]
	u.DisabledAt = ptr(time.Now())
	w.st.users[maria.ID] = u
	w.hy.rejectErr = hydra.ErrUnavailable
	wantPage(t, b.code(flow, code), http.StatusServiceUnavailable, "error.unavailable.title")
	if w.st.claimed(c) {
		t.Error("the claim stayed though Hydra was not told")
	}
	if len(w.hy.answered) != 0 {
		t.Error("Hydra holds an answer")
	}
}

// Hydra down at the accept: the flow is reopened and the challenge
// released, the page says so with "Start again", and the same code
// submitted again (the flow is verified) signs in once Hydra is back.
func TestFinishWhenHydraAcceptFailsReopensTheFlow(t *testing.T) {
	w := newWorld(t, maria)
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow, code := b.toCodePage(c, "maria@example.com")
	w.hy.acceptErr = hydra.ErrUnavailable
	rec := b.code(flow, code)
	wantPage(t, rec, http.StatusServiceUnavailable, "error.unavailable.title")
	if !strings.Contains(rec.Body.String(), strings.ReplaceAll(w.hy.requests[c].RequestURL, "&", "&amp;")) {
		t.Errorf("no way forward on the page\n%s", excerpt(rec))
	}
	f := w.st.flow(flow)
	if f.CompletedAt != nil || f.VerifiedAt == nil || w.st.claimed(c) || !slices.Equal(w.st.reopened, []string{flow}) {
		t.Errorf("flow %+v, claimed %v, reopened %v", f, w.st.claimed(c), w.st.reopened)
	}
	if len(w.st.signIns) != 0 || signIns(t, w.m, "email", "success") != 0 {
		t.Error("a sign-in Hydra never accepted was recorded")
	}
	w.hy.acceptErr = nil
	wantRedirect(t, b.code(flow, code), acceptURL(c))
	wantAnswers(t, w.hy, "accept:"+maria.ID, "accept:"+maria.ID)
	if len(w.st.signIns) != 1 || w.st.flow(flow).CompletedAt == nil {
		t.Error("the retry did not complete the sign-in")
	}
}

// The sign-in cannot be recorded: the flow is reopened and the challenge
// released too, and the page says something went wrong (not "signed in").
func TestFinishWhenTheSignInCannotBeRecorded(t *testing.T) {
	w := newWorld(t, maria)
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow, code := b.toCodePage(c, "maria@example.com")
	w.st.failRecordSignIn = errors.New("connection reset")
	wantPage(t, b.code(flow, code), http.StatusInternalServerError, "error.internal.title")
	if f := w.st.flow(flow); f.CompletedAt != nil || w.st.claimed(c) || len(w.st.reopened) != 1 {
		t.Errorf("flow %+v, claimed %v", f, w.st.claimed(c))
	}
	if signIns(t, w.m, "email", "success") != 0 || w.st.redirect(c) != "" {
		t.Error("counted or recorded a sign-in that was not kept")
	}
}

// The store cannot complete the flow: Hydra is not told.
func TestFinishWhenTheFlowCannotBeCompleted(t *testing.T) {
	w := newWorld(t, maria)
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow, code := b.toCodePage(c, "maria@example.com")
	w.st.failComplete = errors.New("connection reset")
	wantPage(t, b.code(flow, code), http.StatusInternalServerError, "error.internal.title")
	wantAnswers(t, w.hy)
	if w.st.claimed(c) {
		t.Error("claimed")
	}
}

// The account was deleted between the code and the finish: nothing is
// claimed and Hydra is not told.
func TestFinishWhenTheAccountIsGone(t *testing.T) {
	w := newWorld(t, maria)
	b := w.browser("203.0.113.7")
	w.st.totp[maria.ID] = "246810"
	c := w.challenge()
	flow, code := b.toCodePage(c, "maria@example.com")
	wantRedirect(t, b.code(flow, code), "/login/totp?flow="+flow)
	delete(w.st.users, maria.ID)
	wantPage(t, b.post("/login/totp", url.Values{"flow": {flow}, "code": {"246810"}}), http.StatusInternalServerError, "error.internal.title")
	wantAnswers(t, w.hy)
	if w.st.claimed(c) || w.st.flow(flow).CompletedAt != nil {
		t.Error("a gone account's flow was completed")
	}
}

// The challenge was answered by another request of it meanwhile (the
// store's claim refuses): this one goes where that one went, and Hydra is
// not told twice; when that place is unknown, the "used" page.
func TestFinishOfAChallengeAnsweredMeanwhile(t *testing.T) {
	for _, recorded := range []bool{true, false} {
		w := newWorld(t, maria)
		b := w.browser("203.0.113.7")
		c := w.challenge()
		flow, code := b.toCodePage(c, "maria@example.com")
		w.st.UseChallenge(t.Context(), c)
		if recorded {
			w.st.SetChallengeRedirect(t.Context(), c, "http://hydra.test/oauth2/auth?login_verifier=first")
			wantRedirect(t, b.code(flow, code), "http://hydra.test/oauth2/auth?login_verifier=first")
		} else {
			wantPage(t, b.code(flow, code), http.StatusGone, "error.used.title")
		}
		wantAnswers(t, w.hy)
		if f := w.st.flow(flow); f.CompletedAt != nil {
			t.Errorf("recorded %v: completed a flow whose challenge was answered", recorded)
		}
	}
}

// After the sign-in, the same form again (the back button) finds the flow
// complete: the "used" page, leading back to where Hydra sent the browser;
// Hydra is told once.
func TestDoubleSubmitAfterTheSignIn(t *testing.T) {
	w := newWorld(t, maria)
	b := w.browser("203.0.113.7")
	c := w.challenge()
	flow, code := b.toCodePage(c, "maria@example.com")
	wantRedirect(t, b.code(flow, code), acceptURL(c))
	rec := b.code(flow, code)
	wantPage(t, rec, http.StatusGone, "error.used.title")
	if !strings.Contains(rec.Body.String(), strings.ReplaceAll(acceptURL(c), "&", "&amp;")) {
		t.Errorf("the used page does not lead where the first one went\n%s", excerpt(rec))
	}
	wantAnswers(t, w.hy, "accept:"+maria.ID)
	if len(w.st.signIns) != 1 {
		t.Errorf("%d sign-ins recorded", len(w.st.signIns))
	}
}

// The names and values of a sign-in, by what completed it.
func TestAMRAndAuditMethod(t *testing.T) {
	for _, tc := range []struct {
		channel, second string
		twoStep         bool
		amr             []string
		method          string
	}{
		{"email", "", false, []string{"otp", "email"}, "email"},
		{"sms", "", true, []string{"otp", "sms", "totp", "mfa"}, "sms+totp"},
		{"whatsapp", "recovery_code", true, []string{"otp", "whatsapp", "recovery_code", "mfa"}, "whatsapp+recovery_code"},
		{"telegram", "", false, []string{"telegram"}, "telegram"},
	} {
		if got := amr(store.Flow{Channel: tc.channel, SecondFactor: tc.second}, tc.twoStep); !slices.Equal(got, tc.amr) {
			t.Errorf("%+v: amr %v", tc, got)
		}
		if got := signInMethod(tc.channel, tc.twoStep, tc.second); got != tc.method {
			t.Errorf("%+v: method %q", tc, got)
		}
	}
	if acr(store.Flow{Channel: "email"}, false) != "1" || acr(store.Flow{Channel: "email"}, true) != "2" {
		t.Error("acr")
	}
}

// A passkey's amr and acr: hwk or swk, user and mfa with user verification
// (acr 2, a complete sign-in); without it one factor (acr 1), and the
// authenticator step after it makes two.
func TestPasskeyAMRAndACR(t *testing.T) {
	for _, tc := range []struct {
		uv, synced, twoStep bool
		amr                 []string
		acr, method         string
	}{
		{true, false, false, []string{"hwk", "user", "mfa"}, "2", "passkey"},
		{true, true, false, []string{"swk", "user", "mfa"}, "2", "passkey"},
		{false, true, false, []string{"swk"}, "1", "passkey"},
		{false, false, true, []string{"hwk", "totp", "mfa"}, "2", "passkey+totp"},
	} {
		f := store.Flow{Channel: "passkey", PasskeyUserVerified: tc.uv, PasskeyBackupEligible: tc.synced}
		if got := amr(f, tc.twoStep); !slices.Equal(got, tc.amr) {
			t.Errorf("%+v: amr %v", tc, got)
		}
		if got := acr(f, tc.twoStep); got != tc.acr {
			t.Errorf("%+v: acr %q", tc, got)
		}
		if got := signInMethod(f.Channel, tc.twoStep, ""); got != tc.method {
			t.Errorf("%+v: method %q", tc, got)
		}
	}
}
