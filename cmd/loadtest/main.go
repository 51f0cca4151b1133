//go:build devstack

// Command loadtest drives real OAuth 2.0 authorization-code flows through a
// real Ory Hydra against blink-consent (a process of its own) and, in the
// same run, against a minimal provider (the floor), and reports each one's
// flows/s, latency, errors, CPU per flow and peak RSS, read from /proc, with
// the ratio to the floor. `-mode soak` runs the service alone under mixed
// load and fails on any error, on RSS growth or on goroutine growth.
// `-mode rolling` runs two replicas behind HAProxy and replaces each in turn
// under load, failing on any failed flow or 5xx.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if os.Getenv("LOADTEST_FLOOR") == "1" {
		err = runFloor(ctx, os.Args[1:], os.Stderr)
	} else {
		err = run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// options are the command line's.
type options struct {
	Mode         string
	Paths        []string
	Concurrency  []int
	Duration     time.Duration
	Rounds       int
	ServiceBin   string
	CPUProfile   string
	MaxRSSGrowth int64 // bytes
	MaxGoroutine int
	// The rolling mode's.
	Restarts      int
	Kill          bool
	ShutdownDelay time.Duration
	Balancer      string // http or tcp
}

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", orDefault(getenv("LOADTEST_MODE"), "compare"), "compare (the service beside the floor), soak (the service alone, mixed paths; fails on errors, RSS or goroutine growth) or rolling (two replicas behind HAProxy, each replaced in turn under load; fails on any failed flow or 5xx); default $LOADTEST_MODE")
	path := fs.String("path", "", "skip, consent, email, passkey or mixed, comma-separated for several in turn, or all (the first three) (default: skip,email — the CPU floor, then time to code; soak and rolling: mixed)")
	conc := fs.String("concurrency", "", "simulated browsers at once, comma-separated for several runs (default: 8,64; soak: 64)")
	dur := fs.Duration("duration", 0, "length of one round (default: 15s; soak: 60s)")
	rounds := fs.Int("rounds", 3, "rounds per provider, alternating the providers round by round")
	bin := fs.String("service", "", "the blink-consent binary (default: bin/blink-consent in the checkout)")
	prof := fs.String("cpuprofile", "", "write a CPU profile of the service, taken in an extra round after the measured ones (needs a binary built with -tags pprof)")
	rssGrowth := fs.Int("max-rss-growth-mb", 16, "soak: fail when the service's RSS grows by more than this")
	gGrowth := fs.Int("max-goroutine-growth", 10, "soak: fail when the service's goroutines, idle again, exceed the count before by more than this")
	restarts := fs.Int("restarts", 2, "rolling: how many times each replica is replaced (SIGTERM, exit, a new process)")
	kill := fs.Bool("kill", false, "rolling: SIGKILL one replica once instead (a node lost); only flows in flight then may fail")
	delay := fs.Duration("shutdown-delay", 5*time.Second, "rolling: the replicas' SHUTDOWN_DELAY")
	lb := fs.String("balancer", "http", "rolling: http (HAProxy picks a replica per request, as an ingress) or tcp (per connection, as a Service's kube-proxy)")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	o := options{Mode: *mode, Duration: *dur, Rounds: *rounds, ServiceBin: *bin, CPUProfile: *prof,
		MaxRSSGrowth: int64(*rssGrowth) << 20, MaxGoroutine: *gGrowth, Restarts: *restarts, Kill: *kill, ShutdownDelay: *delay, Balancer: *lb}
	// soak and rolling run the service alone, on mixed paths, at 64 browsers by default.
	soak := o.Mode == "soak" || o.Mode == "rolling"
	if !soak && o.Mode != "compare" {
		return o, fmt.Errorf("-mode must be compare, soak or rolling, not %q", o.Mode)
	}
	if o.Balancer != "http" && o.Balancer != "tcp" {
		return o, fmt.Errorf("-balancer must be http or tcp, not %q", o.Balancer)
	}
	if o.Restarts < 1 {
		return o, errors.New("-restarts must be 1 or more")
	}
	if *path == "" {
		*path = map[bool]string{true: pathMixed, false: pathSkip + "," + pathEmail}[soak]
	}
	if *path == "all" {
		o.Paths = []string{pathSkip, pathConsent, pathEmail}
	} else {
		o.Paths = strings.Split(*path, ",")
	}
	for _, p := range o.Paths {
		if p != pathSkip && p != pathConsent && p != pathEmail && p != pathPasskey && p != pathMixed {
			return o, fmt.Errorf("-path must be skip, consent, email, passkey, all or mixed, not %q", p)
		}
	}
	if *conc == "" {
		*conc = map[bool]string{true: "64", false: "8,64"}[soak]
	}
	for _, c := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-concurrency must be positive numbers, comma-separated, not %q", *conc)
		}
		o.Concurrency = append(o.Concurrency, n)
	}
	if o.Duration == 0 {
		o.Duration = map[bool]time.Duration{true: 60 * time.Second, false: 15 * time.Second}[soak]
	}
	if o.Rounds < 1 {
		return o, errors.New("-rounds must be 1 or more")
	}
	if o.ServiceBin == "" {
		root, err := devstack.RepoRoot()
		if err != nil {
			return o, fmt.Errorf("-service not given and %w", err)
		}
		o.ServiceBin = filepath.Join(root, "bin", "blink-consent")
	}
	if _, err := os.Stat(o.ServiceBin); err != nil {
		return o, fmt.Errorf("the service binary: %w (run `make build`)", err)
	}
	return o, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	switch o.Mode {
	case "soak":
		_, err := soak(ctx, o, self, stdout, stderr)
		return err
	case "rolling":
		_, err := rolling(ctx, o, stdout, stderr)
		return err
	}
	results, err := compare(ctx, o, []string{self}, stdout, stderr)
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.Errors > 0 {
			return fmt.Errorf("%d flows failed", countErrors(results))
		}
	}
	return nil
}

