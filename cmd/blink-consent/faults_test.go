//go:build devstack

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
)

// The fault suite: the service killed, replaced, doubled and starved of
// Hydra, on the real stack. PostgreSQL restarts are in restart_test.go, SMTP
// outages in signin_limits_test.go (TestSMTPOutageDeliversLater).

// The service's binary, built once, for the tests that signal the process
// itself: run() in the test process cannot be SIGKILLed.
var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

func serviceBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		builtBin = filepath.Join(testDir, "blink-consent")
		out, err := osexec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// child is `blink-consent serve` running as a process of its own.
type child struct {
	URL, HealthURL string
	cmd            *osexec.Cmd
	done           chan struct{}
	err            error // the exit status; read after done
}

// startChild runs the service binary with env on the given ports and waits
// until it is healthy.
func startChild(t *testing.T, env map[string]string, port, healthPort int) *child {
	t.Helper()
	cmd := osexec.Command(serviceBinary(t), "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "LISTEN_ADDR=127.0.0.1:"+strconv.Itoa(port), "METRICS_ADDR=127.0.0.1:"+strconv.Itoa(healthPort))
	cmd.Stdout, cmd.Stderr = serviceLog, serviceLog
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{URL: "http://127.0.0.1:" + strconv.Itoa(port), HealthURL: "http://127.0.0.1:" + strconv.Itoa(healthPort),
		cmd: cmd, done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	t.Cleanup(func() { c.signal(syscall.SIGKILL) })
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-c.done:
			t.Fatalf("the service process exited at start: %v\n%s", c.err, lastLines(serviceLog.String(), 20))
		case <-time.After(25 * time.Millisecond):
		}
		if resp, err := http.Get(c.HealthURL + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the service process was not healthy within 15s")
		}
	}
}

// signal sends sig unless the process has exited; SIGKILL also waits for it.
func (c *child) signal(sig syscall.Signal) {
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Signal(sig)
	if sig == syscall.SIGKILL {
		<-c.done
	}
}

// frontProxy is the load balancer in front of replicas: one URL, each request
// to the next backend in turn.
type frontProxy struct {
	URL      string
	mu       sync.Mutex
	backends []*url.URL
	next     int
	served   []string // "backend path" of each request, in order
}

func startFrontProxy(t *testing.T) *frontProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &frontProxy{URL: "http://" + l.Addr().String()}
	rp := &httputil.ReverseProxy{
		// The backend's Host stays the proxy's: PUBLIC_URL is the proxy.
		Director: func(r *http.Request) {
			p.mu.Lock()
			defer p.mu.Unlock()
			b := p.backends[p.next%len(p.backends)]
			p.next++
			p.served = append(p.served, b.Host+" "+r.URL.Path)
			r.URL.Scheme, r.URL.Host = b.Scheme, b.Host
		},
		// A killed backend leaves no pooled connection behind.
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	srv := &http.Server{Handler: rp}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return p
}

// Route sends the following requests to backends, in turn.
func (p *frontProxy) Route(backends ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backends = nil
	for _, b := range backends {
		u, _ := url.Parse(b)
		p.backends = append(p.backends, u)
	}
	p.next = 0
}

func (p *frontProxy) Served() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.served...)
}

