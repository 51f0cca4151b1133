// Package account is the /account page: a person signs in to it as to any
// app (it is a first-party OAuth client of our own Hydra), sees the apps they
// allowed and removes their access, and reads their recent security events.
package account

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/accounts"
	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
)

// Hydra is the part of Hydra's admin API the account page uses.
type Hydra interface {
	ConsentSessions(ctx context.Context, subject string) ([]hydra.ConsentSession, error)
	RevokeConsent(ctx context.Context, subject, clientID string) error
	OAuthClient(ctx context.Context, id string) (hydra.OAuthClient, error)
}

// Store is what the account page keeps and reads in PostgreSQL.
type Store interface {
	StartAccountLogin(ctx context.Context, l store.AccountLogin, ttl time.Duration) error
	TakeAccountLogin(ctx context.Context, stateHash, browserHash []byte) (store.AccountLogin, error)
	StartAccountSession(ctx context.Context, tokenHash, replacedHash []byte, a store.AccountSession, ttl time.Duration) error
	AccountSession(ctx context.Context, tokenHash []byte) (store.AccountSession, error)
	EndAccountSession(ctx context.Context, tokenHash []byte) (store.AccountSession, error)
	// ForgetCoreToken deletes the Blink core token kept for a login session
	// (sid), if any: the account session that could use it has ended.
	ForgetCoreToken(ctx context.Context, sessionID string) error
	LatestAuditEvents(ctx context.Context, userID string, n int) ([]store.AuditEvent, error)
	Audit(ctx context.Context, e store.AuditEvent) error
	UserByID(ctx context.Context, id string) (store.User, error)
}

// Settings are the account page's knobs.
type Settings struct {
	// ClientID is the account page's own OAuth client, never listed as a connected app.
	ClientID string
	// PublicURL is this service's external base URL (for the redirect URIs).
	PublicURL     string
	SecureCookies bool
	// SessionTTL is how long a session lasts from its sign-in.
	SessionTTL     time.Duration
	TrustedProxies []netip.Prefix
	// CanNotify says which channels a notification can go out on, as the
	// identity source was told: the confirmation of a two-step change says the
	// user was told only when they were. Nil is every channel.
	CanNotify accounts.CanSend
}

// Deps is everything the account handlers stand on.
type Deps struct {
	Hydra Hydra
	Store Store
	OIDC  *OIDC
	// TOTP turns two-step sign-in on and off through the identity source;
	// nil leaves the two-step section out.
	TOTP     accounts.TOTPManager
	Settings Settings
}

// Fixed values of the account page.
const (
	// FreshFor is how recent a sign-in must be (auth_time in the ID token)
	// for a security change: removing every app, turning two-step sign-in on
	// or off.
	FreshFor = 5 * time.Minute
	// loginTTL is how long a sign-in to the page may take (Hydra's request TTL).
	loginTTL = 30 * time.Minute
	// activityShown is how many security events the page lists.
	activityShown = 20
)

const (
	sessionCookie = "blink_account"
	loginCookie   = "blink_account_login"
)

var errUnavailable = errors.New("account: unavailable")

// Session is a signed-in account page.
type Session struct {
	store.AccountSession
	hash []byte
	// user is the account's row, read once by RequireSession; nil when the
	// users table has none (a Blink core account not seen here yet).
	user *store.User
}

// Fresh reports whether the session's sign-in, as Hydra dated it in the ID
// token, is recent enough for a security change.
func (s Session) Fresh(now time.Time) bool {
	return now.Sub(s.AuthTime) <= FreshFor && !s.AuthTime.After(now.Add(time.Minute))
}

// Session returns the request's account session, when its cookie names an
// unexpired one.
func (d Deps) Session(r *http.Request) (Session, bool, error) {
	hash := web.TokenHash(r, sessionCookie, d.Settings.SecureCookies)
	if hash == nil {
		return Session{}, false, nil
	}
	a, err := d.Store.AccountSession(r.Context(), hash)
	if errors.Is(err, store.ErrNotFound) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, err
	}
	return Session{AccountSession: a, hash: hash}, true, nil
}

