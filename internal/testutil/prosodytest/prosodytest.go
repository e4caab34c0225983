// Package prosodytest runs a throwaway Prosody XMPP server for tests: a
// generated configuration on free loopback ports in a short temporary
// directory, client-to-server and component ports only, plain
// authentication allowed without TLS, accounts registered up front. It
// never touches the system's Prosody service or its data.
package prosodytest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a running Prosody.
type Server struct {
	// Domain is the users' virtual host ("localhost").
	Domain string
	// C2SAddr is the client-to-server address (host:port).
	C2SAddr string
	// ComponentAddr is where external components connect (XEP-0114).
	ComponentAddr string
	// ComponentDomain is the domain served by the component and Secret
	// its shared secret.
	ComponentDomain string
	Secret          string
	// Dir holds the configuration, data and log.
	Dir string

	cmd     *exec.Cmd
	cfgPath string
	exited  chan struct{}
}

// Options adjusts the server; the zero value is fine.
type Options struct {
	// Accounts are registered before the start: user name -> password.
	Accounts map[string]string
	// MUCDomain, if set, adds Prosody's own multi-user chat on this
	// component domain, rooms created on first join without the
	// XEP-0045 configuration step.
	MUCDomain string
	// Registration allows in-band registration (XEP-0077) of accounts,
	// for tests that make many.
	Registration bool
	// Multicast loads the repository's XEP-0033 module
	// (host-sdk/xmpp/prosody/mod_pagechat_multicast.lua) on the users'
	// host, allowing MulticastSenders (by default the component's
	// domain) to multicast, at most MulticastMax addresses per stanza
	// (0: the module's default).
	Multicast        bool
	MulticastSenders []string
	MulticastMax     int
}

// ModuleDir is the directory holding the repository's Prosody modules,
// found from this file's place in the source tree, so tests in any package
// load the module they are built with.
func ModuleDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ""
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "host-sdk", "xmpp", "prosody")
}

// Binary returns the prosody executable, skipping t loudly (failing it
// under CI) when it is not installed.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("prosody")
	if err == nil {
		if _, err = exec.LookPath("prosodyctl"); err == nil {
			return p
		}
	}
	const msg = "SKIPPED: Prosody not found: install it (Debian/Ubuntu: apt-get install prosody); the XMPP bridge tests need a real XMPP server"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Start runs a fresh Prosody and stops it when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := Binary(t)
	// Short and private: Prosody puts sockets and files here, and
	// t.TempDir paths can get long.
	dir, err := os.MkdirTemp("", "pros")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ports := freePorts(t, 2)
	s := &Server{
		Domain:          "localhost",
		C2SAddr:         net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		ComponentAddr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
		ComponentDomain: "chat.localhost",
		Secret:          "test-component-secret",
		Dir:             dir,
		cfgPath:         filepath.Join(dir, "prosody.cfg.lua"),
		exited:          make(chan struct{}),
	}
	for _, sub := range []string{"data", "certs"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(s.cfgPath, []byte(s.config(ports, opts)), 0o600); err != nil {
		t.Fatal(err)
	}
	for user, pass := range opts.Accounts {
		s.Register(t, user, pass)
	}
	var out bytes.Buffer
	s.cmd = exec.Command(bin, "--config", s.cfgPath, "-F")
	s.cmd.Stdout = &out
	s.cmd.Stderr = &out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start prosody: %v", err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(s.stop)
	deadline := time.Now().Add(20 * time.Second)
	for _, addr := range []string{s.C2SAddr, s.ComponentAddr} {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				_ = c.Close()
				break
			}
			select {
			case <-s.exited:
				t.Fatalf("prosody exited at start-up:\n%s\n%s", out.String(), s.Log())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("prosody did not listen on %s: %v\n%s", addr, err, s.Log())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// A port another process took first is only logged by Prosody, and
	// something else answered the check above.
	if log := s.Log(); strings.Contains(log, "Failed to open server port") {
		t.Fatalf("prosody could not listen on its ports (%s, %s):\n%s", s.C2SAddr, s.ComponentAddr, log)
	}
	return s
}

// Register creates an account on the users' host.
func (s *Server) Register(t testing.TB, user, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "prosodyctl", "--config", s.cfgPath, "register", user, s.Domain, password).CombinedOutput()
	if err != nil {
		t.Fatalf("prosodyctl register %s: %v\n%s", user, err, out)
	}
}

