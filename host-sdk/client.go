package hostsdk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/pagechat/pagechat/internal/handshake"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

// Defaults for the options of Load.
const (
	// DefaultStartTimeout bounds a plugin start, handshake included. The
	// plugin opens its database during Configure, so this also covers a
	// bbolt lock held by a dying predecessor (its lock timeout is 3 s).
	DefaultStartTimeout = 20 * time.Second
	// DefaultMinRestartDelay and DefaultMaxRestartDelay bound the back-off
	// between restarts of a plugin that keeps failing, so a broken binary
	// costs a start attempt every few seconds rather than a busy loop.
	DefaultMinRestartDelay = 100 * time.Millisecond
	DefaultMaxRestartDelay = 10 * time.Second
	// shutdownTimeout bounds the Shutdown call on Close; go-plugin then
	// kills the process anyway.
	shutdownTimeout = 5 * time.Second
	// exitWait is how long a call that failed in transport waits to see
	// whether the plugin process died, to tell a crash (restart and retry)
	// from a plugin that is merely stopping or unreachable for a moment.
	exitWait = 2 * time.Second
)

// Option configures Load. Options validate their values, so a bad one is an
// error from Load rather than a panic.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	checksum        []byte
	logger          hclog.Logger
	maxMessageBytes int64
	permissionCache time.Duration
	subscriberBuf   int64
	maxUploadBytes  int64
	perMinute       int64
	maxRoomsPerPage int64
	chatPrefix      string
	startTimeout    time.Duration
	minRestart      time.Duration
	maxRestart      time.Duration
	socketDir       string
	// Set by the options in transcripts.go and pluginenv.go.
	transcriptDelay time.Duration
	timeZone        string
	pluginEnv       []string
}

// WithChecksum makes Load refuse a plugin binary whose SHA-256 differs from
// hexSum (64 hex digits), as published beside the release.
func WithChecksum(hexSum string) Option {
	return optionFunc(func(c *config) error {
		sum, err := hex.DecodeString(strings.TrimSpace(hexSum))
		if err != nil || len(sum) != sha256.Size {
			return fmt.Errorf("WithChecksum: %q is not a SHA-256 checksum (64 hex digits)", hexSum)
		}
		c.checksum = sum
		return nil
	})
}

// WithLogger sends host-sdk's logs, and the plugin's relayed logs, to l.
// The default discards them.
func WithLogger(l hclog.Logger) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			return errors.New("WithLogger: logger is nil")
		}
		c.logger = l
		return nil
	})
}

// WithMaxMessageBytes sets the largest message text the plugin accepts
// (default 16 KiB, at most 1 MiB).
func WithMaxMessageBytes(n int) Option {
	return optionFunc(func(c *config) error {
		if n <= 0 || n > 1<<20 {
			return fmt.Errorf("WithMaxMessageBytes: %d out of range 1..%d", n, 1<<20)
		}
		c.maxMessageBytes = int64(n)
		return nil
	})
}

// WithMessagesPerMinute limits how many messages one user may send to one
// room per minute (default 120); -1 turns the limit off. Sends beyond it
// fail with ErrRateLimited and a RetryAfter.
func WithMessagesPerMinute(n int) Option {
	return optionFunc(func(c *config) error {
		if n == 0 || n < -1 {
			return fmt.Errorf("WithMessagesPerMinute: %d; use a positive limit or -1 for none", n)
		}
		c.perMinute = int64(n)
		return nil
	})
}

// WithMaxRoomsPerPage limits how many chat rooms one page may have
// (default 50). Macros beyond it render an error box.
func WithMaxRoomsPerPage(n int) Option {
	return optionFunc(func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("WithMaxRoomsPerPage: %d must be positive", n)
		}
		c.maxRoomsPerPage = int64(n)
		return nil
	})
}

// WithChatURLPrefix tells the plugin where the host mounts the chat HTTP
// handler (default "/chat/"), for the links in macro tables and
// transcripts. It must match the handler's WithPrefix.
func WithChatURLPrefix(prefix string) Option {
	return optionFunc(func(c *config) error {
		if !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") {
			return fmt.Errorf("WithChatURLPrefix: %q must start and end with /", prefix)
		}
		c.chatPrefix = prefix
		return nil
	})
}

