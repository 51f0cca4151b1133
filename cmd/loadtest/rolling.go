//go:build devstack

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// rollResult is what the browsers saw while the replicas were replaced.
type rollResult struct {
	Flows        int
	Failed       []flowFailure
	ServerErrors int64
	Restarts     int
	KilledAt     time.Time // the SIGKILL, in -kill runs
	// InFlight is, in -kill runs, the failed flows that had started before
	// the kill (the only ones allowed to fail).
	InFlight int
	// Served is, per replica, the requests its last process answered: the
	// new processes really took their share.
	Served map[string]int
}

// flowFailure is one flow that did not end with tokens.
type flowFailure struct {
	Started, Failed time.Time
	Err             string
}

// rolling runs two replicas of the service behind HAProxy under load and
// replaces each in turn as a Deployment's rollout does (SIGTERM, exit, a new
// process in its place, back in the balancer before the next), o.Restarts
// times over; with o.Kill, one replica is SIGKILLed instead (a node lost) and
// replaced. It fails on any failed flow (with o.Kill, any flow started after
// the kill), on any 5xx a browser saw (with o.Kill, beyond those of the flows
// in flight) and when no flow completed.
func rolling(ctx context.Context, o options, stdout, stderr io.Writer) (rollResult, error) {
	say := func(format string, a ...any) { fmt.Fprintf(stderr, "loadtest: "+format+"\n", a...) }
	c := o.Concurrency[0]
	if _, err := haproxyBinary(); err != nil {
		return rollResult{}, err
	}
	say("starting PostgreSQL, Hydra, HAProxy and two replicas of blink-consent (%s), SHUTDOWN_DELAY=%s…", o.ServiceBin, o.ShutdownDelay)
	// A rolling restart must pass on the drain alone; a kill has none, and
	// only a balancer that retries a refused connection keeps it to the
	// flows in flight.
	st, err := startStack(ctx, stackConfig{ServiceBin: o.ServiceBin, Users: c, Replicas: 2, Log: stderr, BalancerRetries: o.Kill, BalancerTCP: o.Balancer == "tcp",
		Env: map[string]string{"SHUTDOWN_DELAY": o.ShutdownDelay.String()}})
	if err != nil {
		return rollResult{}, err
	}
	defer st.Close()
	d := newDriver(st.Service, st.sink, c)
	bs := browsers(d, st.Emails, c)
	say("first sign-in of %d browsers…", c)
	if err := d.signInAll(ctx, bs); err != nil {
		return rollResult{}, err
	}
	d.serverErrors.Store(0)

	var res rollResult
	var mu sync.Mutex
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i, b := range bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := i; !stop.Load() && ctx.Err() == nil; n++ {
				t0 := time.Now()
				_, err := d.run(ctx, b, pathFor(o.Paths[0], n))
				mu.Lock()
				if err != nil {
					res.Failed = append(res.Failed, flowFailure{Started: t0, Failed: time.Now(), Err: redact(err).Error()})
				} else {
					res.Flows++
				}
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	at := func() string { return fmt.Sprintf("%5.1fs", time.Since(start).Seconds()) }
	say("%s load: %d browsers on path %s through the balancer", at(), c, o.Paths[0])
	err = replace(ctx, o, st, &res, func(format string, a ...any) { say(at()+" "+format, a...) })
	if err == nil {
		select { // the load goes on a while on the new processes
		case <-time.After(3 * time.Second):
		case <-ctx.Done():
		}
	}
	stop.Store(true)
	wg.Wait()
	res.ServerErrors = d.serverErrors.Load()
	if err != nil {
		return res, err
	}
	res.Served = map[string]int{}
	for _, r := range st.replicas {
		if res.Served[r.name], err = requestsServed(ctx, "http://"+r.health+"/metrics"); err != nil {
			return res, err
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, report(o, c, time.Since(start), res, stdout)
}

// replace restarts the replicas as the run asks, in turn.
func replace(ctx context.Context, o options, st *stack, res *rollResult, say func(string, ...any)) error {
	settle := func() {
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
		}
	}
	settle()
	if o.Kill {
		r := st.replicas[0]
		say("SIGKILL %s", r.p.Name)
		res.KilledAt = time.Now()
		if err := r.signal(syscall.SIGKILL, 5*time.Second); err != nil {
			return err
		}
		return restart(st, r, res, say)
	}
	for round := range o.Restarts {
		for _, r := range st.replicas {
			if ctx.Err() != nil {
				return nil
			}
			say("round %d: SIGTERM %s", round+1, r.p.Name)
			t := time.Now()
			// SHUTDOWN_DELAY, then up to 20 s for requests in flight.
			if err := r.signal(syscall.SIGTERM, o.ShutdownDelay+25*time.Second); err != nil {
				return err
			}
			say("%s exited %.1fs after SIGTERM", r.name, time.Since(t).Seconds())
			if err := restart(st, r, res, say); err != nil {
				return err
			}
			settle()
		}
	}
	return nil
}

// restart starts a new process in r's place once the balancer has taken
// the old one out (as a new pod comes up elsewhere while the old endpoint
// goes), and waits until the balancer sends it requests.
func restart(st *stack, r *replica, res *rollResult, say func(string, ...any)) error {
	if err := st.balancer.wait(r.name, "DOWN", 30*time.Second); err != nil {
		return err
	}
	if err := r.start(); err != nil {
		return err
	}
	if err := st.balancer.wait(r.name, "UP", 30*time.Second); err != nil {
		return err
	}
	res.Restarts++
	say("%s is back in the balancer", r.p.Name)
	return nil
}

// report prints what the browsers saw and says whether the run passed.
func report(o options, c int, took time.Duration, res rollResult, stdout io.Writer) error {
	what := fmt.Sprintf("%d rounds of SIGTERM to each replica, %s balancer without retries", o.Restarts, o.Balancer)
	if o.Kill {
		what = fmt.Sprintf("one replica SIGKILLed, %s balancer retrying refused connections", o.Balancer)
	}
	var late []flowFailure
	for _, f := range res.Failed {
		if o.Kill && f.Started.Before(res.KilledAt) {
			res.InFlight++
		} else {
			late = append(late, f)
		}
	}
	fmt.Fprintf(stdout, "rolling, %d browsers, path %s, %s (%d processes replaced), SHUTDOWN_DELAY %s, balancer check every %s (fall %d, rise %d), %.0fs:\n  %d flows ended with tokens, %d failed, %d answers 5xx; requests answered by the last processes: %v\n",
		c, o.Paths[0], what, res.Restarts, o.ShutdownDelay, checkInterval, checkFall, checkRise, took.Seconds(), res.Flows, len(res.Failed), res.ServerErrors, res.Served)
	if o.Kill {
		fmt.Fprintf(stdout, "  flows in flight at the SIGKILL that failed: %d; flows started after it that failed: %d\n", res.InFlight, len(late))
	}
	for i, f := range res.Failed {
		if i == 10 {
			fmt.Fprintf(stdout, "  … and %d more\n", len(res.Failed)-10)
			break
		}
		fmt.Fprintf(stdout, "  failed flow (started %s, failed %s): %.200s\n", f.Started.Format("15:04:05.000"), f.Failed.Format("15:04:05.000"), strings.Join(strings.Fields(f.Err), " "))
	}
	fmt.Fprint(stdout, machine())
	var failures []string
	if res.Flows == 0 {
		failures = append(failures, "no flow completed")
	}
	if len(late) > 0 {
		failures = append(failures, fmt.Sprintf("%d flows failed", len(late)))
	}
	if !o.Kill && res.ServerErrors > 0 {
		failures = append(failures, fmt.Sprintf("the browsers saw %d answers 5xx", res.ServerErrors))
	}
	if len(failures) > 0 {
		return errors.New("rolling failed: " + strings.Join(failures, "; "))
	}
	fmt.Fprintln(stdout, "rolling passed")
	return nil
}

// requestsServed sums the public listener's request count on a replica's /metrics.
func requestsServed(ctx context.Context, metricsURL string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "blink_consent_http_request_duration_seconds_count{"); ok {
			_, v, _ := strings.Cut(rest, "} ")
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %q: %w", metricsURL, sc.Text(), err)
			}
			n += int(f)
		}
	}
	return n, sc.Err()
}
