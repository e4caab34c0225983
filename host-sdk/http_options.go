package hostsdk

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pagechat/pagechat/internal/limits"
)

// Defaults and bounds of the HandlerOptions. Each is the value an admin
// gets without configuring anything; the reason is beside it.
const (
	// DefaultChatPrefix is where the handler expects to be mounted, and
	// where the plugin's "Join Chat" links point.
	DefaultChatPrefix = limits.DefaultChatURLPrefix
	// DefaultHeartbeat is how often an idle event stream gets a comment
	// line. Proxies and load balancers drop connections that stay silent
	// for 30–120 s (nginx's proxy_read_timeout is 60 s); 20 s stays under
	// all of them while costing a few bytes. 15–30 s is the recommended
	// range.
	DefaultHeartbeat = 20 * time.Second
	// MinHeartbeat is the smallest heartbeat WithHeartbeat accepts. It is
	// far below anything useful in production so tests can watch
	// heartbeats without waiting.
	MinHeartbeat = 10 * time.Millisecond
	// MaxHeartbeat is the largest heartbeat WithHeartbeat accepts: longer
	// silences get streams dropped by intermediaries.
	MaxHeartbeat = 2 * time.Minute
	// DefaultStreamBuffer is how many events a browser's stream may fall
	// behind before it is cut. A healthy connection drains events within
	// milliseconds; 256 is minutes of a busy room's traffic for a stalled
	// one, whose memory it bounds. A cut stream resumes from its last event
	// id and loses nothing.
	DefaultStreamBuffer = 256
	// MaxStreamBuffer caps WithStreamBuffer so a misconfiguration cannot
	// let one stalled browser pin unbounded memory.
	MaxStreamBuffer = 1 << 16
	// DefaultMaxStreamsPerUser bounds the event streams one user may hold
	// open at once. Browsers allow about six HTTP/1.1 connections per
	// site, so a user rarely has more than a handful of chat windows; 8
	// leaves room for that and for reconnects overlapping their
	// predecessors, and refuses (429) a script opening thousands.
	DefaultMaxStreamsPerUser = 8
	// DefaultUploadLimit is the largest file accepted when neither this
	// handler nor the Client (WithMaxUploadBytes) says otherwise; it is the
	// plugin's own default.
	DefaultUploadLimit = limits.DefaultUploadBytes
	// MaxUploadLimit caps WithUploadLimit; it is the plugin's cap.
	MaxUploadLimit = limits.MaxUploadBytes
	// DefaultPermissionWindow is how often open streams are re-checked
	// against the host's permissions when the Client does not configure a
	// permission cache: the plugin's default cache window, so a revoked
	// user's stream ends within about that long.
	DefaultPermissionWindow = limits.DefaultPermissionCache
	// MinPermissionWindow is the shortest WithPermissionWindow accepts,
	// for tests; shorter windows only cost more AuthorizeViewers calls.
	MinPermissionWindow = 10 * time.Millisecond
	// MaxPermissionWindow is the longest WithPermissionWindow accepts, the
	// plugin's cap on its permission cache.
	MaxPermissionWindow = limits.MaxPermissionCache
	// QuietRecheckLimit is the longest a Handler confirms open streams'
	// viewers on the word of the host's PermissionVersioner alone before
	// it asks the plugin again, so that a change the version missed is
	// still caught.
	QuietRecheckLimit = 30 * time.Second
)

// HandlerOption configures NewHandler. Options validate their values, so
// a bad one is an error from NewHandler rather than a panic.
type HandlerOption interface {
	applyHandler(*handlerConfig) error
}

type handlerOptionFunc func(*handlerConfig) error

func (f handlerOptionFunc) applyHandler(c *handlerConfig) error { return f(c) }

type handlerConfig struct {
	prefix            string
	heartbeat         time.Duration
	streamBuffer      int
	maxStreamsPerUser int
	uploadLimit       int64
	permWindow        time.Duration
	csrf              *http.CrossOriginProtection
	loginURL          string // WithLoginURL's template; empty: no login link

	// Tuning that is not an option; tests change it through their own
	// HandlerOption.
	feedGrace    time.Duration // how long a room feed outlives its last viewer
	ringMessages int           // recent messages a room feed keeps in memory
	ringBytes    int           // and their size bound
	writeTimeout time.Duration // longest a browser may leave one write blocked
	retryHint    time.Duration // EventSource reconnect delay we suggest
}

// WithPrefix sets the path the handler is mounted under (default: the
// Client's WithChatURLPrefix, else DefaultChatPrefix). It must start and
// end with "/", be a plain path, and equal the Client's WithChatURLPrefix
// if that is set, since the plugin's links point there. Mount the handler
// there without http.StripPrefix: it routes on the full path and builds
// its links from the prefix.
func WithPrefix(p string) HandlerOption {
	return handlerOptionFunc(func(c *handlerConfig) error {
		if err := checkPrefix(p); err != nil {
			return fmt.Errorf("WithPrefix: %w", err)
		}
		c.prefix = p
		return nil
	})
}

