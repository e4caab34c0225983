package xmpp_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
)

// binDir holds the plugin binary and go-plugin's sockets; short on purpose.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pcx")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	before := goleak.IgnoreCurrent()
	code := m.Run()
	// Every component, plugin client and XMPP client was stopped by its
	// test: none of their goroutines may outlive it.
	if code == 0 {
		if err := goleak.Find(before); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak after all tests:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	pluginBin string
	buildErr  error
)

func pluginBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		pluginBin = filepath.Join(binDir, "pagechat-plugin")
		out, err := exec.Command("go", "build", "-o", pluginBin, "github.com/pagechat/pagechat/plugin/cmd/pagechat-plugin").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build plugin: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return pluginBin
}

// testHost is an in-memory host: users, one page per id, permissions that
// tests change while everything runs, and the JID links.
type testHost struct {
	mu     sync.Mutex
	users  map[string]string // id -> display name
	denied map[string]bool   // "user|page|perm"
	links  map[string]string // bare JID -> user id (verified)
	codes  map[string]string // bare JID -> pending code
	pages  map[string]hostsdk.Page
	// Alerts (alerts_test.go): users who muted them, alert addresses a
	// misbehaving host gives instead of the linked JID, and where
	// notifications from the plugin go.
	muted   map[string]bool
	alertTo map[string]string
	notify  func(hostsdk.Notification)
}

func newTestHost() *testHost {
	return &testHost{
		users:  map[string]string{"alice": "Alice", "bob": "Bob", "carol": "Carol"},
		denied: make(map[string]bool),
		links:  make(map[string]string),
		codes:  make(map[string]string),
		pages:  map[string]hostsdk.Page{"1": {ID: "1", Title: "Team", URL: "/pages/1"}},
	}
}

func (h *testHost) deny(user, page string, p hostsdk.Permission, denied bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.denied[fmt.Sprintf("%s|%s|%v", user, page, p)] = denied
}

func (h *testHost) link(bareJID, user string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.links[bareJID] = user
}

func (h *testHost) CheckPermission(_ context.Context, userID, pageID string, p hostsdk.Permission) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.denied[fmt.Sprintf("%s|%s|%v", userID, pageID, p)], nil
}

func (h *testHost) GetPage(_ context.Context, id string) (hostsdk.Page, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.pages[id]
	if !ok {
		return hostsdk.Page{}, hostsdk.ErrNotFound
	}
	return p, nil
}

func (h *testHost) GetUser(_ context.Context, id string) (hostsdk.User, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, ok := h.users[id]
	if !ok {
		return hostsdk.User{}, hostsdk.ErrNotFound
	}
	return hostsdk.User{ID: id, DisplayName: n}, nil
}

func (h *testHost) UpsertChildPage(_ context.Context, c hostsdk.ChildPage) (hostsdk.Page, error) {
	return hostsdk.Page{ID: "c-" + c.Key, Title: c.Title, URL: "/pages/c-" + c.Key, ParentID: c.ParentID}, nil
}

func (h *testHost) AttachFile(_ context.Context, f hostsdk.FileInfo, r io.Reader) (hostsdk.Attachment, error) {
	_, _ = io.Copy(io.Discard, r)
	return hostsdk.Attachment{ID: f.Name, URL: "http://wiki.test/files/" + f.Name}, nil
}

func (h *testHost) ResolveLink(_ context.Context, _, _, title string) (hostsdk.Link, error) {
	return hostsdk.Link{}, nil
}

// LinkedUser and ConfirmLink implement xmpp.Users.
func (h *testHost) LinkedUser(_ context.Context, bare string) (string, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.links[bare]
	return u, ok, nil
}

func (h *testHost) ConfirmLink(_ context.Context, bare, code string) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	want, ok := h.codes[bare]
	if !ok || want != code {
		return false, nil
	}
	delete(h.codes, bare)
	return true, nil
}

// UserJID implements xmpp.UserJIDs: the address userID linked.
func (h *testHost) UserJID(_ context.Context, userID string) (string, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for j, u := range h.links {
		if u == userID {
			return j, true, nil
		}
	}
	return "", false, nil
}

// loadPlugin starts the real plugin binary for host; extra options come
// after the tests' defaults.
func loadPlugin(t testing.TB, host hostsdk.Host, dataDir string, extra ...hostsdk.Option) *hostsdk.Client {
	t.Helper()
	bin := pluginBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := append([]hostsdk.Option{
		hostsdk.WithSocketDir(binDir),
		hostsdk.WithRestartBackoff(10*time.Millisecond, 200*time.Millisecond),
		hostsdk.WithMessagesPerMinute(-1),
		hostsdk.WithPermissionCache(time.Second)}, extra...)
	c, err := hostsdk.Load(ctx, bin, dataDir, host, opts...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
