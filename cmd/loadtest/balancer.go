//go:build devstack

package main

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
)

// The balancer's health check of each replica: GET /readyz on its health
// listener every checkInterval; checkFall failures take it out, checkRise
// passes put it back. A replica told to stop answers 503 at once and keeps
// serving for SHUTDOWN_DELAY, which must outlast checkFall × checkInterval
// (plus one check's time) for no request to reach a closed listener.
const (
	checkInterval = time.Second
	checkFall     = 2
	checkRise     = 2
)

// haproxyBinary is Debian's HAProxy (scripts/ensure-haproxy.sh installs it).
func haproxyBinary() (string, error) {
	bin := os.Getenv("HAPROXY_BIN")
	if bin == "" {
		bin = "/usr/sbin/haproxy"
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("HAProxy not found at %s (run scripts/ensure-haproxy.sh, or set HAPROXY_BIN): %w", bin, err)
	}
	return bin, nil
}

// replica is one process of the service behind the balancer, restarted in place.
type replica struct {
	name   string
	listen string // its public listener, where the balancer sends requests
	health string // its health listener, where the balancer checks /readyz
	env    []string
	bin    string
	dir    string
	starts int
	p      *provider
}

// start runs a new process of the replica and waits for its /healthz.
func (r *replica) start() error {
	r.starts++
	r.p = &provider{Name: fmt.Sprintf("%s (start %d)", r.name, r.starts)}
	cmd := exec.Command(r.bin, "serve")
	cmd.Env = r.env
	return startProcess(r.p, cmd, filepath.Join(r.dir, fmt.Sprintf("%s-%d.log", r.name, r.starts)), "http://"+r.health+"/healthz")
}

// signal sends sig to the running process and waits up to wait for it to exit.
func (r *replica) signal(sig syscall.Signal, wait time.Duration) error {
	r.p.cmd.Process.Signal(sig)
	select {
	case <-r.p.done:
		r.p.done <- nil // for stop, later
		return nil
	case <-time.After(wait):
		return fmt.Errorf("%s did not exit within %s of %s", r.p.Name, wait, sig)
	}
}

func (r *replica) stop() {
	if r.p != nil && r.p.cmd != nil {
		r.p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.p.done:
		case <-time.After(40 * time.Second):
			r.p.cmd.Process.Kill()
			<-r.p.done
		}
	}
}

// retries is the balancer's retry policy. Without retry a request it cannot
// hand to a replica (its listener closed) is a 503 to the browser, as with a
// Kubernetes Service, whose kube-proxy retries nothing: a rolling restart
// must pass so, on the drain alone. With retry, a connection refused (so
// nothing was sent: safe for a POST too) goes to the other replica, as an
// ingress controller does; a replica killed without a drain needs that
// until the health check takes it out.
func retries(retry bool) string {
	if !retry {
		return "  retries 0\n"
	}
	return "  retries 3\n  retry-on conn-failure\n  option redispatch 1\n"
}

// balancer is HAProxy in front of the replicas, as a Service or an ingress is.
type balancer struct {
	cmd   *exec.Cmd
	done  chan error
	stats string // its stats page, CSV
}

