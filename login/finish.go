package login

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/blinkbitcoin/blink-consent/internal/challenges"
	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/pages"
)

// The end of a sign-in, shared by the code and authenticator steps.

// next goes on from a verified factor: to the authenticator step when the
// flow says it is due, else to the passkey offer when it is due (offer.go),
// else to Hydra.
func (d Deps) next(w http.ResponseWriter, r *http.Request, f store.Flow) {
	if secondStepDue(f) {
		http.Redirect(w, r, "/login/totp?flow="+f.ID, http.StatusSeeOther)
		return
	}
	if d.offer(w, r, f) {
		return
	}
	d.finish(w, r, f)
}

// finish completes the flow and accepts the login at Hydra, once: one
// statement claims the challenge and completes the flow (store.CompleteFlow),
// one call to Hydra, one statement records the sign-in and where Hydra sent
// the browser. The account is the one the verifying code was issued to; for
// a disabled account Hydra gets a reject (access_denied), so the challenge
// can never be accepted later (say, once the account is enabled again), and
// the person gets the "disabled" page.
func (d Deps) finish(w http.ResponseWriter, r *http.Request, f store.Flow) {
	ctx := r.Context()
	ip := web.ClientIP(r, d.Settings.TrustedProxies)
	twoStep := f.TOTPVerifiedAt != nil
	user, done, err := d.Store.CompleteFlow(ctx, f.ID, f.Challenge)
	switch {
	case errors.Is(err, store.ErrFlowState), errors.Is(err, store.ErrChallengeUsed):
		// A double submit: go where the first one went.
		pages.GoWhereItWent(w, r, d.Store, f.Challenge, func() { pages.FailFlow(w, r, d.Store, f.Challenge, challenges.ErrUsed) })
		return
	case err != nil:
		pages.FailFlow(w, r, d.Store, f.Challenge, err)
		return
	case !done:
		slog.InfoContext(ctx, "sign-in refused: account disabled", "flow", f.ID, "client", f.ClientID, "ip", ip)
		d.Metrics.SignIn(f.Channel, "disabled")
		if _, err := d.Hydra.RejectLogin(ctx, f.Challenge, hydra.Rejection{
			Error: "access_denied", Description: "This account can no longer sign in.",
		}); err != nil {
			challenges.Release(ctx, d.Store, f.Challenge, err)
			pages.FailFlow(w, r, d.Store, f.Challenge, err)
			return
		}
		pages.FailFlow(w, r, d.Store, f.Challenge, challenges.ErrAccountDisabled)
		return
	}
	u := identity.FromUser(user)
	accept := hydra.AcceptLogin{
		Subject:     u.ID,
		Remember:    f.Remember,
		RememberFor: int64(d.Settings.RememberFor.Seconds()),
		AMR:         amr(f, twoStep),
		ACR:         acr(f, twoStep),
		Context:     loginContext(f, u, twoStep),
	}
	redirect, err := d.Hydra.AcceptLogin(ctx, f.Challenge, accept)
	if err == nil {
		err = d.Store.RecordSignIn(ctx, store.SignIn{
			SessionID: f.HydraSessionID, Kind: store.SignInKind{AMR: accept.AMR, ACR: accept.ACR, Remember: f.Remember},
			Event: store.AuditEvent{
				UserID: u.ID, Action: store.ActionSignInSucceeded, Actor: "user", ClientID: f.ClientID, IP: ip,
				Method: signInMethod(f.Channel, twoStep, f.SecondFactor), Result: "ok", Details: map[string]any{"remember": f.Remember, "acr": accept.ACR},
			},
			Challenge: f.Challenge, RedirectTo: redirect,
		})
	}
	if err != nil {
		// Hydra was not told (or the session not kept): the user may try again.
		if rerr := d.Store.ReopenFlow(ctx, f.ID, f.Challenge); rerr != nil {
			slog.ErrorContext(ctx, "could not reopen a login flow", "err", rerr)
		}
		pages.FailFlow(w, r, d.Store, f.Challenge, err)
		return
	}
	slog.InfoContext(ctx, "signed in", "flow", f.ID, "client", f.ClientID, "subject", u.ID, "ip", ip,
		"method", f.Channel, "remember", f.Remember, "acr", accept.ACR)
	d.Metrics.SignIn(f.Channel, "success")
	web.SeeOther(w, r, redirect)
}

