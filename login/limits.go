package login

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/web"
)

// limit is one rate limit applied to one key (an IP, an email, a user).
type limit struct {
	bucket, key string
	limit       store.Limit
}

// withinLimits checks each limit — and, when count is true, counts this event
// against it. When one is reached it renders the 429 page, logs which limit
// refused what, and returns false.
func (d Deps) withinLimits(w http.ResponseWriter, r *http.Request, f store.Flow, what string, count bool, limits ...limit) bool {
	ctx := r.Context()
	for _, l := range limits {
		check := d.Store.Check
		if count {
			check = d.Store.Hit
		}
		ok, retry, err := check(ctx, l.bucket, l.key, l.limit)
		if err != nil {
			web.Fail(w, r, err)
			return false
		}
		if !ok {
			slog.InfoContext(ctx, what+" refused: limit", "flow", f.ID, "client", f.ClientID,
				"ip", web.ClientIP(r, d.Settings.TrustedProxies), "method", f.Channel, "limit", l.bucket)
			tooMany(w, r, retry)
			return false
		}
	}
	return true
}

// recordFailures counts a failed check against each limit's key.
func (d Deps) recordFailures(ctx context.Context, limits ...limit) {
	for _, l := range limits {
		if err := d.Store.Record(ctx, l.bucket, l.key); err != nil {
			slog.WarnContext(ctx, "could not record a failure", "limit", l.bucket, "err", err)
		}
	}
}

// forgetFailures clears the failures a success refunds.
func (d Deps) forgetFailures(ctx context.Context, limits ...limit) {
	for _, l := range limits {
		if err := d.Store.Forget(ctx, l.bucket, l.key); err != nil {
			slog.WarnContext(ctx, "could not clear failures", "limit", l.bucket, "err", err)
		}
	}
}
