package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/blinkbitcoin/blink-consent/account"
	"github.com/blinkbitcoin/blink-consent/consent"
	"github.com/blinkbitcoin/blink-consent/devmessages"
	"github.com/blinkbitcoin/blink-consent/internal/captcha"
	"github.com/blinkbitcoin/blink-consent/internal/config"
	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/identity/blinkcore"
	"github.com/blinkbitcoin/blink-consent/internal/identity/postgres"
	"github.com/blinkbitcoin/blink-consent/internal/metrics"
	"github.com/blinkbitcoin/blink-consent/internal/passkey"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/tracing"
	"github.com/blinkbitcoin/blink-consent/internal/web"
	"github.com/blinkbitcoin/blink-consent/login"
	"github.com/blinkbitcoin/blink-consent/logout"
	"github.com/blinkbitcoin/blink-consent/server"
)

// hydraTimeout bounds every admin call; Hydra answers in milliseconds when healthy.
const hydraTimeout = 5 * time.Second

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	if help, err := parseFlags(fs, args, stdout, "Usage: blink-consent serve\n\nRuns the service. Every setting comes from the environment; see README.md."); help || err != nil {
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stdout)
	defer useLogger(logger)()
	if mode := databaseSSLMode(cfg.DatabaseURL, getenv); mode != "verify-full" && !cfg.DevMode {
		logger.Warn("DATABASE_URL does not verify the database server: set sslmode=verify-full (with sslrootcert when the server's CA is not a system one); with any other mode the connection can be read or changed on the way, and pgx's default, prefer, falls back to plain text",
			"sslmode", mode)
	}

	traces, err := tracing.New(ctx, tracing.Settings(cfg.Tracing), version)
	if err != nil {
		return err
	}
	defer flushTraces(traces, logger)
	if cfg.Tracing.On() {
		logger.Info("exporting traces", "protocol", cfg.Tracing.Protocol, "collector", cfg.Tracing.Endpoint.Redacted(), "service", cfg.Tracing.ServiceName)
	}

	db, err := openDatabase(ctx, cfg.DatabaseURL, storeOptions(cfg, traces)...)
	if err != nil {
		return err
	}
	defer db.Close()
	logger.Info("database pool", "max_conns", db.PoolStat().MaxConns(), "gomaxprocs", runtime.GOMAXPROCS(0))
	if err := db.CheckSchema(ctx); err != nil {
		return err
	}
	if schema, own, err := db.SchemaVersions(ctx); err == nil && schema > own {
		logger.Info("running on a newer database schema whose migrations declare this binary compatible", "schema_version", schema, "binary_schema_version", own)
	}

	keys := secret.NewKeys(cfg.SecretKey, cfg.SecretKeyPrevious...)
	senders, err := newSenders(cfg, logger)
	if err != nil {
		return err
	}
	m := newMetrics(db)
	h := hydra.New(cfg.HydraAdminURL, hydraTimeout)
	h.Observer = m
	h.WrapTransport(func(rt http.RoundTripper) http.RoundTripper { return traces.Transport("hydra", rt) })
	canNotify := notifyChannels(senders)
	source, core := identitySource(cfg, db, keys, traces, canNotify)
	if core != nil {
		core.Observer = m
	}
	rp, err := passkeyRP(cfg)
	if err != nil {
		return err
	}
	signIn := loginDeps(cfg, db, h, source)
	signIn.Metrics = m
	signIn.Passkeys = rp
	if rp != nil {
		// The offer of a passkey after a code sign-in (login/offer.go).
		signIn.Offer = &login.Offer{RP: rp, Store: db, Keys: keys, CanNotify: canNotify}
	}
	deps := server.Deps{
		Settings: server.Settings{
			ListenAddr: cfg.ListenAddr, MetricsAddr: cfg.MetricsAddr, PublicURL: cfg.PublicURL.String(),
			ShutdownDelay: cfg.ShutdownDelay, TrustedProxies: cfg.SignIn.TrustedProxies,
			Secure: cfg.Secure(), SupportURL: cfg.SupportURL,
		},
		Logger: logger,
		Store:  db,
		Hydra:  h,
		Login:  signIn,
		Consent: consent.Deps{Hydra: h, Store: db, Settings: consent.Settings{
			RememberFor: int64(cfg.ConsentRememberFor.Seconds()), TrustedProxies: cfg.SignIn.TrustedProxies, AccountsElsewhere: cfg.Blink(),
		}},
		Logout:      logout.Deps{Hydra: h, Store: db, Settings: logout.Settings{SecureCookies: cfg.Secure()}},
		DevMessages: devmessages.Deps{Store: db, Keys: keys, DevMode: cfg.DevMode},
		Core:        core,
		Metrics:     m,
		Tracing:     traces,
		Account:     accountDeps(cfg, db, h, source, keys, canNotify),
	}

	if deps.Account != nil && rp != nil {
		deps.Account.Passkeys = rp
	}
	if deps.Account != nil {
		go checkAccountClient(ctx, h, cfg, logger)
	}
	worker := &delivery.Worker{Outbox: db, Listener: db, Keys: keys, Senders: senders, Metrics: m, Tracer: traces}
	go worker.Run(ctx)
	go purgeSpentRows(ctx, db, logger, m, retention(cfg))
	return server.Run(ctx, deps, nil)
}

