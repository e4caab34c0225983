// Command wikihost is pagechat's example wiki: a small but real wiki (users,
// login, pages with child pages and permissions, attachments, full-text
// search) that embeds pagechat through host-sdk. It is the project's demo
// and its end-to-end test bed, and the code a host developer copies from.
//
//	go build -o /tmp/pagechat-plugin ./plugin/cmd/pagechat-plugin
//	go run ./examples/wikihost -plugin /tmp/pagechat-plugin
//
// then open http://127.0.0.1:8080 and log in as alice, bob or carol with
// the password printed at start-up (default "pagechat-demo").
//
// This file only reads flags, wires the parts together and handles
// signals; the wiki itself is in internal/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
	"github.com/pagechat/pagechat/internal/limits"

	"github.com/pagechat/pagechat/examples/wikihost/internal/web"
	"github.com/pagechat/pagechat/examples/wikihost/internal/wiki"
)

// shutdownTimeout bounds the wait for running requests on shutdown.
const shutdownTimeout = 10 * time.Second

// Connection limits an admin can change with flags (finding #3).
const (
	// defaultReadTimeout bounds reading one request, headers and body:
	// a 10 MiB upload fits at about 1.5 Mbit/s, and a client that
	// trickles its body cannot hold the connection longer. The chat's
	// event streams clear it (host-sdk), so they stay open for hours.
	defaultReadTimeout = time.Minute
	// defaultMaxConnsPerIP bounds the open connections of one client IP
	// address: a browser opens about six per site plus its event
	// streams (host-sdk allows 8 per user), and an office behind one
	// NAT address has several users.
	defaultMaxConnsPerIP = 64
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wikihost:", err)
		stop()
		os.Exit(1)
	}
}

// config is what the flags say.
type config struct {
	addr            string
	dataDir         string
	pluginPath      string
	pluginSHA256    string
	transcriptDelay time.Duration
	timeZone        string
	demoPassword    string
	debugAddr       string
	// pluginDebugAddr is passed to the plugin, which serves its own profiler there.
	pluginDebugAddr string
	logLevel        hclog.Level
	pagesPerMinute  int
	passwordChecks  int
	clientFailures  int
	readTimeout     time.Duration
	maxConnsPerIP   int
	db              string // PostgreSQL DSN; "" for bbolt under dataDir
	xmppServer      string
	xmppDomain      string
	xmppSecretFile  string
	editWindow      time.Duration
	// Chat limits per user and room.
	messagesPerMinute  int
	uploadBytesPerHour int64
	// Notifications.
	watchQuiet   time.Duration
	roomMentions int64
}

