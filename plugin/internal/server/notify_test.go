package server

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pagechat/pagechat/internal/testutil"
	"github.com/pagechat/pagechat/plugin/internal/store"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

// notifyState is the fake host's side of notifications.
type notifyState struct {
	notes     []*hostv1.NotifyRequest
	notifyErr error
	authors   map[string]string // page id -> author
}

func (h *fakeHost) Notify(_ context.Context, req *hostv1.NotifyRequest) (*hostv1.NotifyResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.notifyErr != nil {
		return nil, h.notifyErr
	}
	h.notes = append(h.notes, req)
	return &hostv1.NotifyResponse{}, nil
}

func (h *fakeHost) GetPage(_ context.Context, req *hostv1.GetPageRequest) (*hostv1.GetPageResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return &hostv1.GetPageResponse{Page: &hostv1.Page{Id: req.GetPageId(), Title: "Page " + req.GetPageId(), Url: "/pages/" + req.GetPageId(), AuthorId: h.authors[req.GetPageId()]}}, nil
}

// SearchUsers lists the directory's users who may view the page.
func (h *fakeHost) SearchUsers(_ context.Context, req *hostv1.SearchUsersRequest) (*hostv1.SearchUsersResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	resp := &hostv1.SearchUsersResponse{}
	for id, name := range h.users {
		p := strings.ToLower(req.GetPrefix())
		if !h.perms[fakePermKey{id, req.GetPageId(), view}] ||
			!(strings.HasPrefix(strings.ToLower(id), p) || strings.HasPrefix(strings.ToLower(name), p)) {
			continue
		}
		resp.Users = append(resp.Users, &hostv1.User{Id: id, DisplayName: name})
	}
	return resp, nil
}

func (h *fakeHost) notifications() []*hostv1.NotifyRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.notes)
}

func (h *fakeHost) notificationsFor(user string) []*hostv1.NotifyRequest {
	var out []*hostv1.NotifyRequest
	for _, n := range h.notifications() {
		if n.GetUserId() == user {
			out = append(out, n)
		}
	}
	return out
}

func (h *fakeHost) setNotifyErr(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.notifyErr = err
}

// judged waits until the notifier has judged room up to seq and delivered
// everything it decided.
func (h *harness) judged(room string, seq uint64) {
	h.t.Helper()
	ctx := testCtx(h.t)
	n := h.rt().notify
	testutil.Eventually(h.t, 10*time.Second, func() bool {
		got, err := h.rt().store.JudgedSeq(ctx, room)
		return err == nil && got >= seq
	}, "room %s judged to %d", room, seq)
	// Two more passes: the one that judged may still be delivering.
	after := n.passes.Load() + 2
	n.poke()
	testutil.Eventually(h.t, 10*time.Second, func() bool {
		n.poke()
		if n.passes.Load() < after {
			return false
		}
		out, err := h.rt().store.Outbox(ctx, 1)
		return err == nil && len(out) == 0
	}, "room %s settled", room)
}

