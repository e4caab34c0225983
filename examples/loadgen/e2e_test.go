package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pagechat/pagechat/internal/testutil"
)

// TestMain fails the package if any run left a goroutine behind: the tool
// promises that everything stops by itself.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testConfig is a short run: 3 rooms × 3 subscribers, 2 senders per room.
func testConfig(url string) Config {
	return Config{
		URL: url, User: "alice", Password: "pw",
		Rooms: 3, Subs: 3, SendersPerRoom: 2, StreamsPerUser: 4,
		// Settle ends as soon as every subscriber has caught up, so a long
		// one costs a healthy run nothing and keeps a slow CI machine from
		// turning a late delivery into a reported loss.
		Rate: 300, Duration: 700 * time.Millisecond, Settle: 8 * time.Second,
		SetupTimeout: 10 * time.Second, ReadyTimeout: 5 * time.Second,
		AttemptTimeout: 2 * time.Second, IdleTimeout: 2 * time.Second,
		Progress: 200 * time.Millisecond,
	}
}

func runFake(t *testing.T, opts fakeOptions, tweak func(*Config)) (Result, *fakeServer, string) {
	t.Helper()
	f := newFakeServer(t, opts)
	cfg := testConfig(f.URL)
	if tweak != nil {
		tweak(&cfg)
	}
	var log testutil.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := run(ctx, cfg, &log)
	if err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, log.String())
	}
	t.Logf("result: %+v", res)
	return res, f, log.String()
}

// checkClean asserts the delivery check passed with every acked message
// delivered to every subscriber.
func checkClean(t *testing.T, res Result, log string) {
	t.Helper()
	if res.Failed() || res.Lost != 0 || res.Duplicated != 0 || res.OutOfOrder != 0 {
		t.Errorf("lost=%d duplicated=%d out_of_order=%d, want 0\nlog:\n%s", res.Lost, res.Duplicated, res.OutOfOrder, log)
	}
	if res.Acked == 0 || res.Acked != res.Sent || res.Unacked != 0 {
		t.Errorf("sent=%d acked=%d unacked=%d: want every message acked", res.Sent, res.Acked, res.Unacked)
	}
	if want := res.Acked * int64(res.Subs); res.Expected != want || res.Delivered != want {
		t.Errorf("expected=%d delivered=%d, want both %d", res.Expected, res.Delivered, want)
	}
	if !(res.P50Ms <= res.P99Ms && res.P99Ms <= res.MaxMs && res.MaxMs > 0) {
		t.Errorf("latency p50=%v p99=%v max=%v: want 0 <= p50 <= p99 <= max, max > 0", res.P50Ms, res.P99Ms, res.MaxMs)
	}
}

func TestRunFallsBackToBasicAuthWithoutALoginForm(t *testing.T) {
	t.Parallel()
	res, f, log := runFake(t, fakeOptions{noLogin: true}, nil)
	checkClean(t, res, log)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byCookie != 0 || !strings.Contains(log, "got no session") {
		t.Errorf("%d requests by cookie without a login form; want none, and the fallback said\nlog:\n%s", f.byCookie, log)
	}
}

