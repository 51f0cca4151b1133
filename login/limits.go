package login

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/pages"
)

// countLimited counts a code or authenticator check refused by a limit as a
// sign-in result.
func (d Deps) countLimited(f store.Flow, err error) {
	var limited *store.LimitError
	if errors.As(err, &limited) {
		d.Metrics.SignIn(f.Channel, "limited")
	}
}

// refused renders the page for a transition the store refused and reports
// whether err was such a refusal: a limit (429, with Retry-After), a step the
// flow is not at (a verified flow keeps its identity: "Start again" begins a
// new one), or a flow that is gone.
func (d Deps) refused(w http.ResponseWriter, r *http.Request, f store.Flow, what string, err error) bool {
	var limited *store.LimitError
	switch {
	case errors.As(err, &limited):
		d.Metrics.LimitRefusal(limited.Bucket)
		slog.InfoContext(r.Context(), what+" refused: limit", "flow", f.ID, "client", f.ClientID,
			"ip", web.ClientIP(r, d.Settings.TrustedProxies), "method", f.Channel, "limit", limited.Bucket)
		if limited.Bucket == "flow-sends" {
			pages.ProblemStartAgain(w, r, http.StatusTooManyRequests, "sends", f.RequestURL)
			return true
		}
		d.tooMany(w, r, f, limited)
	case errors.Is(err, store.ErrFlowState):
		slog.WarnContext(r.Context(), what+" refused: not at that step", "flow", f.ID, "client", f.ClientID)
		pages.ProblemStartAgain(w, r, http.StatusConflict, "verified", f.RequestURL)
	case errors.Is(err, store.ErrNotFound):
		pages.Problem(w, r, http.StatusGone, "flow")
	case errors.Is(err, identity.ErrRegistrationRefused):
		slog.InfoContext(r.Context(), what+" refused: registration", "flow", f.ID, "client", f.ClientID, "err", err)
		pages.ProblemStartAgain(w, r, http.StatusForbidden, identity.ReasonOf(err, "registration"), f.RequestURL)
	case errors.Is(err, identity.ErrStartAgain):
		slog.InfoContext(r.Context(), what+" refused: the source's state is gone", "flow", f.ID, "client", f.ClientID, "err", err)
		pages.ProblemStartAgain(w, r, http.StatusGone, "flow", f.RequestURL)
	case errors.Is(err, identity.ErrUnavailable):
		slog.WarnContext(r.Context(), what+" refused: identity source unavailable", "flow", f.ID, "client", f.ClientID, "err", err)
		pages.Problem(w, r, http.StatusServiceUnavailable, "unavailable")
	default:
		return false
	}
	return true
}