func TestMentions(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	ctx := testCtx(t)
	room := h.openRoom("alice", "p1", "Lobby")

	// bob is no participant yet; the host's directory finds him.
	m := h.send("alice", room.GetId(), "c1", "hi @bob, see this").GetMessage()
	if !slices.Equal(m.GetMentions(), []string{"bob"}) {
		t.Fatalf("mentions = %q, want [bob]", m.GetMentions())
	}
	if !strings.Contains(m.GetHtml(), `<span class="mention" data-user-id="bob">@bob</span>`) {
		t.Errorf("html %q does not mark the mention", m.GetHtml())
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return len(h.host.notificationsFor("bob")) == 1 }, "bob notified")
	n := h.host.notificationsFor("bob")[0]
	if n.GetKind() != "mention" || n.GetSubject() != "Alice Liddell mentioned you in Lobby" || n.GetBody() != "hi @bob, see this" ||
		n.GetUrl() != "/chat/rooms/p1.lobby#m-1" || n.GetId() == "" || n.GetRoomId() != room.GetId() {
		t.Errorf("notification = %+v", n)
	}

	// By display name, and again: one notification per message. A retry
	// of the same client id is the same message: nothing new.
	h.send("alice", room.GetId(), "c2", "@Bob Builder: and again")
	h.send("alice", room.GetId(), "c2", "@Bob Builder: and again")
	// carol may not view p1: mentioning her notifies nobody; alice
	// mentioning herself neither.
	m = h.send("alice", room.GetId(), "c3", "@carol @alice").GetMessage()
	if !slices.Equal(m.GetMentions(), []string{"alice"}) {
		t.Errorf("mentions = %q, want only alice (carol may not view the page)", m.GetMentions())
	}
	h.judged(room.GetId(), 3)
	if got := h.host.notificationsFor("bob"); len(got) != 2 || got[1].GetUrl() != "/chat/rooms/p1.lobby#m-2" {
		t.Errorf("bob's notifications = %+v, want two (#m-1, #m-2)", got)
	}
	if got := h.host.notificationsFor("alice"); len(got) != 0 {
		t.Errorf("alice notified of her own mention: %+v", got)
	}

	// bob in the room: he sees it, no notification.
	if _, err := h.c.Join(ctx, &chatv1.JoinRequest{UserId: "bob", RoomId: room.GetId()}); err != nil {
		t.Fatal(err)
	}
	h.send("alice", room.GetId(), "c4", "@bob are you here?")
	h.judged(room.GetId(), 4)
	if got := len(h.host.notificationsFor("bob")); got != 2 {
		t.Errorf("bob notified while in the room: %d notifications", got)
	}

	// History carries the mentions.
	hist := h.history("bob", room.GetId(), 0, 10)
	if got := hist.GetMessages()[0].GetMentions(); !slices.Equal(got, []string{"bob"}) {
		t.Errorf("history mentions = %q", got)
	}
}

// A notification whose reader lost view permission before delivery is
// dropped, also when the host had failed the first tries.
func TestMentionAfterRevocation(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Lobby")
	h.host.setNotifyErr(status.Error(codes.Unavailable, "host busy"))
	h.send("alice", room.GetId(), "c1", "@bob secret plans")
	ctx := testCtx(t)
	testutil.Eventually(t, 10*time.Second, func() bool {
		out, err := h.rt().store.Outbox(ctx, 10)
		return err == nil && len(out) == 1 && out[0].Tries >= 1
	}, "the failed alert waits in the outbox")
	h.host.revoke("bob", "p1", view)
	h.host.setNotifyErr(nil)
	h.rt().notify.poke()
	// The retry is due after a second.
	testutil.Eventually(t, 10*time.Second, func() bool {
		out, err := h.rt().store.Outbox(ctx, 10)
		return err == nil && len(out) == 0
	}, "the alert is settled")
	if got := h.host.notificationsFor("bob"); len(got) != 0 {
		t.Errorf("bob lost view but was notified: %+v", got)
	}
}

// The host failing Notify is retried with back-off until it takes it,
// and delivers exactly one.
func TestNotifyRetried(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Lobby")
	h.host.setNotifyErr(errors.New("down"))
	h.send("alice", room.GetId(), "c1", "@bob ping")
	ctx := testCtx(t)
	testutil.Eventually(t, 10*time.Second, func() bool {
		out, err := h.rt().store.Outbox(ctx, 10)
		return err == nil && len(out) == 1 && out[0].Tries >= 1
	})
	h.host.setNotifyErr(nil)
	testutil.Eventually(t, 10*time.Second, func() bool { return len(h.host.notificationsFor("bob")) == 1 }, "bob notified after the host recovered")
	h.judged(room.GetId(), 1)
	if got := len(h.host.notificationsFor("bob")); got != 1 {
		t.Errorf("%d notifications, want 1", got)
	}
}

