package hostsdk

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/limits"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// These tests run the Handler's room feeds and event streams against
// fakePlugin, an upstream in this process, so that their concurrency is
// tested in milliseconds and the test controls exactly what the plugin
// does: when messages arrive, whom it refuses, when a Feed stream ends.
// The tests with the real plugin binary (http_test.go) check the same
// code against the real thing.

// fakePlugin is an in-process upstream with one room. The test posts
// messages, revokes viewers and ends the open Feed streams as a restarting
// plugin would; Feed streams follow the room's log like the plugin's: the
// messages after afterSeq, then live.
type fakePlugin struct {
	room Room
	// feedCalls receives the afterSeq of every Feed call, so a test can
	// wait for a feed to reconnect and see where it resumed.
	feedCalls chan uint64

	mu      sync.Mutex
	log     []Message
	denied  map[string]bool
	banned  map[string]string // user -> the plugin's sentence
	changed chan struct{}     // closed and replaced on every change, waking streams
	gen     int               // streams opened in an older generation end with endErr
	endErr  error
	inst    *instance
	// onHistory, if set, runs at the start of every History call.
	onHistory func(userID string)
}

var _ upstream = (*fakePlugin)(nil)

func newFakePlugin() *fakePlugin {
	return &fakePlugin{
		room:      Room{ID: "p1.fake-room", PageID: "p1", Name: "Fake Room", Slug: "fake-room", Epoch: "epoch-1"},
		feedCalls: make(chan uint64, 64),
		denied:    make(map[string]bool),
		banned:    make(map[string]string),
		changed:   make(chan struct{}),
		inst:      &instance{},
	}
}

// wakeLocked tells waiting streams that something changed; p.mu is held.
func (p *fakePlugin) wakeLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// post appends n messages to the room.
func (p *fakePlugin) post(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		p.appendLocked("alice", fmt.Sprintf("message %d", len(p.log)+1))
	}
}

func (p *fakePlugin) appendLocked(userID, text string) Message {
	seq := uint64(len(p.log) + 1)
	m := Message{
		RoomID: p.room.ID, Seq: seq, Epoch: p.room.Epoch, ClientID: fmt.Sprint("c", seq),
		UserID: userID, UserName: userID, Text: text, HTML: html.EscapeString(text),
		SentAt: time.Unix(1_700_000_000+int64(seq), 0).UTC(),
	}
	p.log = append(p.log, m)
	p.wakeLocked()
	return m
}

// deny takes view permission away from user.
func (p *fakePlugin) deny(user string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.denied[user] = true
}

// ban bans user with the plugin's sentence, without an event in the log:
// what a re-check sees when it runs between the ban and its event.
func (p *fakePlugin) ban(user, sentence string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.denied[user] = true
	p.banned[user] = sentence
}

// endFeeds ends every open Feed stream with err, as the plugin does when
// it stops (UNAVAILABLE), cuts a slow subscriber (RESOURCE_EXHAUSTED) or
// just closes the stream (io.EOF).
func (p *fakePlugin) endFeeds(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	p.endErr = err
	p.wakeLocked()
}

