package xmpp

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"mellium.im/xmpp"
	"mellium.im/xmpp/component"
	"mellium.im/xmpp/jid"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
)

const (
	// reconnectMin and reconnectMax space the component's reconnects to
	// the XMPP server.
	reconnectMin = 100 * time.Millisecond
	reconnectMax = 10 * time.Second
	// outQueue bounds the stanzas waiting for the connection. When it is
	// full the rooms wait, their feeds fall behind the plugin, which cuts
	// them, and they resume from their last sequence once the connection
	// drains: a stall costs latency, never a message or memory.
	outQueue = 4096
	// roomInbox bounds the stanzas waiting for one room; past it the
	// sender gets a resource-constraint error.
	roomInbox = 256
	// dialTimeout bounds the connect and handshake.
	dialTimeout = 10 * time.Second
	// writeTimeout bounds one stanza's write; a server that stops reading
	// for that long is treated as gone and the connection is redone.
	writeTimeout = 30 * time.Second
)

// Users maps XMPP addresses to the host's users. The host implements it:
// only a JID the user has linked and proved maps to them.
type Users interface {
	// LinkedUser returns the user who linked and verified bareJID.
	LinkedUser(ctx context.Context, bareJID string) (userID string, ok bool, err error)
	// ConfirmLink is called with a 1:1 message someone sent the bot that
	// may be a verification code for a pending link of bareJID. It
	// reports whether it verified a link.
	ConfirmLink(ctx context.Context, bareJID, code string) (ok bool, err error)
}

// Config configures a Component.
type Config struct {
	// Server is the XMPP server's component port, host:port.
	Server string
	// Domain is the component's domain (rooms are <roomID>@Domain).
	Domain string
	// Secret is the shared component secret.
	Secret string
	// Chat is the plugin client, the same one the browser API uses.
	Chat *hostsdk.Client
	// Users maps JIDs to the host's users.
	Users Users
	// LinkHelp is the sentence an unlinked JID is told, e.g. where in the
	// wiki to link it.
	LinkHelp string
	// BotName is the local part of the bot's JID; "bot" by default.
	BotName string
	// PermissionWindow is how soon a lost view permission removes an
	// occupant; it should match the plugin's permission cache (default
	// 2 s).
	PermissionWindow time.Duration
	// BaseURL is the host's public address (e.g. "https://wiki.example.org"):
	// links in messages (wiki links, uploads) are made absolute with it.
	BaseURL string
	// Logger receives the component's logs; nil discards them.
	Logger hclog.Logger

	// ServerDomain is the XMPP server's own domain, where the component
	// looks for a XEP-0033 multicast service on every connection; by
	// default Domain without its first label (chat.example.org ->
	// example.org).
	ServerDomain string
	// MulticastService names the multicast service to use instead of
	// discovering one. It is still tried once per connection, and not
	// used if it refuses.
	MulticastService string
	// DisableMulticast sends every occupant its own stanza even where the
	// server offers multicast.
	DisableMulticast bool
	// MulticastBatch is the most addresses one multicast stanza carries
	// (default 1000); it must not exceed the service's own cap.
	MulticastBatch int
}

// Component is a running XEP-0114 external component that serves every
// pagechat room as a multi-user chat room. Create it with New, run it with
// Run.
type Component struct {
	cfg    Config
	domain jid.JID
	bot    jid.JID
	log    hclog.Logger
	out    chan *elem
	// baseURL is Config.BaseURL parsed; nil leaves links as they are.
	baseURL *url.URL

	ctx    context.Context // ends when Run returns
	cancel context.CancelFunc

	mu        sync.Mutex
	rooms     map[string]*room
	roomWG    sync.WaitGroup
	connected bool
	connects  int // successful handshakes, for tests and logs
	conn      net.Conn

	// mcast is the multicast service of the current connection, nil
	// while fan-outs go per occupant (multicast.go).
	mcast     atomic.Pointer[jid.JID]
	mcastSent atomic.Int64
	pending   map[string]*pendingReply // requests waiting for their answer, by id

	recent   recentRooms
	botSlots chan struct{} // bounds the bot's concurrent commands
	alerts   alertQueue    // notifications waiting for the bot (alerts.go)
}

