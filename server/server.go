// Package server is the composition root's HTTP half: the routes table (one
// place that shows every endpoint), the middleware every request goes
// through, the health listener and the graceful shutdown. It stands above the
// flows (login, consent, logout, account, oautherror, devmessages) and hands
// each its Deps; cmd/blink-consent builds those Deps from the configuration.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/blinkbitcoin/blink-consent/account"
	"github.com/blinkbitcoin/blink-consent/consent"
	"github.com/blinkbitcoin/blink-consent/devmessages"
	"github.com/blinkbitcoin/blink-consent/internal/identity/blinkcore"
	"github.com/blinkbitcoin/blink-consent/internal/metrics"
	"github.com/blinkbitcoin/blink-consent/internal/tracing"
	"github.com/blinkbitcoin/blink-consent/login"
	"github.com/blinkbitcoin/blink-consent/logout"
	"github.com/blinkbitcoin/blink-consent/oautherror"
	"net/netip"
)

// Deps is everything the listeners stand on: each flow's own Deps, and what
// the middleware and /readyz need.
type Deps struct {
	Settings Settings
	Logger   *slog.Logger
	// Store and Hydra are pinged by /readyz.
	Store       pinger
	Hydra       readier
	Login       login.Deps
	Consent     consent.Deps
	Logout      logout.Deps
	Errors      oautherror.Deps
	DevMessages devmessages.Deps
	// Core is Blink core with IDENTITY_SOURCE=blink, nil otherwise; /readyz
	// then reports it next to PostgreSQL and Hydra.
	Core *blinkcore.Client
	// Metrics are this server's; the health listener serves them on /metrics.
	// Nil serves an empty /metrics and counts nothing.
	Metrics *metrics.Metrics
	// Tracing gives each request a span; nil is off.
	Tracing *tracing.Tracing
	// Account is the /account page; nil when it is off (no ACCOUNT_CLIENT_ID).
	Account *account.Deps
}

// Settings are the listeners' and the middleware's knobs.
type Settings struct {
	// ListenAddr is the public listener's address, MetricsAddr the health one's.
	ListenAddr, MetricsAddr string
	// PublicURL is where people reach the service (logged at start).
	PublicURL string
	// ShutdownDelay is how long both listeners keep serving once stopping.
	ShutdownDelay time.Duration
	// TrustedProxies are the proxies whose X-Forwarded-For names the client.
	TrustedProxies []netip.Prefix
	// Secure: PUBLIC_URL is https (HSTS, __Host- cookies).
	Secure bool
	// SupportURL is offered on every page when set.
	SupportURL string
}

// NewHandler returns the public listener's handler with every middleware.
func NewHandler(d Deps) http.Handler {
	r := chi.NewRouter()
	// The recoverer sits inside the request id, logger, headers and language so
	// a panic's page carries all of them.
	// The span and the metrics come first, so a panic's 500 (answered by the
	// recoverer further in) is traced and timed too; the route pattern is
	// read once chi has routed.
	if d.Tracing != nil {
		// Only the tracing reads a trace context; without it there is nothing to drop.
		r.Use(dropUntrustedTraceContext(d.Settings.TrustedProxies))
	}
	r.Use(d.Tracing.Requests, d.Metrics.Requests)
	r.Use(requestID, accessLog(d.Logger), warnUntrustedForwarding(d.Logger, d.Settings.TrustedProxies, d.Metrics),
		securityHeaders(d.Settings.Secure), language, offerSupport(d.Settings.SupportURL), recoverPanics, limitBody, crossOriginProtection)
	if d.Account != nil {
		r.Use(offerAccountPage)
	}
	routes(r, d)
	return r
}

// NewHealthHandler returns the health listener's handler; /readyz answers 503
// once stopping reports true.
func NewHealthHandler(d Deps, stopping *atomic.Bool) http.Handler {
	r := chi.NewRouter()
	healthRoutes(r, d, stopping)
	return r
}

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
}

type pinger interface{ Ping(context.Context) error }
type readier interface{ Ready(context.Context) error }

