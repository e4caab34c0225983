package hostsdk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil"
)

// These tests start the real plugin binary through go-plugin, exactly as a
// host does, with real bbolt files in a temp dir.

func openRoom(t *testing.T, c *Client, name string) Room {
	t.Helper()
	room, err := c.OpenRoom(testCtx(t), "alice", "p1", name)
	if err != nil {
		t.Fatalf("OpenRoom: %v", err)
	}
	return room
}

// collect reads n messages from sub, failing on presence-free surprises:
// every message must have the next sequence number.
func collect(t *testing.T, sub *Subscription, from uint64, n int) []Message {
	t.Helper()
	var got []Message
	want := from + 1
	for len(got) < n {
		ev, err := sub.Next()
		if err != nil {
			t.Fatalf("Next after %d of %d messages: %v", len(got), n, err)
		}
		if ev.Message == nil {
			continue
		}
		if ev.Message.Seq != want {
			t.Fatalf("got seq %d, want %d (gap or duplicate)", ev.Message.Seq, want)
		}
		want++
		got = append(got, *ev.Message)
	}
	return got
}

func TestTwoSubscribersReceiveEveryMessageInOrder(t *testing.T) {
	t.Parallel()
	c := loadPlugin(t, newTestHost(), t.TempDir())
	ctx := testCtx(t)
	room := openRoom(t, c, "Ordering Room")

	subA, err := c.Subscribe(ctx, "alice", room.ID, 0, room.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	defer subA.Close()

	const senders, perSender = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, senders*perSender)
	started := make(chan struct{})
	for s := range senders {
		wg.Go(func() {
			for i := range perSender {
				if i == perSender/2 && s == 0 {
					close(started)
				}
				_, err := c.Send(ctx, "bob", room.ID, fmt.Sprintf("s%d-%d", s, i), fmt.Sprintf("hello %d from %d", i, s))
				if err != nil {
					errs <- err
				}
			}
		})
	}
	// The second subscriber joins while messages are flowing, so it
	// crosses the replay-to-live hand-over under load.
	<-started
	subB, err := c.Subscribe(ctx, "bob", room.ID, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	defer subB.Close()

	gotA := collect(t, subA, 0, senders*perSender)
	gotB := collect(t, subB, 0, senders*perSender)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Send: %v", err)
	}
	for i := range gotA {
		if gotA[i].Text != gotB[i].Text || gotA[i].ClientID != gotB[i].ClientID {
			t.Fatalf("subscribers disagree at seq %d: %q vs %q", i+1, gotA[i].Text, gotB[i].Text)
		}
	}
	if gotA[0].UserName != "Bob Builder" {
		t.Errorf("UserName = %q, want the host's display name", gotA[0].UserName)
	}
}

