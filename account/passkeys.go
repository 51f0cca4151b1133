package account

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/ids"
	"github.com/blinkbitcoin/blink-consent/internal/passkey"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/pages"
	"github.com/blinkbitcoin/blink-consent/views"
)

// Passkeys from the account page (issue 21): the section lists the
// account's passkeys; adding one (the browser's dialog, through
// views/static/passkey-register.js) and removing one need a fresh sign-in,
// as two-step changes do; renaming does not. Every change is audited and
// the person told through the outbox, in the transaction that makes it. The
// subject is always the session's: a passkey of another account is never
// found, so never renamed or removed.

const (
	passkeysAction   = "/account/passkeys"
	passkeyAddURL    = "/account/passkeys/add"
	passkeyRemoveURL = "/account/passkeys/remove"
)

// passkeys is the section of the page, nil when passkeys are off.
func (d Deps) passkeys(ctx context.Context, s Session) (*views.PasskeysView, error) {
	if d.Passkeys == nil {
		return nil, nil
	}
	list, err := d.Store.Passkeys(ctx, s.Subject)
	if err != nil {
		return nil, err
	}
	v := &views.PasskeysView{Max: passkey.MaxPerAccount}
	for _, p := range list {
		v.Items = append(v.Items, views.PasskeyItem{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt, LastUsedAt: p.LastUsedAt})
	}
	return v, nil
}

// passkeyUser is the session's subject as WebAuthn sees it, with its
// passkeys (which a new registration excludes).
func (d Deps) passkeyUser(ctx context.Context, s Session) (passkey.User, error) {
	list, err := d.Store.Passkeys(ctx, s.Subject)
	u := passkey.User{Subject: s.Subject, Passkeys: list}
	if s.user != nil {
		u.Name = identity.TOTPAccountName(*s.user)
	}
	if u.Name == "" {
		u.Name = s.Subject
	}
	return u, err
}

// HandlePasskeyAdd answers GET /account/passkeys/add: after a fresh
// sign-in, a new registration ceremony and the page that answers it.
func HandlePasskeyAdd(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := d.RequireSession(w, r)
		if !ok {
			return
		}
		if d.Passkeys == nil {
			pages.Problem(w, r, http.StatusNotFound, "notfound")
			return
		}
		if !d.RequireFresh(w, r, s, passkeyAddURL) {
			return
		}
		d.renderAdd(w, r, s, http.StatusOK, "", "", 0)
	})
}

// renderAdd begins a registration and shows the add page with name and the
// error errKey (with its number arg), or the limit's message at the limit.
func (d Deps) renderAdd(w http.ResponseWriter, r *http.Request, s Session, status int, name, errKey string, arg int) {
	ctx := r.Context()
	u, err := d.passkeyUser(ctx, s)
	if err != nil {
		fail(w, r, err)
		return
	}
	if len(u.Passkeys) >= passkey.MaxPerAccount {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	begun, err := d.Passkeys.BeginRegistration(ctx, d.Store, u, s.hash)
	if errors.Is(err, store.ErrCeremonyLimit) {
		// Reloaded or refused past store.MaxLiveCeremonies in five minutes.
		slog.WarnContext(ctx, "passkey add page refused: too many ceremonies in progress", "subject", s.Subject)
		http.Redirect(w, r, "/account?done=passkey_wait", http.StatusSeeOther)
		return
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	if name == "" {
		name = i18n.T(ctx, "account.passkeys.default_name", len(u.Passkeys)+1)
	}
	// The options carry a challenge: never cached.
	w.Header().Set("Cache-Control", "no-store")
	pages.Render(w, r, status, views.AccountPasskeyAdd(views.PasskeyCreateView{
		Action: passkeysAction, Ceremony: begun.Ceremony, Options: string(begun.PublicKey),
		Name: name, Error: errKey, ErrorArg: arg, BackURL: "/account",
	}))
}

// HandlePasskeyRemove answers GET /account/passkeys/remove?id=…: after a
// fresh sign-in, asks whether to remove that passkey of the session's
// account; only the form's POST removes it.
func HandlePasskeyRemove(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := d.RequireSession(w, r)
		if !ok {
			return
		}
		if d.Passkeys == nil {
			pages.Problem(w, r, http.StatusNotFound, "notfound")
			return
		}
		id := r.URL.Query().Get("id")
		if !d.RequireFresh(w, r, s, passkeyRemoveURL+"?id="+id) {
			return
		}
		p, found, err := d.ownPasskey(r.Context(), s, id)
		if err != nil {
			fail(w, r, err)
			return
		}
		if !found {
			http.Redirect(w, r, "/account?done=passkey_gone", http.StatusSeeOther)
			return
		}
		pages.Render(w, r, http.StatusOK, views.AccountPasskeyRemove(views.PasskeyRemoveView{ID: p.ID, Name: p.Name}))
	})
}

