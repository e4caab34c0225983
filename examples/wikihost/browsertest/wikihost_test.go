package browsertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil"
)

const (
	demoPassword = "pagechat-demo"

	// startTimeout bounds the wait for wikihost's "listening on" line,
	// builds not included.
	startTimeout = time.Minute
	// stopTimeout bounds a clean shutdown after SIGTERM: the wiki's own
	// shutdown waits up to 10 s for requests, then the plugin flushes.
	stopTimeout = 30 * time.Second
)

// wikihost is the example wiki, run as its own process with the real
// plugin.
type wikihost struct {
	base     string // http://127.0.0.1:PORT
	demoPage string // path of the demo page, from the log
	logs     *testutil.ListenWatcher
	client   *http.Client // for the JSON API; its idle connections are closed at the end
}

// startWikihost builds the plugin and the wiki into a short temporary
// directory, starts the wiki on a free port and stops it (SIGTERM, then
// wait; it shuts the plugin down) when the test ends.
func startWikihost(t *testing.T) *wikihost {
	t.Helper()
	// Not t.TempDir(): go-plugin's unix socket paths must stay short.
	dir, err := os.MkdirTemp("", "pcb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	pluginBin := filepath.Join(dir, "pagechat-plugin")
	wikiBin := filepath.Join(dir, "wikihost")
	build(t, map[string]string{
		pluginBin: "github.com/pagechat/pagechat/plugin/cmd/pagechat-plugin",
		wikiBin:   "github.com/pagechat/pagechat/examples/wikihost",
	})

	wh := &wikihost{logs: testutil.NewListenWatcher(), client: &http.Client{Transport: &http.Transport{}, Timeout: waitTimeout}}
	cmd := exec.Command(wikiBin, "-addr", "127.0.0.1:0", "-data", filepath.Join(dir, "data"),
		"-plugin", pluginBin, "-transcript-delay", "1s")
	cmd.Stdout = wh.logs
	cmd.Stderr = wh.logs
	// The log pipe is ours to close if a child process kept it open.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start wikihost: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		wh.client.CloseIdleConnections()
		stopProcess(t, cmd, exited, wh.logs)
	})

	select {
	case addr := <-wh.logs.Addr():
		wh.base = "http://" + addr
	case err := <-exited:
		exited <- err // for the cleanup
		t.Fatalf("wikihost exited before it listened: %v\n%s", err, wh.logs)
	case <-time.After(startTimeout):
		t.Fatalf("wikihost did not log %q within %v\n%s", "listening on http://…", startTimeout, wh.logs)
	}
	m := demoPageLine.FindStringSubmatch(wh.logs.String())
	if m == nil {
		t.Fatalf("wikihost did not log demo_page=…\n%s", wh.logs)
	}
	wh.demoPage = m[1]
	return wh
}

// build runs `go build -o out pkg` for each entry, concurrently.
func build(t *testing.T, outputs map[string]string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(outputs))
	for out, pkg := range outputs {
		wg.Go(func() {
			if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
				errs <- fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// stopProcess ends wikihost as an admin would, with SIGTERM, and checks it
// exits cleanly in time; it kills it otherwise.
func stopProcess(t *testing.T, cmd *exec.Cmd, exited chan error, logs *testutil.ListenWatcher) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Logf("signal wikihost: %v", err) // it has exited already
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("wikihost did not exit cleanly after SIGTERM: %v", err)
		}
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-exited
		t.Errorf("wikihost did not exit within %v of SIGTERM; killed it", stopTimeout)
	}
	if t.Failed() {
		t.Logf("wikihost log:\n%s", logs)
	}
}

// api sends a JSON API request with HTTP Basic auth, not through a browser,
// and returns the status and body.
func (wh *wikihost) api(t *testing.T, method, path, user string, body any) (int, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, wh.base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, demoPassword)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := wh.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s as %s: %v", method, path, user, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s as %s: %v", method, path, user, err)
	}
	return resp.StatusCode, string(out)
}

// waitTranscript waits until the plugin has written the demo room's
// transcript as a child page of the demo page (-transcript-delay 1s after
// the last message) and returns its path.
func waitTranscript(t *testing.T, wh *wikihost) string {
	t.Helper()
	var path string
	wh.eventually(t, "a transcript page under the demo page", func() bool {
		code, body := wh.api(t, http.MethodGet, "/api/pages/"+pageID(wh.demoPage), "alice", nil)
		var page struct {
			Children []struct{ Title, URL string }
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &page) != nil {
			t.Fatalf("GET /api/pages/%s as alice: status %d: %s", pageID(wh.demoPage), code, body)
		}
		for _, c := range page.Children {
			if strings.HasPrefix(c.Title, roomName+" chat transcript ") {
				path = c.URL
				return true
			}
		}
		return false
	})
	return path
}

// eventually checks cond, through the API, until it holds; it fails the
// test after waitTimeout.
func (wh *wikihost) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, waitTimeout, cond, "%s", what)
}

var demoPageLine = regexp.MustCompile(`demo_page=(/\S+)`)