func parseFlags(args []string, output io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("wikihost", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&c.dataDir, "data", "./wikihost-data", "directory for the wiki's and the chat's data")
	fs.StringVar(&c.pluginPath, "plugin", "", "path of the pagechat-plugin binary (required)")
	fs.StringVar(&c.pluginSHA256, "plugin-sha256", "", "SHA-256 of the plugin binary; a binary that differs is not started")
	fs.DurationVar(&c.transcriptDelay, "transcript-delay", 60*time.Second, "how soon after chat activity its transcript page is brought up to date")
	fs.StringVar(&c.timeZone, "tz", "UTC", "IANA time zone whose days the transcripts follow")
	fs.StringVar(&c.demoPassword, "demo-password", "pagechat-demo", "password of the demo users alice, bob and carol, set when they are first created")
	fs.StringVar(&c.debugAddr, "debug-addr", "", "if set, serve Go's profiler (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060")
	fs.StringVar(&c.pluginDebugAddr, "plugin-debug-addr", "", "if set, the plugin serves Go's profiler (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6061")
	fs.IntVar(&c.pagesPerMinute, "pages-per-minute", web.DefaultPagesPerMinute, "pages one user may create a minute; -1 turns the limit off")
	fs.IntVar(&c.passwordChecks, "password-checks", wiki.DefaultMaxPasswordChecks(), "bcrypt password checks running at once; further logins wait up to 2 s, then get 503")
	fs.IntVar(&c.clientFailures, "client-login-failures", wiki.DefaultClientFreeFailures, "failed logins one client address may have before it is throttled; -1 turns the per-address throttle off")
	fs.DurationVar(&c.readTimeout, "read-timeout", defaultReadTimeout, "longest time to read one request, headers and body; chat event streams are exempt")
	fs.IntVar(&c.maxConnsPerIP, "max-conns-per-ip", defaultMaxConnsPerIP, "open connections one client IP address may have; further ones are closed at once; -1 turns the limit off")
	fs.StringVar(&c.db, "db", "", "PostgreSQL database (postgres://user:password@host:port/database) for the wiki's and the chat's data, shared by every node of a cluster; without it, bbolt files under -data")
	fs.StringVar(&c.xmppServer, "xmpp-server", "", "the XMPP server's component port, HOST:PORT; without it the XMPP bridge is off")
	fs.StringVar(&c.xmppDomain, "xmpp-domain", "", "the XMPP bridge component's domain, e.g. chat.example.org (rooms are <roomID>@DOMAIN)")
	fs.StringVar(&c.xmppSecretFile, "xmpp-secret-file", "", "file holding the shared component secret configured on the XMPP server")
	fs.IntVar(&c.messagesPerMinute, "messages-per-minute", limits.DefaultMessagesPerMinute, "chat messages one user may send to one room a minute; uploads count too; -1 turns the limit off")
	fs.Int64Var(&c.uploadBytesPerHour, "upload-bytes-per-hour", limits.DefaultUploadBytesPerHour, "bytes one user may upload to one chat room an hour, refilled evenly; -1 turns the quota off")
	fs.DurationVar(&c.editWindow, "edit-window", 15*time.Minute, "how long after sending chat authors may edit or delete their own messages; 0 turns that off (moderators delete any message at any time)")
	fs.DurationVar(&c.watchQuiet, "watch-quiet-period", 10*time.Minute, "least time between two notifications to one user about new activity in one watched chat room")
	fs.Int64Var(&c.roomMentions, "room-mentions-per-hour", 0, "@room mentions a user who is not a moderator may send per room and hour; 0 allows them to moderators only, -1 to everyone who may post")
	level := fs.String("log-level", "info", "log level: trace, debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.pluginPath == "" {
		return config{}, errors.New("-plugin is required: the path of the pagechat-plugin binary (go build ./plugin/cmd/pagechat-plugin)")
	}
	for name, addr := range map[string]string{"-debug-addr": c.debugAddr, "-plugin-debug-addr": c.pluginDebugAddr} {
		if addr == "" {
			continue
		}
		host, _, err := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return config{}, fmt.Errorf("%s %q: the profiler must listen on a loopback address such as 127.0.0.1:6060", name, addr)
		}
	}
	if c.pagesPerMinute == 0 {
		return config{}, errors.New("-pages-per-minute 0 would forbid creating pages; use -1 to turn the limit off")
	}
	if c.passwordChecks < 1 {
		return config{}, fmt.Errorf("-password-checks %d: want at least 1", c.passwordChecks)
	}
	if c.clientFailures == 0 {
		return config{}, errors.New("-client-login-failures 0 would throttle every address at once; use -1 to turn it off")
	}
	if c.readTimeout <= 0 {
		return config{}, fmt.Errorf("-read-timeout %v: want a positive duration", c.readTimeout)
	}
	if c.maxConnsPerIP == 0 {
		return config{}, errors.New("-max-conns-per-ip 0 would refuse every connection; use -1 to turn the limit off")
	}
	if c.messagesPerMinute == 0 || c.messagesPerMinute < -1 {
		return config{}, fmt.Errorf("-messages-per-minute %d: want a positive limit, or -1 to turn it off", c.messagesPerMinute)
	}
	if c.uploadBytesPerHour == 0 || c.uploadBytesPerHour < -1 {
		return config{}, fmt.Errorf("-upload-bytes-per-hour %d: want a positive limit, or -1 to turn the quota off", c.uploadBytesPerHour)
	}
	if c.xmppServer != "" && (c.xmppDomain == "" || c.xmppSecretFile == "") {
		return config{}, errors.New("-xmpp-server needs -xmpp-domain and -xmpp-secret-file too")
	}
	if c.xmppServer == "" && (c.xmppDomain != "" || c.xmppSecretFile != "") {
		return config{}, errors.New("-xmpp-domain and -xmpp-secret-file need -xmpp-server (the XMPP server's component port)")
	}
	if c.editWindow < 0 || (c.editWindow > 0 && c.editWindow < time.Second) {
		return config{}, fmt.Errorf("-edit-window %v: want 0 (off) or at least 1s", c.editWindow)
	}
	if c.logLevel = hclog.LevelFromString(*level); c.logLevel == hclog.NoLevel {
		return config{}, fmt.Errorf("-log-level %q: want trace, debug, info, warn or error", *level)
	}
	return c, nil
}

