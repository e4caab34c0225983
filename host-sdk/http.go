package hostsdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/pagechat/pagechat/internal/limits"

	"github.com/hashicorp/go-hclog"
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
	// Recheck, if set, re-checks the login this Identity was found from.
	// An open event stream's login is re-checked twice per permission
	// window; with Recheck the handler calls it instead of running the
	// IdentifyFunc on the stream's request again, so a host can check
	// the very session it found (still there, not expired, still this
	// user's) without parsing the request and hashing its token each
	// time. With ten thousand open streams that is ten thousand checks a
	// second. It returns an error wrapping ErrUnauthenticated once the
	// login has ended; any other error ends the stream as a failing
	// IdentifyFunc would. It is called from the handler's own goroutines
	// and should return quickly.
	Recheck func() error
	// RecheckKey, if not empty, names the login Recheck checks, such as
	// a hash of the session's token. The streams of one user with the
	// same key share one Recheck call per re-check round: a user with
	// several chat windows open on one session costs one check, not one
	// per window. The handler keeps the Recheck of the first stream it
	// sees with a key for as long as any stream with that key is open,
	// so a host's Rechecks with one key must be interchangeable, and may
	// keep an answer between calls while nothing it rests on changed.
	// Leave it empty when no two Identities' Rechecks can be told to
	// check the same thing.
	RecheckKey string
}

// IdentifyFunc tells the handler who made a request. It returns an error
// wrapping ErrUnauthenticated when nobody is logged in; any other error is
// answered with 500 and logged. It is called again on each open event
// stream's request twice per permission window, so that a logout or an
// expired session ends the stream: it should look the session up each
// time (and be cheap, as a session lookup is), not remember the answer,
// unless the Identity it returns has a Recheck.
type IdentifyFunc func(r *http.Request) (Identity, error)

// upstream is what a Handler asks of the plugin: the Client's calls. A
// host's Handler always has its *Client here; tests of the feeds and the
// event streams put an in-process fake in its place, so their concurrency
// can be tested without a plugin process.
type upstream interface {
	RoomInfo(ctx context.Context, userID, roomID string) (Room, error)
	History(ctx context.Context, userID, roomID string, beforeSeq uint64, limit int) (HistoryPage, error)
	Send(ctx context.Context, userID, roomID, clientID, text string) (SendResult, error)
	Upload(ctx context.Context, userID, roomID, clientID, fileName string, size int64, r io.Reader) (UploadResult, error)
	Feed(ctx context.Context, roomID string, afterSeq uint64, epoch string) (*Subscription, error)
	AuthorizeViewers(ctx context.Context, roomID string, userIDs []string) ([]string, error)
	Typing(ctx context.Context, userID, roomID string) error
	// mayPost asks the host, without the plugin, whether userID may post
	// in roomID, so an upload can be refused before its body is read.
	mayPost(ctx context.Context, userID, roomID string) error
	Join(ctx context.Context, userID, roomID string) ([]Participant, error)
	Leave(ctx context.Context, userID, roomID string) error
	MarkRead(ctx context.Context, userID, roomID string, seq uint64) (ReadState, error)
	SetWatch(ctx context.Context, userID, roomID string, watching bool) (bool, error)
	// currentInstance identifies the running plugin process (nil while it
	// is down): when it changes, the plugin has lost its presence.
	currentInstance() *instance
	// roomLinks are the host's extra room links (WithRoomLinks).
	roomLinks() []RoomLink
}