func TestQuietPolicy(t *testing.T) {
	t.Parallel()
	clk := testutil.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	p := quietPolicy{period: 10 * time.Minute}
	var d store.Digest
	if p.due(d, clk.Now()) {
		t.Error("empty digest due")
	}
	p.add(&d, store.Message{Seq: 4, UserName: "Bob"})
	if !p.due(d, clk.Now()) {
		t.Error("first activity after quiet not due at once")
	}
	d.Count, d.LastAlert = 0, clk.Now()
	for i, who := range []string{"Bob", "Carol", "Bob", "Carol", "Dan"} {
		p.add(&d, store.Message{Seq: uint64(5 + i), UserName: who})
	}
	clk.Advance(10*time.Minute - time.Second)
	if p.due(d, clk.Now()) {
		t.Error("due within the quiet period")
	}
	clk.Advance(time.Second)
	if !p.due(d, clk.Now()) {
		t.Error("not due when the quiet period ended")
	}
	if got, want := summary(d), "5 new messages from Bob, Carol and Dan"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	if d.FirstSeq != 5 || d.LastSeq != 9 {
		t.Errorf("span %d..%d, want 5..9", d.FirstSeq, d.LastSeq)
	}
}

// A watcher gets the first activity at once, then one summary per quiet
// period, nothing for what they have read, and nothing once unwatched.
func TestWatchQuietPeriod(t *testing.T) {
	t.Parallel()
	clk := testutil.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	h := newHarness(t)
	h.srv.now = clk.Now
	h.host.addUser("alice", "Alice Liddell")
	h.host.addUser("bob", "Bob Builder")
	h.host.allow("alice", "p1", view, post)
	h.host.allow("bob", "p1", view, post)
	req := h.configReq()
	req.WatchQuietPeriodMs = (10 * time.Minute).Milliseconds()
	ctx := testCtx(t)
	if _, err := h.c.Configure(ctx, req); err != nil {
		t.Fatal(err)
	}
	room := h.openRoom("alice", "p1", "Lobby").GetId()
	if resp, err := h.c.SetWatch(ctx, &chatv1.SetWatchRequest{UserId: "bob", RoomId: room, Watching: true}); err != nil || !resp.GetWatching() {
		t.Fatalf("SetWatch = %v, %v", resp, err)
	}
	h.send("alice", room, "1", "first")
	testutil.Eventually(t, 10*time.Second, func() bool { return len(h.host.notificationsFor("bob")) == 1 }, "first alert")
	if n := h.host.notificationsFor("bob")[0]; n.GetKind() != "watch" || n.GetBody() != "1 new message from Alice Liddell" || n.GetUrl() != "/chat/rooms/p1.lobby#m-1" {
		t.Errorf("first alert = %+v", n)
	}
	for i := range 4 {
		h.send("alice", room, string(rune('2'+i)), "more")
	}
	h.judged(room, 5)
	clk.Advance(9 * time.Minute)
	h.rt().notify.poke()
	h.judged(room, 5)
	if got := len(h.host.notificationsFor("bob")); got != 1 {
		t.Fatalf("%d alerts within the quiet period, want 1", got)
	}
	clk.Advance(time.Minute)
	h.rt().notify.poke()
	testutil.Eventually(t, 10*time.Second, func() bool { return len(h.host.notificationsFor("bob")) == 2 }, "summary after the quiet period")
	if n := h.host.notificationsFor("bob")[1]; n.GetBody() != "4 new messages from Alice Liddell" || n.GetSubject() != "4 new messages in Lobby" || n.GetUrl() != "/chat/rooms/p1.lobby#m-2" {
		t.Errorf("summary = %+v", n)
	}

	// Read before the period ends: nothing to tell.
	h.send("alice", room, "6", "read me")
	h.judged(room, 6)
	if _, err := h.c.MarkRead(ctx, &chatv1.MarkReadRequest{UserId: "bob", RoomId: room, Seq: 6}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Minute)
	h.rt().notify.poke()
	testutil.Eventually(t, 10*time.Second, func() bool {
		ds, err := h.rt().store.Digests(ctx, "")
		return err == nil && len(ds) == 0
	}, "the read digest is dropped")
	if got := len(h.host.notificationsFor("bob")); got != 2 {
		t.Errorf("%d alerts, want 2: bob had read the new message", got)
	}

	// Unwatched: nothing at all.
	if _, err := h.c.SetWatch(ctx, &chatv1.SetWatchRequest{UserId: "bob", RoomId: room, Watching: false}); err != nil {
		t.Fatal(err)
	}
	h.send("alice", room, "7", "anyone?")
	clk.Advance(time.Hour)
	h.judged(room, 7)
	if got := len(h.host.notificationsFor("bob")); got != 2 {
		t.Errorf("%d alerts after unwatching, want 2", got)
	}
}