// ownPasskey finds the session's account's passkey id; found=false for an
// id that is not one of its passkeys (another account's, removed, not an id).
func (d Deps) ownPasskey(ctx context.Context, s Session, id string) (store.Passkey, bool, error) {
	if !ids.IsUUID(id) {
		return store.Passkey{}, false, nil
	}
	list, err := d.Store.Passkeys(ctx, s.Subject)
	if err != nil {
		return store.Passkey{}, false, err
	}
	for _, p := range list {
		if p.ID == id {
			return p, true, nil
		}
	}
	return store.Passkey{}, false, nil
}

// HandlePasskeys answers POST /account/passkeys: action=create finishes a
// registration begun by the add page (ceremony, credential, name), rename
// names a passkey (id, name), remove removes one (id), the last two only
// among the session's account's passkeys; create and remove after a fresh
// sign-in.
func HandlePasskeys(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			pages.Problem(w, r, http.StatusBadRequest, "badrequest")
			return
		}
		s, ok := d.RequireSession(w, r)
		if !ok {
			return
		}
		if d.Passkeys == nil {
			pages.Problem(w, r, http.StatusNotFound, "notfound")
			return
		}
		switch r.PostFormValue("action") {
		case "create":
			if !d.RequireFresh(w, r, s, passkeyAddURL) {
				return
			}
			d.createPasskey(w, r, s)
		case "rename":
			d.renamePasskey(w, r, s)
		case "remove":
			id := r.PostFormValue("id")
			if !d.RequireFresh(w, r, s, passkeyRemoveURL+"?id="+id) {
				return
			}
			d.removePasskey(w, r, s, id)
		default:
			pages.Problem(w, r, http.StatusBadRequest, "badrequest")
		}
	})
}

// changeAudit is the audit line of a passkey change made on this page (the
// store adds the passkey's id and name).
func (d Deps) changeAudit(r *http.Request, s Session, action store.AuditAction) *store.AuditEvent {
	return &store.AuditEvent{UserID: s.Subject, Action: action, Actor: "user", IP: web.ClientIP(r, d.Settings.TrustedProxies), Method: "account", Result: "ok"}
}

// notice is the message telling the session's account of a passkey change
// (key "notify.passkey.…"): nil when no sender serves its email or phone,
// or when the users table has no row for it (a Blink core account not seen
// here yet); an error when it cannot be sealed, and then nothing is changed.
func (d Deps) notice(r *http.Request, s Session, key string) (*store.Message, error) {
	if s.user == nil {
		return nil, nil
	}
	return identity.PasskeyNotice(d.Keys, *s.user, i18n.FromContext(r.Context()), key, d.Settings.CanNotify)
}

