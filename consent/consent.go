// Package consent answers Hydra's consent challenges: it asks the user whether
// an app may act on their account, or skips the question when Hydra remembers
// the answer or the app is trusted (skip_consent).
package consent

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/blinkbitcoin/blink-consent/internal/challenges"
	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/pages"
	"github.com/blinkbitcoin/blink-consent/views"
)

// Hydra is the part of Hydra's admin API the consent flow uses.
type Hydra interface {
	Consent(ctx context.Context, challenge string) (hydra.ConsentRequest, error)
	AcceptConsent(ctx context.Context, challenge string, a hydra.AcceptConsent) (string, error)
	RejectConsent(ctx context.Context, challenge string, rj hydra.Rejection) (string, error)
}

// Store is what the consent flow keeps and reads.
type Store interface {
	challenges.Store
	UseChallengeForUser(ctx context.Context, challenge, subject string) (store.User, bool, error)
	UserByID(ctx context.Context, id string) (store.User, error)
	Audit(ctx context.Context, e store.AuditEvent) error
}

// Deps is everything the consent handlers stand on.
type Deps struct {
	Hydra    Hydra
	Store    Store
	Settings Settings
}

// Settings are the consent flow's knobs.
type Settings struct {
	// RememberFor is how long a remembered decision lasts, in seconds (0 = until revoked).
	RememberFor int64
	// TrustedProxies are the proxies whose X-Forwarded-For names the client
	// (for the audit log's IP).
	TrustedProxies []netip.Prefix
	// AccountsElsewhere: the identity source keeps the accounts (Blink core);
	// a subject this service has not seen gets its consent with no claims
	// until it signs in here.
	AccountsElsewhere bool
}

func locales(cr hydra.ConsentRequest) []string { return cr.UILocales }

// account reads the subject's account; kept elsewhere and not seen here yet,
// it is an account with no claims.
func account(ctx context.Context, st Store, subject string, accountsElsewhere bool) (store.User, error) {
	u, err := st.UserByID(ctx, subject)
	if errors.Is(err, store.ErrNotFound) && accountsElsewhere {
		return store.User{ID: subject}, nil
	}
	return u, err
}

// HandleShow answers GET /consent?consent_challenge=…. A consent the user
// already remembered (skip=true), or one for a client trusted with
// skip_consent, is accepted at once with the requested scopes and audience;
// otherwise the consent page asks.
func HandleShow(d Deps) http.Handler {
	h, st, s := d.Hydra, d.Store, d.Settings
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cr, challenge, r, ok := pages.Load(w, r, st, "consent_challenge", h.Consent, locales)
		if !ok {
			return
		}
		if cr.Skip || cr.Client.SkipConsent {
			redirect, err := acceptWithoutAsking(r.Context(), h, st, cr, web.ClientIP(r, s.TrustedProxies), s.AccountsElsewhere)
			if err != nil {
				pages.FailFlow(w, r, st, challenge, err)
				return
			}
			web.SeeOther(w, r, redirect)
			return
		}
		u, err := account(r.Context(), st, cr.Subject, s.AccountsElsewhere)
		if err != nil {
			pages.FailFlow(w, r, st, challenge, err)
			return
		}
		if !pages.ShowPage(w, r, st, challenge, cr.RequestURL) {
			return
		}
		render(w, r, cr, u)
	})
}

// acceptWithoutAsking grants the requested scopes and audience in one Hydra
// get (the caller's), one database round trip and one Hydra accept.
func acceptWithoutAsking(ctx context.Context, h Hydra, st Store, cr hydra.ConsentRequest, ip string, accountsElsewhere bool) (string, error) {
	u, first, err := st.UseChallengeForUser(ctx, cr.Challenge, cr.Subject)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	if !first {
		return "", challenges.ErrUsed
	}
	if errors.Is(err, store.ErrNotFound) && accountsElsewhere {
		u, err = store.User{ID: cr.Subject}, nil
	}
	if errors.Is(err, store.ErrNotFound) || !u.Active() {
		return challenges.Finish(ctx, st, cr.Challenge, func() (string, error) {
			return h.RejectConsent(ctx, cr.Challenge, hydra.Rejection{Error: "access_denied", Description: "This account can no longer sign in."})
		})
	}
	redirect, err := challenges.Finish(ctx, st, cr.Challenge, func() (string, error) {
		return h.AcceptConsent(ctx, cr.Challenge, grant(cr.RequestedScope, cr.RequestedAudience, u, false, 0))
	})
	if err == nil {
		slog.InfoContext(ctx, "consent granted without asking", "client", cr.Client.ID, "subject", cr.Subject, "ip", ip,
			"remembered", cr.Skip, "skip_consent", cr.Client.SkipConsent, "scopes", cr.RequestedScope)
	}
	return redirect, err
}