// faultStack starts a stack of its own whose service reaches Hydra through a
// spy and whose PUBLIC_URL (Hydra's login, consent and logout URLs) is
// publicURL when not empty. Its in-process service is one more replica.
func faultStack(t *testing.T, name, publicURL string, extraEnv map[string]string) (*stack, *hydraSpy) {
	t.Helper()
	opts, err := testStackOptions(name, 0, extraEnv)
	if err != nil {
		t.Fatal(err)
	}
	if opts.HydraAdminPort, err = devstack.FreePort(); err != nil {
		t.Fatal(err)
	}
	spy, err := startHydraSpy("http://127.0.0.1:" + strconv.Itoa(opts.HydraAdminPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(spy.Close)
	opts.Env["HYDRA_ADMIN_URL"] = spy.URL
	if publicURL != "" {
		opts.Env["PUBLIC_URL"] = publicURL
	}
	st, err := startStack(context.Background(), testPG, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Stop() })
	return st, spy
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// askCode starts a flow of rp and asks for an email code through base; it
// returns the flow's start, the code page and the code.
func askCode(t *testing.T, st *stack, rp *relyingParty, b *browser, base, email string) (journey, hop, string) {
	t.Helper()
	start := rp.start(b)
	if start.Last().URL.Path != "/login" {
		t.Fatalf("the flow did not reach the sign-in page: %v", paths(start))
	}
	before := codeCount(testSMTP.inbox, email)
	page := b.Post(base+"/login/identify", url.Values{"flow": {flowID(t, start.Last())}, "action": {"continue"},
		"method": {"email"}, "email": {email}}).Last()
	if page.URL.Path != "/login/code" || page.Status != http.StatusOK {
		t.Fatalf("asking for a code ended on %s %d:\n%s", page.URL.Path, page.Status, excerpt(page.Body))
	}
	return start, page, waitCode(t, testSMTP.inbox, email, before+1)
}

// flowFinished checks what a finished sign-in left behind: the one code
// used, the flow completed in PostgreSQL, and one accept of subject at Hydra.
func flowFinished(t *testing.T, st *stack, spy *hydraSpy, email string, start journey, codePage hop, subject string) {
	t.Helper()
	used := queryIntOn(t, st, `SELECT count(*) FROM login_codes WHERE identifier = $1 AND used_at IS NOT NULL`, email)
	completed := queryIntOn(t, st, `SELECT count(*) FROM login_flows WHERE id::text = $1 AND completed_at IS NOT NULL`, flowID(t, codePage))
	if used != 1 || completed != 1 {
		t.Errorf("%s: %d codes used, %d flows completed; want 1 and 1", email, used, completed)
	}
	if spy == nil {
		return
	}
	accepts := spy.Accepts(loginChallenge(t, start))
	if len(accepts) != 1 || accepts[0].Subject != subject {
		t.Errorf("%s: Hydra received the accepts %+v, want one of %s", email, accepts, subject)
	}
}

// A replica killed with SIGKILL (a kube-monkey kill) after the user asked for
// a code loses nothing: the user's next request, to a restarted process on
// the same address or to another replica, signs them in.
func TestFlowSurvivesSIGKILL(t *testing.T) {
	front := startFrontProxy(t)
	st, spy := faultStack(t, "sigkill", front.URL, nil)
	port, health := freePort(t), freePort(t)
	first := startChild(t, st.env, port, health)
	front.Route(first.URL)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "email"}, SkipConsent: true})

	t.Run("restarted process", func(t *testing.T) {
		const email = "sigkill-restart@example.com"
		subject := addUser(t, st, email)
		b := newBrowser(t)
		start, codePage, code := askCode(t, st, rp, b, front.URL, email)
		first.signal(syscall.SIGKILL)
		if first.err == nil || !strings.Contains(first.err.Error(), "killed") {
			t.Fatalf("the process ended with %v, want killed", first.err)
		}
		second := startChild(t, st.env, port, health)
		j := b.Post(front.URL+"/login/code", codeForm(codePage, code))
		if _, claims := rp.tokens(t, j); claims["sub"] != subject || claims["email"] != email {
			t.Errorf("claims %v, want %s", claims, subject)
		}
		flowFinished(t, st, spy, email, start, codePage, subject)

		t.Run("another replica", func(t *testing.T) {
			const email = "sigkill-replica@example.com"
			subject := addUser(t, st, email)
			b := newBrowser(t)
			start, codePage, code := askCode(t, st, rp, b, front.URL, email)
			second.signal(syscall.SIGKILL)
			front.Route(st.ServiceURL)
			j := b.Post(front.URL+"/login/code", codeForm(codePage, code))
			if _, claims := rp.tokens(t, j); claims["sub"] != subject {
				t.Errorf("claims %v, want %s", claims, subject)
			}
			flowFinished(t, st, spy, email, start, codePage, subject)
		})
	})
}

