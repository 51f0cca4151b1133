package account

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/pages"
	"github.com/blinkbitcoin/blink-consent/views"
)

// HandleShow answers GET /account: the connected apps, two-step sign-in and
// recent activity of the signed-in person; without a session, a sign-in.
func HandleShow(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := d.RequireSession(w, r)
		if !ok {
			return
		}
		d.showPage(w, r, s, http.StatusOK, doneKey(r.URL.Query().Get("done"), s.user, d.Settings.CanNotify))
	})
}

// showPage renders the account page of s with the message of the catalog
// key done (a confirmation, or an error), or none.
func (d Deps) showPage(w http.ResponseWriter, r *http.Request, s Session, status int, done string) {
	ctx := r.Context()
	v := views.AccountView{Done: done}
	if s.user != nil {
		v.UserName = s.user.Email
		if v.UserName == "" {
			v.UserName = s.user.Phone
		}
	}
	apps, err := d.connectedApps(ctx, s.Subject)
	if err != nil {
		fail(w, r, err)
		return
	}
	for _, a := range apps {
		if origin := web.HTTPSOrigin(a.LogoURI); origin != "" {
			web.AllowImagesFrom(w, origin)
		}
	}
	v.Apps = apps
	v.TwoStep = d.twoStep(r, s)
	if v.Passkeys, err = d.passkeys(ctx, s); err != nil {
		fail(w, r, err)
		return
	}
	if v.Activity, err = d.activity(ctx, s.Subject); err != nil {
		fail(w, r, err)
		return
	}
	pages.Render(w, r, status, views.AccountPage(v))
}

// doneKey is the confirmation a page load after a change shows, from a fixed
// list: the query cannot put any other text on the page. A two-step change
// says the user was told by email or SMS only when a sender serves u's email
// or phone (identity.NoticeChannel, as the change itself chose); so does
// adding or removing a passkey.
func doneKey(done string, u *store.User, can identity.CanSend) string {
	switch done {
	case "totp_on", "totp_off", "passkey_added", "passkey_removed":
		if u == nil {
			return "account.done." + done + "_untold"
		}
		if channel, _ := identity.NoticeChannel(*u, can); channel == "" {
			return "account.done." + done + "_untold"
		}
		return "account.done." + done
	case "revoked", "revoked_all", "not_connected", "recovery_new", "passkey_renamed", "passkey_gone", "passkey_wait":
		return "account.done." + done
	case "totp_already_on", "totp_already_off":
		return "account.totp.error." + strings.TrimPrefix(done, "totp_")
	}
	return ""
}

// connectedApps lists the apps that may still hold the subject's tokens, one
// per client, the account page itself left out: every consent session Hydra
// lists (all pages), and every app our audit trail says the person allowed
// and did not remove since — Hydra's listing leaves out a consent whose
// remember_for has passed, yet its refresh token still works.
func (d Deps) connectedApps(ctx context.Context, subject string) ([]views.ConnectedApp, error) {
	sessions, err := d.Hydra.ConsentSessions(ctx, subject)
	if err != nil {
		return nil, err
	}
	granted, err := d.Store.GrantedClients(ctx, subject)
	if err != nil {
		return nil, err
	}
	var apps []views.ConnectedApp
	index := map[string]int{}
	add := func(c hydra.OAuthClient, grantedAt time.Time, scopes []string) {
		if c.ID == "" || c.ID == d.Settings.ClientID {
			return
		}
		i, seen := index[c.ID]
		if !seen {
			i = len(apps)
			index[c.ID] = i
			app := views.ConnectedApp{ClientID: c.ID, Name: c.DisplayName(), ClientURI: web.HTTPURL(c.ClientURI), FirstParty: c.SkipConsent}
			if web.HTTPSOrigin(c.LogoURI) != "" {
				app.LogoURI = c.LogoURI
			}
			apps = append(apps, app)
		}
		app := &apps[i]
		if grantedAt.After(app.GrantedAt) {
			app.GrantedAt = grantedAt
		}
		for _, sc := range scopes {
			if !slices.ContainsFunc(app.Scopes, func(s views.Scope) bool { return s.Name == sc }) {
				app.Scopes = append(app.Scopes, views.NewScope(sc))
			}
		}
	}
	for _, cs := range sessions {
		add(cs.Client, cs.GrantedAt, cs.GrantScope)
	}
	for _, g := range granted {
		if _, seen := index[g.ClientID]; seen || g.ClientID == d.Settings.ClientID {
			continue
		}
		c, err := d.Hydra.OAuthClient(ctx, g.ClientID)
		if errors.Is(err, hydra.ErrNotFound) {
			// The client is gone from Hydra, and its tokens with it.
			continue
		}
		if err != nil {
			return nil, err
		}
		add(c, g.At, g.Scopes)
	}
	return apps, nil
}

