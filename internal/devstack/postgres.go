// Package devstack starts the real parts around the service on one machine: a
// throwaway PostgreSQL cluster, Ory Hydra v2.3.0 and demo OAuth clients. The
// `dev` command and the integration tests both stand on it.
package devstack

import (
	"context"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a throwaway PostgreSQL cluster listening on 127.0.0.1.
type Postgres struct {
	Port int
	dir  string
	bin  string
	attr *syscall.SysProcAttr

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan error
	stopped bool
}

// ErrNoPostgres means the PostgreSQL server binaries are not installed.
var ErrNoPostgres = errors.New("PostgreSQL server binaries (initdb, postgres) not found: install PostgreSQL 15 (Debian: apt-get install postgresql-15) or put its bin directory on PATH")

// findPostgresBin finds a PostgreSQL server program on PATH or in Debian's
// /usr/lib/postgresql/<version>/bin, newest version first.
func findPostgresBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNoPostgres
}

// unprivileged returns the credential to run PostgreSQL with when this process
// is root (initdb and postgres refuse to run as root), or nil otherwise.
func unprivileged() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and no unprivileged user (postgres or nobody) exists to run PostgreSQL as")
}

// StartPostgres creates a cluster in dir and starts it on port (0 picks a free one).
// The server dies with this process, even if this process is killed. When this
// process is root the server runs as an unprivileged user, so dir's parents
// must let that user in: a fresh os.MkdirTemp("", …) does.
func StartPostgres(ctx context.Context, dir string, port int) (*Postgres, error) {
	initdb, err := findPostgresBin("initdb")
	if err != nil {
		return nil, err
	}
	postgres, err := findPostgresBin("postgres")
	if err != nil {
		return nil, err
	}
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	cred, err := unprivileged()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	attr := &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGTERM, Setpgid: true}

	initCmd := exec.CommandContext(ctx, initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initCmd.SysProcAttr = attr
	if out, err := initCmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb failed: %w\n%s", err, out)
	}

	pg := &Postgres{Port: port, dir: dir, bin: postgres, attr: attr}
	if err := pg.start(ctx); err != nil {
		return nil, err
	}
	return pg, nil
}

// start runs the server on the cluster's data directory and port and waits
// until it accepts connections.
func (p *Postgres) start(ctx context.Context) error {
	logFile, err := os.OpenFile(filepath.Join(p.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if p.attr.Credential != nil {
		logFile.Chown(int(p.attr.Credential.Uid), int(p.attr.Credential.Gid))
	}
	cmd := exec.Command(p.bin, "-D", filepath.Join(p.dir, "data"), "-p", strconv.Itoa(p.Port), "-k", p.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200")
	cmd.SysProcAttr = p.attr
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting postgres: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logFile.Close() }()
	p.mu.Lock()
	p.cmd, p.done, p.stopped = cmd, done, false
	p.mu.Unlock()

	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, p.URL("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case werr := <-done:
			log, _ := os.ReadFile(filepath.Join(p.dir, "postgres.log"))
			return fmt.Errorf("postgres exited: %v\n%s", werr, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return fmt.Errorf("postgres did not accept connections within 30s: %w", err)
		}
	}
}

// URL is the connection URL of database name.
func (p *Postgres) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, name)
}

// CreateDatabase creates database name and returns its URL.
func (p *Postgres) CreateDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return p.URL(name), nil
}

// Stop shuts the cluster down (fast mode) and waits for it. Calling it again does nothing.
func (p *Postgres) Stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped {
		p.stopped = true
		stopProcess(p.cmd, p.done, syscall.SIGINT, 15*time.Second)
	}
}

// Restart stops the server (fast mode: every client connection is cut, as in
// a failover or an upgrade) and starts it again on the same port and data.
func (p *Postgres) Restart(ctx context.Context) error {
	p.Stop()
	return p.start(ctx)
}

// stopProcess signals a child, waits up to grace for it to exit, then kills it.
func stopProcess(cmd *exec.Cmd, done chan error, sig os.Signal, grace time.Duration) {
	if cmd.Process == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(grace):
		cmd.Process.Kill()
		<-done
	}
}

// FreePort returns a TCP port free on 127.0.0.1 that the kernel will not
// hand out meanwhile as the local port of an outgoing connection: it is
// drawn below Linux's ephemeral range (32768–60999). A port from the kernel's
// own choice (listening on :0) is in that range, and the tests' many
// outgoing connections (database pools, HTTP clients) took such a port
// between the check and the bind.
func FreePort() (int, error) {
	for range 100 {
		port := 20000 + mathrand.IntN(12000)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, errors.New("devstack: no free port between 20000 and 32000")
}