// flushTimeout bounds sending the last spans at shutdown: a collector that
// does not answer must not hold the process past its termination grace.
const flushTimeout = 3 * time.Second

// flushTraces sends the spans still queued, then stops the exporter.
func flushTraces(traces *tracing.Tracing, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if err := traces.Shutdown(ctx); err != nil {
		logger.Warn("could not send the last spans to the collector", "err", err)
	}
}

// metricsScrapeTimeout bounds the outbox query a scrape runs.
const metricsScrapeTimeout = 2 * time.Second

// newMetrics are one serve's metrics, with the outbox and pool collectors over db.
func newMetrics(db *store.Store) *metrics.Metrics {
	m := metrics.New()
	m.Register(metrics.NewOutboxCollector(db.OutboxBacklog, metricsScrapeTimeout))
	m.Register(metrics.NewPoolCollector(db.PoolStat))
	return m
}

// databaseSSLMode is the sslmode pgx will use for dbURL: the URL's, else
// PGSSLMODE, else pgx's default. Only the mode is returned, never the URL (it
// holds the password).
func databaseSSLMode(dbURL string, getenv func(string) string) string {
	if u, err := url.Parse(dbURL); err == nil && u.Query().Get("sslmode") != "" {
		return u.Query().Get("sslmode")
	}
	if mode := getenv("PGSSLMODE"); mode != "" {
		return mode
	}
	return "prefer"
}

// newSenders picks a sender per channel from the configuration; in DEV_MODE a
// channel with none logs its messages and lists them on /dev/messages (only
// those: a channel with a real sender never shows there).
func newSenders(cfg config.Config, logger *slog.Logger) (map[string]delivery.Sender, error) {
	s := cfg.SignIn
	senders := map[string]delivery.Sender{}
	if s.SMTPURL != "" {
		smtp, err := delivery.NewSMTP(s.SMTPURL, s.SMTPFrom, s.SMTPCAFile)
		if err != nil {
			return nil, err
		}
		senders["email"] = smtp
	}
	switch {
	case s.TwilioFrom != "":
		senders["sms"] = delivery.Twilio{APIURL: s.TwilioAPIURL, AccountSID: s.TwilioAccountSID, AuthToken: s.TwilioAuthToken, From: s.TwilioFrom}
	case s.SMSWebhookURL != "":
		senders["sms"] = delivery.Webhook{URL: s.SMSWebhookURL, Secret: s.SMSWebhookSecret}
	}
	if s.TwilioWhatsAppFrom != "" {
		senders["whatsapp"] = delivery.Twilio{APIURL: s.TwilioAPIURL, AccountSID: s.TwilioAccountSID, AuthToken: s.TwilioAuthToken, From: s.TwilioWhatsAppFrom, WhatsApp: true}
	}
	if cfg.DevMode {
		for _, ch := range []string{"email", "sms", "whatsapp"} {
			if senders[ch] == nil {
				senders[ch] = delivery.Dev{Logger: logger}
			}
		}
	}
	return senders, nil
}