// Two replicas behind one URL, each request to the other one, carry a whole
// sign-in and consent: no step keeps state in a process.
func TestTwoReplicasAlternatingPerRequest(t *testing.T) {
	front := startFrontProxy(t)
	st, spy := faultStack(t, "roundrobin", front.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	replica, err := st.Replica(ctx, serviceLog, serviceLog)
	if err != nil {
		t.Fatal(err)
	}
	front.Route(st.ServiceURL, replica)

	const email = "roundrobin@example.com"
	subject := addUser(t, st, email)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "email", "read"}})
	b := newBrowser(t)
	start, codePage, code := askCode(t, st, rp, b, front.URL, email)
	j := b.Post(front.URL+"/login/code", codeForm(codePage, code))
	page := j.Last()
	if page.URL.Path != "/consent" || page.Status != http.StatusOK {
		t.Fatalf("after the code: %s %d, want the consent page: %v\n%s", page.URL.Path, page.Status, paths(j), excerpt(page.Body))
	}
	j = b.Post(front.URL+"/consent", consentForm(page, url.Values{"action": {"allow"}, "scope": {"openid", "email", "read"}}))
	tok, claims := rp.tokens(t, j)
	if scope, _ := tok.Extra("scope").(string); scope != "openid email read" || claims["sub"] != subject || claims["email"] != email {
		t.Errorf("scope %q, claims %v", scope, claims)
	}
	flowFinished(t, st, spy, email, start, codePage, subject)

	served := front.Served()
	hosts := map[string]int{}
	for i, s := range served {
		host, _, _ := strings.Cut(s, " ")
		hosts[host]++
		if prev, _, _ := strings.Cut(served[max(i-1, 0)], " "); i > 0 && prev == host {
			t.Errorf("requests %d and %d both went to %s: %v", i-1, i, host, served)
		}
	}
	if len(served) < 6 || len(hosts) != 2 {
		t.Errorf("the replicas served %v", served)
	}
}

// With Hydra down the pages say so with our own 503 page, and /readyz names
// Hydra in its body and in blink_consent_dependency_up while it still answers
// 200 (the replica stays in the Service to serve that page); once Hydra is
// back, the flow begun before the outage signs in.
func TestHydraDownAndBack(t *testing.T) {
	// No spy: the service dials Hydra itself and finds nothing listening.
	st, err := newTestStack(context.Background(), "hydradown", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Stop() })
	const email = "hydradown@example.com"
	subject := addUser(t, st, email)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "email"}, SkipConsent: true})
	b := newBrowser(t)
	start, codePage, code := askCode(t, st, rp, b, st.ServiceURL, email)

	st.Hydra.Stop()
	for _, j := range []journey{b.Get(start.Last().URL.String()), b.Post(st.ServiceURL+"/login/code", codeForm(codePage, code))} {
		h := j.Last()
		if h.Status != http.StatusServiceUnavailable || !strings.Contains(h.Body, "Sign-in is unavailable right now") {
			t.Errorf("%s with Hydra down: %d, want 503 saying sign-in is unavailable\n%s", h.URL.Path, h.Status, excerpt(h.Body))
		}
	}
	if code, status := readyzOf(t, st.HealthURL); code != http.StatusOK || status["hydra"] != "unavailable" || status["postgres"] != "ok" || status["service"] != "ok" {
		t.Errorf("/readyz with Hydra down: %d %v, want 200 naming Hydra", code, status)
	}
	_, families := scrape(t, st)
	if sample(families, "blink_consent_dependency_up", map[string]string{"dependency": "hydra"}) != 0 ||
		sample(families, "blink_consent_dependency_up", map[string]string{"dependency": "postgres"}) != 1 ||
		sample(families, "blink_consent_ready", nil) != 1 {
		t.Errorf("/metrics with Hydra down: dependency_up %v, ready %v", families["blink_consent_dependency_up"], families["blink_consent_ready"])
	}

	if err := st.Hydra.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, status := readyzOf(t, st.HealthURL)
		if status["hydra"] == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz 10s after Hydra came back: %d %v", code, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The code refused during the outage was not spent: it signs in now.
	j := b.Post(st.ServiceURL+"/login/code", codeForm(codePage, code))
	if _, claims := rp.tokens(t, j); claims["sub"] != subject {
		t.Errorf("claims %v, want %s", claims, subject)
	}
	select {
	case <-st.done:
		t.Fatalf("the service stopped: %v", st.err)
	default:
	}
	flowFinished(t, st, nil, email, start, codePage, subject)
}