func (d Deps) createPasskey(w http.ResponseWriter, r *http.Request, s Session) {
	ctx := r.Context()
	name, err := passkey.CleanName(r.PostFormValue("name"))
	if err != nil {
		d.renderAdd(w, r, s, http.StatusUnprocessableEntity, r.PostFormValue("name"), "account.passkeys.error.name", 0)
		return
	}
	notify, err := d.notice(r, s, "notify.passkey.added")
	if err != nil {
		fail(w, r, err)
		return
	}
	u, err := d.passkeyUser(ctx, s)
	if err != nil {
		fail(w, r, err)
		return
	}
	p, err := d.Passkeys.FinishRegistrationNotified(ctx, d.Store, u, s.hash, r.PostFormValue("ceremony"), []byte(r.PostFormValue("credential")),
		name, d.changeAudit(r, s, store.ActionPasskeyAdded), notify)
	switch {
	case err == nil:
		slog.InfoContext(ctx, "passkey added", "subject", s.Subject, "passkey", p.ID, "backup_eligible", p.BackupEligible, "user_verified", p.UserVerified)
		http.Redirect(w, r, "/account?done=passkey_added", http.StatusSeeOther)
		return
	case errors.Is(err, store.ErrPasskeyLimit):
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	// Each refusal begins a new ceremony: the one answered is spent.
	key := "account.passkeys.error.unavailable"
	switch {
	case errors.Is(err, store.ErrCeremony):
		key = "account.passkeys.error.expired"
	case errors.Is(err, passkey.ErrInvalid):
		key = "account.passkeys.error.refused"
	case errors.Is(err, store.ErrPasskeyExists):
		key = "account.passkeys.error.exists"
	}
	slog.WarnContext(ctx, "passkey not added", "subject", s.Subject, "err", err)
	status := http.StatusUnprocessableEntity
	if key == "account.passkeys.error.unavailable" {
		status = http.StatusServiceUnavailable
	}
	d.renderAdd(w, r, s, status, name, key, 0)
}

func (d Deps) renamePasskey(w http.ResponseWriter, r *http.Request, s Session) {
	ctx := r.Context()
	id := r.PostFormValue("id")
	name, err := passkey.CleanName(r.PostFormValue("name"))
	if err != nil {
		// The page again, saying what a name must be.
		d.showPage(w, r, s, http.StatusUnprocessableEntity, "account.passkeys.error.name")
		return
	}
	notify, err := d.notice(r, s, "notify.passkey.renamed")
	if err != nil {
		fail(w, r, err)
		return
	}
	if !ids.IsUUID(id) {
		http.Redirect(w, r, "/account?done=passkey_gone", http.StatusSeeOther)
		return
	}
	err = d.Store.RenamePasskey(ctx, s.Subject, id, name, d.changeAudit(r, s, store.ActionPasskeyRenamed), notify)
	if errors.Is(err, store.ErrNotFound) {
		// Not this account's passkey (removed in another tab, or another
		// account's): nothing renamed, audited or sent.
		http.Redirect(w, r, "/account?done=passkey_gone", http.StatusSeeOther)
		return
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	slog.InfoContext(ctx, "passkey renamed", "subject", s.Subject, "passkey", id)
	http.Redirect(w, r, "/account?done=passkey_renamed", http.StatusSeeOther)
}

func (d Deps) removePasskey(w http.ResponseWriter, r *http.Request, s Session, id string) {
	ctx := r.Context()
	if !ids.IsUUID(id) {
		http.Redirect(w, r, "/account?done=passkey_gone", http.StatusSeeOther)
		return
	}
	notify, err := d.notice(r, s, "notify.passkey.removed")
	if err != nil {
		fail(w, r, err)
		return
	}
	err = d.Store.RemovePasskey(ctx, s.Subject, id, d.changeAudit(r, s, store.ActionPasskeyRemoved), notify)
	if errors.Is(err, store.ErrNotFound) {
		http.Redirect(w, r, "/account?done=passkey_gone", http.StatusSeeOther)
		return
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	slog.InfoContext(ctx, "passkey removed", "subject", s.Subject, "passkey", id)
	http.Redirect(w, r, "/account?done=passkey_removed", http.StatusSeeOther)
}
