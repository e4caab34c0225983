// Package pgtest gives tests a PostgreSQL database of their own.
//
// It finds a server in this order:
//
//  1. PAGECHAT_POSTGRES_DSN, a DSN (URL or keyword form) of a running
//     server whose user may create databases;
//  2. a private server of its own, started from Debian's packages
//     (/usr/lib/postgresql/<version>/bin) in a temporary directory, with a
//     unix socket only, as the postgres user when the test runs as root;
//     when the binaries are missing and the test runs as root with apt-get,
//     it installs Debian's postgresql package first (PAGECHAT_NO_INSTALL=1
//     turns that off);
//  3. else the test is skipped, saying loudly why.
//
// Every DSN call creates a fresh database, dropped when the test ends, so
// tests may run in parallel. The private server is shared by the tests of
// one test binary; a package that uses it wraps its testing.M with M so the
// server stops when the tests end (it is also started to die with the test
// process). Tests that must stop or restart a server take one of their own
// with NewServer.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the environment variable that points the tests at a running
// server instead of a private one.
const EnvDSN = "PAGECHAT_POSTGRES_DSN"

// startTimeout bounds initdb plus the first connection on a loaded machine.
const startTimeout = 2 * time.Minute

var shared struct {
	once   sync.Once
	admin  string  // DSN of the server's postgres database
	server *Server // the private server, if one was started
	err    error   // why there is no server
}

// DSN returns the DSN of a new, empty database for t, dropped when t ends.
// Without a PostgreSQL server it skips t, saying why.
func DSN(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() {
		if dsn := os.Getenv(EnvDSN); dsn != "" {
			shared.admin = dsn
			return
		}
		s, err := startServer()
		if err != nil {
			shared.err = err
			return
		}
		shared.server, shared.admin = s, s.admin
	})
	if shared.err != nil {
		t.Skipf("SKIPPED: no PostgreSQL for this test: %v (set %s to a running server, or install Debian's postgresql)", shared.err, EnvDSN)
	}
	return newDatabase(t, shared.admin)
}

// M wraps a package's testing.M so that the private server DSN started
// stops after the tests: goleak.VerifyTestMain(pgtest.M{M: m}).
type M struct{ M *testing.M }

// Run runs the tests, then stops the shared private server if one was
// started.
func (w M) Run() int {
	code := w.M.Run()
	if shared.server != nil {
		if err := shared.server.close(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	return code
}

// Server is a private PostgreSQL server in a temporary directory.
type Server struct {
	bin     string // directory of postgres, initdb
	dir     string // data directory and socket directory's parent
	sockDir string
	port    int
	cred    *syscall.Credential
	admin   string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// NewServer starts a private server for t alone, stopped when t ends, for
// tests that stop or restart it. Without Debian's binaries it skips t.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s, err := startServer()
	if err != nil {
		t.Skipf("SKIPPED: cannot start a private PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		if err := s.close(); err != nil {
			t.Errorf("stopping PostgreSQL: %v", err)
		}
	})
	return s
}

// DSN returns the DSN of a new, empty database on s for t.
func (s *Server) DSN(t testing.TB) string {
	t.Helper()
	return newDatabase(t, s.admin)
}

// Stop shuts the server down fast (disconnecting every client) and waits
// until it has exited.
func (s *Server) Stop() error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-done:
		return nil
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill()
		<-done
		return errors.New("postgres did not stop in time; killed")
	}
}