// startBalancer writes HAProxy's configuration and starts it in the
// foreground: frontend on frontendPort, round robin over the replicas, each
// health-checked on /readyz. In HTTP mode (an ingress) it keeps connections
// alive on both sides and picks a replica per request; in TCP mode (a
// Service's kube-proxy, or a network load balancer) it picks one per
// connection, so a browser's keep-alive connection stays with its replica
// through the drain.
func startBalancer(dir string, frontendPort int, replicas []*replica, retry, tcp bool) (*balancer, error) {
	bin, err := haproxyBinary()
	if err != nil {
		return nil, err
	}
	statsPort, err := devstack.FreePort()
	if err != nil {
		return nil, err
	}
	var servers strings.Builder
	for _, r := range replicas {
		_, port, _ := strings.Cut(r.health, ":")
		fmt.Fprintf(&servers, "  server %s %s check port %s\n", r.name, r.listen, port)
	}
	mode := "  mode http\n  timeout http-keep-alive 60s\n  option http-keep-alive\n"
	if tcp {
		mode = "  mode tcp\n"
	}
	cfg := fmt.Sprintf(`global
  maxconn 4096
defaults
%s  timeout connect 2s
  timeout client 120s
  timeout server 120s
%sfrontend stats
  mode http
  bind 127.0.0.1:%d
  stats enable
  stats uri /stats
frontend consent
  bind 127.0.0.1:%d
  default_backend replicas
backend replicas
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter %dms fall %d rise %d
%s`, mode, retries(retry), statsPort, frontendPort, checkInterval.Milliseconds(), checkFall, checkRise, servers.String())
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("haproxy -c: %v\n%s", err, out)
	}
	b := &balancer{stats: fmt.Sprintf("http://127.0.0.1:%d/stats;csv", statsPort), done: make(chan error, 1)}
	logFile, err := os.Create(filepath.Join(dir, "haproxy.log"))
	if err != nil {
		return nil, err
	}
	b.cmd = exec.Command(bin, "-db", "-f", path)
	b.cmd.Stdout, b.cmd.Stderr = logFile, logFile
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting haproxy: %w", err)
	}
	go func() { b.done <- b.cmd.Wait(); logFile.Close() }()
	return b, nil
}

// states reads each server's state (UP, DOWN, NOLB, MAINT…) from the stats page.
func (b *balancer) states() (map[string]string, error) {
	resp, err := http.Get(b.stats)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(rows) < 1 {
		return nil, fmt.Errorf("haproxy stats: %v", err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[strings.TrimPrefix(h, "# ")] = i
	}
	got := map[string]string{}
	for _, row := range rows[1:] {
		if row[col["pxname"]] == "replicas" && row[col["svname"]] != "BACKEND" {
			got[row[col["svname"]]] = strings.Fields(row[col["status"]])[0]
		}
	}
	return got, nil
}

// wait waits until the balancer has the named replica in state: UP (it
// sends it requests) or DOWN (it has taken it out).
func (b *balancer) wait(name, state string, timeout time.Duration) error {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if s, err := b.states(); err == nil && s[name] == state {
			return nil
		}
	}
	s, err := b.states()
	return fmt.Errorf("the balancer did not have %s %s within %s: %v %v", name, state, timeout, s, err)
}

func (b *balancer) stop() {
	if b == nil || b.cmd == nil || b.cmd.Process == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
	}
}

// startBalanced starts the replicas of the service, each with listeners of
// its own and the environment env otherwise, and HAProxy in front of them on
// frontendPort (the service's PUBLIC_URL); balanced waits for them to be in.
func (s *stack) startBalanced(bin string, env map[string]string, n, frontendPort int, retry, tcp bool) error {
	for i := range n {
		ports := make([]int, 2)
		for j := range ports {
			p, err := devstack.FreePort()
			if err != nil {
				return err
			}
			ports[j] = p
		}
		r := &replica{name: fmt.Sprintf("r%d", i), bin: bin, dir: s.dir,
			listen: "127.0.0.1:" + strconv.Itoa(ports[0]), health: "127.0.0.1:" + strconv.Itoa(ports[1])}
		r.env = os.Environ()
		for k, v := range env {
			if k != "LISTEN_ADDR" && k != "METRICS_ADDR" {
				r.env = append(r.env, k+"="+v)
			}
		}
		r.env = append(r.env, "LISTEN_ADDR="+r.listen, "METRICS_ADDR="+r.health)
		if err := r.start(); err != nil {
			return err
		}
		s.replicas = append(s.replicas, r)
	}
	var err error
	s.balancer, err = startBalancer(s.dir, frontendPort, s.replicas, retry, tcp)
	return err
}

// balanced waits until the balancer sends requests to every replica: their
// /readyz passes once Hydra answers.
func (s *stack) balanced() error {
	for _, r := range s.replicas {
		if err := s.balancer.wait(r.name, "UP", 30*time.Second); err != nil {
			return err
		}
	}
	return nil
}