// HandleSubmit answers POST /consent. It fetches the consent request again and
// grants only scopes and audiences that were requested: a form that carries
// anything else is refused and nothing is granted.
func HandleSubmit(d Deps) http.Handler {
	h, st, s := d.Hydra, d.Store, d.Settings
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			pages.Problem(w, r, http.StatusBadRequest, "badrequest")
			return
		}
		cr, challenge, r, ok := pages.Load(w, r, st, "consent_challenge", h.Consent, locales)
		if !ok {
			return
		}
		done := func() {
			pages.Render(w, r, http.StatusOK, views.Notice("consent.done.title", "consent.done.body", cr.Client.DisplayName(), web.HTTPURL(cr.Client.ClientURI)))
		}
		switch r.PostFormValue("action") {
		case "deny":
			slog.InfoContext(r.Context(), "consent denied", "client", cr.Client.ID, "subject", cr.Subject)
			pages.Answer(w, r, st, challenge, func() (string, error) {
				redirect, err := h.RejectConsent(r.Context(), challenge, hydra.Rejection{
					Error: "access_denied", Description: "The user denied the app access to their Blink account.",
				})
				if err == nil {
					audit(r, st, s, cr, store.ActionConsentDenied, nil)
				}
				return redirect, err
			}, done)
		case "allow":
			scopes, audience := r.PostForm["scope"], r.PostForm["audience"]
			if !subset(scopes, cr.RequestedScope) || !subset(audience, cr.RequestedAudience) {
				slog.WarnContext(r.Context(), "consent form asked for more than the app requested", "client", cr.Client.ID)
				pages.Render(w, r, http.StatusBadRequest, views.ErrorPage(views.Problem{
					TitleKey: "consent.tampered.title", BodyKey: "consent.tampered.body", RequestID: web.RequestID(r.Context()),
				}))
				return
			}
			// openid is the sign-in itself: always granted when requested.
			if slices.Contains(cr.RequestedScope, "openid") && !slices.Contains(scopes, "openid") {
				scopes = append([]string{"openid"}, scopes...)
			}
			u, err := account(r.Context(), st, cr.Subject, s.AccountsElsewhere)
			if err != nil {
				pages.FailFlow(w, r, st, challenge, err)
				return
			}
			if !u.Active() {
				pages.Problem(w, r, http.StatusForbidden, "disabled")
				return
			}
			remember := r.PostFormValue("remember") == "true"
			pages.Answer(w, r, st, challenge, func() (string, error) {
				redirect, err := h.AcceptConsent(r.Context(), challenge, grant(scopes, audience, u, remember, s.RememberFor))
				if err == nil {
					slog.InfoContext(r.Context(), "consent granted", "client", cr.Client.ID, "subject", cr.Subject,
						"ip", web.ClientIP(r, s.TrustedProxies), "scopes", scopes, "remember", remember)
					audit(r, st, s, cr, store.ActionConsentGranted, map[string]any{"scopes": scopes, "audience": audience, "remember": remember})
				}
				return redirect, err
			}, done)
		default:
			pages.Problem(w, r, http.StatusBadRequest, "badrequest")
		}
	})
}

// audit records the user's decision once Hydra has it. Consent given without
// asking (remembered, or skip_consent) is only logged: that path keeps its one
// database round trip. A failed audit does not undo the decision; it is logged.
func audit(r *http.Request, st Store, s Settings, cr hydra.ConsentRequest, action store.AuditAction, details map[string]any) {
	e := store.AuditEvent{UserID: cr.Subject, Action: action, Actor: "user", ClientID: cr.Client.ID,
		IP: web.ClientIP(r, s.TrustedProxies), Method: "consent", Result: strings.TrimPrefix(string(action), "consent "), Details: details}
	if err := st.Audit(r.Context(), e); err != nil {
		slog.ErrorContext(r.Context(), "could not audit a consent decision", "action", action, "err", err)
	}
}

// grant builds the accept body. Claims are rebuilt on every accept from the
// user's current record, because Hydra keeps none from an earlier one.
//
// remember_for is sent only with remember: Hydra's consent listing drops a
// consent once its remember_for has passed, even one never remembered
// whose tokens still refresh, which hid it from the account page.
func grant(scopes, audience []string, u store.User, remember bool, rememberFor int64) hydra.AcceptConsent {
	if !remember {
		rememberFor = 0
	}
	return hydra.AcceptConsent{
		GrantScope:       scopes,
		GrantAudience:    audience,
		Remember:         remember,
		RememberFor:      rememberFor,
		IDTokenClaims:    IDTokenClaims(scopes, u),
		AccessTokenClaim: map[string]any{},
	}
}

// IDTokenClaims are the claims the ID token (and /userinfo) carries for the
// granted scopes: email with email_verified for "email", phone_number with
// phone_number_verified for "phone".
func IDTokenClaims(scopes []string, u store.User) map[string]any {
	claims := map[string]any{}
	if slices.Contains(scopes, "email") && u.Email != "" {
		claims["email"] = u.Email
		claims["email_verified"] = u.EmailVerified
	}
	if slices.Contains(scopes, "phone") && u.Phone != "" {
		claims["phone_number"] = u.Phone
		claims["phone_number_verified"] = u.PhoneVerified
	}
	return claims
}

func subset(got, allowed []string) bool {
	for _, g := range got {
		if !slices.Contains(allowed, g) {
			return false
		}
	}
	return true
}

func render(w http.ResponseWriter, r *http.Request, cr hydra.ConsentRequest, u store.User) {
	v := views.ConsentView{
		Challenge: cr.Challenge,
		AppName:   cr.Client.DisplayName(),
		UserName:  u.Email,
		ClientURI: web.HTTPURL(cr.Client.ClientURI),
		PolicyURI: web.HTTPURL(cr.Client.PolicyURI),
		TosURI:    web.HTTPURL(cr.Client.TosURI),
		Audience:  cr.RequestedAudience,
	}
	if v.UserName == "" {
		v.UserName = u.Phone
	}
	for _, sc := range cr.RequestedScope {
		v.Scopes = append(v.Scopes, views.NewScope(sc))
	}
	if origin := web.HTTPSOrigin(cr.Client.LogoURI); origin != "" {
		v.LogoURI = cr.Client.LogoURI
		web.AllowImagesFrom(w, origin)
	}
	pages.Render(w, r, http.StatusOK, views.ConsentPage(v))
}