func countErrors(rs []result) int {
	n := 0
	for _, r := range rs {
		n += r.Errors
	}
	return n
}

func maxOf(ns []int) int {
	m := 0
	for _, n := range ns {
		m = max(m, n)
	}
	return m
}

// browsers makes n browsers for d, browser i signing in as account i.
func browsers(d *driver, emails []string, n int) []*browser {
	bs := make([]*browser, n)
	for i := range bs {
		bs[i] = d.newBrowser(i, emails[i])
	}
	return bs
}

// compare measures the service and the floor, round by round in turn, on
// every path and concurrency asked for, and prints each round and a summary.
func compare(ctx context.Context, o options, floorCmd []string, stdout, stderr io.Writer) ([]result, error) {
	say := func(format string, a ...any) { fmt.Fprintf(stderr, "loadtest: "+format+"\n", a...) }
	env := map[string]string{}
	if o.CPUProfile != "" {
		port, err := devstack.FreePort()
		if err != nil {
			return nil, err
		}
		env["PPROF_ADDR"] = "127.0.0.1:" + strconv.Itoa(port)
	}
	maxC := maxOf(o.Concurrency)
	say("starting PostgreSQL, two Hydra %s, blink-consent (%s) and the floor…", devstack.HydraVersion, o.ServiceBin)
	st, err := startStack(ctx, stackConfig{ServiceBin: o.ServiceBin, FloorCmd: floorCmd, Users: maxC, Floor: true, Env: env, Log: stderr})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	providers := []*provider{st.Service, st.Floor}
	drivers := map[*provider]*driver{}
	all := map[*provider][]*browser{}
	for _, p := range providers {
		drivers[p] = newDriver(p, st.sink, maxC)
		all[p] = browsers(drivers[p], st.Emails, maxC)
		say("%s: first sign-in of %d browsers (email code, remember me)…", p.Name, maxC)
		if err := drivers[p].signInAll(ctx, all[p]); err != nil {
			return nil, err
		}
	}
	var results []result
	for _, path := range o.Paths {
		for _, c := range o.Concurrency {
			fmt.Fprintf(stdout, "\npath %s, %d browsers, %d rounds of %s per provider, alternating\n", path, c, o.Rounds, o.Duration)
			for _, p := range providers {
				// Unmeasured: fills connection pools and caches on both sides.
				if _, err := drivers[p].round(ctx, all[p][:c], path, 2*time.Second); err != nil {
					return nil, err
				}
			}
			var set []result
			for r := range o.Rounds {
				order := providers
				if r%2 == 1 {
					order = []*provider{st.Floor, st.Service}
				}
				for _, p := range order {
					res, err := drivers[p].round(ctx, all[p][:c], path, o.Duration)
					if err != nil {
						return nil, err
					}
					fmt.Fprintf(stdout, "  round %d  %-13s %s\n", r+1, p.Name, line(res))
					for _, e := range res.Errs {
						fmt.Fprintf(stdout, "      error: %s\n", e)
					}
					set = append(set, res)
				}
			}
			results = append(results, set...)
			fmt.Fprint(stdout, summary(path, c, set))
		}
	}
	if o.CPUProfile != "" {
		if err := profile(ctx, o, st, drivers[st.Service], all[st.Service], say); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(stdout, "\n%s", machine())
	return results, nil
}

// profile takes a CPU profile of the service over an extra round of the
// first path and concurrency.
func profile(ctx context.Context, o options, st *stack, d *driver, bs []*browser, say func(string, ...any)) error {
	addr := ""
	for _, kv := range st.Service.cmd.Env {
		if v, ok := strings.CutPrefix(kv, "PPROF_ADDR="); ok {
			addr = v
		}
	}
	say("profiling the service over one more round of %s…", o.Duration)
	type got struct {
		b   []byte
		err error
	}
	done := make(chan got, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(o.Duration.Seconds())))
		if err != nil {
			done <- got{err: fmt.Errorf("profile: %w (was the service built with -tags pprof?)", err)}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("profile: %d %s (was the service built with -tags pprof?)", resp.StatusCode, b)
		}
		done <- got{b, err}
	}()
	if _, err := d.round(ctx, bs[:o.Concurrency[0]], o.Paths[0], o.Duration+time.Second); err != nil {
		return err
	}
	g := <-done
	if g.err != nil {
		return g.err
	}
	say("CPU profile written to %s", o.CPUProfile)
	return os.WriteFile(o.CPUProfile, g.b, 0o644)
}

