// Package login answers Hydra's login and logout challenges: a remembered
// sign-in is accepted at once; otherwise the user proves an email address or
// phone number with a one-time code.
package login

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/blinkbitcoin/blink-consent/internal/challenges"
	"github.com/blinkbitcoin/blink-consent/internal/contact"
	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/metrics"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/pages"
)

func loginLocales(lr hydra.LoginRequest) []string { return lr.UILocales }

// HandleShow answers GET /login?login_challenge=…. A remembered sign-in
// (skip=true) is accepted at once with exactly Hydra's subject, unless the
// account was disabled or deleted since, in which case the login is rejected.
// Otherwise the browser gets a sign-in flow and the identifier page.
func HandleShow(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lr, challenge, r, ok := pages.Load(w, r, d.Store, "login_challenge", d.Hydra.Login, loginLocales)
		if !ok {
			return
		}
		if lr.Skip {
			redirect, err := acceptRemembered(r.Context(), d.Hydra, d.Store, lr, web.ClientIP(r, d.Settings.TrustedProxies), d.Settings.AccountsElsewhere, d.Metrics)
			if err != nil {
				pages.FailFlow(w, r, d.Store, challenge, err)
				return
			}
			web.SeeOther(w, r, redirect)
			return
		}
		if !pages.ShowPage(w, r, d.Store, challenge, lr.RequestURL) {
			return
		}
		bh := browserHash(r, d.Settings.SecureCookies)
		var fresh *web.Token
		if bh == nil {
			t := web.NewToken()
			fresh, bh = &t, t.Hash
		}
		f, err := d.Store.StartFlow(r.Context(), store.Flow{
			BrowserHash: bh, Challenge: challenge, RequestURL: lr.RequestURL,
			ClientID: lr.Client.ID, ClientName: lr.Client.DisplayName(), Lang: string(i18n.FromContext(r.Context())),
			HydraSessionID: lr.SessionID,
		}, d.Settings.FlowTTL)
		if err != nil {
			pages.Fail(w, r, err)
			return
		}
		if fresh != nil {
			setBrowserCookie(w, *fresh, d.Settings.SecureCookies)
		}
		v := d.identifyView(f, lastMethod(r, "", d.Settings.SecureCookies))
		prefill(&v, lr.LoginHint, d.Settings)
		d.renderIdentify(w, r, http.StatusOK, v)
	})
}

// prefill puts Hydra's login_hint into the form when it is an email address or
// a phone number. Nothing is ever sent because of a hint.
func prefill(v *identifyView, hint string, s Settings) {
	hint = strings.TrimSpace(hint)
	if hint == "" || len(hint) > 254 {
		return
	}
	if email, err := contact.Email(hint); err == nil && s.Email {
		v.Method, v.Email = "email", email
		return
	}
	if strings.HasPrefix(hint, "+") && (s.SMS || s.WhatsApp) {
		if _, region, err := contact.Phone(hint, "", s.SMSCountries); err == nil {
			v.Method, v.Phone, v.Country = "phone", hint, region
		}
	}
}

// acceptRemembered accepts a skip=true login after checking the account, or
// rejects it when the account may no longer sign in. One Hydra get (done by
// the caller), one database round trip, one Hydra accept or reject.
func acceptRemembered(ctx context.Context, h Hydra, st Store, lr hydra.LoginRequest, ip string, accountsElsewhere bool, m *metrics.Metrics) (string, error) {
	u, kind, first, err := st.UseRememberedLogin(ctx, lr.Challenge, lr.Subject, lr.SessionID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	if !first {
		return "", challenges.ErrUsed
	}
	// An account kept elsewhere (Blink core) that has not signed in here yet
	// — remembered by Hydra from apps/consent — is not a deleted one.
	gone := errors.Is(err, store.ErrNotFound) && !accountsElsewhere
	if gone || (err == nil && !u.Active()) {
		slog.InfoContext(ctx, "remembered sign-in refused", "reason", "account disabled or deleted", "client", lr.Client.ID, "ip", ip)
		m.SignIn("remembered", "disabled")
		return challenges.Finish(ctx, st, lr.Challenge, func() (string, error) {
			return h.RejectLogin(ctx, lr.Challenge, hydra.Rejection{
				Error:       "access_denied",
				Description: "This account can no longer sign in.",
			})
		})
	}
	// Hydra takes acr, amr and context from this body only: say again what the
	// session's sign-in really was.
	redirect, err := challenges.Finish(ctx, st, lr.Challenge, func() (string, error) {
		return h.AcceptLogin(ctx, lr.Challenge, hydra.AcceptLogin{
			Subject: lr.Subject,
			AMR:     kind.AMR,
			ACR:     kind.ACR,
			Context: map[string]any{"remembered": true},
		})
	})
	if err == nil {
		slog.InfoContext(ctx, "remembered sign-in accepted", "client", lr.Client.ID, "subject", lr.Subject, "ip", ip, "acr", kind.ACR)
		m.SignIn("remembered", "success")
	}
	return redirect, err
}