// WithPermissionCache sets how long the plugin may reuse a permission
// answer, which is also the longest a revoked user keeps an open stream
// (default 2 s, at most 5 s).
func WithPermissionCache(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < time.Millisecond || d > 5*time.Second {
			return fmt.Errorf("WithPermissionCache: %v out of range 1ms..5s", d)
		}
		c.permissionCache = d
		return nil
	})
}

// WithSubscriberBuffer sets how many events a subscriber may fall behind
// before its stream is cut (default 1024).
func WithSubscriberBuffer(n int) Option {
	return optionFunc(func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("WithSubscriberBuffer: %d must be positive", n)
		}
		c.subscriberBuf = int64(n)
		return nil
	})
}

// WithStartTimeout bounds how long one plugin start may take.
func WithStartTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("WithStartTimeout: %v must be positive", d)
		}
		c.startTimeout = d
		return nil
	})
}

// WithRestartBackoff sets the delay before restarting a plugin after a
// failed start; it doubles per failure from min up to max.
func WithRestartBackoff(minDelay, maxDelay time.Duration) Option {
	return optionFunc(func(c *config) error {
		if minDelay <= 0 || maxDelay < minDelay {
			return fmt.Errorf("WithRestartBackoff: need 0 < min <= max, got %v, %v", minDelay, maxDelay)
		}
		c.minRestart, c.maxRestart = minDelay, maxDelay
		return nil
	})
}

// WithSocketDir sets where go-plugin creates its unix sockets. Socket paths
// are limited to about 104 bytes, so this must be a short path; the default
// is the system temp directory.
func WithSocketDir(dir string) Option {
	return optionFunc(func(c *config) error {
		if len(dir) > 60 {
			return fmt.Errorf("WithSocketDir: %q is too long for unix socket paths (keep it under 60 bytes)", dir)
		}
		c.socketDir = dir
		return nil
	})
}

// Client is a running, supervised pagechat plugin. Its methods are safe for
// concurrent use. Close it to stop the plugin process.
type Client struct {
	pluginPath string
	dataDir    string
	host       Host
	cfg        config
	logger     hclog.Logger

	mu          sync.Mutex
	cur         *instance // nil while down
	closed      bool
	failures    int       // consecutive failed starts
	nextAttempt time.Time // no start before this, after failures
	starting    chan struct{}
}

// instance is one plugin process and the connections that belong to it.
type instance struct {
	pc   *goplugin.Client
	chat chatv1.ChatPluginClient
}

func (in *instance) exited() bool { return in.pc.Exited() }

// waitExit reports whether the process exits within d.
func (in *instance) waitExit(ctx context.Context, d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if in.pc.Exited() {
			return true
		}
		select {
		case <-ctx.Done():
			return in.pc.Exited()
		case <-deadline.C:
			return in.pc.Exited()
		case <-tick.C:
		}
	}
}

// Load starts the plugin binary at pluginPath, which keeps its database in
// dataDir, and serves host to it. The returned Client restarts the plugin
// when it dies.
func Load(ctx context.Context, pluginPath, dataDir string, host Host, opts ...Option) (*Client, error) {
	cfg := config{
		logger:       hclog.NewNullLogger(),
		startTimeout: DefaultStartTimeout,
		minRestart:   DefaultMinRestartDelay,
		maxRestart:   DefaultMaxRestartDelay,
	}
	for _, o := range opts {
		if err := o.apply(&cfg); err != nil {
			return nil, err
		}
	}
	if host == nil {
		return nil, errors.New("hostsdk.Load: host is nil")
	}
	if dataDir == "" {
		return nil, errors.New("hostsdk.Load: data directory is empty")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("hostsdk.Load: create data directory: %w", err)
	}
	if fi, err := os.Stat(pluginPath); err != nil {
		return nil, fmt.Errorf("hostsdk.Load: plugin binary: %w", err)
	} else if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("hostsdk.Load: plugin binary %s is not an executable file: %w", pluginPath, ErrNotPagechatPlugin)
	}
	c := &Client{
		pluginPath: pluginPath,
		dataDir:    dataDir,
		host:       host,
		cfg:        cfg,
		logger:     cfg.logger.Named("pagechat"),
	}
	// Start once now so a wrong binary, checksum or version fails Load
	// itself, where the admin sees it, instead of the first chat request.
	in, err := c.start(ctx)
	if err != nil {
		return nil, err
	}
	c.cur = in
	return c, nil
}