// New checks cfg and returns a component ready to Run.
func New(cfg Config) (*Component, error) {
	if cfg.Server == "" || cfg.Domain == "" {
		return nil, errors.New("xmpp: server address and component domain are required")
	}
	if cfg.Secret == "" {
		return nil, errors.New("xmpp: the component secret is empty")
	}
	if cfg.Chat == nil || cfg.Users == nil {
		return nil, errors.New("xmpp: Chat and Users are required")
	}
	d, err := jid.Parse(cfg.Domain)
	if err != nil || d.Localpart() != "" || d.Resourcepart() != "" {
		return nil, fmt.Errorf("xmpp: component domain %q is not a domain", cfg.Domain)
	}
	if cfg.BotName == "" {
		cfg.BotName = "bot"
	}
	bot, err := jid.New(cfg.BotName, d.Domainpart(), "")
	if err != nil {
		return nil, fmt.Errorf("xmpp: bot name %q: %w", cfg.BotName, err)
	}
	if cfg.MulticastBatch <= 0 {
		cfg.MulticastBatch = defaultMulticastBatch
	}
	if cfg.ServerDomain != "" {
		if s, err := jid.Parse(cfg.ServerDomain); err != nil || s.Localpart() != "" || s.Resourcepart() != "" {
			return nil, fmt.Errorf("xmpp: server domain %q is not a domain", cfg.ServerDomain)
		}
	}
	if cfg.MulticastService != "" {
		if _, err := jid.Parse(cfg.MulticastService); err != nil {
			return nil, fmt.Errorf("xmpp: multicast service %q: %w", cfg.MulticastService, err)
		}
	}
	if cfg.PermissionWindow <= 0 {
		cfg.PermissionWindow = 2 * time.Second
	}
	if cfg.LinkHelp == "" {
		cfg.LinkHelp = "Link this XMPP address to your account on the wiki first."
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	var base *url.URL
	if cfg.BaseURL != "" {
		if base, err = url.Parse(cfg.BaseURL); err != nil || !base.IsAbs() {
			return nil, fmt.Errorf("xmpp: base URL %q is not an absolute URL", cfg.BaseURL)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Component{
		baseURL:  base,
		cfg:      cfg,
		domain:   d,
		bot:      bot,
		log:      log.Named("xmpp"),
		out:      make(chan *elem, outQueue),
		ctx:      ctx,
		cancel:   cancel,
		rooms:    make(map[string]*room),
		botSlots: make(chan struct{}, botWorkers),
	}, nil
}

// Domain is the component's domain.
func (c *Component) Domain() string { return c.domain.String() }

// BotJID is the bot's bare JID.
func (c *Component) BotJID() string { return c.bot.String() }

// RoomJID is the room's JID, <roomID>@<domain>.
func (c *Component) RoomJID(roomID string) string { return roomID + "@" + c.domain.String() }

// JoinURI is the xmpp: URI that opens the room in an XMPP client.
func (c *Component) JoinURI(roomID string) string { return "xmpp:" + c.RoomJID(roomID) + "?join" }

// Connected reports whether the component is connected to the server now.
func (c *Component) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected
}

// Connects is how many times the component has connected so far.
func (c *Component) Connects() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connects
}

// DropConnection closes the current connection to the server, as a
// network failure would; the component reconnects. For tests and admins.
func (c *Component) DropConnection() {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		_ = conn.Close()
	}
}

// SendChat sends a 1:1 chat message from the bot to the JID to: the host
// uses it to send link verification codes and alerts. It fails while the
// component is not connected.
func (c *Component) SendChat(ctx context.Context, to, text string) error {
	j, err := jid.Parse(to)
	if err != nil {
		return fmt.Errorf("xmpp: address %q: %w", to, err)
	}
	if !c.Connected() {
		return errors.New("xmpp: the bridge is not connected to its XMPP server")
	}
	m := el("", "message", "from", c.bot.String(), "to", j.String(), "type", "chat", "id", newID()).
		add(el("", "body").text(text))
	return c.enqueue(ctx, m)
}