func TestRunHealthyServer(t *testing.T) {
	t.Parallel()
	// Stored-but-503 and refused-with-429 POSTs must be retried with the
	// same client id: nothing lost, nothing stored twice.
	res, f, log := runFake(t, fakeOptions{post503Every: 7, post429Every: 11, maxStreams: 4}, nil)
	checkClean(t, res, log)
	f.mu.Lock()
	histories, logins, byCookie := f.histories, f.logins, f.byCookie
	f.mu.Unlock()
	// Every user logs in once and then sends and streams with its
	// session, as a browser does.
	if users := 2 + 3; logins != users || byCookie < int(res.Sent)+res.Streams {
		t.Errorf("%d logins and %d requests by session cookie; want %d logins and every send and stream by cookie", logins, byCookie, users)
	}
	if histories != res.Rooms*res.SendersPerRoom || !strings.Contains(log, "6 of 6 senders opened their rooms") {
		t.Errorf("%d history reads; want each of the 6 senders to open its room before sending\nlog:\n%s", histories, log)
	}
	if res.Rooms != 3 || res.Subs != 3 || res.SendersPerRoom != 2 || res.Streams != 9 {
		t.Errorf("shape rooms=%d subs=%d senders=%d streams=%d", res.Rooms, res.Subs, res.SendersPerRoom, res.Streams)
	}
	// 300 msgs/s for 0.7 s is about 210; allow for slow CI machines.
	if res.Sent < 30 || res.MsgsPerS <= 0 || res.DurationS < 0.7 {
		t.Errorf("sent=%d msgs_per_s=%v duration_s=%v: too little sent", res.Sent, res.MsgsPerS, res.DurationS)
	}
	if res.SendErrors == 0 || res.RateLimited == 0 || res.Unavailable == 0 || res.Errors < res.SendErrors ||
		res.SendErrors < res.RateLimited+res.Unavailable || res.UnavailableMaxMs <= 0 {
		t.Errorf("send_errors=%d rate_limited=%d unavailable=%d (slowest %v ms) errors=%d: the injected 503s and 429s are not counted",
			res.SendErrors, res.RateLimited, res.Unavailable, res.UnavailableMaxMs, res.Errors)
	}
	if res.Heartbeats == 0 || res.Presence == 0 {
		t.Errorf("heartbeats=%d presence=%d: comments and presence events not seen", res.Heartbeats, res.Presence)
	}
	if res.SettleS >= 3 {
		t.Errorf("settle_s=%v: the settle phase should end once everyone caught up", res.SettleS)
	}
	if res.StreamErrors != 0 {
		t.Errorf("stream_errors = %d: 9 streams over 3 viewers should fit a limit of 4 per user", res.StreamErrors)
	}
	posters, streamers, allOpen := f.stats()
	if !allOpen {
		t.Error("some page was not opened to everyone")
	}
	if streamers != 3 {
		t.Errorf("%d users streamed, want 3 viewers", streamers)
	}
	// Sender k of every room posts as loadgen-k: 2 users for 3 rooms.
	for i := 1; i <= 2; i++ {
		if u := fmt.Sprintf("loadgen-%d", i); posters[u] == 0 {
			t.Errorf("sender user %s posted nothing; posters: %v", u, posters)
		}
	}
	if len(posters) != 2 {
		t.Errorf("posters %v, want exactly loadgen-1 and loadgen-2", posters)
	}
	if !strings.Contains(log, "delivered=") || !strings.Contains(log, "rate=") || !strings.Contains(log, "latency p50=") {
		t.Errorf("no progress lines in log:\n%s", log)
	}
}

func TestRunReconnectsWithoutLoss(t *testing.T) {
	t.Parallel()
	// Streams end every 5 events, half of them in the middle of an event,
	// and every 4th stream request meets a restarting plugin. Resuming
	// from Last-Event-ID must still give each subscriber every message once.
	opts := fakeOptions{dropEvery: 5, cutMidEvent: true, stream503Every: 4, noUserAPI: true}
	res, f, log := runFake(t, opts, nil)
	checkClean(t, res, log)
	if res.Reconnects == 0 || res.StreamErrors == 0 {
		t.Errorf("reconnects=%d stream_errors=%d: the fake dropped streams and refused some", res.Reconnects, res.StreamErrors)
	}
	// The fake refuses to create users: everyone sends as alice.
	if posters, streamers, _ := f.stats(); len(posters) != 1 || posters["alice"] == 0 || streamers != 1 {
		t.Errorf("posters %v, %d streaming users: want only alice", posters, streamers)
	}
	if !strings.Contains(log, "all senders send as alice") {
		t.Errorf("no fallback notice in log:\n%s", log)
	}
}