// resendAfter is the wait between two codes of one sign-in.
const resendAfter = 30 * time.Second

// notifyChannels says which channels a notification can go out on: those a
// sender of ours serves. With IDENTITY_SOURCE=blink and no SMTP or SMS
// settings (core sends the codes) there is none, so no notice is queued for a
// worker that could only mark it failed.
func notifyChannels(senders map[string]delivery.Sender) identity.CanSend {
	return func(channel string) bool { return senders[channel] != nil }
}

// storeOptions are the store's settings: its pool, and with Blink core what
// the store forgets when a login session ends (the core token kept for it).
func storeOptions(cfg config.Config, traces *tracing.Tracing) []store.Option {
	opts := []store.Option{store.WithTracer(traces.QueryTracer()), store.WithMaxConns(cfg.DatabaseMaxConns)}
	if cfg.Blink() {
		opts = append(opts, store.WithSessionState(blinkcore.ForgetToken))
	}
	return opts
}

// identitySource is where accounts live, as IDENTITY_SOURCE says: our users
// table, or Blink core (then core is its client, for /readyz too).
func identitySource(cfg config.Config, db *store.Store, keys secret.Keys, traces *tracing.Tracing, canNotify identity.CanSend) (source identity.Source, core *blinkcore.Client) {
	s := cfg.SignIn
	limit := func(l config.Limit) store.Limit { return store.Limit{Max: l.Max, Window: l.Window} }
	limits := identity.Limits{
		SendPerEmail: limit(s.SendPerEmail), SendPerPhone: limit(s.SendPerPhone), SendPerIP: limit(s.SendPerIP),
		FailPerIdentifier: limit(s.FailPerIdentifier), FailPerIP: limit(s.FailPerIP),
		Code:             store.CodeLimits{TriesPerCode: 5, FailuresPerIdentity: 100, Lockout: s.Lockout},
		TOTPTriesPerFlow: 5,
		Cooldown:         resendAfter,
		MaxSends:         5,
	}
	if cfg.Blink() {
		// Core checks a phone code up to 8 times an hour per number and an
		// authenticator code 8 times an hour per sign-in: our caps per code
		// and per sign-in must not refuse a try core would take.
		limits.Code.TriesPerCode, limits.TOTPTriesPerFlow = blinkcore.CoreTriesPerHour, blinkcore.CoreTriesPerHour
		core = blinkcore.New(cfg.CoreAuthURL, cfg.GraphQLEndpoint, &http.Client{Transport: traces.Transport("core", nil)})
		return blinkcore.NewSource(core, db, keys, limits, blinkcore.Options{AccountClientID: cfg.Account.ClientID, CanNotify: canNotify}), core
	}
	return postgres.Source{
		Store:            db,
		Keys:             keys,
		Limits:           limits,
		CodeTTL:          10 * time.Minute,
		Domain:           cfg.PublicURL.Hostname(),
		CreatePhoneUsers: cfg.Registration == "phone",
		CanNotify:        canNotify,
	}, nil
}