// start launches one plugin process and configures it.
func (c *Client) start(ctx context.Context) (*instance, error) {
	var secure *goplugin.SecureConfig
	if c.cfg.checksum != nil {
		secure = &goplugin.SecureConfig{Checksum: c.cfg.checksum, Hash: sha256.New()}
	}
	var sockets *goplugin.UnixSocketConfig
	if c.cfg.socketDir != "" {
		sockets = &goplugin.UnixSocketConfig{TempDir: c.cfg.socketDir}
	}
	gp := &grpcPlugin{hostServer: &hostAPIServer{host: c.host}}
	cmd := exec.Command(c.pluginPath)
	// go-plugin appends its own variables (and, with SkipHostEnv, none of
	// the host's), so the plugin sees exactly these plus the handshake.
	cmd.Env = append(cmd.Env, c.cfg.pluginEnv...)
	pc := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  handshake.Config,
		VersionedPlugins: map[int]goplugin.PluginSet{handshake.ProtocolVersion: {handshake.PluginName: gp}},
		Cmd:              cmd,
		SecureConfig:     secure,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     c.cfg.startTimeout,
		Logger:           c.logger.Named("plugin"),
		UnixSocketConfig: sockets,
	})
	in, err := c.connect(ctx, pc, gp)
	if err != nil {
		pc.Kill()
		return nil, err
	}
	return in, nil
}

func (c *Client) connect(ctx context.Context, pc *goplugin.Client, gp *grpcPlugin) (*instance, error) {
	rpc, err := pc.Client()
	if err != nil {
		return nil, classifyStartError(c.pluginPath, err)
	}
	raw, err := rpc.Dispense(handshake.PluginName)
	if err != nil {
		return nil, fmt.Errorf("pagechat plugin %s: %w", c.pluginPath, err)
	}
	chat, ok := raw.(chatv1.ChatPluginClient)
	if !ok {
		return nil, fmt.Errorf("pagechat plugin %s: unexpected client type %T", c.pluginPath, raw)
	}
	resp, err := chat.Configure(ctx, &chatv1.ConfigureRequest{
		HostBrokerId:         gp.hostBrokerID,
		DataDir:              c.dataDir,
		MaxMessageBytes:      c.cfg.maxMessageBytes,
		PermissionCacheMs:    c.cfg.permissionCache.Milliseconds(),
		SubscriberBuffer:     c.cfg.subscriberBuf,
		MaxUploadBytes:       c.cfg.maxUploadBytes,
		MaxMessagesPerMinute: c.cfg.perMinute,
		MaxRoomsPerPage:      c.cfg.maxRoomsPerPage,
		ChatUrlPrefix:        c.cfg.chatPrefix,
		TranscriptDelayMs:    c.cfg.transcriptDelay.Milliseconds(),
		TimeZone:             c.cfg.timeZone,
	})
	if err != nil {
		return nil, fmt.Errorf("configure pagechat plugin %s: %w", c.pluginPath, fromStatus(err))
	}
	c.logger.Info("plugin started", "path", c.pluginPath, "version", resp.GetPluginVersion(), "data_dir", c.dataDir)
	return &instance{pc: pc, chat: chat}, nil
}

// classifyStartError turns go-plugin's start errors, which are plain
// strings, into errors a host can match.
func classifyStartError(path string, err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, goplugin.ErrChecksumsDoNotMatch):
		return fmt.Errorf("plugin %s was not started: its SHA-256 differs from the configured checksum (replaced or corrupted binary?): %w", path, ErrChecksumMismatch)
	case strings.Contains(msg, "incompatible API version"), strings.Contains(msg, "incompatible core API version"):
		return fmt.Errorf("plugin %s speaks protocol %s; this host-sdk speaks version %d: %w", path, firstLine(msg), handshake.ProtocolVersion, ErrIncompatibleVersion)
	case strings.Contains(msg, "Unrecognized remote plugin message"),
		strings.Contains(msg, "plugin exited before we could connect"),
		strings.Contains(msg, "timeout while waiting for plugin to start"):
		return fmt.Errorf("%s did not complete the pagechat handshake (%s): %w", path, firstLine(msg), ErrNotPagechatPlugin)
	}
	return fmt.Errorf("start pagechat plugin %s: %v: %w", path, err, ErrPluginUnavailable)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// live returns the running instance, starting a new one if the process has
