package login

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/blinkbitcoin/blink-consent/internal/ids"
	"github.com/blinkbitcoin/blink-consent/internal/passkey"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/pages"
)

// Signing in with a passkey, from the identifier page: passkey.js asks for a
// ceremony bound to the flow (HandlePasskeyOptions), runs the browser's
// WebAuthn dialog (or its autofill), and posts the answer as a form
// (HandlePasskey), which is one transition of the flow
// (store.SignInWithPasskey) and then ends as a code's sign-in does (next,
// finish).

// HandlePasskeyOptions answers GET /login/passkey/options?flow=… with the
// options of a new discoverable sign-in ceremony bound to the browser's flow,
// as JSON (passkey.Begun). It answers JSON errors, which passkey.js turns
// into the page's message: 404 when passkeys are off, 410 when the flow is
// not this browser's or is gone, 409 when it is already verified, 429 past
// store.MaxLiveCeremonies ceremonies in progress for the flow.
func HandlePasskeyOptions(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if d.Passkeys == nil {
			jsonError(w, http.StatusNotFound, "off")
			return
		}
		id, bh := r.URL.Query().Get("flow"), browserHash(r, d.Settings.SecureCookies)
		if !ids.IsUUID(id) || bh == nil {
			jsonError(w, http.StatusGone, "flow")
			return
		}
		f, err := d.Store.FlowForBrowser(r.Context(), id, bh)
		switch {
		case errors.Is(err, store.ErrNotFound):
			jsonError(w, http.StatusGone, "flow")
			return
		case err != nil:
			slog.ErrorContext(r.Context(), "passkey options: flow unreadable", "err", err)
			jsonError(w, http.StatusServiceUnavailable, "unavailable")
			return
		case f.VerifiedAt != nil || f.CompletedAt != nil:
			jsonError(w, http.StatusConflict, "verified")
			return
		}
		begun, err := d.Passkeys.BeginSignIn(r.Context(), d.Store, f.ID)
		if errors.Is(err, store.ErrCeremonyLimit) {
			slog.WarnContext(r.Context(), "passkey options refused: too many ceremonies in progress", "flow", f.ID, "client", f.ClientID)
			jsonError(w, http.StatusTooManyRequests, "limited")
			return
		}
		if err != nil {
			slog.ErrorContext(r.Context(), "passkey options: no ceremony", "flow", f.ID, "err", err)
			jsonError(w, http.StatusServiceUnavailable, "unavailable")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(begun)
	})
}

func jsonError(w http.ResponseWriter, status int, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": reason})
}

// HandlePasskey answers POST /login/passkey (flow, ceremony, credential: the
// browser's PublicKeyCredential as JSON, remember): the flow's passkey
// transition, in one transaction, then the authenticator step when it is
// due (no user verification on a two-step account) or the accept at Hydra.
// A refused passkey shows the identifier page again with what went wrong
// and the code sign-in right there.
func HandlePasskey(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.Passkeys == nil {
			pages.Problem(w, r, http.StatusNotFound, "notfound")
			return
		}
		f, r, ok := d.loadFlow(w, r)
		if !ok {
			return
		}
		ctx := r.Context()
		ip := web.ClientIP(r, d.Settings.TrustedProxies)
		if f.VerifiedAt != nil {
			d.refused(w, r, f, "passkey sign-in", store.ErrFlowState)
			return
		}
		a, err := passkey.ParseAssertion([]byte(r.PostFormValue("credential")))
		if err != nil {
			slog.InfoContext(ctx, "passkey sign-in refused: not a WebAuthn answer", "flow", f.ID, "client", f.ClientID, "ip", ip)
			d.Metrics.SignIn("passkey", store.PasskeyInvalid.String())
			d.passkeyRefused(w, r, f, http.StatusBadRequest, "login.passkey.error.invalid")
			return
		}
		browser := web.NewToken()
		verdict, verified, err := d.Store.SignInWithPasskey(ctx, store.PasskeySignIn{
			FlowID: f.ID, BrowserHash: f.BrowserHash, NewBrowserHash: browser.Hash,
			CeremonyID: r.PostFormValue("ceremony"), CredentialID: a.CredentialID,
			Remember: r.PostFormValue("remember") == "true",
			IPKey:    web.LimitKey(ip), PerIP: d.Settings.PasskeyFailPerIP, PerAccount: d.Settings.PasskeyFailPerAccount,
			// Our users table keeps the authenticator app, so its step can
			// follow a passkey without user verification; Blink core's
			// can only be checked with the token of a code sign-in.
			SecondStepKnown: !d.Settings.AccountsElsewhere,
			Verify:          d.Passkeys.Verify(a),
			ClientID:        f.ClientID, ClientIP: ip,
		})
		if err != nil {
			var limited *store.LimitError
			if errors.As(err, &limited) {
				d.Metrics.SignIn("passkey", "limited")
			}
			if !d.refused(w, r, f, "passkey sign-in", err) {
				pages.Fail(w, r, err)
			}
			return
		}
		slog.InfoContext(ctx, "passkey checked", "flow", f.ID, "client", f.ClientID, "ip", ip, "result", verdict.String())
		if verdict == store.PasskeyAccepted {
			// A completed factor gets a new browser cookie, as a code's does.
			setBrowserCookie(w, browser, d.Settings.SecureCookies)
			d.next(w, r, verified)
			return
		}
		d.Metrics.SignIn("passkey", verdict.String())
		status, key := passkeyRefusal(verdict)
		d.passkeyRefused(w, r, f, status, key)
	})
}

// passkeyRefusal is the status and message (a catalog key) of a refused
// passkey. Every message leads to the code sign-in on the same page.
func passkeyRefusal(v store.PasskeyVerdict) (int, string) {
	switch v {
	case store.PasskeyCeremonyGone:
		return http.StatusUnprocessableEntity, "login.passkey.error.expired"
	case store.PasskeyUnknown:
		return http.StatusUnprocessableEntity, "login.passkey.error.unknown"
	case store.PasskeyDisabled:
		return http.StatusForbidden, "login.passkey.error.disabled"
	case store.PasskeyNeedsUserVerification:
		return http.StatusUnprocessableEntity, "login.passkey.error.verify"
	}
	return http.StatusUnprocessableEntity, "login.passkey.error.invalid"
}

// passkeyRefused shows the identifier page with the passkey's message.
func (d Deps) passkeyRefused(w http.ResponseWriter, r *http.Request, f store.Flow, status int, key string) {
	v := d.identifyView(f, lastMethod(r, "", d.Settings.SecureCookies))
	v.PasskeyError = key
	d.renderIdentify(w, r, status, v)
}
