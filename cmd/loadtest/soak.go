//go:build devstack

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// soakResult is what a soak saw of the service.
type soakResult struct {
	result
	RSSBefore, RSSAfter               int64
	GoroutinesBefore, GoroutinesAfter int
}

// soak runs the service alone under mixed load for the duration, and fails
// on any failed flow, on RSS growth beyond the bound, or on goroutines that
// remain once the load has stopped and the browsers have hung up.
func soak(ctx context.Context, o options, self string, stdout, stderr io.Writer) (soakResult, error) {
	say := func(format string, a ...any) { fmt.Fprintf(stderr, "loadtest: "+format+"\n", a...) }
	c := o.Concurrency[0]
	say("starting PostgreSQL, Hydra and blink-consent (%s)…", o.ServiceBin)
	st, err := startStack(ctx, stackConfig{ServiceBin: o.ServiceBin, Users: c, Log: stderr})
	if err != nil {
		return soakResult{}, err
	}
	defer st.Close()
	p := st.Service
	d := newDriver(p, st.sink, c)
	bs := browsers(d, st.Emails, c)
	say("first sign-in of %d browsers…", c)
	if err := d.signInAll(ctx, bs); err != nil {
		return soakResult{}, err
	}
	// Warm up on the same mix, so the heap reaches its working size before the baseline.
	if _, err := d.round(ctx, bs, o.Paths[0], 5*time.Second); err != nil {
		return soakResult{}, err
	}
	var sr soakResult
	if sr.GoroutinesBefore, err = settle(ctx, d, p, 0); err != nil {
		return sr, err
	}
	if _, sr.RSSBefore, err = memory(p.PID()); err != nil {
		return sr, err
	}
	say("soak: %s of path %s with %d browsers (before: RSS %.1f MB, %d goroutines)…", o.Duration, o.Paths[0], c, mb(sr.RSSBefore), sr.GoroutinesBefore)

	stopWatch := make(chan struct{})
	go func() {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		start := time.Now()
		for {
			select {
			case <-stopWatch:
				return
			case <-tick.C:
				_, rss, _ := memory(p.PID())
				g, _ := goroutines(ctx, p.MetricsURL)
				fmt.Fprintf(stdout, "  %3.0fs  RSS %5.1f MB  goroutines %d\n", time.Since(start).Seconds(), mb(rss), g)
			}
		}
	}()
	sr.result, err = d.round(ctx, bs, o.Paths[0], o.Duration)
	close(stopWatch)
	if err != nil {
		return sr, err
	}
	if sr.GoroutinesAfter, err = settle(ctx, d, p, sr.GoroutinesBefore+o.MaxGoroutine); err != nil {
		return sr, err
	}
	if _, sr.RSSAfter, err = memory(p.PID()); err != nil {
		return sr, err
	}
	fmt.Fprintf(stdout, "soak %s, %d browsers, %s: %d flows, %s\n  RSS %.1f → %.1f MB, goroutines %d → %d\n%s",
		o.Paths[0], c, o.Duration, sr.Flows, line(sr.result), mb(sr.RSSBefore), mb(sr.RSSAfter), sr.GoroutinesBefore, sr.GoroutinesAfter, machine())
	var failures []string
	if sr.Errors > 0 || sr.Flows == 0 {
		failures = append(failures, fmt.Sprintf("%d of %d flows failed: %s", sr.Errors, sr.Errors+sr.Flows, strings.Join(sr.Errs, "; ")))
	}
	if growth := sr.RSSAfter - sr.RSSBefore; growth > o.MaxRSSGrowth {
		failures = append(failures, fmt.Sprintf("RSS grew by %.1f MB (bound %.0f MB)", mb(growth), mb(o.MaxRSSGrowth)))
	}
	if sr.GoroutinesAfter > sr.GoroutinesBefore+o.MaxGoroutine {
		failures = append(failures, fmt.Sprintf("goroutines grew from %d to %d (bound +%d)", sr.GoroutinesBefore, sr.GoroutinesAfter, o.MaxGoroutine))
	}
	if len(failures) > 0 {
		return sr, fmt.Errorf("soak failed: %s", strings.Join(failures, "; "))
	}
	fmt.Fprintln(stdout, "soak passed")
	return sr, nil
}

// settle hangs up the browsers' idle connections and reads the service's
// goroutines once they have stopped falling (or are at most want, when given).
func settle(ctx context.Context, d *driver, p *provider, want int) (int, error) {
	d.transport.CloseIdleConnections()
	last := -1
	for deadline := time.Now().Add(10 * time.Second); ; {
		time.Sleep(500 * time.Millisecond)
		g, err := goroutines(ctx, p.MetricsURL)
		if err != nil {
			return 0, err
		}
		if (want > 0 && g <= want) || (want == 0 && g == last) || time.Now().After(deadline) {
			return g, nil
		}
		last = g
	}
}

// goroutines reads go_goroutines from the service's /metrics.
func goroutines(ctx context.Context, metricsURL string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("no go_goroutines in %s", metricsURL)
}
