package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

// Exit statuses; see the package documentation.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

// gcPercent trades memory for CPU: on a small machine every cycle the
// tool spends collecting is taken from the server it measures.
const gcPercent = 400

// realMain is main with its outputs and arguments passed in, so tests can
// run the whole command.
func realMain(args []string, stdout, stderr io.Writer) int {
	debug.SetGCPercent(gcPercent)
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return exitUsage
	}
	targets := append([]string{cfg.URL}, cfg.SubURLs...)
	if cfg.ProsodyMUC {
		targets = nil
	}
	if cfg.XMPPServer != "" {
		targets = append(targets, "xmpp://"+cfg.XMPPServer)
	}
	for _, u := range targets {
		if !isLoopback(u) {
			fmt.Fprintf(stderr, "loadgen: warning: %s is not a loopback address; only load servers you run\n", u)
		}
	}

	if cfg.CPUProfile != "" {
		stopProfile, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return exitUsage
		}
		defer stopProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Idle > 0 {
		return idleMain(ctx, cfg, stdout, stderr)
	}
	res, err := run(ctx, cfg, stderr)
	if code, ok := printResult(ctx, stdout, stderr, res, err); !ok {
		return code
	}

	switch {
	case res.Interrupted:
		return exitInterrupted
	case res.Failed() && !cfg.NoFail:
		fmt.Fprintf(stderr, "loadgen: FAIL: lost=%d duplicated=%d out_of_order=%d\n",
			res.Lost, res.Duplicated, res.OutOfOrder)
		return exitFailed
	}
	return exitOK
}

// parseFlags turns the command line into a validated Config.
func parseFlags(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "wikihost base URL (a server you run)")
	subURL := fs.String("sub-url", "", "where subscribers connect (default: -url); several comma-separated URLs spread them over the nodes of a cluster, and a subscriber whose node fails moves to the next")
	fs.StringVar(&c.User, "user", "alice", "admin user: creates pages and users, subscribes")
	fs.StringVar(&c.Password, "password", "pagechat-demo", "password of -user and of the sender users")
	fs.IntVar(&c.Rooms, "rooms", 10, "rooms (one new page each)")
	fs.IntVar(&c.Subs, "subs", 10, "SSE subscribers per room")
	fs.IntVar(&c.SendersPerRoom, "senders-per-room", 0, "sending users per room; 0 picks enough to stay under the per-user rate limit")
	// Half of host-sdk's default per-user stream limit (8), so a
	// reconnect overlapping its predecessor is not refused.
	fs.IntVar(&c.StreamsPerUser, "streams-per-user", 4, "event streams per subscribing user")
	fs.Float64Var(&c.Rate, "rate", 100, "target total messages per second")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to send")
	fs.DurationVar(&c.Settle, "settle", 5*time.Second, "how long to wait for outstanding deliveries after sending stops")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the load tool itself to this file (go tool pprof reads it)")
	cpuPIDs := fs.String("cpu-pid", "", "report the CPU time per message of these server processes (Linux), as NAME=PID[,NAME=PID…], e.g. wiki=1234,plugin=1240")
	fs.IntVar(&c.MsgBytes, "msg-bytes", 0, "pad each message text to at least this many bytes")
	fs.BoolVar(&c.NoFail, "no-fail", false, "exit 0 even if messages were lost, duplicated or out of order")
	fs.StringVar(&c.XMPPServer, "xmpp-server", "", "the XMPP server's client-to-server address host:port (a test server allowing PLAIN without TLS); needed for -xmpp-share and -prosody-muc")
	fs.Float64Var(&c.XMPPShare, "xmpp-share", 0, "share (0..1) of each room's subscribers that are XMPP occupants of the bridge's room instead of SSE streams")
	fs.StringVar(&c.XMPPDomain, "xmpp-domain", "localhost", "the XMPP users' domain")
	fs.StringVar(&c.XMPPMUC, "xmpp-muc", "", "domain of the room JIDs: the bridge's (default chat.localhost), or with -prosody-muc the MUC component's (default conference.localhost)")
	fs.StringVar(&c.XMPPPassword, "xmpp-password", "", "password of the XMPP accounts (default: -password)")
	fs.BoolVar(&c.XMPPRegister, "xmpp-register", false, "create the XMPP accounts by in-band registration (the server must allow it)")
	fs.BoolVar(&c.ProsodyMUC, "prosody-muc", false, "measure the XMPP server's own MUC instead of the wiki: every subscriber is an occupant of a room on -xmpp-muc and the senders post over XMPP; -url is not used")
	fs.DurationVar(&c.Idle, "idle", 0, "idle mode: open the streams, send nothing, and measure the memory and CPU of -watch-pid and its children over this window")
	fs.IntVar(&c.WatchPID, "watch-pid", 0, "with -idle: the wiki's process id (its children, the plugin, are measured too)")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for u := range strings.SplitSeq(*subURL, ",") {
		if u = strings.TrimSpace(u); u != "" {
			c.SubURLs = append(c.SubURLs, u)
		}
	}
	var err error
	if c.CPUPIDs, err = parseCPUTargets(*cpuPIDs); err != nil {
		return Config{}, err
	}
	if c.Idle > 0 {
		c.SetupTimeout, c.ReadyTimeout = idleSetupTimeout, idleReadyTimeout
	}
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// isLoopback reports whether rawURL names localhost or a loopback address.
func isLoopback(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// startCPUProfile profiles the tool itself: on a small machine the load
// generator competes with the server for the same cores, and its own cost
// belongs in any reading of the results.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// idleMain runs the idle mode and prints its JSON line.
func idleMain(ctx context.Context, cfg Config, stdout, stderr io.Writer) int {
	res, err := runIdle(ctx, cfg, stderr)
	if code, ok := printResult(ctx, stdout, stderr, res, err); !ok {
		return code
	}
	return exitOK
}

// printResult prints a run's result as its JSON line, or why the run
// failed. When it reports false the run is over with code.
func printResult(ctx context.Context, stdout, stderr io.Writer, res any, err error) (code int, ok bool) {
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		if ctx.Err() != nil {
			return exitInterrupted, false
		}
		return exitFailed, false
	}
	line, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen: encoding the result:", err)
		return exitFailed, false
	}
	fmt.Fprintln(stdout, string(line))
	return 0, true
}