// JID is user's bare JID on the server.
func (s *Server) JID(user string) string { return user + "@" + s.Domain }

// Log returns Prosody's log so far, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "prosody.log"))
	return string(b)
}

func (s *Server) stop() {
	if s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// config is a minimal Prosody configuration. run_as_root is set because
// tests often run as root in containers; it is harmless in a throwaway
// configuration whose files all live in s.Dir.
func (s *Server) config(ports []int, opts Options) string {
	q := strconv.Quote
	var b strings.Builder
	fmt.Fprintf(&b, "run_as_root = true\n")
	fmt.Fprintf(&b, "pidfile = %s\n", q(filepath.Join(s.Dir, "prosody.pid")))
	fmt.Fprintf(&b, "data_path = %s\n", q(filepath.Join(s.Dir, "data")))
	fmt.Fprintf(&b, "certificates = %s\n", q(filepath.Join(s.Dir, "certs")))
	fmt.Fprintf(&b, "log = { debug = %s }\n", q(filepath.Join(s.Dir, "prosody.log")))
	b.WriteString(`interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
`)
	fmt.Fprintf(&b, "c2s_ports = { %d }\ncomponent_ports = { %d }\n", ports[0], ports[1])
	b.WriteString(`component_interface = "127.0.0.1"
s2s_ports = { }
c2s_direct_tls_ports = { }
s2s_direct_tls_ports = { }
legacy_ssl_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
network_settings = { nagle = false }
`)
	modules := `"roster", "saslauth", "disco", "ping", "posix", "register"`
	if opts.Multicast {
		modules += `, "pagechat_multicast"`
		fmt.Fprintf(&b, "plugin_paths = { %s }\n", q(ModuleDir()))
		senders := opts.MulticastSenders
		if senders == nil {
			senders = []string{s.ComponentDomain}
		}
		quoted := make([]string, len(senders))
		for i, d := range senders {
			quoted[i] = q(d)
		}
		fmt.Fprintf(&b, "pagechat_multicast_senders = { %s }\n", strings.Join(quoted, ", "))
		if opts.MulticastMax > 0 {
			fmt.Fprintf(&b, "pagechat_multicast_max_addresses = %d\n", opts.MulticastMax)
		}
	}
	fmt.Fprintf(&b, "modules_enabled = { %s }\n", modules)
	fmt.Fprintf(&b, "allow_registration = %t\n", opts.Registration)
	fmt.Fprintf(&b, "VirtualHost %s\n", q(s.Domain))
	fmt.Fprintf(&b, "Component %s\n  component_secret = %s\n", q(s.ComponentDomain), q(s.Secret))
	if opts.MUCDomain != "" {
		fmt.Fprintf(&b, "Component %s \"muc\"\n  muc_room_locking = false\n", q(opts.MUCDomain))
	}
	return b.String()
}

// freePorts returns n ports that were free a moment ago. They come from
// below the kernel's ephemeral range where it can tell, so that between
// here and Prosody's bind no listener on port 0 and no outgoing
// connection of another test can take one: Prosody would then fail to
// bind it, log it and run on, and the start-up check would reach the
// other test's socket instead.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	lo := ephemeralLow()
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		addr := "127.0.0.1:0"
		if lo > minPort+1000 && tries < 1000 {
			p := minPort + rand.IntN(lo-minPort)
			if handedOut[p] {
				continue
			}
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if addr != "127.0.0.1:0" {
				continue // taken; try another
			}
			t.Fatal(err)
		}
		ls = append(ls, l)
		p := l.Addr().(*net.TCPAddr).Port
		handedOut[p] = true
		ports = append(ports, p)
	}
	return ports
}

// minPort is the lowest port freePorts picks, above the well-known and
// commonly configured ones.
const minPort = 20000

var (
	portsMu sync.Mutex
	// handedOut holds the ports this process gave out, never given twice.
	handedOut = map[int]bool{}
)

// ephemeralLow is the lowest port the kernel picks for port 0 and for
// outgoing connections, or 0 where that cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return lo
}