func TestResumeFromSequenceGetsExactlyTheRest(t *testing.T) {
	t.Parallel()
	c := loadPlugin(t, newTestHost(), t.TempDir())
	ctx := testCtx(t)
	room := openRoom(t, c, "Resume")
	for i := range 10 {
		if _, err := c.Send(ctx, "alice", room.ID, fmt.Sprint("c", i), fmt.Sprint("m", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := c.Subscribe(ctx, "alice", room.ID, 4, room.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got := collect(t, sub, 4, 6)
	if got[0].Text != "m5" || got[5].Text != "m10" {
		t.Fatalf("replayed %q..%q, want m5..m10", got[0].Text, got[5].Text)
	}
	ev, err := sub.Next()
	if err != nil || !ev.CaughtUp {
		t.Fatalf("after replay got %+v, %v; want CaughtUp", ev, err)
	}
	if _, err := c.Send(ctx, "alice", room.ID, "live", "m11"); err != nil {
		t.Fatal(err)
	}
	if live := collect(t, sub, 10, 1); live[0].Text != "m11" {
		t.Fatalf("live message %q, want m11", live[0].Text)
	}
	if sub.LastSeq() != 11 {
		t.Errorf("LastSeq = %d, want 11", sub.LastSeq())
	}

	if _, err := c.Subscribe(ctx, "alice", room.ID, 4, "another-epoch"); !errors.Is(err, ErrEpochChanged) {
		t.Errorf("Subscribe with a foreign epoch: %v, want ErrEpochChanged", err)
	}
}

func TestRetriedSendStoresOneMessage(t *testing.T) {
	t.Parallel()
	c := loadPlugin(t, newTestHost(), t.TempDir())
	ctx := testCtx(t)
	room := openRoom(t, c, "Retry")
	first, err := c.Send(ctx, "alice", room.ID, "same-id", "only once")
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Send(ctx, "alice", room.ID, "same-id", "only once")
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.Message.Seq != first.Message.Seq {
		t.Fatalf("retry = seq %d duplicate %v; want seq %d duplicate true", again.Message.Seq, again.Duplicate, first.Message.Seq)
	}
	page, err := c.History(ctx, "alice", room.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 1 {
		t.Fatalf("history has %d messages, want 1", len(page.Messages))
	}
}

func TestBadInputIsRefusedAndStoresNothing(t *testing.T) {
	t.Parallel()
	c := loadPlugin(t, newTestHost(), t.TempDir(), WithMaxMessageBytes(64))
	ctx := testCtx(t)
	room := openRoom(t, c, "Input")
	tests := []struct {
		name     string
		roomID   string
		clientID string
		text     string
		want     error
	}{
		{"empty text", room.ID, "a", "", ErrInvalidArgument},
		{"blank text", room.ID, "b", " \n\t ", ErrInvalidArgument},
		{"oversize text", room.ID, "c", strings.Repeat("x", 65), ErrInvalidArgument},
		{"invalid utf-8", room.ID, "d", "bad \xff byte", ErrInvalidArgument},
		{"no client id", room.ID, "", "hi", ErrInvalidArgument},
		{"malformed room id", "no-dot", "e", "hi", ErrInvalidArgument},
		{"unknown room", "p1.nope", "f", "hi", ErrRoomNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Send(ctx, "alice", tt.roomID, tt.clientID, tt.text)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Send: %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := c.OpenRoom(ctx, "alice", "p1", "!!!"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("OpenRoom with an empty slug: %v, want ErrInvalidArgument", err)
	}
	info, err := c.RoomInfo(ctx, "alice", room.ID)
	if err != nil {
		t.Fatal(err)
	}
	if info.LastSeq != 0 {
		t.Errorf("room has %d messages after refused sends, want 0", info.LastSeq)
	}
}

func TestPermissionsAreEnforcedOnEveryCall(t *testing.T) {
	t.Parallel()
	host := newTestHost()
	host.deny("mallory", "p1", PermissionView)
	host.deny("mallory", "p1", PermissionPost)
	host.deny("bob", "p1", PermissionPost)
	c := loadPlugin(t, host, t.TempDir(), WithPermissionCache(200*time.Millisecond))
	ctx := testCtx(t)
	room := openRoom(t, c, "Secret")
	if _, err := c.Send(ctx, "alice", room.ID, "x", "classified"); err != nil {
		t.Fatal(err)
	}

	if _, err := c.Subscribe(ctx, "mallory", room.ID, 0, ""); !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("Subscribe without view: %v, want ErrPermissionDenied", err)
	}
	if _, err := c.History(ctx, "mallory", room.ID, 0, 0); !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("History without view: %v, want ErrPermissionDenied", err)
	}
	if _, err := c.RoomInfo(ctx, "mallory", room.ID); !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("RoomInfo without view: %v, want ErrPermissionDenied", err)
	}
	if _, err := c.Send(ctx, "bob", room.ID, "y", "may I?"); !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("Send without post: %v, want ErrPermissionDenied", err)
	}
	if _, err := c.History(ctx, "bob", room.ID, 0, 0); err != nil {
		t.Errorf("History with view but without post: %v", err)
	}

	// An open stream is cut once view is revoked.
	sub, err := c.Subscribe(ctx, "bob", room.ID, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	collect(t, sub, 0, 1)
	revoked := time.Now()
	host.deny("bob", "p1", PermissionView)
	for {
		_, err := sub.Next()
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrPermissionDenied) {
			t.Fatalf("stream ended with %v, want ErrPermissionDenied", err)
		}
		break
	}
	// The bound is the permission cache window (200 ms); allow generous
	// slack for a loaded CI machine: this checks the stream is cut by the
	// re-check, not how fast.
	if waited := time.Since(revoked); waited > 5*time.Second {
		t.Errorf("stream cut %v after revocation", waited)
	}
}

// pluginPID returns the pid of the running plugin process.
func pluginPID(t *testing.T, c *Client) int {
	t.Helper()
	in, err := c.live(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	rc := in.pc.ReattachConfig()
	if rc == nil || rc.Pid == 0 {
		t.Fatal("no plugin pid")
	}
	return rc.Pid
}

func TestPluginKilledLosesNoAcknowledgedMessage(t *testing.T) {
	t.Parallel()
	c := loadPlugin(t, newTestHost(), t.TempDir())
	ctx := testCtx(t)
	room := openRoom(t, c, "Crash")
	sub, err := c.Subscribe(ctx, "alice", room.ID, 0, room.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	// Senders keep sending while the process is killed. A send either
	// returns a sequence (acknowledged: it must survive) or an error (the
	// sender retries with the same client id, as a browser would).
	var (
		mu    sync.Mutex
		acked = map[string]uint64{}
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	stopSenders := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	// A wait below that gives up ends the test early: the senders, which
	// would otherwise keep retrying, must not outlive it.
	t.Cleanup(stopSenders)
	for s := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("s%d-%d", s, i)
				for {
					select {
					case <-stop:
						return
					default:
					}
					res, err := c.Send(ctx, "alice", room.ID, id, "msg "+id)
					if err == nil {
						mu.Lock()
						acked[id] = res.Message.Seq
						mu.Unlock()
						break
					}
					if !errors.Is(err, ErrPluginUnavailable) || ctx.Err() != nil {
						t.Errorf("Send %s: %v", id, err)
						return
					}
				}
			}
		})
	}
	waitAcked := func(n int) {
		t.Helper()
		testutil.Eventually(t, waitTimeout, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) >= n
		}, "%d acknowledged sends", n)
	}
	waitAcked(30)
	pid := pluginPID(t, c)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	ackedBefore := len(acked)
	mu.Unlock()
	waitAcked(ackedBefore + 30)
	stopSenders()

	if newPID := pluginPID(t, c); newPID == pid {
		t.Fatalf("plugin pid unchanged (%d): it was not restarted", pid)
	}

	// The open stream ended with an error that says where to resume.
	var subErr error
	for subErr == nil {
		_, subErr = sub.Next()
	}
	if !errors.Is(subErr, ErrPluginUnavailable) {
		t.Fatalf("stream ended with %v, want ErrPluginUnavailable", subErr)
	}
	resumed, err := c.Subscribe(ctx, "alice", room.ID, sub.LastSeq(), room.Epoch)
	if err != nil {
		t.Fatalf("resume after restart: %v", err)
	}
	defer resumed.Close()

	info, err := c.RoomInfo(ctx, "alice", room.ID)
	if err != nil {
		t.Fatal(err)
	}
	rest := collect(t, resumed, sub.LastSeq(), int(info.LastSeq-sub.LastSeq()))
	_ = rest

	// Every acknowledged message is stored exactly once, at the sequence
	// it was acknowledged with.
	bySeq := map[uint64]string{}
	for before := uint64(0); ; {
		page, err := c.History(ctx, "alice", room.ID, before, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Messages {
			bySeq[m.Seq] = m.ClientID
		}
		if !page.HasMore {
			break
		}
		before = page.Messages[0].Seq
	}
	seen := map[string]bool{}
	for seq, id := range bySeq {
		if seen[id] {
			t.Errorf("client id %s stored twice", id)
		}
		seen[id] = true
		_ = seq
	}
	mu.Lock()
	defer mu.Unlock()
	for id, seq := range acked {
		if bySeq[seq] != id {
			t.Errorf("acknowledged %s at seq %d, but storage has %q there", id, seq, bySeq[seq])
		}
	}
	if uint64(len(bySeq)) != info.LastSeq {
		t.Errorf("history has %d messages, room says last seq %d", len(bySeq), info.LastSeq)
	}
}

func TestCloseStopsThePluginProcess(t *testing.T) {
	t.Parallel()
	c := loadPlugin(t, newTestHost(), t.TempDir())
	pid := pluginPID(t, c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("plugin process %d still exists after Close (kill -0: %v)", pid, err)
	}
	if _, err := c.Health(testCtx(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v, want ErrClosed", err)
	}
}

func TestDataSurvivesAHostRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	host := newTestHost()
	ctx := testCtx(t)
	first := loadPlugin(t, host, dir)
	room := openRoom(t, first, "Durable")
	if _, err := first.Send(ctx, "alice", room.ID, "k", "persisted"); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := loadPlugin(t, host, dir)
	page, err := second.History(ctx, "alice", room.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 1 || page.Messages[0].Text != "persisted" || page.Epoch != room.Epoch {
		t.Fatalf("after restart: %+v, want the one message in epoch %s", page, room.Epoch)
	}
}

func TestLoadRefusesWrongBinaries(t *testing.T) {
	t.Parallel()
	real := pluginBinary(t)
	data, err := os.ReadFile(real)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	script := filepath.Join(t.TempDir(), "not-a-plugin")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		opts []Option
		want error
	}{
		{"checksum mismatch", real, []Option{WithChecksum(strings.Repeat("00", 32))}, ErrChecksumMismatch},
		{"not a plugin", script, nil, ErrNotPagechatPlugin},
		{"other protocol version", buildBinary(t, "github.com/pagechat/pagechat/plugin/internal/testplugins/wrongversion"), nil, ErrIncompatibleVersion},
		{"missing file", filepath.Join(t.TempDir(), "nope"), nil, os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := Load(ctx, tt.path, t.TempDir(), newTestHost(), append(tt.opts, WithSocketDir(binDir))...)
			if err == nil {
				c.Close()
				t.Fatal("Load succeeded")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Load: %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("matching checksum", func(t *testing.T) {
		t.Parallel()
		c := loadPlugin(t, newTestHost(), t.TempDir(), WithChecksum(hex.EncodeToString(sum[:])))
		if h, err := c.Health(testCtx(t)); err != nil || !h.Configured {
			t.Fatalf("Health = %+v, %v", h, err)
		}
	})
}

func TestBadOptionsFailLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opt  Option
	}{
		{"short checksum", WithChecksum("abc")},
		{"huge message limit", WithMaxMessageBytes(1 << 30)},
		{"long permission cache", WithPermissionCache(time.Minute)},
		{"backoff min above max", WithRestartBackoff(time.Second, time.Millisecond)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Load(context.Background(), "/nonexistent", t.TempDir(), newTestHost(), tt.opt); err == nil || errors.Is(err, os.ErrNotExist) {
				t.Fatalf("Load: %v, want the option's own error", err)
			}
		})
	}
}

func TestFeedAndAuthorizeViewers(t *testing.T) {
	t.Parallel()
	host := newTestHost()
	host.deny("mallory", "p1", PermissionView)
	c := loadPlugin(t, host, t.TempDir())
	ctx := testCtx(t)
	room := openRoom(t, c, "Fan Out")
	if _, err := c.Send(ctx, "alice", room.ID, "1", "before the feed"); err != nil {
		t.Fatal(err)
	}
	feed, err := c.Feed(ctx, room.ID, 0, room.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	if _, err := c.Send(ctx, "bob", room.ID, "2", "after the feed"); err != nil {
		t.Fatal(err)
	}
	got := collect(t, feed, 0, 2)
	if got[0].Text != "before the feed" || got[1].Text != "after the feed" {
		t.Fatalf("feed delivered %q, %q", got[0].Text, got[1].Text)
	}

	allowed, err := c.AuthorizeViewers(ctx, room.ID, []string{"alice", "mallory", "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(allowed, []string{"alice", "bob"}) {
		t.Fatalf("AuthorizeViewers = %v, want [alice bob]", allowed)
	}
	if _, err := c.Feed(ctx, "p1.no-such-room", 0, ""); !errors.Is(err, ErrRoomNotFound) {
		t.Fatalf("Feed of an unknown room: %v, want ErrRoomNotFound", err)
	}
}

func TestSendsBeyondTheRateLimitAreRefused(t *testing.T) {
	t.Parallel()
	c := loadPlugin(t, newTestHost(), t.TempDir(), WithMessagesPerMinute(5))
	ctx := testCtx(t)
	room := openRoom(t, c, "Rate")
	for i := range 5 {
		if _, err := c.Send(ctx, "alice", room.ID, fmt.Sprint("r", i), "ok"); err != nil {
			t.Fatalf("send %d within the limit: %v", i+1, err)
		}
	}
	_, err := c.Send(ctx, "alice", room.ID, "r5", "one too many")
	var perr *Error
	if !errors.Is(err, ErrRateLimited) || !errors.As(err, &perr) || perr.RetryAfter < time.Second {
		t.Fatalf("sixth send: %v, want ErrRateLimited with a RetryAfter of at least 1s", err)
	}
	if _, err := c.Send(ctx, "bob", room.ID, "b0", "someone else"); err != nil {
		t.Fatalf("another user is limited too: %v", err)
	}
	if info, err := c.RoomInfo(ctx, "alice", room.ID); err != nil || info.LastSeq != 6 {
		t.Fatalf("room has %d messages (%v), want 6: the refused send must store nothing", info.LastSeq, err)
	}
}

func TestRoomsPerPageLimit(t *testing.T) {
	t.Parallel()
	c := loadPlugin(t, newTestHost(), t.TempDir(), WithMaxRoomsPerPage(2))
	ctx := testCtx(t)
	openRoom(t, c, "One")
	openRoom(t, c, "Two")
	if _, err := c.OpenRoom(ctx, "alice", "p1", "Three"); !errors.Is(err, ErrLimitExceeded) {
		t.Fatalf("third room: %v, want ErrLimitExceeded", err)
	}
	openRoom(t, c, "One") // existing rooms still open
	if _, err := c.OpenRoom(ctx, "alice", "p1.x", "Other Page"); err != nil {
		t.Fatalf("a page whose id extends p1 is another page: %v", err)
	}
	r, err := c.RenderMacro(ctx, MacroRequest{UserID: "alice", PageID: "p1", Name: "Four"})
	if err != nil || !strings.Contains(r.HTML, "pagechat-error") {
		t.Fatalf("macro beyond the limit rendered %q, %v; want an error box", r.HTML, err)
	}
}