// cancel rejects the login with access_denied. What the identity source kept
// in the flow (Blink core's auth token at the authenticator step) is dropped
// first: the flow will not go on.
func (d Deps) cancel(w http.ResponseWriter, r *http.Request, f store.Flow) {
	slog.InfoContext(r.Context(), "sign-in cancelled", "flow", f.ID, "client", f.ClientID)
	d.Metrics.SignIn(f.Channel, "cancelled")
	pages.Answer(w, r, d.Store, f.Challenge, func() (string, error) {
		if err := d.Store.ForgetFlowState(r.Context(), f.ID); err != nil {
			return "", err
		}
		return d.Hydra.RejectLogin(r.Context(), f.Challenge, hydra.Rejection{
			Error: "access_denied", Description: "The resource owner denied the request",
		})
	}, func() { pages.FailFlow(w, r, d.Store, f.Challenge, challenges.ErrUsed) })
}

// signInMethod names the sign-in in the audit trail: the channel of the code,
// "+totp" with an authenticator code as second step, "+recovery_code" with a
// recovery code instead.
func signInMethod(channel string, twoStep bool, secondFactor string) string {
	if twoStep && secondFactor == "recovery_code" {
		return channel + "+recovery_code"
	}
	if twoStep {
		return channel + "+totp"
	}
	return channel
}

// auditFailure records a failed authenticator code (a failed one-time code
// is recorded by the transaction that checks it). A failed audit does not
// change the answer to the user; it is logged, as the event is.
func (d Deps) auditFailure(r *http.Request, f store.Flow, method, result string) {
	e := store.AuditEvent{UserID: f.UserID, Action: store.ActionSignInFailed, Actor: "user", ClientID: f.ClientID,
		IP: web.ClientIP(r, d.Settings.TrustedProxies), Method: method, Result: result}
	if err := d.Store.Audit(r.Context(), e); err != nil {
		slog.ErrorContext(r.Context(), "could not audit a failed sign-in", "err", err)
	}
}

// amr says what really happened, with RFC 8176 values where one exists: "otp"
// (a one-time code), "sms", and "mfa" when the authenticator app was a second
// step; email and WhatsApp have no registered value and are named as they are,
// and so is a recovery code typed instead of the app ("recovery_code", with
// "mfa": it is a second factor, but not the app). A passkey is "hwk" (a key
// bound to its device) or "swk" (a synced one: backup eligible), with "user"
// and "mfa" when the authenticator verified the user (PIN, fingerprint,
// face): something held and something known or been.
func amr(f store.Flow, twoStep bool) []string {
	var m []string
	switch f.Channel {
	case "passkey":
		m = []string{"hwk"}
		if f.PasskeyBackupEligible {
			m = []string{"swk"}
		}
		if f.PasskeyUserVerified {
			m = append(m, "user", "mfa")
		}
	case "sms":
		m = []string{"otp", "sms"}
	case "whatsapp":
		m = []string{"otp", "whatsapp"}
	case "telegram":
		// Telegram Passport: Telegram vouches for the phone number; no code.
		m = []string{"telegram"}
	default:
		m = []string{"otp", "email"}
	}
	if twoStep && f.SecondFactor == "recovery_code" {
		m = append(m, "recovery_code", "mfa")
	} else if twoStep {
		m = append(m, "totp", "mfa")
	}
	return m
}

// acr is "1" for one step (a code, or a passkey without user verification)
// and "2" for two: a code and an authenticator code, or a passkey with user
// verification.
func acr(f store.Flow, twoStep bool) string {
	if twoStep || (f.Channel == "passkey" && f.PasskeyUserVerified) {
		return "2"
	}
	return "1"
}

// loginContext passes the method and the verified identifiers to the consent step.
func loginContext(f store.Flow, u identity.Account, twoStep bool) map[string]any {
	c := map[string]any{"method": f.Channel, "two_step": twoStep}
	if u.Email != "" {
		c["email"], c["email_verified"] = u.Email, u.EmailVerified
	}
	if u.Phone != "" {
		c["phone_number"], c["phone_number_verified"] = u.Phone, u.PhoneVerified
	}
	return c
}
