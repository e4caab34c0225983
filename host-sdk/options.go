package hostsdk

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pagechat/pagechat/internal/limits"

	"github.com/hashicorp/go-hclog"
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
	uploadPerHour   int64
	editWindowSecs  int64 // 0: the plugin's default; -1: authors may not edit
	maxRoomsPerPage int64
	chatPrefix      string
	startTimeout    time.Duration
	minRestart      time.Duration
	maxRestart      time.Duration
	socketDir       string
	transcriptDelay time.Duration
	timeZone        string
	pluginEnv       []string
	// Notifications (notify.go).
	watchQuiet          time.Duration
	authorsDoNotWatch   bool
	roomMentionsPerHour int64
	postgresDSN         string
}

// WithChecksum makes Load refuse a plugin binary whose SHA-256 differs from
// hexSum (64 hex digits), as published beside the release. Every start,
// restarts after a crash included, copies the binary into a private (0700)
// directory inside the data directory, hashing it while copying, and runs
// that copy, so the file cannot be swapped between the check and the
// start. The data directory must therefore allow executing files (not on
// a noexec mount), and needs room for one copy of the binary.
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
		if n <= 0 || n > limits.MaxMessageBytes {
			return fmt.Errorf("WithMaxMessageBytes: %d out of range 1..%d", n, limits.MaxMessageBytes)
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
		if d < time.Millisecond || d > limits.MaxPermissionCache {
			return fmt.Errorf("WithPermissionCache: %v out of range 1ms..%v", d, limits.MaxPermissionCache)
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

// WithEditWindow sets how long after sending an author may edit or delete
// their own message (default 15 minutes, at most 30 days); 0 turns editing
// and deleting by authors off. Moderators delete any message at any time
// whatever the window.
func WithEditWindow(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		switch {
		case d == 0:
			c.editWindowSecs = -1
		case d < time.Second || d > limits.MaxEditWindow:
			return fmt.Errorf("WithEditWindow: %v out of range 1s..%v (or 0 for never)", d, limits.MaxEditWindow)
		default:
			c.editWindowSecs = int64(d / time.Second)
		}
		return nil
	})
}

// WithUploadBytesPerHour limits how many bytes one user may upload to one
// room per hour (default 100 MiB), so one user cannot fill the host's
// disk; -1 turns the quota off. Uploads beyond it fail with
// ErrLimitExceeded.
func WithUploadBytesPerHour(n int64) Option {
	return optionFunc(func(c *config) error {
		if n == 0 || n < -1 {
			return fmt.Errorf("WithUploadBytesPerHour: %d; use a positive limit or -1 for none", n)
		}
		c.uploadPerHour = n
		return nil
	})
}

// WithMaxUploadBytes sets the largest file a user may upload (default
// 10 MiB, at most 1 GiB).
func WithMaxUploadBytes(n int64) Option {
	return optionFunc(func(c *config) error {
		if n <= 0 || n > 1<<30 {
			return fmt.Errorf("WithMaxUploadBytes: %d out of range 1..%d", n, 1<<30)
		}
		c.maxUploadBytes = n
		return nil
	})
}

// WithTranscriptDelay sets how long after a room's latest activity the
// plugin brings that day's transcript page up to date (default 60 s, at
// most 1 h). Under constant activity a page is still written at least every
// five delays.
func WithTranscriptDelay(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < time.Millisecond || d > limits.MaxTranscriptDelay {
			return fmt.Errorf("WithTranscriptDelay: %v out of range 1ms..%v", d, limits.MaxTranscriptDelay)
		}
		c.transcriptDelay = d
		return nil
	})
}

// WithTimeZone sets the IANA time zone (e.g. "Europe/Berlin") whose
// midnight separates one transcript day from the next, and in which
// transcripts show times (default UTC).
func WithTimeZone(name string) Option {
	return optionFunc(func(c *config) error {
		if name == "" {
			return fmt.Errorf("WithTimeZone: empty time zone name; leave the option out for UTC")
		}
		if _, err := time.LoadLocation(name); err != nil {
			return fmt.Errorf("WithTimeZone: %q is not an IANA time zone: %w", name, err)
		}
		c.timeZone = name
		return nil
	})
}

// WithPluginEnv adds environment variables, each "KEY=VALUE", to the
// plugin process. The plugin inherits nothing else from the host's
// environment (so it never sees the host's secrets); use this for what it
// really needs, such as a proxy setting or a test hook. It may be given
// more than once; later values of a key win.
func WithPluginEnv(kv ...string) Option {
	return optionFunc(func(c *config) error {
		for _, e := range kv {
			key, _, ok := strings.Cut(e, "=")
			if !ok || key == "" || strings.ContainsRune(e, 0) {
				return fmt.Errorf("WithPluginEnv: %q is not KEY=VALUE", e)
			}
		}
		c.pluginEnv = append(c.pluginEnv, kv...)
		return nil
	})
}

// WithPostgres makes the plugin keep its data in the PostgreSQL database
// dsn (a postgres:// URL or a keyword/value string) instead of a bbolt file
// in the data directory: cluster mode, in which every node of a wiki
// cluster runs its own plugin and all of them share the database. Messages
// sent on one node reach streams on every node, and presence, read
// markers, bans, rate limits and transcript writing hold across nodes. The
// plugin creates and migrates its tables (in the schema "pagechat") itself.
// The DSN may hold a password: it is passed to the plugin only, never
// logged. Load fails when the database cannot be reached or was written by
// a newer pagechat.
func WithPostgres(dsn string) Option {
	return optionFunc(func(c *config) error {
		if dsn == "" {
			return errors.New("WithPostgres: empty DSN; leave the option out for the embedded bbolt store")
		}
		if strings.ContainsRune(dsn, 0) {
			return errors.New("WithPostgres: the DSN holds a NUL byte")
		}
		c.postgresDSN = dsn
		return nil
	})
}