// Unread counts, mention counts, the watch default for page authors and
// read markers that never move back and survive a restart.
func TestReadState(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.host.addUser("alice", "Alice Liddell")
	h.host.addUser("bob", "Bob Builder")
	h.host.allow("alice", "p1", view, post)
	h.host.allow("bob", "p1", view, post)
	h.host.authors = map[string]string{"p1": "alice"}
	req := h.configReq()
	ctx := testCtx(t)
	if _, err := h.c.Configure(ctx, req); err != nil {
		t.Fatal(err)
	}
	room := h.openRoom("alice", "p1", "Lobby").GetId()
	h.send("alice", room, "1", "one")
	h.send("alice", room, "2", "two @bob")
	h.send("alice", room, "3", "three")
	h.send("bob", room, "4", "mine") // his own: not unread

	state := func(user string) *chatv1.ReadState {
		t.Helper()
		resp, err := h.c.RoomInfo(ctx, &chatv1.RoomInfoRequest{UserId: user, RoomId: room})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetReadState()
	}
	if st := state("bob"); st.GetUnread() != 3 || st.GetMentions() != 1 || st.GetWatching() || st.GetLastReadSeq() != 0 {
		t.Errorf("bob = %+v, want 3 unread, 1 mention, not watching", st)
	}
	if st := state("alice"); !st.GetWatching() || st.GetUnread() != 1 {
		t.Errorf("alice (the page's author) = %+v, want watching, 1 unread", st)
	}
	mark := func(seq uint64) *chatv1.ReadState {
		resp, err := h.c.MarkRead(ctx, &chatv1.MarkReadRequest{UserId: "bob", RoomId: room, Seq: seq})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetReadState()
	}
	if st := mark(2); st.GetLastReadSeq() != 2 || st.GetUnread() != 1 || st.GetMentions() != 0 {
		t.Errorf("after reading to 2: %+v", st)
	}
	if st := mark(1); st.GetLastReadSeq() != 2 {
		t.Errorf("marker moved back: %+v", st)
	}
	if st := mark(99); st.GetLastReadSeq() != 4 || st.GetUnread() != 0 {
		t.Errorf("reading past the end: %+v", st)
	}
	if _, err := h.c.SetWatch(ctx, &chatv1.SetWatchRequest{UserId: "alice", RoomId: room, Watching: false}); err != nil {
		t.Fatal(err)
	}
	if st := state("alice"); st.GetWatching() {
		t.Errorf("alice unwatched but %+v", st)
	}
	_, err := h.c.MarkRead(ctx, &chatv1.MarkReadRequest{UserId: "carol", RoomId: room, Seq: 1})
	wantCode(t, err, codes.PermissionDenied)

	// The marker is written on shutdown at the latest.
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(req.GetDataDir()+"/"+dbFileName, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.ReadMarkers(ctx, room, "bob")
	if err != nil || got["bob"] != 4 {
		t.Errorf("stored marker = %v, %v; want 4", got, err)
	}
}

// @room reaches every watcher, but only from a moderator unless the admin
// allows a rate.
func TestRoomMention(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		perHour   int64
		moderator bool
		want      bool
	}{
		{"moderator", 0, true, true},
		{"not allowed", 0, false, false},
		{"rate", 5, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newConfigured(t, func(r *chatv1.ConfigureRequest) { r.RoomMentionsPerHour = tc.perHour })
			if tc.moderator {
				h.host.allow("alice", "p1", hostv1.Permission_PERMISSION_MODERATE)
			}
			ctx := testCtx(t)
			room := h.openRoom("alice", "p1", "Lobby").GetId()
			if _, err := h.c.SetWatch(ctx, &chatv1.SetWatchRequest{UserId: "bob", RoomId: room, Watching: true}); err != nil {
				t.Fatal(err)
			}
			m := h.send("alice", room, "1", "@room meeting now").GetMessage()
			if m.GetMentionsRoom() != tc.want || strings.Contains(m.GetHtml(), "mention-room") != tc.want {
				t.Errorf("mentions_room = %v, html %q; want %v", m.GetMentionsRoom(), m.GetHtml(), tc.want)
			}
			h.judged(room, 1)
			got := h.host.notificationsFor("bob")
			if len(got) != 1 {
				t.Fatalf("bob got %d notifications, want 1", len(got))
			}
			wantKind := "watch"
			if tc.want {
				wantKind = "mention"
			}
			if got[0].GetKind() != wantKind {
				t.Errorf("kind = %q, want %q", got[0].GetKind(), wantKind)
			}
		})
	}
}