// Run connects to the server and serves until ctx ends, reconnecting with
// back-off whenever the connection fails. It returns ctx's error.
func (c *Component) Run(ctx context.Context) error {
	defer c.shutdown()
	c.roomWG.Add(1)
	go c.alertLoop()
	go func() {
		select {
		case <-ctx.Done():
			c.cancel()
		case <-c.ctx.Done():
		}
	}()
	delay := reconnectMin
	for {
		start := time.Now()
		err := c.serveConn(c.ctx)
		if c.ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(start) > 30*time.Second {
			delay = reconnectMin // it was up for a while: not a loop of failures
		}
		c.log.Warn("XMPP component connection lost; reconnecting", "server", c.cfg.Server, "in", delay, "error", err)
		t := time.NewTimer(delay)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, reconnectMax)
	}
}

// shutdown stops every room and waits for them; rooms leave the plugin's
// presence on their way out.
func (c *Component) shutdown() {
	c.cancel()
	c.roomWG.Wait()
}

// serveConn runs one connection: handshake, then a reader that dispatches
// stanzas and a writer that drains the out queue, until either fails.
func (c *Component) serveConn(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", c.cfg.Server)
	if err != nil {
		return fmt.Errorf("dial %s: %w", c.cfg.Server, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(dialTimeout))
	sess, err := component.NewSession(dctx, c.domain, []byte(c.cfg.Secret), conn)
	if err != nil {
		return fmt.Errorf("component handshake with %s: %w", c.cfg.Server, err)
	}
	_ = conn.SetDeadline(time.Time{})
	c.mu.Lock()
	c.connected = true
	c.connects++
	c.conn = conn
	c.mu.Unlock()
	c.log.Info("XMPP component connected", "server", c.cfg.Server, "domain", c.domain.String())
	defer func() {
		c.mcast.Store(nil) // the next connection finds its own
		c.mu.Lock()
		c.connected = false
		c.conn = nil
		c.mu.Unlock()
	}()

	cctx, stop := context.WithCancel(ctx)
	defer stop()
	writeErr := make(chan error, 1)
	go func() {
		writeErr <- c.writeLoop(cctx, sess, conn)
		_ = conn.Close() // unblocks the reader
	}()
	mcastDone := make(chan struct{})
	go func() {
		defer close(mcastDone)
		c.setupMulticast(cctx)
	}()
	readErr := c.readLoop(sess)
	stop()
	_ = conn.Close()
	<-mcastDone
	if werr := <-writeErr; werr != nil && !errors.Is(werr, context.Canceled) && readErr == nil {
		readErr = werr
	}
	return readErr
}

// writeLoop writes queued stanzas until ctx ends or a write fails. A
// stanza whose write failed is lost to this connection; the rooms' state
// does not depend on it (clients resync through history and self-ping).
func (c *Component) writeLoop(ctx context.Context, sess *xmpp.Session, conn net.Conn) error {
	for {
		var e *elem
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e = <-c.out:
		}
		w := sess.TokenWriter()
		_ = conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		err := e.encode(w)
		// Write everything already queued before one flush.
		for err == nil {
			select {
			case e = <-c.out:
				err = e.encode(w)
				continue
			default:
			}
			break
		}
		if err == nil {
			err = w.Flush()
		}
		_ = w.Close()
		if err != nil {
			return fmt.Errorf("write to XMPP server: %w", err)
		}
	}
}

// readLoop reads stanzas and dispatches them until the stream ends.
func (c *Component) readLoop(sess *xmpp.Session) error {
	r := sess.TokenReader()
	defer r.Close()
	for {
		tok, err := r.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("the XMPP server closed the stream")
			}
			return err
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		e, err := readElem(r, start)
		if err != nil {
			return fmt.Errorf("read stanza: %w", err)
		}
		if start.Name.Local == "error" && start.Name.Space == nsStream {
			return fmt.Errorf("stream error from the XMPP server: %s", e.String())
		}
		c.dispatch(e)
	}
}

