package hostsdk

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pagechat/pagechat/internal/testutil/pgtest"
)

// testHost is an in-memory Host whose permissions tests change while the
// plugin runs.
type testHost struct {
	mu      sync.Mutex
	denied  map[string]bool // "user|page|perm" -> denied; everything else allowed
	users   map[string]string
	pages   map[string]Page
	files   map[string][]byte
	checks  int
	upserts map[string]ChildPage
	// notified is what Notify delivered, in order.
	notified []Notification
	// notifyErr, when set, is what Notify fails with; notifyTries counts
	// every call, failed or not.
	notifyErr   error
	notifyTries int
	// permErr, when set, is what CheckPermission fails with: a host
	// whose own permission lookup is broken.
	permErr error
	// attachErr, when set, is what AttachFile fails with after reading
	// the content: a host whose file store is broken or full.
	attachErr error
}

func newTestHost() *testHost {
	return &testHost{
		denied:  make(map[string]bool),
		users:   map[string]string{"alice": "Alice Liddell", "bob": "Bob Builder", "mallory": "Mallory"},
		pages:   map[string]Page{"p1": {ID: "p1", Title: "Team", URL: "/pages/p1"}},
		files:   make(map[string][]byte),
		upserts: make(map[string]ChildPage),
	}
}

func (h *testHost) deny(user, page string, perm Permission) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.denied[fmt.Sprintf("%s|%s|%v", user, page, perm)] = true
}

// failPermissions makes every later CheckPermission fail with err.
func (h *testHost) failPermissions(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.permErr = err
}

// failAttach makes every later AttachFile fail with err.
func (h *testHost) failAttach(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attachErr = err
}

func (h *testHost) CheckPermission(_ context.Context, userID, pageID string, perm Permission) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks++
	if h.permErr != nil {
		return false, h.permErr
	}
	return !h.denied[fmt.Sprintf("%s|%s|%v", userID, pageID, perm)], nil
}

func (h *testHost) GetPage(_ context.Context, pageID string) (Page, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.pages[pageID]
	if !ok {
		return Page{}, fmt.Errorf("page %q: %w", pageID, ErrNotFound)
	}
	return p, nil
}

func (h *testHost) GetUser(_ context.Context, userID string) (User, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	name, ok := h.users[userID]
	if !ok {
		return User{}, fmt.Errorf("user %q: %w", userID, ErrNotFound)
	}
	return User{ID: userID, DisplayName: name}, nil
}

func (h *testHost) UpsertChildPage(_ context.Context, c ChildPage) (Page, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.upserts[c.Key] = c
	return Page{ID: "child-" + c.Key, Title: c.Title, URL: "/pages/child-" + c.Key, ParentID: c.ParentID}, nil
}

func (h *testHost) AttachFile(_ context.Context, f FileInfo, content io.Reader) (Attachment, error) {
	data, err := io.ReadAll(content)
	if err != nil {
		return Attachment{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.attachErr != nil {
		return Attachment{}, h.attachErr
	}
	h.files[f.Name] = data
	return Attachment{ID: f.Name, URL: "/files/" + f.Name}, nil
}

func (h *testHost) ResolveLink(_ context.Context, _, _, title string) (Link, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.pages {
		if p.Title == title {
			return Link{URL: p.URL, Exists: true}, nil
		}
	}
	return Link{}, nil
}

func (h *testHost) Notify(_ context.Context, n Notification) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.notifyTries++
	if h.notifyErr != nil {
		return h.notifyErr
	}
	h.notified = append(h.notified, n)
	return nil
}

// DeleteFile removes a file AttachFile stored, as a host with the
// optional FileRemover capability does.
func (h *testHost) DeleteFile(_ context.Context, _, fileID, _ string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.files[fileID]; !ok {
		return ErrNotFound
	}
	delete(h.files, fileID)
	return nil
}

func (h *testHost) hasFile(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.files[name]
	return ok
}

var (
	_ Host        = (*testHost)(nil)
	_ FileRemover = (*testHost)(nil)
)

// binDir holds binaries built once for the whole test run. It is short on
// purpose: go-plugin's unix sockets live in the temp dir too.
var binDir string

// buildOnce builds a main package of this module into binDir.
var (
	buildMu    sync.Mutex
	buildCache = map[string]string{}
)

func buildBinary(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildCache[pkg]; ok {
		return p
	}
	out := filepath.Join(binDir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	buildCache[pkg] = out
	return out
}

// pluginPkg is the real plugin's main package.
const pluginPkg = "github.com/pagechat/pagechat/plugin/cmd/pagechat-plugin"

func pluginBinary(t testing.TB) string { return buildBinary(t, pluginPkg) }

// loadPlugin starts the real plugin binary through Load, or the clock
// fixture if opts include withClock, and closes it when the test ends.
func loadPlugin(t testing.TB, host Host, dataDir string, opts ...Option) *Client {
	t.Helper()
	// Build first: the first test to get here builds for all the others,
	// which wait on it, and that must not eat into their start deadline.
	pkg := pluginPkg
	for _, o := range opts {
		if _, ok := o.(clockOption); ok {
			pkg = "github.com/pagechat/pagechat/plugin/internal/testplugins/clockplugin"
		}
	}
	bin := buildBinary(t, pkg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Tests send far faster than a person; the rate limit has its own test,
	// which overrides this option.
	opts = append([]Option{WithSocketDir(binDir), WithRestartBackoff(10*time.Millisecond, 200*time.Millisecond), WithMessagesPerMinute(-1)}, opts...)
	c, err := Load(ctx, bin, dataDir, host, opts...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// waitTimeout bounds testutil.Eventually's waits: generous enough for a
// loaded 2-core machine running every package's tests at once.
const waitTimeout = 30 * time.Second

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestMain(m *testing.M) {
	if args := os.Getenv(orphanHostEnv); args != "" {
		parts := filepath.SplitList(args)
		os.Exit(runOrphanHost(parts[0], parts[1], parts[2]))
	}
	dir, err := os.MkdirTemp("", "pcsdk")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	before := goleak.IgnoreCurrent()
	// The private PostgreSQL server of the cluster tests, if they started
	// one, stops inside Run, before the leak check.
	code := pgtest.M{M: m}.Run()
	// Every Client was closed by its test: no plugin goroutine (stream
	// readers, broker servers, log relays) may outlive it.
	if code == 0 {
		if err := goleak.Find(before); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak after all tests:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func procs() int { return runtime.GOMAXPROCS(0) }