// handleReadyz answers 503 only while this process cannot serve: once it is
// stopping ("service": "stopping"), so load balancers send new requests
// elsewhere before the listener closes. (Before it can serve, the health
// listener is not open yet.) It still checks PostgreSQL, Hydra and — when core
// is not nil, in blink mode — Blink core, and reports each as "ok" or
// "unavailable" in its body and in blink_consent_dependency_up, but a
// dependency down does not make it 503: the dependencies are shared by every
// replica, so a failing one would take them all out of the Service at once,
// and users would get the load balancer's bare 503 instead of our page saying
// sign-in is unavailable (docs/operations.md, "Health").
func handleReadyz(db pinger, h readier, core readier, stopping *atomic.Bool, m *metrics.Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		status := map[string]string{"service": "ok"}
		code := http.StatusOK
		if stopping.Load() {
			status["service"] = "stopping"
			code = http.StatusServiceUnavailable
		}
		// Checked at once, so one that hangs until the timeout does not make
		// the others look down too.
		type dependency struct {
			name, what string
			check      func(context.Context) error
			err        error
		}
		deps := []*dependency{{name: "postgres", what: "PostgreSQL", check: db.Ping}, {name: "hydra", what: "Hydra", check: h.Ready}}
		if core != nil {
			deps = append(deps, &dependency{name: "blink_core", what: "Blink core", check: core.Ready})
		}
		var wg sync.WaitGroup
		for _, d := range deps {
			wg.Go(func() { d.err = d.check(ctx) })
		}
		wg.Wait()
		for _, d := range deps {
			status[d.name] = "ok"
			if d.err != nil {
				status[d.name] = "unavailable"
				slog.WarnContext(ctx, "readiness: "+d.what+" does not answer", "err", d.err)
			}
			m.SetDependencyUp(d.name, d.err == nil)
		}
		// What sign-ins last met at core's GraphQL, which they can do without.
		if g, ok := core.(interface{ GraphQLFailing() bool }); ok && g.GraphQLFailing() {
			status["blink_graphql"] = "failing"
		} else if ok {
			status["blink_graphql"] = "ok"
		}
		// Not a readiness condition: a hint for whoever reads the body that
		// TRUSTED_PROXIES misses the proxy in front (every client would
		// share its address in the per-IP limits).
		status["untrusted_forwarded_requests"] = strconv.FormatUint(m.UntrustedForwardedCount(), 10)
		m.SetReady(code == http.StatusOK)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(status)
	})
}

// Run serves the public and health listeners until ctx is done, then shuts
// down gracefully: /readyz answers 503 at once, both listeners keep serving
// for d.Settings.ShutdownDelay (while load balancers take the replica out),
// then they close and in-flight requests get up to shutdownGrace to finish.
func Run(ctx context.Context, d Deps, ready func(public, health net.Addr)) error {
	const shutdownGrace = 20 * time.Second
	publicLn, err := net.Listen("tcp", d.Settings.ListenAddr)
	if err != nil {
		return fmt.Errorf("server: LISTEN_ADDR %s: %w", d.Settings.ListenAddr, err)
	}
	healthLn, err := net.Listen("tcp", d.Settings.MetricsAddr)
	if err != nil {
		publicLn.Close()
		return fmt.Errorf("server: METRICS_ADDR %s: %w", d.Settings.MetricsAddr, err)
	}
	var stopping atomic.Bool
	errLog := slog.NewLogLogger(d.Logger.Handler(), slog.LevelWarn)
	public := &http.Server{
		Handler:           NewHandler(d),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          errLog,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	health := &http.Server{
		Handler:           NewHealthHandler(d, &stopping),
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      10 * time.Second,
		ErrorLog:          errLog,
	}
	errc := make(chan error, 2)
	go func() { errc <- public.Serve(publicLn) }()
	go func() { errc <- health.Serve(healthLn) }()
	d.Logger.Info("listening", "public", publicLn.Addr().String(), "health", healthLn.Addr().String(), "public_url", d.Settings.PublicURL)
	// Serving from now on, whether or not anything probes /readyz: the
	// BlinkConsentDown alert reads this gauge.
	d.Metrics.SetReady(true)
	if ready != nil {
		ready(publicLn.Addr(), healthLn.Addr())
	}

	select {
	case err := <-errc:
		public.Close()
		health.Close()
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	stopping.Store(true)
	d.Metrics.SetReady(false)
	d.Logger.Info("shutting down: readiness answers 503; closing the listeners after the delay", "delay", d.Settings.ShutdownDelay.String())
	select {
	case err := <-errc:
		public.Close()
		health.Close()
		return fmt.Errorf("server: %w", err)
	case <-time.After(d.Settings.ShutdownDelay):
	}
	d.Logger.Info("shutting down: letting in-flight requests finish")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err = errors.Join(public.Shutdown(shutdownCtx), health.Shutdown(shutdownCtx))
	if err != nil {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	d.Logger.Info("stopped")
	return nil
}

// handleMetrics serves m in the Prometheus format; without metrics, nothing.
func handleMetrics(m *metrics.Metrics) http.Handler {
	if m == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	}
	return m.Handler()
}
