package hostsdk

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

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
)

// Limits that are not options.
const (
	// sendBodyOverhead is what a send request may carry beyond its text:
	// the JSON syntax, the client id, whitespace.
	sendBodyOverhead = 64 << 10
	// jsonEscapeFactor is the worst-case growth of text in JSON: a control
	// character becomes \u00XX, six bytes for one.
	jsonEscapeFactor = 6
	// maxRoomIDBytes rejects absurd path segments before they reach the
	// plugin (which has its own, stricter checks).
	maxRoomIDBytes = 512
	// maxEpochBytes bounds the ?epoch= parameter; epochs are short ids.
	maxEpochBytes = 128
	// retryAfterUnavailable is the Retry-After (seconds) sent while the
	// plugin is down; restarts take well under a second to a few seconds.
	retryAfterUnavailable = 2
	// retryAfterBusy is the Retry-After (seconds) for 429 answers.
	retryAfterBusy = 5
	// closeWait bounds how long Close waits for event streams whose
	// writes it has interrupted to return.
	closeWait = 5 * time.Second
)

// ErrUnauthenticated is what an IdentifyFunc returns (wrapped) when the
// request carries no valid login; the handler answers 401.
var ErrUnauthenticated = errors.New("not logged in")

// Identity is who a browser request comes from, as the host's own
// authentication established it.
type Identity struct {
	// UserID is the host's id of the user.
	UserID string
	// CookieSession is true when the request was authenticated by
	// something the browser attaches on its own, such as a session cookie
	// (or Basic credentials the browser has cached). Such requests can be
	// forged by other sites, so state-changing requests then must pass
	// cross-origin (CSRF) protection. Set it false only for credentials a
	// script adds explicitly, such as an Authorization header from a
	// command-line client.
	CookieSession bool
}

// IdentifyFunc tells the handler who made a request. It returns an error
// wrapping ErrUnauthenticated when nobody is logged in; any other error is
// answered with 500 and logged.
type IdentifyFunc func(r *http.Request) (Identity, error)

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

// Handler serves the chat popup and its browser API under a prefix
// (default "/chat/"):
//
//	GET  {prefix}rooms/{roomID}                 the popup page (HTML)
//	GET  {prefix}static/{file}                  its script and style sheet
//	GET  {prefix}api/rooms/{roomID}             room info: participants, files, transcripts
//	GET  {prefix}api/rooms/{roomID}/events      Server-Sent Events: messages (id = sequence),
//	                                            presence, heartbeats; resumes after
//	                                            Last-Event-ID or ?after=SEQ; ?epoch=
//	GET  {prefix}api/rooms/{roomID}/messages    older history: ?before=SEQ&limit=N
//	POST {prefix}api/rooms/{roomID}/messages    {"text", "client_id"} -> {"seq", "message", "duplicate"}
//	POST {prefix}api/rooms/{roomID}/files       multipart upload: "file", optional "client_id"
//
// Errors are JSON {"error", "code"} with the fitting status (400, 401,
// 403, 404, 409, 413, 429, 503). POSTs from browser sessions pass
// http.CrossOriginProtection.
//
// Mount it on the full prefix, without http.StripPrefix, and without
// middleware that buffers or compresses responses (event streams must be
// flushed as they are written):
//
//	mux.Handle("/chat/", chatHandler)
//
// The Handler holds one upstream feed per room that has viewers in this
// process and fans it out to those browsers; browsers never get a plugin
// stream of their own. Close it before the Client.
type Handler struct {
	client   *Client
	identify IdentifyFunc
	cfg      handlerConfig
	logger   hclog.Logger
	mux      *http.ServeMux
	web      *webAssets
	maxSend  int64 // largest send request body

	mu          sync.Mutex
	closed      bool
	closing     chan struct{}           // closed by Close
	feeds       map[string]*roomFeed    // the live feed of each room with viewers
	running     map[*roomFeed]struct{}  // every feed whose goroutines run, detached ones too
	userStreams map[string]int          // open event streams per user
	streams     map[*sseWriter]struct{} // open event streams, for Close
	feedWG      sync.WaitGroup          // room feed goroutines
	streamWG    sync.WaitGroup          // open event streams

	// Counters for tests and diagnostics.
	feedOpens atomic.Int64 // upstream Feed streams opened
	slowCuts  atomic.Int64 // browser streams cut for falling behind
	// historyFills counts catch-ups served from History because the
	// feed's memory no longer held the resume position.
	historyFills atomic.Int64
}

