// Package account is the /account page: a person signs in to it as to any
// app (it is a first-party OAuth client of our own Hydra), sees the apps they
// allowed and removes their access, and reads their recent security events.
package account

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/passkey"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/pages"
)

// Hydra is the part of Hydra's admin API the account page uses.
type Hydra interface {
	ConsentSessions(ctx context.Context, subject string) ([]hydra.ConsentSession, error)
	RevokeConsent(ctx context.Context, subject, clientID string) error
	RevokeAllConsents(ctx context.Context, subject string) error
	OAuthClient(ctx context.Context, id string) (hydra.OAuthClient, error)
}

// Store is what the account page keeps and reads in PostgreSQL.
type Store interface {
	StartAccountSession(ctx context.Context, tokenHash, replacedHash []byte, a store.AccountSession, ttl time.Duration) error
	AccountSession(ctx context.Context, tokenHash []byte) (store.AccountSession, error)
	EndAccountSession(ctx context.Context, tokenHash []byte) (store.AccountSession, error)
	// LoginSessionRemembered reports whether the sign-in that opened a Hydra
	// login session was remembered ("Remember me").
	LoginSessionRemembered(ctx context.Context, sessionID string) (bool, error)
	// EndLoginSession ends every account session of a Hydra login session
	// and forgets what the identity source keeps for it (with Blink core, its
	// core token): that login session has ended.
	EndLoginSession(ctx context.Context, sid string) (int64, error)
	// ForgetSessionState deletes what the identity source keeps for a login
	// session (sid), if anything (with Blink core, its core token): the
	// account session that could use it has ended.
	ForgetSessionState(ctx context.Context, sid string) error
	LatestAuditEvents(ctx context.Context, userID string, n int) ([]store.AuditEvent, error)
	// GrantedClients lists the apps the audit trail says the person allowed
	// and did not remove since.
	GrantedClients(ctx context.Context, userID string) ([]store.GrantedClient, error)
	Audit(ctx context.Context, e store.AuditEvent) error
	UserByID(ctx context.Context, id string) (store.User, error)
	// The account's passkeys: listed, and renamed or removed only among
	// the subject's own, audited and notified in the same transaction;
	// passkey.Store keeps a registration's ceremony and adds the passkey.
	passkey.Store
	Passkeys(ctx context.Context, subject string) ([]store.Passkey, error)
	RenamePasskey(ctx context.Context, subject, id, name string, audit *store.AuditEvent, notify *store.Message) error
	RemovePasskey(ctx context.Context, subject, id string, audit *store.AuditEvent, notify *store.Message) error
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
	CanNotify identity.CanSend
}

// Deps is everything the account handlers stand on.
type Deps struct {
	Hydra Hydra
	Store Store
	OIDC  *OIDC
	// Keys seal a sign-in in flight into its cookie (state, nonce, PKCE
	// verifier): an anonymous visit writes nothing to the database.
	Keys secret.Keys
	// TOTP turns two-step sign-in on and off through the identity source;
	// nil leaves the two-step section out.
	TOTP identity.TOTPManager
	// Passkeys registers passkeys (*passkey.RP), each ceremony bound to the
	// account session's cookie; nil (PASSKEYS=off) leaves the Passkeys
	// section out.
	Passkeys passkey.Registrar
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
	loginCookie = "blink_account_login"
)

// BackChannelLogoutPath is where Hydra posts a logout token when a login
// session ends (the client's backchannel_logout_uri, after PUBLIC_URL).
const BackChannelLogoutPath = "/account/backchannel-logout"

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
	hash := web.TokenHash(r, web.AccountCookie, d.Settings.SecureCookies)
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
			d.forgetSessionState(r.Context(), s.SID)
			web.ClearCookie(w, web.AccountCookie, d.Settings.SecureCookies)
			pages.Problem(w, r, http.StatusForbidden, "disabled")
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

