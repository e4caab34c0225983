package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil"
)

// node is a second server in front of the fake's state, as a second wiki
// node in front of the cluster's database; kill stops it as SIGKILL
// would: open streams are cut and new connections refused.
type node struct {
	srv  *httptest.Server
	once sync.Once
}

func newNode(t *testing.T, f *fakeServer) *node {
	t.Helper()
	n := &node{srv: httptest.NewServer(f.Config.Handler)}
	t.Cleanup(n.kill)
	return n
}

func (n *node) kill() {
	n.once.Do(func() {
		n.srv.CloseClientConnections()
		n.srv.Close()
	})
}

// runCluster runs the tool with senders on f and subscribers spread over
// f's extra nodes; during fn (called once the send phase has begun) it
// may kill nodes.
func runCluster(t *testing.T, f *fakeServer, subURLs []string, during func()) (Result, string) {
	t.Helper()
	cfg := testConfig(f.URL)
	cfg.SubURLs = subURLs
	cfg.Rooms, cfg.Subs = 2, 4 // 8 streams: 4 per node with two nodes
	cfg.Duration = 1500 * time.Millisecond
	var log testutil.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		testutil.Eventually(t, 20*time.Second, func() bool { return strings.Contains(log.String(), "sending") }, "send phase")
		time.Sleep(cfg.Duration / 3) // kill in the middle of sending, with messages in flight
		during()
	}()
	res, err := run(ctx, cfg, &log)
	<-done
	if err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, log.String())
	}
	t.Logf("result: %+v", res)
	return res, log.String()
}

// TestSubscribersFailOverWhenTheirNodeDies: subscribers spread over two
// nodes; one node dies under load. Its subscribers move to the other and
// resume by sequence: nothing lost, repeated or reordered.
func TestSubscribersFailOverWhenTheirNodeDies(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, fakeOptions{})
	a, b := newNode(t, f), newNode(t, f)
	res, log := runCluster(t, f, []string{a.srv.URL, b.srv.URL}, a.kill)
	checkClean(t, res, log)
	// Half the streams were on a: each moved at least once.
	if res.Failovers < int64(res.Streams/2) {
		t.Errorf("failovers = %d, want at least the %d streams of the dead node\nlog:\n%s", res.Failovers, res.Streams/2, log)
	}
	// Every delivery came through a node other than the senders'.
	if res.CrossNode != res.Delivered || res.CrossP50Ms <= 0 || res.CrossP99Ms < res.CrossP50Ms || res.CrossMaxMs != res.MaxMs {
		t.Errorf("cross_node=%d of %d delivered, p50=%v p99=%v max=%v: want every delivery counted cross-node",
			res.CrossNode, res.Delivered, res.CrossP50Ms, res.CrossP99Ms, res.CrossMaxMs)
	}
	if !strings.Contains(log, "subscribers connect to "+a.srv.URL+", "+b.srv.URL) {
		t.Errorf("the log does not say where subscribers connect:\n%s", log)
	}
}

// TestCrossNodeLatencyIsOnlyOtherNodes: with subscribers on the senders'
// node and on another, only the other's deliveries are cross-node.
func TestCrossNodeLatencyIsOnlyOtherNodes(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, fakeOptions{})
	b := newNode(t, f)
	res, log := runCluster(t, f, []string{f.URL, b.srv.URL}, func() {})
	checkClean(t, res, log)
	if res.CrossNode != res.Delivered/2 || res.Failovers != 0 {
		t.Errorf("cross_node=%d of %d delivered, failovers=%d: want half, through node b, and no failover", res.CrossNode, res.Delivered, res.Failovers)
	}
}

// TestAllSubscriberNodesDeadIsReportedNotHidden: when every subscriber
// node dies, the messages sent after are lost and the run says so.
func TestAllSubscriberNodesDeadIsReportedNotHidden(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, fakeOptions{})
	a, b := newNode(t, f), newNode(t, f)
	cfgSettle := func() { a.kill(); b.kill() }
	res, log := runCluster(t, f, []string{a.srv.URL, b.srv.URL}, cfgSettle)
	if res.Lost == 0 || !res.Failed() || res.StreamErrors == 0 {
		t.Errorf("lost=%d stream_errors=%d with every subscriber node dead: want losses reported\nlog:\n%s", res.Lost, res.StreamErrors, log)
	}
	if res.Duplicated != 0 || res.OutOfOrder != 0 {
		t.Errorf("duplicated=%d out_of_order=%d", res.Duplicated, res.OutOfOrder)
	}
}