func loginDeps(cfg config.Config, db *store.Store, h *hydra.Client, source identity.Source) login.Deps {
	s := cfg.SignIn
	var checker captcha.Checker = captcha.Off{}
	if s.CaptchaProvider == "turnstile" {
		checker = captcha.Turnstile{Key: s.CaptchaSiteKey, Secret: s.CaptchaSecret, VerifyURL: s.CaptchaVerifyURL}
	}
	// In blink mode core sends every code; otherwise a channel is offered
	// when a sender of ours serves it (or DEV_MODE logs it).
	anySender := cfg.DevMode || cfg.Blink()
	return login.Deps{
		Hydra:    h,
		Store:    db,
		Accounts: source,
		Captcha:  checker,
		Settings: login.Settings{
			RememberFor:       cfg.LoginRememberFor,
			FlowTTL:           30 * time.Minute,
			ResendAfter:       resendAfter,
			Email:             s.Email() || anySender,
			SMS:               s.SMS() || anySender,
			WhatsApp:          s.WhatsApp() || anySender,
			SMSCountries:      s.SMSCountries,
			SecureCookies:     cfg.Secure(),
			TrustedProxies:    s.TrustedProxies,
			AccountsElsewhere: cfg.Blink(),
			GeetestScriptURL:  cfg.GeetestScriptURL,
			GeetestOrigins:    geetestOrigins(cfg.GeetestScriptURL),
			TelegramScriptURL: cfg.TelegramPassportScriptURL,
			// A passkey sign-in asks nothing of Blink core, so our failure
			// limits always apply to it, even where the code sign-in leaves
			// them to core (RATE_FAIL_* unset with IDENTITY_SOURCE=blink).
			PasskeyFailPerIP:      limitOr(s.FailPerIP, store.Limit{Max: 20, Window: 6 * time.Hour}),
			PasskeyFailPerAccount: limitOr(s.FailPerIdentifier, store.Limit{Max: 6, Window: time.Hour}),
		},
	}
}

// limitOr is l, or fallback when l is off.
func limitOr(l config.Limit, fallback store.Limit) store.Limit {
	if l.Max <= 0 {
		return fallback
	}
	return store.Limit{Max: l.Max, Window: l.Window}
}

// geetestHosts are every host Geetest v3's gt.js and the captcha it loads
// talk to: its API (gettype, get, ajax: JSONP, so scripts), its static files
// (the captcha's script, styles and images) and their fallbacks as gt.js
// names them (dn-staticdown.qbox.me; geevisit.com for the API and static
// files), and its error monitor. A self-hosted gt.js (GEETEST_SCRIPT_URL on
// our own host, as apps/consent serves it) still loads the captcha from them.
var geetestHosts = []string{
	"https://api.geetest.com", "https://static.geetest.com", "https://monitor.geetest.com",
	"https://dn-staticdown.qbox.me", "https://api.geevisit.com", "https://static.geevisit.com",
}