func (p *fakePlugin) check(userID, roomID string) error {
	if roomID != p.room.ID {
		return &Error{Kind: ErrRoomNotFound, Message: roomID}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if sentence, ok := p.banned[userID]; ok {
		return &Error{Kind: ErrBanned, Message: sentence}
	}
	if p.denied[userID] {
		return &Error{Kind: ErrPermissionDenied, Message: userID + " may not view " + roomID}
	}
	return nil
}

func (p *fakePlugin) RoomInfo(_ context.Context, userID, roomID string) (Room, error) {
	if err := p.check(userID, roomID); err != nil {
		return Room{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.room
	r.LastSeq = uint64(len(p.log))
	return r, nil
}

func (p *fakePlugin) History(_ context.Context, userID, roomID string, beforeSeq uint64, limit int) (HistoryPage, error) {
	if p.onHistory != nil {
		p.onHistory(userID)
	}
	if err := p.check(userID, roomID); err != nil {
		return HistoryPage{}, err
	}
	if limit == 0 {
		limit = limits.DefaultHistoryPage
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	hi := len(p.log)
	if beforeSeq > 0 {
		hi = min(hi, int(beforeSeq)-1)
	}
	lo := max(0, hi-limit)
	return HistoryPage{Messages: append([]Message(nil), p.log[lo:hi]...), HasMore: lo > 0, Epoch: p.room.Epoch}, nil
}

func (p *fakePlugin) Send(_ context.Context, userID, roomID, _, text string) (SendResult, error) {
	if err := p.check(userID, roomID); err != nil {
		return SendResult{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return SendResult{Message: p.appendLocked(userID, text)}, nil
}

func (p *fakePlugin) Upload(context.Context, string, string, string, string, int64, io.Reader) (UploadResult, error) {
	return UploadResult{}, &Error{Kind: ErrInvalidArgument, Message: "the fake plugin takes no uploads"}
}

func (p *fakePlugin) Feed(ctx context.Context, roomID string, afterSeq uint64, epoch string) (*Subscription, error) {
	if roomID != p.room.ID {
		return nil, &Error{Kind: ErrRoomNotFound, Message: roomID}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if epoch != "" && epoch != p.room.Epoch {
		return nil, &Error{Kind: ErrEpochChanged, Message: epoch}
	}
	if afterSeq > uint64(len(p.log)) {
		return nil, &Error{Kind: ErrInvalidArgument, Message: "after the room's last message"}
	}
	select {
	case p.feedCalls <- afterSeq:
	default: // nobody is watching this many reconnects
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &fakeStream{p: p, ctx: ctx, next: afterSeq + 1, gen: p.gen}
	return &Subscription{ctx: ctx, cancel: cancel, stream: s, lastSeq: afterSeq, epoch: epoch}, nil
}

func (p *fakePlugin) AuthorizeViewers(_ context.Context, _ string, userIDs []string) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ok []string
	for _, u := range userIDs {
		if !p.denied[u] {
			ok = append(ok, u)
		}
	}
	return ok, nil
}

func (p *fakePlugin) Join(_ context.Context, userID, roomID string) ([]Participant, error) {
	return nil, p.check(userID, roomID)
}

func (p *fakePlugin) Leave(context.Context, string, string) error { return nil }

func (p *fakePlugin) mayPost(_ context.Context, userID, roomID string) error {
	return p.check(userID, roomID)
}

func (p *fakePlugin) Typing(_ context.Context, userID, roomID string) error {
	return p.check(userID, roomID)
}

func (p *fakePlugin) currentInstance() *instance { return p.inst }
func (p *fakePlugin) roomLinks() []RoomLink      { return nil }

// fakeStream is one Feed stream of a fakePlugin.
type fakeStream struct {
	p    *fakePlugin
	ctx  context.Context
	next uint64 // the sequence it sends next
	gen  int
}

func (s *fakeStream) Recv() (*chatv1.RoomEvent, error) {
	p := s.p
	for {
		p.mu.Lock()
		if s.gen != p.gen {
			err := p.endErr
			p.mu.Unlock()
			return nil, err
		}
		if s.next <= uint64(len(p.log)) {
			m := p.log[s.next-1]
			s.next++
			p.mu.Unlock()
			return &chatv1.RoomEvent{Event: &chatv1.RoomEvent_Message{Message: &chatv1.Message{
				RoomId: m.RoomID, Seq: m.Seq, Epoch: m.Epoch, ClientId: m.ClientID, UserId: m.UserID,
				UserName: m.UserName, Text: m.Text, Html: m.HTML, SentAt: timestamppb.New(m.SentAt),
			}}}, nil
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-s.ctx.Done():
			return nil, status.FromContextError(s.ctx.Err()).Err()
		}
	}
}

// newFakeWebServer serves a Handler whose upstream is p.
func newFakeWebServer(t *testing.T, p *fakePlugin, opts ...HandlerOption) *webServer {
	t.Helper()
	host := newTestHost()
	h, err := newHandler(p, host, config{}, hclog.NewNullLogger(), webIdentify, opts...)
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	ws := &webServer{host: host, h: h, room: p.room}
	ws.serve(t)
	return ws
}

// jsonHasCode reports whether data is an error JSON with code.
func jsonHasCode(data, code string) bool {
	var e errorJSON
	return json.Unmarshal([]byte(data), &e) == nil && e.Code == code
}

// nextFeedCall waits for the next Feed call and returns its afterSeq.
func (p *fakePlugin) nextFeedCall(t *testing.T) uint64 {
	t.Helper()
	select {
	case after := <-p.feedCalls:
		return after
	case <-time.After(waitTimeout):
		t.Fatal("the room feed did not open an upstream Feed")
		return 0
	}
}

func TestFeedDeliversEveryMessageOnceInOrderToEveryBrowser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ring int // messages the feed keeps in memory
	}{
		// Browsers that join late catch up with what the feed saw from
		// its memory, and with the older backlog through History ...
		{"feed remembers every live message", 256},
		// ... or with almost everything through History, then from the
		// few messages the feed still holds.
		{"feed forgets all but four", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newFakePlugin()
			p.post(10)
			ws := newFakeWebServer(t, p, withTuning(func(c *handlerConfig) { c.ringMessages = tt.ring }))

			// Messages keep arriving while browsers join, so joins
			// cross the hand-over from catch-up to live.
			const browsers, live = 6, 120
			posted := make(chan struct{})
			go func() {
				defer close(posted)
				for range live {
					p.post(1)
				}
			}()
			var conns []*sseConn
			for i := range browsers {
				conns = append(conns, ws.openEvents(t, basicUser(fmt.Sprint("user", i)), "after=0", nil))
			}
			<-posted
			for _, c := range conns {
				for _, m := range c.wantMessages(t, 1, 10+live) {
					if m.Text != fmt.Sprintf("message %d", m.Seq) || m.Epoch != p.room.Epoch {
						t.Fatalf("message %d arrived as %+v", m.Seq, m)
					}
				}
			}
			if n := ws.h.feedOpens.Load(); n != 1 {
				t.Errorf("%d upstream feeds for one room, want 1", n)
			}
		})
	}
}

func TestFeedCutsAViewerWhoLosesPermissionAndServesTheOthers(t *testing.T) {
	t.Parallel()
	p := newFakePlugin()
	ws := newFakeWebServer(t, p, WithPermissionWindow(2*MinPermissionWindow))
	alice := ws.openEvents(t, cookieUser("alice"), "", nil)
	bob := ws.openEvents(t, cookieUser("bob"), "", nil)
	carol := ws.openEvents(t, basicUser("carol"), "", nil)
	p.post(1)
	for _, c := range []*sseConn{alice, bob, carol} {
		c.wantMessages(t, 1, 1)
	}

	p.deny("bob")
	if ev := bob.nextTerminal(t); ev.Event != "error" || !jsonHasCode(ev.Data, "forbidden") {
		t.Fatalf("bob got %+v, want an error event with code forbidden", ev)
	}
	bob.waitEnd(t)
	p.post(2)
	alice.wantMessages(t, 2, 3)
	carol.wantMessages(t, 2, 3)
	resp, body := ws.do(t, http.MethodGet, ws.api(p.room.ID)+"/events", cookieUser("bob"), nil, nil)
	wantError(t, resp, body, http.StatusForbidden, "forbidden")
}

// A re-check that finds a user banned before the ban's event reached the
// feed must still tell them they are banned, with the plugin's sentence,
// not that they lost permission.
func TestFeedRecheckTellsABannedViewerWhy(t *testing.T) {
	t.Parallel()
	p := newFakePlugin()
	ws := newFakeWebServer(t, p, WithPermissionWindow(2*MinPermissionWindow))
	alice := ws.openEvents(t, cookieUser("alice"), "", nil)
	bob := ws.openEvents(t, cookieUser("bob"), "", nil)
	p.post(1)
	alice.wantMessages(t, 1, 1)
	bob.wantMessages(t, 1, 1)

	const sentence = "you are banned from this room with no end date (reason: spam)"
	p.ban("bob", sentence)
	ev := bob.nextTerminal(t)
	if ev.Event != "error" || !jsonHasCode(ev.Data, "banned") || !strings.Contains(ev.Data, "reason: spam") {
		t.Fatalf("bob got %+v, want an error event with code banned and the plugin's sentence", ev)
	}
	bob.waitEnd(t)
	p.post(1)
	alice.wantMessages(t, 2, 2)
}

// A ban that lands while a new stream catches up from history is told
// as a ban, with the plugin's sentence, as it is to a live stream: not as
// a lost permission.
func TestCatchUpTellsABannedViewerWhy(t *testing.T) {
	t.Parallel()
	p := newFakePlugin()
	p.post(3) // before any feed: a new one starts at 3 and holds none of them
	const sentence = "you are banned from this room with no end date (reason: spam)"
	p.onHistory = func(user string) {
		if user == "bob" {
			p.ban("bob", sentence)
		}
	}
	ws := newFakeWebServer(t, p)
	bob := ws.openEvents(t, cookieUser("bob"), "after=0", nil)
	ev := bob.nextTerminal(t)
	if ev.Event != "error" || !jsonHasCode(ev.Data, "banned") || !strings.Contains(ev.Data, "reason: spam") {
		t.Fatalf("bob got %+v, want an error event with code banned and the plugin's sentence", ev)
	}
	if n := ws.h.historyFills.Load(); n == 0 {
		t.Fatal("the stream did not catch up from history; the test did not test that path")
	}
}

func TestFeedResumesFromItsLastSequenceWhenItsUpstreamEnds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		end  error
	}{
		{"plugin stopping", status.Error(codes.Unavailable, "plugin is shutting down")},
		{"feed cut for lagging", status.Error(codes.ResourceExhausted, "subscriber fell behind")},
		{"stream closed", io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newFakePlugin()
			p.post(3)
			ws := newFakeWebServer(t, p)
			c := ws.openEvents(t, cookieUser("alice"), "after=0", nil)
			if after := p.nextFeedCall(t); after != 3 {
				t.Fatalf("the feed opened after %d, want the room's last message 3", after)
			}
			p.post(2)
			c.wantMessages(t, 1, 5)

			p.endFeeds(tt.end)
			p.post(1) // while the feed is down
			if after := p.nextFeedCall(t); after != 5 {
				t.Fatalf("the feed resumed after %d, want 5: the last message it had", after)
			}
			p.post(1)
			// Nothing lost, nothing twice, the browser's stream intact.
			c.wantMessages(t, 6, 7)
			if n := ws.h.feedOpens.Load(); n != 2 {
				t.Errorf("%d upstream feeds opened, want 2", n)
			}
		})
	}
}

// Not parallel: goleak sees every goroutine of the process, and other
// tests' would count as leaks of this one.
func TestHandlerCloseStopsEveryGoroutine(t *testing.T) {
	before := goleak.IgnoreCurrent()
	p := newFakePlugin()
	ws := newFakeWebServer(t, p)
	var conns []*sseConn
	for _, u := range []string{"alice", "bob", "carol"} {
		conns = append(conns, ws.openEvents(t, cookieUser(u), "", nil))
	}
	p.post(3)
	for _, c := range conns {
		c.wantMessages(t, 1, 3)
	}
	if err := ws.h.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		c.waitEnd(t)
		c.close()
	}
	ws.srv.Close()
	goleak.VerifyNone(t, before)
}
