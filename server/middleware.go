package server

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/metrics"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/pages"
	"github.com/blinkbitcoin/blink-consent/views"
)

// maxBodyBytes bounds every request body; our forms are a few hundred bytes.
const maxBodyBytes = 64 << 10

// contentSecurityPolicy allows only this service's own scripts, styles and
// images. form-action is left out on purpose: browsers apply it to the
// redirects after a form post, which end at each client's redirect_uri.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"font-src 'self'; connect-src 'self'; manifest-src 'self'; " +
	"frame-ancestors 'none'; object-src 'none'; base-uri 'none'"

// securityHeaders sets the headers every response carries, error pages included.
// The header map is filled from slices built once: Header.Set would check
// each name and allocate a one-value slice for each of the eight headers on
// every request (docs/performance.md, "The CPU floor, again"). Each value slice has
// capacity 1, so a handler's Header().Add appends to a copy and Set replaces
// it: no response can change another's.
func securityHeaders(hsts bool) func(http.Handler) http.Handler {
	fixed := http.Header{}
	fixed.Set("Content-Security-Policy", contentSecurityPolicy)
	fixed.Set("X-Frame-Options", "DENY")
	fixed.Set("X-Content-Type-Options", "nosniff")
	fixed.Set("Referrer-Policy", "no-referrer")
	fixed.Set("Cross-Origin-Opener-Policy", "same-origin")
	fixed.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	// Auth pages must never be cached; the asset handler overrides this.
	fixed.Set("Cache-Control", "no-store")
	if hsts {
		fixed.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			for k, v := range fixed {
				h[k] = v[:1:1]
			}
			next.ServeHTTP(w, r)
		})
	}
}

// requestID gives every request a random id, returned in X-Request-Id and shown
// on error pages so support can find the log lines.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 8)
		rand.Read(b)
		id := hex.EncodeToString(b)
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(web.WithRequestID(r.Context(), id)))
	})
}

// language sets the page language from Accept-Language; handlers refine it
// with Hydra's ui_locales.
func language(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lang := i18n.Pick(nil, r.Header.Get("Accept-Language"))
		next.ServeHTTP(w, r.WithContext(i18n.WithLang(r.Context(), lang)))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// accessLog writes one line per request. Only the path is logged: the query
// carries challenges, and bodies carry codes.
func accessLog(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", rec.status),
				slog.Int("bytes", rec.bytes),
				slog.Duration("duration", time.Since(start)),
			)
		})
	}
}

// recoverPanics turns a panic into the error page and a log line with the stack;
// the user never sees the stack.
func recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				slog.ErrorContext(r.Context(), "panic", "value", v, "stack", string(debug.Stack()))
				pages.Problem(w, r, http.StatusInternalServerError, "internal")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody caps request bodies.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// crossOriginProtection refuses cross-site state-changing requests using
// Sec-Fetch-Site and Origin (Go's http.CrossOriginProtection), with our own page.
func crossOriginProtection(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slog.WarnContext(r.Context(), "cross-origin request refused", "path", r.URL.Path,
			"sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "origin", strings.SplitN(r.Header.Get("Origin"), "?", 2)[0])
		pages.Problem(w, r, http.StatusForbidden, "badrequest")
	}))
	return cop.Handler(next)
}

// warnUntrustedForwarding logs, once per handler (so once per process), that a
// request carried X-Forwarded-For from a peer outside TRUSTED_PROXIES. The
// header is then ignored, which is right for a client forging it but wrong
// for our own proxy: behind it every client has the proxy's address, and the
// per-IP limits become limits for the whole service.
func warnUntrustedForwarding(logger *slog.Logger, trusted []netip.Prefix, m *metrics.Metrics) func(http.Handler) http.Handler {
	var warned atomic.Bool
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			untrusted := r.Header.Get("X-Forwarded-For") != "" && !web.FromTrustedProxy(r, trusted)
			if untrusted {
				// Every one is counted (metric, /readyz): the log line is once.
				m.UntrustedForwarded()
			}
			if untrusted && warned.CompareAndSwap(false, true) {
				logger.WarnContext(r.Context(), "X-Forwarded-For from a peer not in TRUSTED_PROXIES is ignored; "+
					"if this peer is your proxy, set TRUSTED_PROXIES to its CIDR, or every client shares its address "+
					"for the per-IP limits (logged once)", "peer", r.RemoteAddr)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// traceContextHeaders are the W3C trace context headers a tracing proxy sends.
var traceContextHeaders = []string{"Traceparent", "Tracestate", "Baggage"}

// dropUntrustedTraceContext removes the trace context of a request that did
// not come through a proxy in TRUSTED_PROXIES, so the tracing starts a trace
// of its own: anyone on the internet could otherwise choose our trace ids,
// mark their requests unsampled to stay out of the traces, or put baggage on
// our calls to Hydra and core. Blink's tracing ingress is a trusted proxy.
func dropUntrustedTraceContext(trusted []netip.Prefix) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !web.FromTrustedProxy(r, trusted) {
				for _, h := range traceContextHeaders {
					r.Header.Del(h)
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// offerAccountPage lets pages show the "Manage your account" link; used only
// when the account page is on.
func offerAccountPage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(views.WithAccountPage(r.Context())))
	})
}

// offerSupport puts SUPPORT_URL where every page can link to it (error pages
// beside their reference, the authenticator step's lost-app help); "" adds
// nothing.
func offerSupport(supportURL string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if supportURL == "" {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(views.WithSupportURL(r.Context(), supportURL)))
		})
	}
}