var _ upstream = (*Client)(nil)

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
//	POST {prefix}api/rooms/{roomID}/typing      the user is typing: 204, never stored; the
//	                                            room's streams get an SSE "typing" event without id
//	PATCH  {prefix}api/rooms/{roomID}/messages/{seq}  {"text", "client_id"?}: edit your own message
//	DELETE {prefix}api/rooms/{roomID}/messages/{seq}  {"reason"}?: delete (yours, or any as moderator)
//	PUT    {prefix}api/rooms/{roomID}/topic      {"topic"} (moderators)
//	POST   {prefix}api/rooms/{roomID}/kick       {"user_id", "reason"} (moderators)
//	GET    {prefix}api/rooms/{roomID}/bans       the bans in force (moderators)
//	POST   {prefix}api/rooms/{roomID}/bans       {"user_id", "reason", "expires"} (moderators)
//	DELETE {prefix}api/rooms/{roomID}/bans/{userID}  lift a ban (moderators)
//
// Errors are JSON {"error", "code"} with the fitting status (400, 401,
// 403, 404, 409, 413, 429, 503). State-changing requests from browser
// sessions pass http.CrossOriginProtection.
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
	client   upstream
	pages    Directory // the host's, for the popup's link to the room's page
	identify IdentifyFunc
	cfg      handlerConfig
	logger   hclog.Logger
	mux      *http.ServeMux
	web      *webAssets
	maxSend  int64 // largest send request body
	// maxMessage is the largest message text in bytes, the Client's limit:
	// the popup counts against it before sending.
	maxMessage int64

	mu          sync.Mutex
	closed      bool
	closing     chan struct{}           // closed by Close
	feeds       map[string]*roomFeed    // the live feed of each room with viewers
	running     map[*roomFeed]struct{}  // every feed whose goroutines run, detached ones too
	userStreams map[string]int          // open event streams per user
	streams     map[*sseWriter]struct{} // open event streams, for Close
	sweeping    bool                    // the sweeper runs (sweep.go)
	// feedsStarted counts the feeds ever started, numbering their
	// heartbeat slots.
	feedsStarted int
	// watcher notices browsers leaving taken-over streams (nil until the
	// first one, or where it cannot be made); Close stops it.
	watcher       *closeWatcher
	watcherFailed bool
	// ctx ends with Close; the sweeper's calls run in it.
	ctx       context.Context
	cancelCtx context.CancelFunc
	feedWG    sync.WaitGroup // room feed goroutines and the sweeper
	streamWG  sync.WaitGroup // open event streams

	// logins holds the logins of open streams that have a
	// RecheckKey, by user and key (logins.go).
	loginsMu sync.Mutex
	logins   map[string]*login

	// Counters for tests and diagnostics.
	feedOpens atomic.Int64 // upstream Feed streams opened
	slowCuts  atomic.Int64 // browser streams cut for falling behind
	// historyFills counts catch-ups served from History because the
	// feed's memory no longer held the resume position.
	historyFills atomic.Int64
	// recheckRounds counts the sweeper's re-check rounds, recheckCalls
	// the permission calls they made to the plugin, recheckQuiet the
	// rounds that needed none.
	recheckRounds, recheckCalls, recheckQuiet atomic.Int64

	// quiet decides which re-check rounds need not ask the plugin; only
	// the running round uses it, and rounds never overlap.
	quiet quietRounds
}

// NewHandler returns the browser API handler for c. identify tells it who
// each request comes from; the plugin, asking the host, decides what that
// user may see and do.
func NewHandler(c *Client, identify IdentifyFunc, opts ...HandlerOption) (*Handler, error) {
	if c == nil {
		return nil, errors.New("hostsdk.NewHandler: client is nil")
	}
	return newHandler(c, c.host, c.cfg, c.logger, identify, opts...)
}