// startSignIn seals a new authorization request (state, nonce, PKCE
// verifier, where to go after) into this browser's login cookie and sends
// the browser to Hydra. Nothing is stored server-side: anonymous visits
// cannot fill the database (security review, issue 15).
func (d Deps) startSignIn(w http.ResponseWriter, r *http.Request, fresh bool, returnTo string) {
	l := pendingLogin{
		State: web.NewToken().Value, Nonce: web.NewToken().Value, Verifier: web.NewToken().Value,
		Fresh: fresh, ReturnTo: returnTo, Expires: time.Now().Add(loginTTL).Unix(),
	}
	sealed, err := l.seal(d.Keys)
	if err != nil {
		fail(w, r, err)
		return
	}
	web.SetCookie(w, loginCookie, sealed, loginTTL, d.Settings.SecureCookies)
	http.Redirect(w, r, d.OIDC.AuthURL(l.State, l.Nonce, l.Verifier, fresh, string(i18n.FromContext(r.Context()))), http.StatusSeeOther)
}

// pendingLogin is one sign-in to the page in flight: what the callback needs
// to finish the authorization-code flow. It travels only sealed (AES-GCM
// under SECRET_KEY) in the browser's login cookie, so the browser can
// neither read nor change it, and only that browser can finish the sign-in.
type pendingLogin struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Fresh    bool   `json:"f,omitempty"`
	ReturnTo string `json:"r"`
	Expires  int64  `json:"e"`
}

// loginAD binds a sealed pendingLogin to its purpose.
var loginAD = []byte("blink-consent/account-login")

func (l pendingLogin) seal(keys secret.Keys) (string, error) {
	plain, err := json.Marshal(l)
	if err != nil {
		return "", err
	}
	sealed, err := keys.Seal(plain, loginAD)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// takePendingLogin opens the request's login cookie and returns its sign-in
// when it is unexpired and of this state; ok=false otherwise (no cookie,
// altered, expired, another sign-in's state).
func (d Deps) takePendingLogin(r *http.Request, state string) (pendingLogin, bool) {
	c, err := r.Cookie(web.CookieName(loginCookie, d.Settings.SecureCookies))
	if err != nil || state == "" {
		return pendingLogin{}, false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return pendingLogin{}, false
	}
	plain, err := d.Keys.Open(sealed, loginAD)
	if err != nil {
		return pendingLogin{}, false
	}
	var l pendingLogin
	if json.Unmarshal(plain, &l) != nil || time.Now().Unix() >= l.Expires ||
		subtle.ConstantTimeCompare([]byte(l.State), []byte(state)) != 1 {
		return pendingLogin{}, false
	}
	return l, true
}

// HandleCallback answers GET /account/callback, where Hydra sends the browser
// back: it takes the sign-in this browser started (single use), exchanges the
// code, checks the ID token and starts a new session under a new cookie.
func HandleCallback(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		state, code := r.URL.Query().Get("state"), r.URL.Query().Get("code")
		l, ok := d.takePendingLogin(r, state)
		if !ok {
			pages.Render(w, r, http.StatusBadRequest, signInAgainPage("account.callback.lost"))
			return
		}
		// Single use: the cookie goes now; Hydra's code is single use too.
		web.ClearCookie(w, loginCookie, d.Settings.SecureCookies)
		if r.URL.Query().Get("error") != "" || code == "" {
			slog.InfoContext(ctx, "account sign-in did not finish", "error", capped(r.URL.Query().Get("error")))
			pages.Render(w, r, http.StatusOK, signInAgainPage("account.callback.cancelled"))
			return
		}
		id, err := d.OIDC.Exchange(ctx, code, l.Verifier, l.Nonce)
		if err != nil {
			slog.WarnContext(ctx, "account sign-in refused", "err", err)
			if errors.Is(err, errUnavailable) {
				pages.Problem(w, r, http.StatusServiceUnavailable, "unavailable")
				return
			}
			pages.Render(w, r, http.StatusBadRequest, signInAgainPage("account.callback.refused"))
			return
		}
		if l.Fresh && !(Session{AccountSession: store.AccountSession{AuthTime: id.AuthTime}}).Fresh(time.Now()) {
			// Hydra did not sign the person in again (prompt=login was
			// dropped on the way, or its clock says otherwise): the change
			// waits for a sign-in that really happened now.
			slog.WarnContext(ctx, "account fresh sign-in refused: auth_time is not recent", "subject", id.Subject, "auth_time", id.AuthTime)
			pages.Render(w, r, http.StatusForbidden, signInAgainPage("account.fresh.stale"))
			return
		}
		replaced := web.TokenHash(r, web.AccountCookie, d.Settings.SecureCookies)
		var old store.AccountSession
		if replaced != nil {
			if old, err = d.Store.AccountSession(ctx, replaced); err != nil && !errors.Is(err, store.ErrNotFound) {
				fail(w, r, err)
				return
			}
		}
		// The cookie outlives the browser only when the person asked Hydra
		// to remember the sign-in; otherwise it is a session cookie, gone
		// with the browser as Hydra's own (security review, issue 15).
		remembered, err := d.Store.LoginSessionRemembered(ctx, id.SID)
		if err != nil {
			fail(w, r, err)
			return
		}
		var cookieAge time.Duration
		if remembered {
			cookieAge = d.Settings.SessionTTL
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
			d.forgetSessionState(ctx, old.SID)
		}
		web.SetTokenCookie(w, web.AccountCookie, token, cookieAge, d.Settings.SecureCookies)
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
		hash := web.TokenHash(r, web.AccountCookie, d.Settings.SecureCookies)
		web.ClearCookie(w, web.AccountCookie, d.Settings.SecureCookies)
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
		d.forgetSessionState(r.Context(), s.SID)
		slog.InfoContext(r.Context(), "account page signed out", "subject", s.Subject)
		http.Redirect(w, r, d.OIDC.LogoutURL(s.IDToken, signedOut), http.StatusSeeOther)
	})
}

