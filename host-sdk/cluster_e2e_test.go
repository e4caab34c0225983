package hostsdk

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"

	"github.com/pagechat/pagechat/internal/testutil"
	"github.com/pagechat/pagechat/internal/testutil/pgtest"
)

// Cluster mode end to end: two real plugin processes, each behind its own
// Client as on two wiki nodes, sharing one PostgreSQL database.

// loadNode starts a plugin on dsn as one node of a cluster. What the node
// logs is shown if the test fails: a cluster failure seen once in CI is
// otherwise hard to explain.
func loadNode(t *testing.T, host Host, dsn string, opts ...Option) *Client {
	t.Helper()
	node := fmt.Sprintf("node-%d", nodeCount.Add(1))
	return loadPlugin(t, host, t.TempDir(), append([]Option{WithPostgres(dsn), WithLogger(logOnFailure(t, node))}, opts...)...)
}

var nodeCount atomic.Int64

// logOnFailure returns a logger that keeps everything at debug level and
// hands it to t.Log when t has failed by its end.
func logOnFailure(t *testing.T, name string) hclog.Logger {
	logs := &testutil.SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s logged:\n%s", name, logs.String())
		}
	})
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Debug, Output: logs})
}

// sqlExec runs one statement on dsn, for tests that reach behind the
// plugin's back.
func sqlExec(t *testing.T, dsn, query string, args ...any) int64 {
	t.Helper()
	ctx := testCtx(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	tag, err := conn.Exec(ctx, query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return tag.RowsAffected()
}

// sendAll sends n messages per sender from senders goroutines on c and
// fails the test on any error.
func sendAll(t *testing.T, c *Client, roomID, prefix string, senders, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range n {
				if _, err := c.Send(testCtx(t), "alice", roomID, fmt.Sprintf("%s-%d-%d", prefix, g, i), "hello"); err != nil {
					t.Errorf("Send: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestClusterMessagesCrossNodesInOrder(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	a := loadNode(t, newTestHost(), dsn)
	b := loadNode(t, newTestHost(), dsn)
	ctx := testCtx(t)
	room := openRoom(t, a, "Cluster")

	subB, err := b.Subscribe(ctx, "bob", room.ID, 0, room.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	defer subB.Close()
	subA, err := a.Subscribe(ctx, "bob", room.ID, 0, room.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	defer subA.Close()

	// Senders on both nodes at once: the room's sequence stays one
	// gapless order, and each node's subscriber sees all of it.
	const senders, perSender = 4, 40
	var wg sync.WaitGroup
	wg.Go(func() { sendAll(t, a, room.ID, "a", senders, perSender) })
	wg.Go(func() { sendAll(t, b, room.ID, "b", senders, perSender) })
	const total = 2 * senders * perSender
	gotB := collect(t, subB, 0, total)
	gotA := collect(t, subA, 0, total)
	wg.Wait()
	for i := range gotB {
		if gotA[i].ClientID != gotB[i].ClientID {
			t.Fatalf("seq %d: node A saw %s, node B %s", i+1, gotA[i].ClientID, gotB[i].ClientID)
		}
	}
	// A retry of a send that landed on the other node is a duplicate.
	res, err := b.Send(ctx, "alice", room.ID, "a-0-0", "hello")
	if err != nil || !res.Duplicate || res.Message.Seq != firstSeqOf(gotB, "a-0-0") {
		t.Errorf("retry on the other node = %+v, %v; want the duplicate", res, err)
	}
}

func firstSeqOf(msgs []Message, clientID string) uint64 {
	for _, m := range msgs {
		if m.ClientID == clientID {
			return m.Seq
		}
	}
	return 0
}

// A LISTEN connection that dies takes its notifications with it: the
// other node still gets every message, by its poll and by listening again.
func TestClusterLostListenConnectionCostsLatencyNotMessages(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	a := loadNode(t, newTestHost(), dsn)
	b := loadNode(t, newTestHost(), dsn)
	ctx := testCtx(t)
	room := openRoom(t, a, "Listen")
	sub, err := b.Subscribe(ctx, "bob", room.ID, 0, room.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	sendAll(t, a, room.ID, "before", 1, 5)
	collect(t, sub, 0, 5)

	const listeners = `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pagechat-listen'`
	testutil.Eventually(t, waitTimeout, func() bool {
		return sqlExec(t, dsn, `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pagechat-listen'`) == 2
	},
		"both nodes listening")
	if n := sqlExec(t, dsn, listeners); n != 2 {
		t.Fatalf("terminated %d LISTEN connections, want 2", n)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		// Keep sending while the listeners are away and come back.
		for i := range 20 {
			sendAll(t, a, room.ID, fmt.Sprint("during-", i), 1, 1)
			if i%5 == 0 {
				sqlExec(t, dsn, listeners)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	got := collect(t, sub, 5, 20)
	wg.Wait()
	if got[len(got)-1].Seq != 25 {
		t.Errorf("last seq %d, want 25", got[len(got)-1].Seq)
	}
}

func TestClusterPresenceAcrossNodesAndDropOffWhenANodeDies(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	const ttl = 2 * time.Second
	env := WithPluginEnv("PAGECHAT_PRESENCE_TTL=" + ttl.String())
	a := loadNode(t, newTestHost(), dsn, env)
	b := loadNode(t, newTestHost(), dsn, env)
	ctx := testCtx(t)
	room := openRoom(t, a, "Presence")

	subA, err := a.Subscribe(ctx, "alice", room.ID, 0, room.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	defer subA.Close()
	// Subscribers hold presence; bob is online on node B only.
	subB, err := b.Subscribe(ctx, "bob", room.ID, 0, room.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	defer subB.Close()

	online := func(c *Client, user string) bool {
		ps, err := c.Presence(ctx, "alice", room.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.UserID == user {
				return p.Online
			}
		}
		return false
	}
	testutil.Eventually(t, waitTimeout, func() bool { return online(a, "bob") }, "bob (on node B) listed online on node A")
	// Node A's stream heard bob come online.
	for {
		ev, err := subA.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Presence != nil && ev.Presence.UserID == "bob" && ev.Presence.Online {
			break
		}
	}

	if err := syscall.Kill(pluginPID(t, b), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	testutil.Eventually(t, waitTimeout, func() bool { return !online(a, "bob") }, "bob dropping off after node B died")
	// The bound is the TTL plus a heartbeat; slack for a loaded machine.
	if took := time.Since(killed); took > ttl+5*time.Second {
		t.Errorf("bob listed online %v after his node died (TTL %v)", took, ttl)
	}
	for {
		ev, err := subA.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Presence != nil && ev.Presence.UserID == "bob" && !ev.Presence.Online {
			break
		}
	}
}

func TestClusterRateLimitHoldsAcrossNodes(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	const perMinute = 6
	a := loadNode(t, newTestHost(), dsn, WithMessagesPerMinute(perMinute))
	b := loadNode(t, newTestHost(), dsn, WithMessagesPerMinute(perMinute))
	ctx := testCtx(t)
	room := openRoom(t, a, "Limits")
	// Each node alone would allow perMinute: together they allow that
	// many, not twice as many.
	for i := range perMinute {
		c := []*Client{a, b}[i%2]
		if _, err := c.Send(ctx, "alice", room.ID, fmt.Sprint("ok-", i), "x"); err != nil {
			t.Fatalf("send %d of %d: %v", i+1, perMinute, err)
		}
	}
	for i, c := range []*Client{a, b} {
		_, err := c.Send(ctx, "alice", room.ID, fmt.Sprint("over-", i), "x")
		var e *Error
		if !errors.As(err, &e) || !errors.Is(e.Kind, ErrRateLimited) || e.RetryAfter <= 0 {
			t.Errorf("send over the limit on node %d = %v, want ErrRateLimited with a retry time", i, err)
		}
	}
	// Another user's budget is their own.
	if _, err := b.Send(ctx, "bob", room.ID, "bob-1", "x"); err != nil {
		t.Errorf("bob's send: %v", err)
	}
}

// transcriptHost records transcript writes and can hold or fail them.
type transcriptHost struct {
	*testHost
	mode   atomic.Int32 // 0 write, 1 hang until the call ends, 2 fail
	calls  atomic.Int32
	writes atomic.Int32
}

func (h *transcriptHost) UpsertChildPage(ctx context.Context, c ChildPage) (Page, error) {
	h.calls.Add(1)
	switch h.mode.Load() {
	case 1:
		<-ctx.Done()
		return Page{}, ctx.Err()
	case 2:
		return Page{}, errors.New("this node's host is broken")
	}
	p, err := h.testHost.UpsertChildPage(ctx, c)
	if err == nil {
		h.writes.Add(1)
	}
	return p, err
}

func TestClusterOneNodeWritesTranscriptsAndAnotherTakesOver(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	const lease = 2 * time.Second
	opts := []Option{WithTranscriptDelay(50 * time.Millisecond), WithPluginEnv("PAGECHAT_TRANSCRIPT_LEASE_TTL=" + lease.String())}
	hosts := []*transcriptHost{{testHost: newTestHost()}, {testHost: newTestHost()}}
	for _, h := range hosts {
		h.mode.Store(1) // whoever writes first holds the write open
	}
	nodes := []*Client{loadNode(t, hosts[0], dsn, opts...), loadNode(t, hosts[1], dsn, opts...)}
	ctx := testCtx(t)
	room := openRoom(t, nodes[0], "Transcript")
	if _, err := nodes[1].Send(ctx, "alice", room.ID, "m1", "for the record"); err != nil {
		t.Fatal(err)
	}
	var holder int
	testutil.Eventually(t, waitTimeout, func() bool {
		for i, h := range hosts {
			if h.calls.Load() > 0 {
				holder = i
				return true
			}
		}
		return false
	}, "a node starting the transcript write")
	other := 1 - holder
	// While the holder's write hangs, the other node must keep out,
	// however often it looks. The holder's lease is read after the other
	// node's count: if it was still live then, the count was taken while
	// the holder held the room, however slowly this machine ran.
	time.Sleep(lease / 2)
	n := hosts[other].calls.Load()
	if sqlExec(t, dsn, `SELECT 1 FROM pagechat.transcript_leases WHERE expires_at > clock_timestamp()`) == 1 {
		if n != 0 {
			t.Fatalf("node %d wrote the transcript %d times while node %d held the room", other, n, holder)
		}
	} else {
		t.Logf("node %d's lease ran out before it was checked (a busy machine); keeping out not checked", holder)
	}

	// The holder dies mid-write; its restarted plugin's host is broken,
	// so only the other node can finish the page.
	hosts[holder].mode.Store(2)
	hosts[other].mode.Store(0)
	if err := syscall.Kill(pluginPID(t, nodes[holder]), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	testutil.Eventually(t, waitTimeout, func() bool { return hosts[other].writes.Load() > 0 }, "the other node taking the transcript over")
	if took := time.Since(killed); took > lease+10*time.Second {
		t.Errorf("takeover took %v with a %v lease", took, lease)
	}
}

// A node whose host refuses every transcript write must not keep the room:
// it gives the lease up after each failure, and a node whose host works
// takes the room over and writes the page.
func TestClusterNodeWithABrokenHostHandsTranscriptsOver(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	const lease = 2 * time.Second
	opts := []Option{WithTranscriptDelay(50 * time.Millisecond), WithPluginEnv("PAGECHAT_TRANSCRIPT_LEASE_TTL=" + lease.String())}
	broken, healthy := &transcriptHost{testHost: newTestHost()}, &transcriptHost{testHost: newTestHost()}
	broken.mode.Store(2)
	// The broken node is alone when the page falls due, so it takes the
	// room's lease and fails with it before the healthy node exists.
	first := loadNode(t, broken, dsn, opts...)
	ctx := testCtx(t)
	room := openRoom(t, first, "Broken")
	if _, err := first.Send(ctx, "alice", room.ID, "m1", "for the record"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitTimeout, func() bool { return broken.calls.Load() > 0 }, "the broken node trying the transcript write")
	loadNode(t, healthy, dsn, opts...)
	testutil.Eventually(t, waitTimeout, func() bool { return healthy.writes.Load() > 0 }, "the healthy node taking the transcript over")
	if n := broken.writes.Load(); n != 0 {
		t.Errorf("the broken host stored %d pages", n)
	}
}

func TestClusterNodeRefusesANewerSchema(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	c := loadNode(t, newTestHost(), dsn)
	if _, err := c.Health(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	sqlExec(t, dsn, `UPDATE pagechat.schema_version SET version = 99`)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c2, err := Load(ctx, pluginBinary(t), t.TempDir(), newTestHost(), WithSocketDir(binDir), WithPostgres(dsn))
	if err == nil {
		_ = c2.Close()
		t.Fatal("a node started on a database with a newer schema")
	}
	if !strings.Contains(err.Error(), "schema version 99") || !strings.Contains(err.Error(), "newer") {
		t.Errorf("error = %v; want it to name the newer schema version", err)
	}
}

func TestClusterBadDSNFailsClearlyWithoutThePassword(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, dsn, want string }{
		{"unreachable", "postgres://chat:s3cretpw@127.0.0.1:1/chat?connect_timeout=2", "cannot reach PostgreSQL"},
		{"malformed", "postgres://chat:s3cretpw@127.0.0.1:notaport/chat", "DSN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := Load(ctx, pluginBinary(t), t.TempDir(), newTestHost(), WithSocketDir(binDir), WithPostgres(tc.dsn))
			if err == nil {
				_ = c.Close()
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cretpw") {
				t.Errorf("error = %v; want %q and no password", err, tc.want)
			}
		})
	}
}

// PostgreSQL restarting under load: sends fail fast with ErrPluginUnavailable
// (503 for browsers) while it is down, the stream stays open and resumes,
// and every acknowledged message is stored once, in a gapless log.
func TestClusterDatabaseRestartUnderLoad(t *testing.T) {
	t.Parallel()
	srv := pgtest.NewServer(t)
	dsn := srv.DSN(t)
	c := loadNode(t, newTestHost(), dsn)
	ctx := testCtx(t)
	room := openRoom(t, c, "Restart")
	sub, err := c.Subscribe(ctx, "bob", room.ID, 0, room.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	var (
		mu       sync.Mutex
		acked    = map[string]uint64{}
		failures atomic.Int32
		slowest  atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				cid := fmt.Sprintf("g%d-%d", g, i)
				for { // retry with the same client id until acknowledged
					select {
					case <-stop:
						return
					default:
					}
					began := time.Now()
					res, err := c.Send(ctx, "alice", room.ID, cid, "x")
					if err == nil {
						mu.Lock()
						acked[cid] = res.Message.Seq
						mu.Unlock()
						break
					}
					if !errors.Is(err, ErrPluginUnavailable) {
						t.Errorf("send during the outage: %v, want ErrPluginUnavailable", err)
						return
					}
					failures.Add(1)
					if d := int64(time.Since(began)); d > slowest.Load() {
						slowest.Store(d)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitTimeout, func() bool { return failures.Load() >= 8 }, "sends failing while PostgreSQL is down")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	testutil.Eventually(t, waitTimeout, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) > before+20
	}, "sends succeeding after PostgreSQL is back")
	close(stop)
	wg.Wait()
	if d := time.Duration(slowest.Load()); d > 3*time.Second {
		t.Errorf("a failed send took %v: it must fail fast", d)
	}

	// Everything acknowledged is stored once, at the seq acknowledged,
	// and the stream delivers the whole log in order.
	mu.Lock()
	defer mu.Unlock()
	var last uint64
	for _, seq := range acked {
		last = max(last, seq)
	}
	got := collect(t, sub, 0, int(last))
	seen := map[string]bool{}
	for _, m := range got {
		if seen[m.ClientID] {
			t.Errorf("client id %s stored twice", m.ClientID)
		}
		seen[m.ClientID] = true
		if seq, ok := acked[m.ClientID]; ok && seq != m.Seq {
			t.Errorf("%s acknowledged as %d, stored as %d", m.ClientID, seq, m.Seq)
		}
	}
	for cid := range acked {
		if !seen[cid] {
			t.Errorf("acknowledged %s lost", cid)
		}
	}
	t.Logf("%d sends acknowledged, %d failed fast during the outage (slowest failure %v)", len(acked), failures.Load(), time.Duration(slowest.Load()))
}

// Browsers hear about a database outage as a 503 with code "unavailable",
// at once, and can send again when it is back.
func TestClusterDatabaseDownIsA503ForBrowsers(t *testing.T) {
	t.Parallel()
	srv := pgtest.NewServer(t)
	ws := newWebServer(t, []Option{WithPostgres(srv.DSN(t))})
	post := func(cid string) (*http.Response, []byte) {
		body := fmt.Sprintf(`{"text": "hello", "client_id": %q}`, cid)
		return ws.do(t, http.MethodPost, ws.api(ws.room.ID)+"/messages", cookieUser("alice"), strings.NewReader(body),
			map[string]string{"Sec-Fetch-Site": "same-origin"})
	}
	if resp, body := post("before"); resp.StatusCode != http.StatusOK {
		t.Fatalf("send before the outage: %d %s", resp.StatusCode, body)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	resp, body := post("during")
	wantError(t, resp, body, http.StatusServiceUnavailable, "unavailable")
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("the 503 took %v: it must come at once", took)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitTimeout, func() bool {
		resp, _ := post("during") // the browser's retry, same client id
		return resp.StatusCode == http.StatusOK
	}, "sending again after PostgreSQL is back")
}

// TestClusterMentionsAlertOnce: mentions sent through node A in several
// rooms at once (a notifier pass that reads its rooms together) each reach
// the mentioned user exactly once, whichever node's host delivered them
// (every node delivers the shared outbox; a host keeps one notification
// per id).
func TestClusterMentionsAlertOnce(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	hostA, hostB := newTestHost(), newTestHost()
	a := loadNode(t, hostA, dsn)
	loadNode(t, hostB, dsn)
	ctx := testCtx(t)
	rooms := []Room{openRoom(t, a, "Mentions One"), openRoom(t, a, "Mentions Two"), openRoom(t, a, "Mentions Three")}
	const perRoom = 4
	for i := range perRoom {
		for _, r := range rooms {
			if _, err := a.Send(ctx, "alice", r.ID, fmt.Sprint(r.ID, i), fmt.Sprintf("@bob look %d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := map[string]bool{}
	for _, r := range rooms {
		for seq := 1; seq <= perRoom; seq++ {
			want[fmt.Sprintf("/chat/rooms/%s#m-%d", r.ID, seq)] = true
		}
	}
	kept := func() map[string]Notification {
		both, _ := hostA.kept("bob")
		fromB, _ := hostB.kept("bob")
		maps.Copy(both, fromB)
		return both
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		seen := map[string]bool{}
		for _, n := range kept() {
			seen[n.URL] = true
		}
		var missing []string
		for url := range want {
			if !seen[url] {
				missing = append(missing, url)
			}
		}
		slices.Sort(missing)
		t.Logf("not alerted: %v", missing)
	})
	testutil.Eventually(t, waitTimeout, func() bool { return len(kept()) >= len(want) }, "every mention alerted")
	got := map[string]int{}
	for _, n := range kept() {
		got[n.URL]++
	}
	for url := range want {
		if got[url] != 1 {
			t.Errorf("%s alerted under %d ids, want 1", url, got[url])
		}
	}
	if len(got) != len(want) {
		t.Errorf("alerts for %d messages, want %d: %v", len(got), len(want), got)
	}
}