// RequireSession answers the request itself and returns ok=false when it has
// no session: a page load starts a sign-in, a form post goes back to the page.
// The session of an account disabled since its sign-in ends here.
func (d Deps) RequireSession(w http.ResponseWriter, r *http.Request) (Session, bool) {
	s, ok, err := d.Session(r)
	if ok {
		u, uerr := d.Store.UserByID(r.Context(), s.Subject)
		if uerr == nil && !u.Active() {
			if _, err := d.Store.EndAccountSession(r.Context(), s.hash); err != nil && !errors.Is(err, store.ErrNotFound) {
				fail(w, r, err)
				return Session{}, false
			}
			d.forgetCoreToken(r.Context(), s.SID)
			web.ClearCookie(w, sessionCookie, d.Settings.SecureCookies)
			web.Problem(w, r, http.StatusForbidden, "disabled")
			return Session{}, false
		}
		if uerr == nil {
			s.user = &u
		} else if !errors.Is(uerr, store.ErrNotFound) {
			err = uerr
		}
	}
	switch {
	case err != nil:
		fail(w, r, err)
		return Session{}, false
	case ok:
		return s, true
	case r.Method == http.MethodGet:
		d.startSignIn(w, r, false, r.URL.Path)
	default:
		// A form from an expired session: nothing is done, the page signs in again.
		http.Redirect(w, r, "/account", http.StatusSeeOther)
	}
	return Session{}, false
}

// RequireFresh returns true when the session's sign-in is recent enough for a
// security change. Otherwise it sends the browser to sign in again (Hydra asks
// whatever it remembers) and, once signed in, to returnTo — a page that shows
// the change again for the person to confirm; nothing is done on the way.
func (d Deps) RequireFresh(w http.ResponseWriter, r *http.Request, s Session, returnTo string) bool {
	if s.Fresh(time.Now()) {
		return true
	}
	d.startSignIn(w, r, true, returnTo)
	return false
}

// startSignIn keeps a new authorization request (state, nonce, PKCE verifier)
// bound to this browser and sends the browser to Hydra.
func (d Deps) startSignIn(w http.ResponseWriter, r *http.Request, fresh bool, returnTo string) {
	browser, state := web.NewToken(), web.NewToken()
	nonce, verifier := web.NewToken().Value, web.NewToken().Value
	err := d.Store.StartAccountLogin(r.Context(), store.AccountLogin{
		StateHash: state.Hash, BrowserHash: browser.Hash, Nonce: nonce, CodeVerifier: verifier, Fresh: fresh, ReturnTo: returnTo,
	}, loginTTL)
	if err != nil {
		fail(w, r, err)
		return
	}
	web.SetTokenCookie(w, loginCookie, browser, loginTTL, d.Settings.SecureCookies)
	http.Redirect(w, r, d.OIDC.AuthURL(state.Value, nonce, verifier, fresh, string(i18n.FromContext(r.Context()))), http.StatusSeeOther)
}