// enqueue queues a stanza for the server, waiting while the queue is full.
func (c *Component) enqueue(ctx context.Context, e *elem) error {
	select {
	case c.out <- e:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reply queues a stanza from the reading path, which must never block: if
// the queue is full the reply is dropped and the client retries or times
// out.
func (c *Component) reply(e *elem) {
	select {
	case c.out <- e:
	default:
		c.log.Warn("XMPP output queue full; dropped a reply", "to", e.attr("to"))
	}
}

// dispatch routes one stanza. It never blocks on the plugin: work that
// needs it runs in the room's goroutine or a bounded helper.
func (c *Component) dispatch(e *elem) {
	switch e.Name.Local {
	case "message", "presence", "iq":
	default:
		return
	}
	if c.answered(e) || c.multicastError(e) {
		return
	}
	typ := e.attr("type")
	from, err1 := jid.Parse(e.attr("from"))
	to, err2 := jid.Parse(e.attr("to"))
	if err1 != nil || err2 != nil || from.Domainpart() == "" {
		if typ != "error" && e.attr("from") != "" {
			c.reply(stanzaError(e, "modify", "jid-malformed", "malformed address"))
		}
		return
	}
	if to.Domainpart() != c.domain.Domainpart() {
		return // not ours; Prosody routes only our domain here
	}
	switch {
	case to.Localpart() == "":
		c.handleDomain(e, from)
	case to.Bare().Equal(c.bot):
		c.handleBot(e, from)
	default:
		r := c.room(to.Localpart())
		if r == nil {
			if typ != "error" && !(e.Name.Local == "presence" && typ == "unavailable") {
				c.reply(stanzaError(e, "wait", "service-unavailable", "the chat bridge is shutting down"))
			}
			return
		}
		if !r.post(stanzaIn{e: e, from: from, to: to}) && typ != "error" {
			c.reply(stanzaError(e, "wait", "resource-constraint", "this room is busy; try again"))
		}
	}
}

// room returns the room's actor, starting it if needed; nil while the
// component shuts down.
func (c *Component) room(id string) *room {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Err() != nil {
		return nil
	}
	r := c.rooms[id]
	if r == nil {
		r = newRoom(c, id)
		c.rooms[id] = r
		c.roomWG.Add(1)
		go r.run()
	}
	return r
}

// retire removes an idle room unless a stanza arrived meanwhile.
func (c *Component) retire(r *room) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(r.inbox) > 0 {
		return false
	}
	if c.rooms[r.id] == r {
		delete(c.rooms, r.id)
	}
	return true
}

// lookupUser maps a JID to a user; ok is false for unlinked JIDs.
func (c *Component) lookupUser(ctx context.Context, from jid.JID) (string, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	return c.cfg.Users.LinkedUser(ctx, from.Bare().String())
}

// handleDomain answers the component domain itself: discovery and pings.
func (c *Component) handleDomain(e *elem, from jid.JID) {
	if e.Name.Local != "iq" {
		return
	}
	typ := e.attr("type")
	if typ != "get" && typ != "set" {
		return
	}
	switch {
	case typ == "get" && e.child(nsDiscoInfo, "query") != nil:
		q := el(nsDiscoInfo, "query").add(
			el("", "identity", "category", "conference", "type", "text", "name", "Chat rooms"),
			el("", "feature", "var", nsDiscoInfo),
			el("", "feature", "var", nsDiscoItem),
			el("", "feature", "var", nsMUC),
			el("", "feature", "var", nsPing),
		)
		c.reply(iqResult(e).add(q))
	case typ == "get" && e.child(nsDiscoItem, "query") != nil:
		// Rooms are listed on the wiki's pages, where page permissions
		// decide who sees them; the server lists only the bot.
		c.reply(iqResult(e).add(el(nsDiscoItem, "query").add(el("", "item", "jid", c.bot.String(), "name", "Chat bot"))))
	case typ == "get" && e.child(nsPing, "ping") != nil:
		c.reply(iqResult(e))
	default:
		c.reply(stanzaError(e, "cancel", "service-unavailable", ""))
	}
}

func iqResult(in *elem) *elem {
	return el("", "iq", "from", in.attr("to"), "to", in.attr("from"), "id", in.attr("id"), "type", "result")
}