// geetestOrigins are the origins a page carrying Geetest's gt.js may load
// from: the script's own and Geetest's hosts.
func geetestOrigins(scriptURL string) []string {
	u, err := url.Parse(scriptURL)
	if err != nil || u.Host == "" {
		return nil
	}
	origins := []string{u.Scheme + "://" + u.Host}
	for _, o := range geetestHosts {
		if !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	return origins
}

// passkeyRP is the WebAuthn relying party at PUBLIC_URL, named
// PASSKEY_RP_NAME; nil when PASSKEYS=off.
func passkeyRP(cfg config.Config) (*passkey.RP, error) {
	if !cfg.Passkeys {
		return nil, nil
	}
	if _, err := netip.ParseAddr(cfg.PublicURL.Hostname()); err == nil {
		// WebAuthn needs a domain: browsers refuse an IP address as the
		// relying party id, and go-webauthn will not make one. A stack on
		// http://127.0.0.1 (tests, dev) runs without passkeys; on
		// http://localhost it has them.
		slog.Warn("passkeys are off: PUBLIC_URL's host is an IP address, and passkeys need a domain name (localhost in development)", "host", cfg.PublicURL.Hostname())
		return nil, nil
	}
	return passkey.New(cfg.PublicURL, cfg.PasskeyRPName)
}

// retentionEvery is how often each replica tries to purge; one at a time does.
const retentionEvery = 10 * time.Minute

// retention keeps rows RETENTION, and a login session's amr/acr as long as
// Hydra can skip the sign-in for it (LOGIN_REMEMBER_FOR from its first
// sign-in, ExtendSessionLifespan being off) and a day more. Blink core's
// kept tokens go as soon as they expire in either mode: a deployment that
// left IDENTITY_SOURCE=blink may still hold some.
func retention(cfg config.Config) store.Retention {
	return store.Retention{Rows: cfg.Retention, LoginSessions: cfg.LoginRememberFor + 24*time.Hour, Audit: cfg.AuditRetention,
		SourceTables: blinkcore.ExpiringTables}
}

// purgeSpentRows deletes what the retention no longer keeps, at start and
// every retentionEvery; the advisory lock in Purge lets one replica at a time.
func purgeSpentRows(ctx context.Context, db *store.Store, logger *slog.Logger, m *metrics.Metrics, r store.Retention) {
	tick := time.NewTicker(retentionEvery)
	defer tick.Stop()
	for {
		purged, ran, err := db.Purge(ctx, r)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				m.Purge("failed")
				logger.Warn("could not purge spent rows", "err", err)
			}
		case !ran:
			m.Purge("skipped")
		default:
			m.Purge("ok")
			var attrs []any
			for _, table := range slices.Sorted(maps.Keys(purged)) {
				if n := purged[table]; n > 0 {
					attrs = append(attrs, table, n)
				}
			}
			if len(attrs) > 0 {
				logger.Info("purged spent rows", attrs...)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(requestIDHandler{h})
}

// requestIDHandler adds the request id to every log line written with a
// request's context, and the trace id when the request is traced, so a log
// line leads to its trace.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := web.RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	check := fs.Bool("check", false, "change nothing: say whether this binary can serve on the database as it is (before a rollback, run it with the release to roll back to); fail when it cannot")
	if help, err := parseFlags(fs, args, stdout, "Usage: blink-consent migrate [--check]\n\nApplies the database migrations DATABASE_URL lacks. Safe to run again, and from several replicas at once."); help || err != nil {
		return err
	}
	url, err := config.DatabaseURL(getenv)
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, url)
	if err != nil {
		return err
	}
	defer db.Close()
	if *check {
		return checkSchema(ctx, db, stdout)
	}
	applied, err := db.Migrate(ctx)
	for _, name := range applied {
		fmt.Fprintln(stdout, "applied", name)
	}
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		return nil
	}
	if schema, own, err := db.SchemaVersions(ctx); err == nil && schema > own {
		fmt.Fprintf(stdout, "the database schema (version %d) is newer than this binary's (%d) and its migrations declare this binary compatible: nothing to apply\n", schema, own)
		return nil
	}
	fmt.Fprintln(stdout, "the database schema is up to date")
	return nil
}