func line(r result) string {
	l := fmt.Sprintf("flows/s %7.1f  p50 %6.1f ms  p99 %6.1f ms  errors %d  CPU/flow %5.2f ms  peak RSS %5.1f MB",
		r.PerSecond(), ms(percentile(r.Latency, 0.5)), ms(percentile(r.Latency, 0.99)), r.Errors, ms(r.CPUPerFlow()), mb(r.PeakRSS))
	if len(r.TimeToCode) > 0 {
		l += fmt.Sprintf("  time to code p50 %5.1f ms  p99 %5.1f ms", ms(percentile(r.TimeToCode, 0.5)), ms(percentile(r.TimeToCode, 0.99)))
	}
	return l
}

// timeToCode is the line on the codes of a run: from the answer to the send
// step to the SMTP sink having the message, against the goal.
func timeToCode(c int, ds []time.Duration) string {
	if len(ds) == 0 {
		return ""
	}
	p50, p99 := percentile(ds, 0.5), percentile(ds, 0.99)
	check := map[bool]string{true: "met", false: "NOT met"}[p50 <= 50*time.Millisecond && p99 <= 200*time.Millisecond]
	return fmt.Sprintf("\ntime to code at %d browsers (send step's answer → the SMTP sink has the message), %d codes: p50 %.1f ms, p99 %.1f ms, max %.1f ms; goal p50 ≤ 50 ms and p99 ≤ 200 ms: %s\n",
		c, len(ds), ms(p50), ms(p99), ms(percentile(ds, 1)), check)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mb(b int64) float64         { return float64(b) / (1 << 20) }

// total is the rounds of one provider taken together.
type total struct {
	flows, errors  int
	elapsed, cpu   time.Duration
	lat, toCode    []time.Duration
	peak           int64
	cpuLo, cpuHi   time.Duration
	rateLo, rateHi float64
}

func sum(rs []result, name string) total {
	var t total
	for _, r := range rs {
		if r.Provider != name {
			continue
		}
		if t.flows == 0 || r.CPUPerFlow() < t.cpuLo {
			t.cpuLo = r.CPUPerFlow()
		}
		if t.flows == 0 || r.PerSecond() < t.rateLo {
			t.rateLo = r.PerSecond()
		}
		t.cpuHi, t.rateHi = max(t.cpuHi, r.CPUPerFlow()), max(t.rateHi, r.PerSecond())
		t.flows += r.Flows
		t.errors += r.Errors
		t.elapsed += r.Elapsed
		t.cpu += r.CPU
		t.lat = append(t.lat, r.Latency...)
		t.toCode = append(t.toCode, r.TimeToCode...)
		t.peak = max(t.peak, r.PeakRSS)
	}
	return t
}

func (t total) perSecond() float64 { return float64(t.flows) / t.elapsed.Seconds() }
func (t total) cpuPerFlow() time.Duration {
	if t.flows == 0 {
		return 0
	}
	return t.cpu / time.Duration(t.flows)
}

// summary is the table of one path and concurrency: both providers over all
// rounds, and the service's ratio to the floor (per round, the CPU ratio's range).
func summary(path string, c int, rs []result) string {
	var b strings.Builder
	svc, fl := sum(rs, "blink-consent"), sum(rs, "floor")
	fmt.Fprintf(&b, "\n| path | browsers | provider | flows/s | p50 ms | p99 ms | errors | CPU/flow ms (rounds) | peak RSS MB |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, x := range []struct {
		name string
		t    total
	}{{"blink-consent", svc}, {"floor", fl}} {
		fmt.Fprintf(&b, "| %s | %d | %s | %.1f | %.1f | %.1f | %d | %.2f (%.2f–%.2f) | %.1f |\n", path, c, x.name, x.t.perSecond(),
			ms(percentile(x.t.lat, 0.5)), ms(percentile(x.t.lat, 0.99)), x.t.errors, ms(x.t.cpuPerFlow()), ms(x.t.cpuLo), ms(x.t.cpuHi), mb(x.t.peak))
	}
	lo, hi := roundRatios(rs)
	cpuRatio := ratio(float64(svc.cpuPerFlow()), float64(fl.cpuPerFlow()))
	rateRatio := ratio(svc.perSecond(), fl.perSecond())
	p99Ratio := ratio(float64(percentile(svc.lat, 0.99)), float64(percentile(fl.lat, 0.99)))
	fmt.Fprintf(&b, "| %s | %d | ratio to the floor | %.2f× | %.2f× | %.2f× | | %.2f× (%.2f–%.2f) | %.2f× |\n", path, c,
		rateRatio, ratio(float64(percentile(svc.lat, 0.5)), float64(percentile(fl.lat, 0.5))), p99Ratio,
		cpuRatio, lo, hi, ratio(float64(svc.peak), float64(fl.peak)))
	b.WriteString(timeToCode(c, svc.toCode))
	if path == pathSkip {
		check := func(ok bool) string { return map[bool]string{true: "met", false: "NOT met"}[ok] }
		fmt.Fprintf(&b, "\nskip-path goal at %d browsers: CPU/flow ≤ 1.25× floor: %s (%.2f×); flows/s ≥ 0.95×: %s (%.2f×); p99 ≤ 1.1×: %s (%.2f×); peak RSS ≤ 40 MB: %s (%.1f MB)\n",
			c, check(cpuRatio <= 1.25), cpuRatio, check(rateRatio >= 0.95), rateRatio, check(p99Ratio <= 1.1), p99Ratio, check(svc.peak <= 40<<20), mb(svc.peak))
	}
	return b.String()
}

// roundRatios is the lowest and highest CPU/flow ratio of the service's
// round to the floor's round beside it.
func roundRatios(rs []result) (lo, hi float64) {
	var svc, fl []result
	for _, r := range rs {
		if r.Provider == "floor" {
			fl = append(fl, r)
		} else {
			svc = append(svc, r)
		}
	}
	for i := range min(len(svc), len(fl)) {
		x := ratio(float64(svc[i].CPUPerFlow()), float64(fl[i].CPUPerFlow()))
		if i == 0 || x < lo {
			lo = x
		}
		hi = max(hi, x)
	}
	return lo, hi
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// machine names what the figures were measured on.
func machine() string {
	model := "unknown"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return fmt.Sprintf("machine: %d CPUs (nproc), %s, %s, %s\n", nproc(), model, goVersion(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