// died. Starts are serialised and spaced by the back-off.
func (c *Client) live(ctx context.Context) (*instance, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		if c.cur != nil && !c.cur.exited() {
			in := c.cur
			c.mu.Unlock()
			return in, nil
		}
		if c.starting != nil {
			wait := c.starting
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if c.cur != nil {
			c.logger.Warn("plugin process exited; restarting it", "path", c.pluginPath)
			c.cur.pc.Kill()
			c.cur = nil
		}
		delay := time.Until(c.nextAttempt)
		done := make(chan struct{})
		c.starting = done
		c.mu.Unlock()

		in, err := c.restart(ctx, delay)

		c.mu.Lock()
		c.starting = nil
		close(done)
		if err == nil && c.closed {
			in.pc.Kill()
			err = ErrClosed
		}
		if err != nil {
			c.failures++
			backoff := c.cfg.minRestart << min(c.failures-1, 16)
			c.nextAttempt = time.Now().Add(min(backoff, c.cfg.maxRestart))
			c.mu.Unlock()
			c.logger.Error("plugin restart failed", "path", c.pluginPath, "failures", c.failures, "error", err)
			if errors.Is(err, ErrPluginUnavailable) || errors.Is(err, ErrClosed) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w", ErrPluginUnavailable, err)
		}
		c.failures = 0
		c.nextAttempt = time.Time{}
		c.cur = in
		c.mu.Unlock()
		return in, nil
	}
}

func (c *Client) restart(ctx context.Context, delay time.Duration) (*instance, error) {
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return c.start(ctx)
}

// call runs fn on the live plugin. If fn fails because the process died,
// the plugin is restarted and fn retried once; every call is safe to
// repeat (sends are deduplicated by client id).
func call[T any](ctx context.Context, c *Client, fn func(context.Context, chatv1.ChatPluginClient) (T, error)) (T, error) {
	var zero T
	for attempt := 0; ; attempt++ {
		in, err := c.live(ctx)
		if err != nil {
			return zero, err
		}
		res, err := fn(ctx, in.chat)
		if err == nil {
			return res, nil
		}
		if attempt == 0 && c.died(ctx, in, err) {
			continue
		}
		return zero, fromStatus(err)
	}
}

// died reports whether err came from a plugin process that has exited.
// Only a transport failure is worth the wait: a living plugin's answers,
// a failed host callback among them, return at once.
func (c *Client) died(ctx context.Context, in *instance, err error) bool {
	if !transportFailure(err) {
		return false
	}
	return in.waitExit(ctx, exitWait)
}

// Close shuts the plugin down cleanly (it flushes and closes its database)
// and stops the process. Later calls return ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	in := c.cur
	c.cur = nil
	starting := c.starting
	c.mu.Unlock()
	if starting != nil {
		<-starting // the starter sees closed and kills what it started
	}
	if in == nil {
		return nil
	}
	var err error
	if !in.exited() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		_, err = in.chat.Shutdown(ctx, &chatv1.ShutdownRequest{})
		cancel()
		if err != nil {
			err = fmt.Errorf("pagechat plugin shutdown: %w", fromStatus(err))
		}
	}
	in.pc.Kill()
	c.logger.Info("plugin stopped", "path", c.pluginPath)
	return err
}

// grpcPlugin is go-plugin's glue on the host side: it wraps the connection
// in the generated client and starts the HostAPI server on the broker.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	hostServer   *hostAPIServer
	hostBrokerID uint32
}

var _ goplugin.GRPCPlugin = (*grpcPlugin)(nil)

func (p *grpcPlugin) GRPCServer(*goplugin.GRPCBroker, *grpc.Server) error {
	return errors.New("hostsdk: the plugin side is served by package plugin")
}

// GRPCClient serves the HostAPI once per plugin process; the plugin learns
// the broker id from Configure.
func (p *grpcPlugin) GRPCClient(_ context.Context, broker *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	p.hostBrokerID = broker.NextId()
	go broker.AcceptAndServe(p.hostBrokerID, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(opts...)
		hostv1.RegisterHostAPIServer(s, p.hostServer)
		return s
	})
	return chatv1.NewChatPluginClient(conn), nil
}