func checkPrefix(p string) error {
	if len(p) < 1 || p[0] != '/' || p[len(p)-1] != '/' {
		return fmt.Errorf("%q must start and end with /", p)
	}
	if len(p) > 200 || strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") {
		return fmt.Errorf("%q is not a clean path", p)
	}
	for _, r := range p {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/-._~", r)
		if !ok {
			return fmt.Errorf("%q may contain only letters, digits and /-._~", p)
		}
	}
	return nil
}

// WithHeartbeat sets how often an idle event stream gets a comment line
// (default DefaultHeartbeat; 15–30 s is recommended, MinHeartbeat to
// MaxHeartbeat is accepted).
func WithHeartbeat(d time.Duration) HandlerOption {
	return handlerOptionFunc(func(c *handlerConfig) error {
		if d < MinHeartbeat || d > MaxHeartbeat {
			return fmt.Errorf("WithHeartbeat: %v out of range %v..%v", d, MinHeartbeat, MaxHeartbeat)
		}
		c.heartbeat = d
		return nil
	})
}

// WithStreamBuffer sets how many events one browser's stream may fall
// behind before it is cut (default DefaultStreamBuffer, at most
// MaxStreamBuffer). A cut stream resumes from its last event id.
func WithStreamBuffer(n int) HandlerOption {
	return handlerOptionFunc(func(c *handlerConfig) error {
		if n < 1 || n > MaxStreamBuffer {
			return fmt.Errorf("WithStreamBuffer: %d out of range 1..%d", n, MaxStreamBuffer)
		}
		c.streamBuffer = n
		return nil
	})
}

// WithMaxStreamsPerUser sets how many event streams one user may hold open
// at once (default DefaultMaxStreamsPerUser); more are refused with 429.
func WithMaxStreamsPerUser(n int) HandlerOption {
	return handlerOptionFunc(func(c *handlerConfig) error {
		if n < 1 || n > 1000 {
			return fmt.Errorf("WithMaxStreamsPerUser: %d out of range 1..1000", n)
		}
		c.maxStreamsPerUser = n
		return nil
	})
}

// WithUploadLimit sets the largest file the handler accepts, in bytes
// (default: the Client's WithMaxUploadBytes, else DefaultUploadLimit; at
// most MaxUploadLimit). Larger uploads are refused with 413 before they
// reach the plugin. Keep it at or below the Client's limit.
func WithUploadLimit(n int64) HandlerOption {
	return handlerOptionFunc(func(c *handlerConfig) error {
		if n < 1 || n > MaxUploadLimit {
			return fmt.Errorf("WithUploadLimit: %d out of range 1..%d", n, MaxUploadLimit)
		}
		c.uploadLimit = n
		return nil
	})
}

// WithPermissionWindow sets how often the viewers of open streams are
// re-checked with the plugin (default: the Client's WithPermissionCache,
// else DefaultPermissionWindow; at most MaxPermissionWindow). A user who
// loses view permission has their streams ended within about this long.
func WithPermissionWindow(d time.Duration) HandlerOption {
	return handlerOptionFunc(func(c *handlerConfig) error {
		if d < MinPermissionWindow || d > MaxPermissionWindow {
			return fmt.Errorf("WithPermissionWindow: %v out of range %v..%v", d, MinPermissionWindow, MaxPermissionWindow)
		}
		c.permWindow = d
		return nil
	})
}

// WithCrossOriginProtection replaces the handler's CSRF protection, for
// hosts that need trusted origins (AddTrustedOrigin) because pages and
// chat are served from different origins. The default is a fresh
// http.NewCrossOriginProtection.
func WithCrossOriginProtection(p *http.CrossOriginProtection) HandlerOption {
	return handlerOptionFunc(func(c *handlerConfig) error {
		if p == nil {
			return errors.New("WithCrossOriginProtection: protection is nil")
		}
		c.csrf = p
		return nil
	})
}

// LoginNext is the placeholder WithLoginURL replaces with the address to
// come back to after logging in.
const LoginNext = "{next}"

// WithLoginURL tells the handler where the host's login form is, so a
// logged-out visitor of a chat room is offered to log in and brought back
// to the room afterwards, instead of a dead end. The template is a path on
// the host's site (starting with a single "/"); LoginNext in it is replaced
// by the query-escaped path of the room, for example
// "/login?next={next}". The host's login must only follow a next that is a
// path on its own site, or it becomes an open redirect.
func WithLoginURL(template string) HandlerOption {
	return handlerOptionFunc(func(c *handlerConfig) error {
		if !strings.HasPrefix(template, "/") || strings.HasPrefix(template, "//") || strings.Contains(template, `\`) ||
			strings.ContainsFunc(template, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
			return fmt.Errorf("WithLoginURL: %q must be a path on this site, such as /login?next=%s", template, LoginNext)
		}
		c.loginURL = template
		return nil
	})
}