// newHandler is NewHandler for any upstream: cc and logger are the
// settings and logger of the Client it stands for.
func newHandler(up upstream, pages Directory, cc config, logger hclog.Logger, identify IdentifyFunc, opts ...HandlerOption) (*Handler, error) {
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
	if cc.maxUploadBytes > 0 {
		cfg.uploadLimit = cc.maxUploadBytes
	}
	if cc.permissionCache > 0 {
		cfg.permWindow = cc.permissionCache
	}
	// The plugin keeps permission answers for this long (the Client's
	// window); a quiet round trusts none from before a version change
	// (quiet.go), whatever window the options below set for the rounds.
	pluginTTL := cfg.permWindow
	if cc.chatPrefix != "" {
		cfg.prefix = cc.chatPrefix
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("hostsdk.NewHandler: nil option")
		}
		if err := o.applyHandler(&cfg); err != nil {
			return nil, err
		}
	}
	if cc.chatPrefix != "" && cfg.prefix != cc.chatPrefix {
		return nil, fmt.Errorf("hostsdk.NewHandler: prefix %q differs from the Client's WithChatURLPrefix %q; the plugin's links would miss the handler", cfg.prefix, cc.chatPrefix)
	}
	if cfg.csrf == nil {
		cfg.csrf = http.NewCrossOriginProtection()
	}
	web, err := loadWebAssets()
	if err != nil {
		return nil, fmt.Errorf("hostsdk.NewHandler: %w", err)
	}
	maxMsg := cc.maxMessageBytes
	if maxMsg <= 0 {
		maxMsg = limits.DefaultMessageBytes
	}
	h := &Handler{
		client:      up,
		pages:       pages,
		quiet:       quietRounds{ttl: max(pluginTTL, cfg.permWindow)},
		identify:    identify,
		cfg:         cfg,
		logger:      logger.Named("http"),
		web:         web,
		maxSend:     maxMsg*jsonEscapeFactor + sendBodyOverhead,
		maxMessage:  maxMsg,
		closing:     make(chan struct{}),
		feeds:       make(map[string]*roomFeed),
		running:     make(map[*roomFeed]struct{}),
		userStreams: make(map[string]int),
		streams:     make(map[*sseWriter]struct{}),
	}
	// pages is the Host itself when NewHandler made the Handler.
	h.quiet.versions, _ = pages.(PermissionVersioner)
	h.ctx, h.cancelCtx = context.WithCancel(context.Background())
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
	mux.HandleFunc(p+"api/rooms/{roomID}/typing", h.api(map[string]apiFunc{http.MethodPost: h.serveTyping}))
	mux.HandleFunc(p+"api/rooms/{roomID}/messages/{seq}", h.api(map[string]apiFunc{
		http.MethodPatch:  h.serveEdit,
		http.MethodDelete: h.serveDelete,
	}))
	mux.HandleFunc(p+"api/rooms/{roomID}/topic", h.api(map[string]apiFunc{http.MethodPut: h.serveTopic}))
	mux.HandleFunc(p+"api/rooms/{roomID}/kick", h.api(map[string]apiFunc{http.MethodPost: h.serveKick}))
	mux.HandleFunc(p+"api/rooms/{roomID}/bans", h.api(map[string]apiFunc{
		http.MethodGet:  h.serveBans,
		http.MethodPost: h.serveBan,
	}))
	mux.HandleFunc(p+"api/rooms/{roomID}/bans/{userID}", h.api(map[string]apiFunc{http.MethodDelete: h.serveUnban}))
	h.notifyRoutes(mux)
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
	h.cancelCtx()
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
	if w := h.watcher; w != nil {
		// After the streams, which unwatch their connections as they
		// end (or, past closeWait, never mind).
		defer w.stop()
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

// closeWatcher returns the watcher that notices browsers leaving
// taken-over streams, starting it on first use, or nil where there is none
// (each stream then watches its connection itself).
func (h *Handler) closeWatcher() *closeWatcher {
	if !closeWatchSupported {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.watcher == nil && !h.watcherFailed && !h.closed {
		w, err := newCloseWatcher()
		if err != nil {
			h.watcherFailed = true
			h.logger.Warn("chat streams watch their connections one goroutine each", "error", err)
			return nil
		}
		h.watcher = w
	}
	return h.watcher
}

func (h *Handler) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
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

// maxSeqDigits is the length of the largest uint64 in decimal.
const maxSeqDigits = 20

// parseSeq parses a sequence number as sent in Last-Event-ID, ?after= and
// ?before=: plain decimal digits, no sign, no spaces, fitting in uint64.
func parseSeq(s string) (uint64, error) {
	if s == "" || len(s) > maxSeqDigits {
		return 0, fmt.Errorf("sequence %q: want 1 to %d decimal digits", truncate(s, 32), maxSeqDigits)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("sequence %q: want decimal digits only", truncate(s, 32))
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("sequence %q: out of range", truncate(s, 32))
	}
	return n, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