func readyzOf(t *testing.T, healthURL string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get(healthURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	status := map[string]string{}
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		t.Fatalf("/readyz body: %v", err)
	}
	return resp.StatusCode, status
}

// On SIGTERM /readyz answers 503 at once while the listener still serves for
// SHUTDOWN_DELAY; a request in flight when the listener closes finishes, and
// its flow completes on another replica.
func TestSIGTERMFinishesInFlightRequestsAndTurnsUnreadyFirst(t *testing.T) {
	front := startFrontProxy(t)
	st, spy := faultStack(t, "sigterm", front.URL, nil)
	env := map[string]string{}
	for k, v := range st.env {
		env[k] = v
	}
	const delay = time.Second
	env["SHUTDOWN_DELAY"] = delay.String()
	svc := startChild(t, env, freePort(t), freePort(t))
	front.Route(svc.URL)

	const email = "sigterm@example.com"
	subject := addUser(t, st, email)
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid", "email"}, SkipConsent: true})
	b := newBrowser(t)
	start, codePage, code := askCode(t, st, rp, b, front.URL, email)

	// Hydra's accept is held longer than the delay, so the request is still
	// in flight when the listener closes.
	spy.holdAccepts.Store(int64(delay + time.Second))
	defer spy.holdAccepts.Store(0)
	type answer struct {
		status   int
		location string
		err      error
		at       time.Time
	}
	answered := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, front.URL+"/login/code", strings.NewReader(codeForm(codePage, code).Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("X-Forwarded-For", b.IP)
		resp, err := b.http.Do(req)
		a := answer{err: err, at: time.Now()}
		if err == nil {
			resp.Body.Close()
			a.status, a.location = resp.StatusCode, resp.Header.Get("Location")
		}
		answered <- a
	}()
	// The code is spent just before the accept: the request is in flight.
	for deadline := time.Now().Add(5 * time.Second); queryIntOn(t, st, `SELECT count(*) FROM login_codes WHERE identifier = $1 AND used_at IS NOT NULL`, email) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the code was not checked within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}

	termAt := time.Now()
	svc.signal(syscall.SIGTERM)
	probe := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	var unreadyAt, refusedAt time.Time
	for refusedAt.IsZero() && time.Since(termAt) < 10*time.Second {
		if unreadyAt.IsZero() {
			if resp, err := probe.Get(svc.HealthURL + "/readyz"); err == nil {
				var status map[string]string
				json.NewDecoder(resp.Body).Decode(&status)
				resp.Body.Close()
				if resp.StatusCode == http.StatusServiceUnavailable && status["service"] == "stopping" {
					unreadyAt = time.Now()
				}
			}
		}
		if resp, err := probe.Get(svc.URL + "/healthz"); err != nil {
			refusedAt = time.Now()
		} else {
			resp.Body.Close()
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("after SIGTERM: unready at %v, new connections refused at %v", unreadyAt.Sub(termAt), refusedAt.Sub(termAt))
	if unreadyAt.IsZero() || refusedAt.IsZero() || refusedAt.Sub(unreadyAt) < delay/2 {
		t.Errorf("/readyz must answer 503 (stopping) well before the listener refuses connections: unready at %v, refused at %v",
			unreadyAt.Sub(termAt), refusedAt.Sub(termAt))
	}

	a := <-answered
	if a.err != nil || a.status != http.StatusSeeOther || !strings.HasPrefix(a.location, st.Hydra.PublicURL+"/") {
		t.Fatalf("the request in flight got %d %q, %v; want a 303 to Hydra", a.status, a.location, a.err)
	}
	if a.at.Before(refusedAt) {
		t.Errorf("the request in flight answered %v after SIGTERM, before the listener closed: it was not held over the close", a.at.Sub(termAt))
	}
	select {
	case <-svc.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the process did not exit within 10s of SIGTERM")
	}
	if svc.err != nil {
		t.Errorf("the process exited with %v, want 0", svc.err)
	}

	// The load balancer now sends the browser to the remaining replica.
	front.Route(st.ServiceURL)
	if _, claims := rp.tokens(t, b.Get(a.location)); claims["sub"] != subject {
		t.Errorf("claims %v, want %s", claims, subject)
	}
	flowFinished(t, st, spy, email, start, codePage, subject)
}