// HandleApps answers POST /account/apps: action=revoke removes one app's
// access (client_id), action=revoke_all every app's, after a fresh sign-in.
func HandleApps(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			pages.Problem(w, r, http.StatusBadRequest, "badrequest")
			return
		}
		s, ok := d.RequireSession(w, r)
		if !ok {
			return
		}
		ctx := r.Context()
		switch r.PostFormValue("action") {
		case "revoke":
			clientID := r.PostFormValue("client_id")
			apps, err := d.connectedApps(ctx, s.Subject)
			if err != nil {
				fail(w, r, err)
				return
			}
			i := slices.IndexFunc(apps, func(a views.ConnectedApp) bool { return a.ClientID == clientID })
			if i < 0 {
				// Already removed (a second tab, a double submit), never
				// allowed, or the page's own client: nothing is revoked or
				// audited, and the page says so.
				http.Redirect(w, r, "/account?done=not_connected", http.StatusSeeOther)
				return
			}
			if err := d.revoke(r, s.Subject, apps[i]); err != nil {
				fail(w, r, err)
				return
			}
			http.Redirect(w, r, "/account?done=revoked", http.StatusSeeOther)
		case "revoke_all":
			if !d.RequireFresh(w, r, s, "/account/remove-all") {
				return
			}
			apps, err := d.connectedApps(ctx, s.Subject)
			if err != nil {
				fail(w, r, err)
				return
			}
			// One call ends every consent and token of the subject, listed
			// or not (security review, issue 15); each app listed is audited.
			if err := d.Hydra.RevokeAllConsents(ctx, s.Subject); err != nil {
				fail(w, r, err)
				return
			}
			for _, a := range apps {
				d.audit(r, s.Subject, a)
			}
			http.Redirect(w, r, "/account?done=revoked_all", http.StatusSeeOther)
		default:
			pages.Problem(w, r, http.StatusBadRequest, "badrequest")
		}
	})
}

// revoke ends the subject's consent sessions with one app in Hydra (which
// revokes that app's tokens too) and audits it.
func (d Deps) revoke(r *http.Request, subject string, a views.ConnectedApp) error {
	if err := d.Hydra.RevokeConsent(r.Context(), subject, a.ClientID); err != nil && !errors.Is(err, hydra.ErrNotFound) {
		return err
	}
	d.audit(r, subject, a)
	return nil
}

// audit records that the subject removed an app's access.
func (d Deps) audit(r *http.Request, subject string, a views.ConnectedApp) {
	ctx := r.Context()
	slog.InfoContext(ctx, "app access removed", "subject", subject, "client", a.ClientID)
	e := store.AuditEvent{UserID: subject, Action: store.ActionConsentRemoved, Actor: "user", ClientID: a.ClientID,
		IP: web.ClientIP(r, d.Settings.TrustedProxies), Method: "account", Result: "ok"}
	if err := d.Store.Audit(ctx, e); err != nil {
		slog.ErrorContext(ctx, "could not audit a removed consent", "err", err)
	}
}

// HandleConfirmRemoveAll answers GET /account/remove-all: after the fresh
// sign-in, "Remove all" is asked again; only the form's POST removes anything.
func HandleConfirmRemoveAll(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := d.RequireSession(w, r)
		if !ok {
			return
		}
		apps, err := d.connectedApps(r.Context(), s.Subject)
		if err != nil {
			fail(w, r, err)
			return
		}
		pages.Render(w, r, http.StatusOK, views.AccountConfirmRemoveAll(len(apps)))
	})
}

// activity is the subject's last security events in plain words, with the
// app's name and the network the request came from, never the full address.
func (d Deps) activity(ctx context.Context, subject string) ([]views.ActivityItem, error) {
	events, err := d.Store.LatestAuditEvents(ctx, subject, activityShown)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	items := make([]views.ActivityItem, 0, len(events))
	for _, e := range events {
		key, app := activityKey(e), ""
		if strings.HasPrefix(key, "account.activity.signin") || strings.HasPrefix(key, "account.activity.consent") {
			app = i18n.T(ctx, "account.activity.unknown_app")
		}
		if e.ClientID != "" && app != "" {
			name, known := names[e.ClientID]
			if !known {
				name = e.ClientID
				if c, err := d.Hydra.OAuthClient(ctx, e.ClientID); err == nil {
					name = c.DisplayName()
				}
				names[e.ClientID] = name
			}
			app = name
		}
		items = append(items, views.ActivityItem{
			At: e.At, Key: key, App: app, MethodKey: methodKey(e.Method), Network: web.MaskIP(e.IP),
		})
	}
	return items, nil
}

// activityKey is the catalog key that says what an audit event was.
func activityKey(e store.AuditEvent) string {
	switch {
	case e.Action == store.ActionSignInSucceeded:
		return "account.activity.signin"
	case e.Action == store.ActionSignInFailed:
		return "account.activity.signin_failed"
	case e.Action == store.ActionConsentGranted:
		return "account.activity.consent_granted"
	case e.Action == store.ActionConsentDenied:
		return "account.activity.consent_denied"
	case e.Action == store.ActionConsentRemoved:
		return "account.activity.consent_removed"
	case e.Action == store.ActionRecoveryCodeUsed:
		return "account.activity.recovery_used"
	case e.Action == store.ActionRecoveryCodesMade:
		return "account.activity.recovery_new"
	case e.Action == store.ActionTOTPRemoved:
		return "account.activity.totp_off"
	case strings.HasPrefix(string(e.Action), "totp "):
		return "account.activity.totp_on"
	case e.Action == store.ActionIdentifierLocked:
		return "account.activity.locked"
	case e.Action == store.ActionUserDisabled:
		return "account.activity.disabled"
	case e.Action == store.ActionUserEnabled:
		return "account.activity.enabled"
	case e.Action == store.ActionHydraSessionsRevoked:
		return "account.activity.sessions_revoked"
	case e.Action == store.ActionPasskeyAdded:
		return "account.activity.passkey_added"
	case e.Action == store.ActionPasskeyRenamed:
		return "account.activity.passkey_renamed"
	case e.Action == store.ActionPasskeyRemoved:
		return "account.activity.passkey_removed"
	}
	return "account.activity.other"
}

// methodKey is the catalog key naming how a sign-in was made, "" when none fits.
func methodKey(method string) string {
	key := "account.method." + strings.ReplaceAll(method, "+", "_")
	if method == "" || !i18n.Has(key) {
		return ""
	}
	return key
}

// signInAgainPage explains why the page needs a new sign-in, with a button
// that starts one.
func signInAgainPage(key string) templ.Component {
	return views.AccountNotice(key+".title", key+".body")
}