// HandleCallback answers GET /account/callback, where Hydra sends the browser
// back: it takes the sign-in this browser started (single use), exchanges the
// code, checks the ID token and starts a new session under a new cookie.
func HandleCallback(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		state, code := r.URL.Query().Get("state"), r.URL.Query().Get("code")
		browser := web.TokenHash(r, loginCookie, d.Settings.SecureCookies)
		if state == "" || browser == nil {
			web.Render(w, r, http.StatusBadRequest, signInAgainPage("account.callback.lost"))
			return
		}
		l, err := d.Store.TakeAccountLogin(ctx, web.HashToken(state), browser)
		if errors.Is(err, store.ErrNotFound) {
			web.Render(w, r, http.StatusBadRequest, signInAgainPage("account.callback.lost"))
			return
		}
		if err != nil {
			fail(w, r, err)
			return
		}
		web.ClearCookie(w, loginCookie, d.Settings.SecureCookies)
		if r.URL.Query().Get("error") != "" || code == "" {
			slog.InfoContext(ctx, "account sign-in did not finish", "error", capped(r.URL.Query().Get("error")))
			web.Render(w, r, http.StatusOK, signInAgainPage("account.callback.cancelled"))
			return
		}
		id, err := d.OIDC.Exchange(ctx, code, l.CodeVerifier, l.Nonce)
		if err != nil {
			slog.WarnContext(ctx, "account sign-in refused", "err", err)
			if errors.Is(err, errUnavailable) {
				web.Problem(w, r, http.StatusServiceUnavailable, "unavailable")
				return
			}
			web.Render(w, r, http.StatusBadRequest, signInAgainPage("account.callback.refused"))
			return
		}
		if l.Fresh && !(Session{AccountSession: store.AccountSession{AuthTime: id.AuthTime}}).Fresh(time.Now()) {
			// Hydra did not sign the person in again (prompt=login was
			// dropped on the way, or its clock says otherwise): the change
			// waits for a sign-in that really happened now.
			slog.WarnContext(ctx, "account fresh sign-in refused: auth_time is not recent", "subject", id.Subject, "auth_time", id.AuthTime)
			web.Render(w, r, http.StatusForbidden, signInAgainPage("account.fresh.stale"))
			return
		}
		replaced := web.TokenHash(r, sessionCookie, d.Settings.SecureCookies)
		var old store.AccountSession
		if replaced != nil {
			if old, err = d.Store.AccountSession(ctx, replaced); err != nil && !errors.Is(err, store.ErrNotFound) {
				fail(w, r, err)
				return
			}
		}
		token := web.NewToken()
		err = d.Store.StartAccountSession(ctx, token.Hash, replaced, store.AccountSession{
			Subject: id.Subject, SID: id.SID, AuthTime: id.AuthTime, IDToken: id.Raw,
		}, d.Settings.SessionTTL)
		if err != nil {
			fail(w, r, err)
			return
		}
		if old.SID != "" && old.SID != id.SID {
			// The replaced session's Blink core token is of no use to anyone now.
			d.forgetCoreToken(ctx, old.SID)
		}
		web.SetTokenCookie(w, sessionCookie, token, d.Settings.SessionTTL, d.Settings.SecureCookies)
		slog.InfoContext(ctx, "account page signed in", "subject", id.Subject, "fresh", l.Fresh)
		http.Redirect(w, r, l.ReturnTo, http.StatusSeeOther)
	})
}

// HandleSignOut answers POST /account/signout: the session row goes, the
// cookie goes, and Hydra ends its login session (id_token_hint) before it
// sends the browser to /account/signed-out.
func HandleSignOut(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		signedOut := d.Settings.PublicURL + "/account/signed-out"
		hash := web.TokenHash(r, sessionCookie, d.Settings.SecureCookies)
		web.ClearCookie(w, sessionCookie, d.Settings.SecureCookies)
		if hash == nil {
			http.Redirect(w, r, signedOut, http.StatusSeeOther)
			return
		}
		s, err := d.Store.EndAccountSession(r.Context(), hash)
		if errors.Is(err, store.ErrNotFound) {
			http.Redirect(w, r, signedOut, http.StatusSeeOther)
			return
		}
		if err != nil {
			fail(w, r, err)
			return
		}
		d.forgetCoreToken(r.Context(), s.SID)
		slog.InfoContext(r.Context(), "account page signed out", "subject", s.Subject)
		http.Redirect(w, r, d.OIDC.LogoutURL(s.IDToken, signedOut), http.StatusSeeOther)
	})
}

// HandleSignedOut answers GET /account/signed-out, where Hydra sends the
// browser after its logout.
func HandleSignedOut() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		web.Render(w, r, http.StatusOK, signInAgainPage("account.signed_out"))
	})
}

// forgetCoreToken deletes the core token kept for an ended account
// session's login session; it expires by itself when this fails.
func (d Deps) forgetCoreToken(ctx context.Context, sid string) {
	if sid == "" {
		return
	}
	if err := d.Store.ForgetCoreToken(ctx, sid); err != nil {
		slog.WarnContext(ctx, "could not forget a kept core token", "err", err)
	}
}

func fail(w http.ResponseWriter, r *http.Request, err error) {
	web.Fail(w, r, err)
}

// capped keeps text from a URL short enough for a log line.
func capped(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}
