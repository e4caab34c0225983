package hostsdk

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/pagechat/pagechat/internal/grpcopts"
	"github.com/pagechat/pagechat/internal/handshake"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

const (
	// shutdownTimeout bounds the Shutdown call on Close; go-plugin then
	// kills the process anyway.
	shutdownTimeout = 5 * time.Second
	// exitWait is how long a call that failed in transport waits to see
	// whether the plugin process died, to tell a crash (restart and retry)
	// from a plugin that is merely stopping or unreachable for a moment.
	exitWait = 2 * time.Second
	// superviseInterval is how often the supervisor looks whether the
	// plugin process is still alive. go-plugin offers no exit
	// notification, and Exited is a cheap check; the restart itself is
	// spaced by the restart back-off, not by this.
	superviseInterval = 50 * time.Millisecond
)

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

	// The supervisor restarts a dead plugin without waiting for a call,
	// so transcripts and other background work resume on a quiet site.
	stopSupervisor context.CancelFunc
	supervisorWG   sync.WaitGroup
}

// instance is one plugin process and the connections that belong to it.
type instance struct {
	pc   *goplugin.Client
	chat chatv1.ChatPluginClient
	// execDir is the private directory holding the verified copy this
	// process runs from, "" without a checksum.
	execDir string
}

// stop kills the process, if it still runs, and removes its private copy
// of the binary; Kill waits for the exit, so the file is no longer in use.
func (in *instance) stop() {
	in.pc.Kill()
	if in.execDir != "" {
		_ = os.RemoveAll(in.execDir)
	}
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
	removeStaleExecDirs(dataDir)
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
	superviseCtx, stop := context.WithCancel(context.Background())
	c.stopSupervisor = stop
	c.supervisorWG.Add(1)
	go c.supervise(superviseCtx)
	return c, nil
}

// supervise restarts the plugin process when it dies, through live and so
// with the same back-off as a call would, until Close cancels ctx. Without
// it a crashed plugin would stay down until the next chat request, and
// the plugin's own background work (transcript pages) with it.
func (c *Client) supervise(ctx context.Context) {
	defer c.supervisorWG.Done()
	tick := time.NewTicker(superviseInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c.mu.Lock()
		down := !c.closed && c.starting == nil && (c.cur == nil || c.cur.exited())
		c.mu.Unlock()
		if !down {
			continue
		}
		// live logs a failed restart and spaces the next attempt.
		if _, err := c.live(ctx); errors.Is(err, ErrClosed) {
			return
		}
	}
}

// textBusyRetries bounds the starts retried because exec saw the fresh
// copy of the binary as still open for writing: a fork elsewhere in the
// host can briefly inherit the copy's descriptor (Go issue 22315).
const textBusyRetries = 5

// start launches one plugin process and configures it. With a checksum,
// every start hashes a fresh private copy and runs that copy, so a restart
// after a crash verifies again and a binary replaced since Load is refused.
func (c *Client) start(ctx context.Context) (*instance, error) {
	if c.cfg.checksum == nil {
		return c.startFrom(ctx, c.pluginPath, "")
	}
	path, dir, err := verifiedCopy(c.pluginPath, c.dataDir, c.cfg.checksum)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		in, err := c.startFrom(ctx, path, dir)
		if err == nil {
			return in, nil
		}
		if !errors.Is(err, syscall.ETXTBSY) || attempt == textBusyRetries {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		t := time.NewTimer(time.Duration(attempt) * 10 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			_ = os.RemoveAll(dir)
			return nil, ctx.Err()
		}
	}
}