// Start starts a stopped server again on the same socket and data.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()
	cmd := exec.Command(filepath.Join(s.bin, "postgres"),
		"-D", filepath.Join(s.dir, "data"),
		"-p", strconv.Itoa(s.port),
		"-k", s.sockDir,
		"-c", "listen_addresses=",
		"-c", "max_connections=300",
		"-c", "shared_buffers=32MB",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The server dies with the test process, even one killed by a
	// timeout, instead of outliving it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, s.admin)
		if err == nil {
			_ = conn.Close(ctx)
			return nil
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
			s.cmd = nil
			return fmt.Errorf("postgres exited at start: %s", lastLines(string(log), 10))
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// close stops the server and removes its directory.
func (s *Server) close() error {
	err := s.Stop()
	return errors.Join(err, os.RemoveAll(s.dir))
}

// startServer makes a data directory with initdb and starts postgres in it.
func startServer() (*Server, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	cred, owner, err := runAs()
	if err != nil {
		return nil, err
	}
	// A short directory: a unix socket path must fit in 107 bytes.
	dir, err := os.MkdirTemp("", "pcpg")
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir, sockDir: dir, cred: cred}
	fail := func(err error) (*Server, error) {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if owner != nil {
		if err := os.Chown(dir, owner[0], owner[1]); err != nil {
			return fail(err)
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"),
		"-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %w: %s", err, lastLines(string(out), 10)))
	}
	if s.port, err = freePort(); err != nil {
		return fail(err)
	}
	s.admin = fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", dir, s.port)
	if err := s.Start(); err != nil {
		return fail(err)
	}
	return s, nil
}

// findBinaries returns the newest /usr/lib/postgresql/*/bin with initdb,
// installing Debian's postgresql first if it is missing and we may.
func findBinaries() (string, error) {
	find := func() string {
		dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
		sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
		if len(dirs) == 0 {
			return ""
		}
		return filepath.Dir(dirs[0])
	}
	if bin := find(); bin != "" {
		return bin, nil
	}
	if err := install(); err != nil {
		return "", fmt.Errorf("the postgresql package is not installed, and installing it failed: %w", err)
	}
	if bin := find(); bin != "" {
		return bin, nil
	}
	return "", errors.New("postgresql was installed, yet /usr/lib/postgresql/*/bin/initdb is missing")
}

func version(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// install runs apt-get install postgresql, once at a time on the machine
// (test binaries of several packages may get here together).
func install() error {
	switch {
	case os.Getenv("PAGECHAT_NO_INSTALL") != "":
		return errors.New("PAGECHAT_NO_INSTALL is set")
	case os.Geteuid() != 0:
		return errors.New("not running as root")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return errors.New("apt-get is not available")
	}
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "pagechat-pgtest-install.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer func() { _ = lock.Close() }()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	if dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(dirs) > 0 {
		return nil // another test binary installed it while we waited
	}
	if out, err := exec.Command("apt-get", "update", "-qq").CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update: %w: %s", err, lastLines(string(out), 5))
	}
	cmd := exec.Command("apt-get", "install", "-y", "-qq", "postgresql")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get install postgresql: %w: %s", err, lastLines(string(out), 5))
	}
	return nil
}

// runAs returns whom to run the server as: ourselves, or, as root (which
// postgres refuses), the postgres user Debian's package creates, else
// nobody. owner is the uid and gid for the directory, nil for ourselves.
func runAs() (cred *syscall.Credential, owner []int, err error) {
	if os.Geteuid() != 0 {
		return nil, nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, []int{uid, gid}, nil
	}
	return nil, nil, errors.New("running as root, and there is no postgres or nobody user to run the server as")
}

// freePort returns a TCP port nobody listens on now. The server listens on
// a unix socket only, whose name includes the port, so a port someone
// takes later does no harm.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// newDatabase creates a database with a random name on the server of
// admin and returns its DSN; it is dropped when t ends.
func newDatabase(t testing.TB, admin string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "pctest_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connecting to PostgreSQL (%s): %v", Redact(admin), err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating a test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("dropping test database %s: %v", name, err)
			return
		}
		defer func() { _ = conn.Close(context.Background()) }()
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("dropping test database %s: %v", name, err)
		}
	})
	dsn, err := WithDatabase(admin, name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// WithDatabase returns dsn (URL or keyword form) with its database set to
// name.
func WithDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parsing %s: %w", EnvDSN, err)
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	// In the keyword form the last setting of a keyword wins.
	return dsn + " dbname=" + name, nil
}

// Redact returns dsn without its password, for messages.
func Redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		return u.String()
	}
	f := strings.Fields(dsn)
	for i, kv := range f {
		if strings.HasPrefix(kv, "password=") {
			f[i] = "password=xxxxx"
		}
	}
	return strings.Join(f, " ")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