// NewHandler returns the browser API handler for c. identify tells it who
// each request comes from; the plugin, asking the host, decides what that
// user may see and do.
func NewHandler(c *Client, identify IdentifyFunc, opts ...HandlerOption) (*Handler, error) {
	if c == nil {
		return nil, errors.New("hostsdk.NewHandler: client is nil")
	}
	if identify == nil {
		return nil, errors.New("hostsdk.NewHandler: identify is nil")
	}
	cfg := handlerConfig{
		prefix:            DefaultChatPrefix,
		heartbeat:         DefaultHeartbeat,
		streamBuffer:      DefaultStreamBuffer,
		maxStreamsPerUser: DefaultMaxStreamsPerUser,
		uploadLimit:       DefaultUploadLimit,
		permWindow:        DefaultPermissionWindow,
		feedGrace:         10 * time.Second, // spans an EventSource reconnect (retryHint) with room to spare
		ringMessages:      256,              // a few minutes of a busy room: most reconnects resume from memory
		ringBytes:         1 << 20,          // bounds a room's memory whatever the message size
		writeTimeout:      30 * time.Second, // a browser that accepts nothing for this long is gone
		retryHint:         2 * time.Second,  // quick reconnect after a cut, without hammering
	}
	if c.cfg.maxUploadBytes > 0 {
		cfg.uploadLimit = c.cfg.maxUploadBytes
	}
	if c.cfg.permissionCache > 0 {
		cfg.permWindow = c.cfg.permissionCache
	}
	if c.cfg.chatPrefix != "" {
		cfg.prefix = c.cfg.chatPrefix
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("hostsdk.NewHandler: nil option")
		}
		if err := o.applyHandler(&cfg); err != nil {
			return nil, err
		}
	}
	if c.cfg.chatPrefix != "" && cfg.prefix != c.cfg.chatPrefix {
		return nil, fmt.Errorf("hostsdk.NewHandler: prefix %q differs from the Client's WithChatURLPrefix %q; the plugin's links would miss the handler", cfg.prefix, c.cfg.chatPrefix)
	}
	if cfg.csrf == nil {
		cfg.csrf = http.NewCrossOriginProtection()
	}
	web, err := loadWebAssets()
	if err != nil {
		return nil, fmt.Errorf("hostsdk.NewHandler: %w", err)
	}
	maxMsg := c.cfg.maxMessageBytes
	if maxMsg <= 0 {
		maxMsg = limits.DefaultMessageBytes
	}
	h := &Handler{
		client:      c,
		identify:    identify,
		cfg:         cfg,
		logger:      c.logger.Named("http"),
		web:         web,
		maxSend:     maxMsg*jsonEscapeFactor + sendBodyOverhead,
		closing:     make(chan struct{}),
		feeds:       make(map[string]*roomFeed),
		running:     make(map[*roomFeed]struct{}),
		userStreams: make(map[string]int),
		streams:     make(map[*sseWriter]struct{}),
	}
	h.mux = h.routes()
	return h, nil
}

func (h *Handler) routes() *http.ServeMux {
	p := h.cfg.prefix
	mux := http.NewServeMux()
	mux.HandleFunc(p+"static/{file}", h.serveStatic)
	mux.HandleFunc(p+"rooms/{roomID}", h.servePopup)
	mux.HandleFunc(p+"api/rooms/{roomID}", h.api(map[string]apiFunc{http.MethodGet: h.serveRoomInfo}))
	mux.HandleFunc(p+"api/rooms/{roomID}/events", h.api(map[string]apiFunc{http.MethodGet: h.serveEvents}))
	mux.HandleFunc(p+"api/rooms/{roomID}/messages", h.api(map[string]apiFunc{
		http.MethodGet:  h.serveHistory,
		http.MethodPost: h.serveSend,
	}))
	mux.HandleFunc(p+"api/rooms/{roomID}/files", h.api(map[string]apiFunc{http.MethodPost: h.serveUpload}))
	mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, r, &apiError{status: http.StatusNotFound, code: "not_found", msg: "no such chat endpoint"})
	})
	return mux
}