// startFrom runs the binary at path, the configured one or its verified
// private copy in execDir.
func (c *Client) startFrom(ctx context.Context, path, execDir string) (*instance, error) {
	var secure *goplugin.SecureConfig
	if c.cfg.checksum != nil {
		// Redundant after verifiedCopy, and cheap: it hashes the private
		// copy, which nobody else can change.
		secure = &goplugin.SecureConfig{Checksum: c.cfg.checksum, Hash: sha256.New()}
	}
	var sockets *goplugin.UnixSocketConfig
	if c.cfg.socketDir != "" {
		sockets = &goplugin.UnixSocketConfig{TempDir: c.cfg.socketDir}
	}
	gp := &grpcPlugin{hostServer: &hostAPIServer{host: c.host}}
	cmd := exec.Command(path)
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
		GRPCDialOptions:  grpcopts.DialOptions(),
	})
	in, err := c.connect(ctx, pc, gp)
	if err != nil {
		pc.Kill()
		return nil, err
	}
	in.execDir = execDir
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
		HostBrokerId:          gp.hostBrokerID,
		DataDir:               c.dataDir,
		MaxMessageBytes:       c.cfg.maxMessageBytes,
		PermissionCacheMs:     c.cfg.permissionCache.Milliseconds(),
		SubscriberBuffer:      c.cfg.subscriberBuf,
		MaxUploadBytes:        c.cfg.maxUploadBytes,
		MaxMessagesPerMinute:  c.cfg.perMinute,
		MaxUploadBytesPerHour: c.cfg.uploadPerHour,
		MaxRoomsPerPage:       c.cfg.maxRoomsPerPage,
		ChatUrlPrefix:         c.cfg.chatPrefix,
		TranscriptDelayMs:     c.cfg.transcriptDelay.Milliseconds(),
		TimeZone:              c.cfg.timeZone,
		RoomLinks:             roomLinksToProto(c.cfg.roomLinks),
		PostgresDsn:           c.cfg.postgresDSN,
		EditWindowSeconds:     c.cfg.editWindowSecs,
		WatchQuietPeriodMs:    c.cfg.watchQuiet.Milliseconds(),
		AuthorsDoNotWatch:     c.cfg.authorsDoNotWatch,
		RoomMentionsPerHour:   c.cfg.roomMentionsPerHour,
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
		return checksumMismatch(path)
	case strings.Contains(msg, "incompatible API version"), strings.Contains(msg, "incompatible core API version"):
		return fmt.Errorf("plugin %s speaks protocol %s; this host-sdk speaks version %d: %w", path, firstLine(msg), handshake.ProtocolVersion, ErrIncompatibleVersion)
	case strings.Contains(msg, "Unrecognized remote plugin message"),
		strings.Contains(msg, "plugin exited before we could connect"),
		strings.Contains(msg, "timeout while waiting for plugin to start"):
		return fmt.Errorf("%s did not complete the pagechat handshake (%s): %w", path, firstLine(msg), ErrNotPagechatPlugin)
	}
	// Both wrapped: start retries on ETXTBSY underneath.
	return fmt.Errorf("start pagechat plugin %s: %w: %w", path, err, ErrPluginUnavailable)
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
			c.cur.stop()
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
		if c.closed {
			if err == nil {
				in.stop()
			}
			// Close interrupted this start (the supervisor's, say):
			// not a failure of the plugin.
			c.mu.Unlock()
			return nil, ErrClosed
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
	if !transportFailure(ctx, err) {
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
	// The supervisor may be waiting out a back-off inside a start: cancel
	// it so that start ends now, and wait for it below.
	if c.stopSupervisor != nil {
		c.stopSupervisor()
	}
	defer c.supervisorWG.Wait()
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
	in.stop()
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
		s := grpc.NewServer(append(opts, grpcopts.ServerOptions()...)...)
		hostv1.RegisterHostAPIServer(s, p.hostServer)
		return s
	})
	return chatv1.NewChatPluginClient(conn), nil
}

// currentInstance is the running plugin process, nil while it is down. A
// change of instance tells the handler the plugin restarted and lost its
// in-memory presence.
func (c *Client) currentInstance() *instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil || c.cur.exited() {
		return nil
	}
	return c.cur
}

func roomLinksToProto(links []RoomLink) []*chatv1.RoomLink {
	out := make([]*chatv1.RoomLink, 0, len(links))
	for _, l := range links {
		out = append(out, &chatv1.RoomLink{Label: l.Label, Url: l.URL})
	}
	return out
}

// roomLinks are the links set with WithRoomLinks.
func (c *Client) roomLinks() []RoomLink { return c.cfg.roomLinks }