func TestRunDetectsFaults(t *testing.T) {
	t.Parallel()
	// Each fault hits the first stream of each of the 3 rooms once.
	tests := []struct {
		name                         string
		opts                         fakeOptions
		lost, duplicated, outOfOrder int64
	}{
		{"duplicate", fakeOptions{duplicateSeq: 3}, 0, 3, 0},
		{"skip", fakeOptions{skipSeq: 4}, 3, 0, 0},
		{"swap", fakeOptions{swapSeq: 2}, 0, 0, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, _, log := runFake(t, tc.opts, func(c *Config) { c.Settle = time.Second })
			if res.Lost != tc.lost || res.Duplicated != tc.duplicated || res.OutOfOrder != tc.outOfOrder {
				t.Errorf("lost=%d duplicated=%d out_of_order=%d, want %d %d %d\nlog:\n%s",
					res.Lost, res.Duplicated, res.OutOfOrder, tc.lost, tc.duplicated, tc.outOfOrder, log)
			}
			if !res.Failed() {
				t.Error("Failed() = false")
			}
		})
	}
}

func TestRunEndsAgainstHangingServer(t *testing.T) {
	t.Parallel()
	// Streams and POSTs never answer. The run must still end on its own
	// deadlines, count the sends as unacked and leave no goroutine.
	start := time.Now()
	res, _, _ := runFake(t, fakeOptions{hang: true}, func(c *Config) {
		c.Rooms, c.Subs, c.SendersPerRoom, c.Rate = 2, 2, 1, 20
		c.Duration, c.Settle = 300*time.Millisecond, 400*time.Millisecond
		c.ReadyTimeout, c.AttemptTimeout, c.IdleTimeout = 200*time.Millisecond, 100*time.Millisecond, 150*time.Millisecond
	})
	// The deadlines add up to about a second; the bound leaves room for a
	// loaded machine while still failing a run that waits on the server.
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("run took %v against a hanging server", took)
	}
	if res.Acked != 0 || res.Unacked == 0 || res.Unacked != res.Sent {
		t.Errorf("sent=%d acked=%d unacked=%d: want every send unacked", res.Sent, res.Acked, res.Unacked)
	}
	if res.StreamErrors == 0 {
		t.Error("stream_errors = 0: idle streams were not cut")
	}
	if res.Failed() {
		t.Error("nothing was acked, so nothing can be lost: Failed() should be false")
	}
}

func TestRunSetupErrors(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, fakeOptions{})
	cfg := testConfig(f.URL)
	cfg.Password = "wrong"
	_, err := run(context.Background(), cfg, &testutil.SyncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("run with a wrong password: %v, want a setup error naming HTTP 401", err)
	}

	cfg = testConfig(f.URL)
	cfg.User = "bob" // not an admin: users cannot be created, but bob can still send
	cfg.Duration = 200 * time.Millisecond
	res, err := run(context.Background(), cfg, &testutil.SyncBuffer{})
	if err != nil || res.Failed() || res.Acked == 0 {
		t.Errorf("run as a non-admin: %v, %+v", err, res)
	}
}

func TestMainExitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts fakeOptions
		args []string
		want int
	}{
		{"clean", fakeOptions{}, nil, exitOK},
		{"duplicate", fakeOptions{duplicateSeq: 1}, nil, exitFailed},
		{"duplicate no-fail", fakeOptions{duplicateSeq: 1}, []string{"-no-fail"}, exitOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer(t, tc.opts)
			args := append([]string{"-url", f.URL, "-password", "pw", "-rooms", "2", "-subs", "2",
				"-senders-per-room", "2", "-rate", "100", "-duration", "300ms", "-settle", "8s"}, tc.args...)
			var stdout, stderr testutil.SyncBuffer
			if got := realMain(args, &stdout, &stderr); got != tc.want {
				t.Errorf("exit %d, want %d\nstderr:\n%s", got, tc.want, stderr.String())
			}
			out := stdout.String()
			if strings.Count(out, "\n") != 1 {
				t.Fatalf("stdout is not one line: %q", out)
			}
			var fields map[string]any
			if err := json.Unmarshal([]byte(out), &fields); err != nil {
				t.Fatalf("stdout is not JSON: %v: %q", err, out)
			}
			for _, k := range []string{"sent", "acked", "delivered", "expected", "lost", "duplicated", "out_of_order",
				"msgs_per_s", "p50_ms", "p99_ms", "max_ms", "errors", "reconnects", "rooms", "subs", "duration_s"} {
				if _, ok := fields[k]; !ok {
					t.Errorf("result has no %q: %s", k, out)
				}
			}
		})
	}
}