// ServeHTTP serves the popup page, its static files and the browser API
// under the prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	// Uploaded names, messages and errors are user text: never let a
	// browser guess a type for them, and keep room URLs out of other
	// sites' logs.
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	if h.isClosed() {
		h.writeError(w, r, errShuttingDown)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// Close ends every room feed and event stream the handler runs and waits
// for their goroutines. Requests after Close are answered with 503. Close
// the Handler before the Client it uses.
func (h *Handler) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	close(h.closing)
	feeds := make([]*roomFeed, 0, len(h.running))
	for f := range h.running {
		feeds = append(feeds, f)
	}
	clear(h.feeds)
	// A stream blocked writing to a browser that reads nothing would not
	// see closing until its write deadline; make its write fail now. The
	// stream is still inside ServeHTTP: it deregisters under h.mu before
	// returning, so its ResponseController is valid here.
	for s := range h.streams {
		s.interrupt()
	}
	h.mu.Unlock()

	for _, f := range feeds {
		f.cancel()
	}
	h.feedWG.Wait()

	done := make(chan struct{})
	go func() {
		h.streamWG.Wait()
		close(done)
	}()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		// The waiter goroutine ends with the last stream; it holds
		// nothing but the WaitGroup.
		return fmt.Errorf("hostsdk: Handler.Close: event streams still writing after %v (a ResponseWriter without write deadlines?)", closeWait)
	}
}

func (h *Handler) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// apiFunc serves one API endpoint for an identified user and a syntactically
// valid room id. A returned error is written as a JSON error; an endpoint
// that has started its response writes its own errors and returns nil.
type apiFunc func(w http.ResponseWriter, r *http.Request, id Identity, roomID string) error

// api wraps the endpoints of one path: method dispatch, identification and
// room id checks, error answers.
func (h *Handler) api(methods map[string]apiFunc) http.HandlerFunc {
	allow := make([]string, 0, len(methods))
	for m := range methods {
		allow = append(allow, m)
	}
	slices.Sort(allow)
	allowHeader := strings.Join(allow, ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		fn, ok := methods[r.Method]
		if !ok {
			w.Header().Set("Allow", allowHeader)
			h.writeError(w, r, &apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", msg: "method " + r.Method + " not allowed here"})
			return
		}
		id, err := h.identifyRequest(r)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		roomID, err := roomIDFrom(r)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		if err := fn(w, r, id, roomID); err != nil {
			h.writeError(w, r, err)
		}
	}
}

// identifyRequest asks the host who the request is from.
func (h *Handler) identifyRequest(r *http.Request) (Identity, error) {
	id, err := h.identify(r)
	if err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			return Identity{}, &apiError{status: http.StatusUnauthorized, code: "unauthenticated", msg: "log in to use the chat", cause: err}
		}
		return Identity{}, fmt.Errorf("identify request: %w", err)
	}
	if id.UserID == "" {
		return Identity{}, &apiError{status: http.StatusUnauthorized, code: "unauthenticated", msg: "log in to use the chat"}
	}
	return id, nil
}

// roomIDFrom returns the {roomID} path segment after basic checks.
func roomIDFrom(r *http.Request) (string, error) {
	id := r.PathValue("roomID")
	if id == "" || len(id) > maxRoomIDBytes || !utf8.ValidString(id) || strings.ContainsFunc(id, isControl) {
		return "", &apiError{status: http.StatusBadRequest, code: "bad_request", msg: "malformed room id"}
	}
	return id, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// checkCSRF applies cross-origin protection to state-changing requests
// from browser sessions. Requests authenticated by credentials a script
// adds itself cannot be forged by another site and pass.
func (h *Handler) checkCSRF(r *http.Request, id Identity) error {
	if !id.CookieSession {
		return nil
	}
	if err := h.cfg.csrf.Check(r); err != nil {
		return &apiError{status: http.StatusForbidden, code: "cross_origin", msg: "cross-origin request refused", cause: err}
	}
	return nil
}