// TestOtherNodesRoomsAreJudgedOnlyIfTheirNodeDoesNot: in cluster mode a
// node leaves the judgement of other nodes' messages to the node that
// committed them, and takes a room over only when, after remoteGrace,
// that node has not judged it (it died first).
func TestOtherNodesRoomsAreJudgedOnlyIfTheirNodeDoesNot(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	st, err := store.Open(t.TempDir()+"/chat.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, id := range []string{"p.judged", "p.orphaned"} {
		if _, err := st.CreateRoom(ctx, store.Room{ID: id, PageID: "p"}); err != nil {
			t.Fatal(err)
		}
	}
	var followed []store.Message
	for _, id := range []string{"p.judged", "p.orphaned"} {
		for range 3 {
			m, _, err := st.Append(ctx, id, store.NewMessage{UserID: "u", Text: "x"})
			if err != nil {
				t.Fatal(err)
			}
			followed = append(followed, m)
		}
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := newNotifier(hclog.NewNullLogger(), func() time.Time { return now }, notifySettings{}, "/chat/")
	n.store = st
	published := 0
	n.onFollow(func(m []store.Message) { published += len(m) })(followed)
	if published != len(followed) {
		t.Fatalf("the fan-out got %d of %d followed messages", published, len(followed))
	}
	n.mu.Lock()
	dirty := len(n.dirty)
	n.mu.Unlock()
	if dirty != 0 {
		t.Errorf("other nodes' messages made %d rooms dirty here; their nodes judge them", dirty)
	}
	if due := n.dueRemote(ctx); len(due) != 0 {
		t.Errorf("rooms %v taken over before their node had remoteGrace to judge them", due)
	}
	// The node that committed p.judged judged it; p.orphaned's died.
	if err := st.CommitNotifications(ctx, []store.NotifyBatch{{RoomID: "p.judged", JudgedSeq: 3}}); err != nil {
		t.Fatal(err)
	}
	// A message that arrives just before the look is not yet due: its
	// node is alive and judges it in its next pass.
	now = now.Add(remoteGrace - time.Millisecond)
	late, _, err := st.Append(ctx, "p.judged", store.NewMessage{UserID: "u", Text: "late"})
	if err != nil {
		t.Fatal(err)
	}
	n.onFollow(func([]store.Message) {})([]store.Message{late})
	now = now.Add(time.Millisecond)
	if due := n.dueRemote(ctx); !slices.Equal(due, []string{"p.orphaned"}) {
		t.Errorf("taken over after the grace: %v, want only the room its node left unjudged", due)
	}
	if due := n.dueRemote(ctx); len(due) != 0 {
		t.Errorf("taken over twice: %v", due)
	}
	// The late message is not forgotten: when its node dies before
	// judging it, it is taken over a grace later.
	now = now.Add(remoteGrace)
	if due := n.dueRemote(ctx); !slices.Equal(due, []string{"p.judged"}) {
		t.Errorf("a grace after the late message: taken over %v, want p.judged", due)
	}
	// Once judged, nothing is left to watch.
	if err := st.CommitNotifications(ctx, []store.NotifyBatch{{RoomID: "p.judged", JudgedSeq: late.Seq}, {RoomID: "p.orphaned", JudgedSeq: 3}}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(remoteGrace)
	if due := n.dueRemote(ctx); len(due) != 0 {
		t.Errorf("judged rooms taken over: %v", due)
	}
	n.mu.Lock()
	left := len(n.remote)
	n.mu.Unlock()
	if left != 0 {
		t.Errorf("%d rooms still watched after every message was judged", left)
	}
}