// HandleSignedOut answers GET /account/signed-out, where Hydra sends the
// browser after its logout.
func HandleSignedOut(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pages.Render(w, r, http.StatusOK, signInAgainPage("account.signed_out"))
	})
}

// HandleBackChannelLogout answers POST /account/backchannel-logout, where
// Hydra posts a logout token when a login session ends without passing
// through this service's logout page (another app's logout, an admin
// revoking the session by sid): every account session of that sid ends and
// its core token is forgotten. A token that fails a check changes nothing.
func HandleBackChannelLogout(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			backChannelError(w)
			return
		}
		sid, err := d.OIDC.VerifyLogoutToken(r.Context(), r.PostFormValue("logout_token"))
		if err != nil {
			slog.WarnContext(r.Context(), "back-channel logout refused", "err", err)
			backChannelError(w)
			return
		}
		ended, err := d.Store.EndLoginSession(r.Context(), sid)
		if err != nil {
			slog.ErrorContext(r.Context(), "back-channel logout could not end the account sessions", "err", err)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		slog.InfoContext(r.Context(), "back-channel logout", "account_sessions_ended", ended)
		w.WriteHeader(http.StatusOK)
	})
}

// backChannelError is the answer to a logout token that failed a check
// (Back-Channel Logout 1.0, section 2.8).
func backChannelError(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	w.Write([]byte(`{"error":"invalid_request"}`))
}

// forgetSessionState deletes what the identity source keeps for an ended
// account session's login session (Blink core's token); it expires by itself
// when this fails.
func (d Deps) forgetSessionState(ctx context.Context, sid string) {
	if sid == "" {
		return
	}
	if err := d.Store.ForgetSessionState(ctx, sid); err != nil {
		slog.WarnContext(ctx, "could not forget what the identity source keeps for a login session", "err", err)
	}
}

func fail(w http.ResponseWriter, r *http.Request, err error) {
	pages.Fail(w, r, err)
}

// capped keeps text from a URL short enough for a log line.
func capped(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}