// checkSchema is `migrate --check`: before a rollback, run with the release
// to roll back to, it says whether that release can run on the schema as it is.
func checkSchema(ctx context.Context, db *store.Store, stdout io.Writer) error {
	schema, own, err := db.SchemaVersions(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database schema version %d; this binary's %d\n", schema, own)
	if err := db.CheckSchema(ctx); err != nil {
		return err
	}
	if schema > own {
		fmt.Fprintf(stdout, "this binary can run on it: the %d newer migrations declare it compatible\n", schema-own)
	} else {
		fmt.Fprintln(stdout, "this binary can run on it: the schema is its own")
	}
	return nil
}

// actAsRelease, when not 0, makes every command act as the release whose last
// migration had this number (store.ActAsRelease): the upgrade tests run the
// previous release's code path on the newest schema this way. Only tests set
// it; no setting or flag reaches it.
var actAsRelease atomic.Int64

// openDatabase opens the database as this binary (or the release tests make it act as).
func openDatabase(ctx context.Context, url string, opts ...store.Option) (*store.Store, error) {
	db, err := store.Open(ctx, url, opts...)
	if err != nil {
		return nil, err
	}
	if release := actAsRelease.Load(); release != 0 {
		if err := db.ActAsRelease(int(release)); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

func openForCLI(ctx context.Context, getenv func(string) string) (*store.Store, error) {
	url, err := config.DatabaseURL(getenv)
	if err != nil {
		return nil, err
	}
	db, err := openDatabase(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := db.CheckSchema(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Handlers log through slog's default. In one process there is one serve in
// production, but the tests run several, started and stopped in any order:
// the default is the logger of the newest serve still running, and the
// process's own once none is, so a stopped serve never keeps the lines of
// the others.
var loggers struct {
	mu     sync.Mutex
	active []*slog.Logger
	base   *slog.Logger
}

func useLogger(l *slog.Logger) (release func()) {
	loggers.mu.Lock()
	defer loggers.mu.Unlock()
	if len(loggers.active) == 0 {
		loggers.base = slog.Default()
	}
	loggers.active = append(loggers.active, l)
	slog.SetDefault(l)
	return func() {
		loggers.mu.Lock()
		defer loggers.mu.Unlock()
		for i, a := range loggers.active {
			if a == l {
				loggers.active = append(loggers.active[:i], loggers.active[i+1:]...)
				break
			}
		}
		if n := len(loggers.active); n > 0 {
			slog.SetDefault(loggers.active[n-1])
		} else {
			slog.SetDefault(loggers.base)
		}
	}
}

// accountDeps is the /account page, or nil when ACCOUNT_CLIENT_ID is not set.
// Two-step sign-in is turned on and off through the identity source.
func accountDeps(cfg config.Config, db *store.Store, h *hydra.Client, source identity.Source, keys secret.Keys, canNotify identity.CanSend) *account.Deps {
	a := cfg.Account
	if !a.On() {
		return nil
	}
	public := strings.TrimSuffix(cfg.PublicURL.String(), "/")
	d := &account.Deps{
		Hydra: h,
		Store: db,
		OIDC:  account.NewOIDC(a.HydraPublicURL, a.ClientID, a.ClientSecret, public+"/account/callback"),
		Keys:  keys,
		Settings: account.Settings{
			ClientID: a.ClientID, PublicURL: public, SecureCookies: cfg.Secure(),
			SessionTTL: a.SessionTTL, TrustedProxies: cfg.SignIn.TrustedProxies, CanNotify: canNotify,
		},
	}
	if m, ok := source.(identity.TOTPManager); ok {
		d.TOTP = m
	}
	return d
}

// checkAccountClient warns once at start when the account page's client in
// Hydra has no back-channel logout URI pointing at this service: a logout
// that does not pass through /logout (another app's, an admin's) would then
// leave /account signed in until ACCOUNT_SESSION_TTL. Clients registered
// before the URI existed need updating (docs/account.md).
func checkAccountClient(ctx context.Context, h *hydra.Client, cfg config.Config, logger *slog.Logger) {
	want := strings.TrimSuffix(cfg.PublicURL.String(), "/") + account.BackChannelLogoutPath
	c, err := h.OAuthClient(ctx, cfg.Account.ClientID)
	if err != nil {
		logger.Warn("could not read the account page's client from Hydra to check its back-channel logout URI", "client", cfg.Account.ClientID, "err", err)
		return
	}
	if c.BackChannelLogoutURI != want {
		logger.Warn("the account page's client has no back-channel logout URI pointing here: a logout that does not pass through /logout leaves /account signed in until ACCOUNT_SESSION_TTL; register it as docs/account.md shows",
			"client", c.ID, "backchannel_logout_uri", c.BackChannelLogoutURI, "want", want)
	}
}