// run is the whole program; main only adds signals and the exit status.
// It returns when ctx ends (after a clean shutdown) or on a fatal error.
func run(ctx context.Context, args []string, stderr io.Writer) (err error) {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "wikihost", Level: cfg.logLevel, Output: stderr})

	if cfg.debugAddr != "" {
		stopDebug, err := serveDebug(cfg.debugAddr, logger)
		if err != nil {
			return err
		}
		defer stopDebug()
	}

	if cfg.db != "" {
		logger.Info("cluster mode: data in PostgreSQL, attachments under -data", "data", cfg.dataDir)
	}
	w, err := wiki.Open(cfg.dataDir, wiki.Options{Logger: logger.Named("wiki"), MaxPasswordChecks: cfg.passwordChecks, ClientFreeFailures: cfg.clientFailures, PostgresDSN: cfg.db})
	if err != nil {
		return err
	}
	defer closeLogged(logger, "wiki", w.Close)
	demoPage, err := w.SeedDemo(cfg.demoPassword)
	if err != nil {
		return err
	}
	logger.Info("demo users: alice (admin), bob, carol", "password", cfg.demoPassword, "demo_page", wiki.PageURL(demoPage))

	opts := []hostsdk.Option{
		hostsdk.WithLogger(logger),
		hostsdk.WithTranscriptDelay(cfg.transcriptDelay),
		hostsdk.WithTimeZone(cfg.timeZone),
		hostsdk.WithEditWindow(cfg.editWindow),
		hostsdk.WithWatchQuietPeriod(cfg.watchQuiet),
		hostsdk.WithMessagesPerMinute(cfg.messagesPerMinute),
		hostsdk.WithUploadBytesPerHour(cfg.uploadBytesPerHour),
	}
	if cfg.roomMentions != 0 {
		opts = append(opts, hostsdk.WithRoomMentionsPerHour(cfg.roomMentions))
	}
	if cfg.pluginSHA256 != "" {
		opts = append(opts, hostsdk.WithChecksum(cfg.pluginSHA256))
	}
	opts = append(opts, pluginDatabase(cfg.db)...)
	if cfg.pluginDebugAddr != "" {
		// The plugin's own profiler (plugin/internal/server/debug.go).
		opts = append(opts, hostsdk.WithPluginEnv("PAGECHAT_PLUGIN_DEBUG_ADDR="+cfg.pluginDebugAddr))
	}
	if cfg.xmppServer != "" {
		// The macro table and the popup offer the room's XMPP address.
		opts = append(opts, hostsdk.WithRoomLinks(hostsdk.RoomLink{Label: "Join with XMPP", URL: "xmpp:{room}@" + cfg.xmppDomain + "?join"}))
	}
	client, err := hostsdk.Load(ctx, cfg.pluginPath, filepath.Join(cfg.dataDir, "chat"), w.Host(), opts...)
	if err != nil {
		return fmt.Errorf("load pagechat plugin: %w", err)
	}
	defer closeLogged(logger, "pagechat client", client.Close)
	chat, err := web.NewChatHandler(client, w)
	if err != nil {
		return err
	}
	defer closeLogged(logger, "chat handler", chat.Close)

	webCfg := web.Config{Wiki: w, Macros: client, Chat: chat, Logger: logger.Named("web"), PagesPerMinute: cfg.pagesPerMinute}
	if cfg.xmppServer != "" {
		stopBridge, err := startXMPP(ctx, cfg, w, client, logger, &webCfg)
		if err != nil {
			return err
		}
		defer stopBridge()
	}
	site, err := web.New(webCfg)
	if err != nil {
		return err
	}
	return serve(ctx, logger, cfg, site, chat.Close)
}

// pluginDatabase is the plugin's option for the database: in cluster mode
// every node's plugin keeps the chat in the same PostgreSQL database, so a
// message sent on one node reaches browsers on all of them.
func pluginDatabase(dsn string) []hostsdk.Option {
	if dsn == "" {
		return nil
	}
	return []hostsdk.Option{hostsdk.WithPostgres(dsn)}
}

// newServer is the HTTP server for h with cfg's limits.
func newServer(cfg config, logger hclog.Logger, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// ReadTimeout covers the body too, so a client sending it
		// slowly is cut. host-sdk clears it for event streams, which
		// would otherwise have their context cancelled when it passes.
		ReadTimeout: cfg.readTimeout,
		IdleTimeout: 2 * time.Minute,
		// No WriteTimeout: chat event streams stay open for hours, and
		// host-sdk bounds each of their writes itself.
		ErrorLog: logger.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
}

// serve runs an HTTP server for h on cfg.addr until ctx ends, then shuts
// it down. onShutdown runs as shutdown begins: the chat handler's event
// streams never go idle, so they must be ended for Shutdown to finish.
func serve(ctx context.Context, logger hclog.Logger, cfg config, h http.Handler, onShutdown func() error) error {
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := newServer(cfg, logger, h)
	srv.RegisterOnShutdown(func() { _ = onShutdown() })
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(limitConnsPerIP(ln, cfg.maxConnsPerIP)) }()
	logger.Info("listening on http://" + ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("HTTP shutdown incomplete; closing the remaining connections", "error", err)
		_ = srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// closeLogged closes one part on the way out, logging a failure rather
// than hiding it behind the error that ended run.
func closeLogged(logger hclog.Logger, what string, closeFn func() error) {
	if err := closeFn(); err != nil {
		logger.Error("close "+what, "error", strings.TrimSpace(err.Error()))
	}
}

// serveDebug serves the Go profiler on a loopback address of its own, so
// an admin can see where a slow wiki spends its time without exposing the
// profiler on the public port.
func serveDebug(addr string, logger hclog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-debug-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("debug server stopped", "error", err)
		}
	}()
	logger.Info("profiler listening", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { _ = srv.Close() }, nil
}
