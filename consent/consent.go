// Package consent answers Hydra's consent challenges.
package consent

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/views"
)

// Hydra is the part of Hydra's admin API the consent flow uses.
type Hydra interface {
	Consent(ctx context.Context, challenge string) (hydra.ConsentRequest, error)
	AcceptConsent(ctx context.Context, challenge string, a hydra.AcceptConsent) (string, error)
}

// Store makes each consent challenge single-use.
type Store = web.ChallengeStore

// HandleShow answers GET /consent?consent_challenge=…. A consent the user
// already remembered (skip=true), or one for a client trusted with
// skip_consent, is accepted at once with the requested scopes and audience.
func HandleShow(h Hydra, st Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cr, challenge, r, ok := web.Load(w, r, "consent_challenge", h.Consent,
			func(cr hydra.ConsentRequest) []string { return cr.UILocales })
		if !ok {
			return
		}

		if cr.Skip || cr.Client.SkipConsent {
			slog.InfoContext(r.Context(), "consent granted without asking",
				"client", cr.Client.ID, "subject", cr.Subject, "remembered", cr.Skip, "skip_consent", cr.Client.SkipConsent)
			redirect, err := web.Use(r.Context(), st, challenge, func() (string, error) {
				return h.AcceptConsent(r.Context(), challenge, hydra.AcceptConsent{
					GrantScope:    cr.RequestedScope,
					GrantAudience: cr.RequestedAudience,
				})
			})
			if err != nil {
				web.Fail(w, r, err)
				return
			}
			web.SeeOther(w, r, redirect)
			return
		}
		if used, err := st.ChallengeUsed(r.Context(), challenge); err != nil || used {
			web.Fail(w, r, web.UsedOr(used, err))
			return
		}
		web.Render(w, r, http.StatusOK, views.Notice("consent.unavailable.title", "consent.unavailable.body", cr.Client.DisplayName()))
	})
}
