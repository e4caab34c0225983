package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil"
	"github.com/pagechat/pagechat/internal/testutil/prosodytest"
)

// xmppTestConfig is a short run with XMPP occupants: 2 rooms × 4
// subscribers.
func xmppTestConfig(p *prosodytest.Server) Config {
	cfg := testConfig("http://127.0.0.1:1")
	cfg.Password = "pagechat-demo"
	cfg.Rooms, cfg.Subs, cfg.StreamsPerUser = 2, 4, 2
	cfg.Rate, cfg.Duration = 40, 1500*time.Millisecond
	cfg.SetupTimeout, cfg.ReadyTimeout, cfg.IdleTimeout = time.Minute, 20*time.Second, 30*time.Second
	cfg.XMPPServer, cfg.XMPPRegister = p.C2SAddr, true
	return cfg
}

// checkXMPPPath asserts a clean run that delivered every message to every
// XMPP occupant.
func checkXMPPPath(t *testing.T, res Result, log string, xmppSubs int) {
	t.Helper()
	checkClean(t, res, log)
	x := res.XMPP
	if x == nil {
		t.Fatalf("no xmpp path in the result\nlog:\n%s", log)
	}
	if x.Subs != xmppSubs || x.Expected != res.Acked*int64(xmppSubs) || x.Delivered != x.Expected || x.Lost+x.Duplicated+x.OutOfOrder != 0 {
		t.Errorf("xmpp path %+v: want all %d × %d deliveries, nothing lost, repeated or reordered\nlog:\n%s", *x, res.Acked, xmppSubs, log)
	}
	if !(x.P50Ms > 0 && x.P50Ms <= x.P99Ms && x.P99Ms <= x.MaxMs) {
		t.Errorf("xmpp latency p50=%v p99=%v max=%v", x.P50Ms, x.P99Ms, x.MaxMs)
	}
}

func TestXMPPOccupantsOfProsodyMUC(t *testing.T) {
	t.Parallel()
	p := prosodytest.Start(t, prosodytest.Options{MUCDomain: "conference.localhost", Registration: true})
	cfg := xmppTestConfig(p)
	cfg.ProsodyMUC, cfg.SendersPerRoom = true, 2
	cfg.XMPPMUC = "conference.localhost"
	var log testutil.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := run(ctx, cfg, &log)
	if err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, log.String())
	}
	t.Logf("result: %+v %+v", res, res.XMPP)
	if res.Mode != "prosody-muc" || res.SSE != nil {
		t.Errorf("mode %q, sse %+v: want prosody-muc without an SSE path", res.Mode, res.SSE)
	}
	checkXMPPPath(t, res, log.String(), 4)
}

func TestXMPPOccupantsOfTheBridge(t *testing.T) {
	t.Parallel()
	p := prosodytest.Start(t, prosodytest.Options{Registration: true})
	url := startWikiWithBridge(t, p)
	cfg := xmppTestConfig(p)
	cfg.URL = url
	cfg.XMPPShare, cfg.XMPPMUC = 0.5, p.ComponentDomain
	var log testutil.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := run(ctx, cfg, &log)
	if err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, log.String())
	}
	t.Logf("result: %+v sse %+v xmpp %+v", res, res.SSE, res.XMPP)
	if res.Mode != "bridge" || res.SSE == nil || res.SSE.Subs != 2 || res.SSE.Delivered != res.Acked*2 || res.SSE.Lost+res.SSE.Duplicated+res.SSE.OutOfOrder != 0 {
		t.Errorf("mode %q, sse path %+v: want the bridge and a clean SSE path of 2 per room", res.Mode, res.SSE)
	}
	checkXMPPPath(t, res, log.String(), 2)
}

// startWikiWithBridge builds the plugin and the example wiki and starts
// the wiki with its XMPP bridge on p's component port; it returns the
// wiki's URL. Both are stopped when the test ends.
func startWikiWithBridge(t *testing.T, p *prosodytest.Server) string {
	t.Helper()
	// Short: the plugin's unix socket path must stay under ~104 bytes.
	dir, err := os.MkdirTemp("", "lgx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	for bin, pkg := range map[string]string{
		"pagechat-plugin": "github.com/pagechat/pagechat/plugin/cmd/pagechat-plugin",
		"wikihost":        "github.com/pagechat/pagechat/examples/wikihost",
	} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, bin), pkg).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, out)
		}
	}
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte(p.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := testutil.NewListenWatcher()
	cmd := exec.Command(filepath.Join(dir, "wikihost"), "-addr", "127.0.0.1:0", "-data", filepath.Join(dir, "data"),
		"-plugin", filepath.Join(dir, "pagechat-plugin"),
		"-xmpp-server", p.ComponentAddr, "-xmpp-domain", p.ComponentDomain, "-xmpp-secret-file", secret)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("wikihost log:\n%s", logs)
		}
	})
	select {
	case addr := <-logs.Addr():
		return "http://" + addr
	case <-exited:
		t.Fatalf("wikihost exited before listening\n%s", logs)
	case <-time.After(time.Minute):
		t.Fatalf("wikihost did not log its address\n%s", logs)
	}
	return ""
}
