package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"

	"github.com/pagechat/pagechat/internal/testutil"
)

// permHost is an in-process HostAPIClient that answers permission checks
// from a rule, counts the calls, and can hold them until released so that
// tests can pile questions up behind them.
type permHost struct {
	hostv1.HostAPIClient // other calls are not used by permCache

	allowed func(user string) bool
	noBatch bool  // answer CheckPermissions with Unimplemented, as an old host
	fail    error // fail every call

	mu      sync.Mutex
	single  int   // CheckPermission calls
	batches []int // size of each CheckPermissions call
	gate    chan struct{}
	held    chan struct{} // receives once per call that waits at the gate
}

func newPermHost(allowed func(string) bool) *permHost {
	return &permHost{allowed: allowed, held: make(chan struct{}, 100)}
}

// hold makes calls wait until release.
func (h *permHost) hold() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gate = make(chan struct{})
}

func (h *permHost) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.gate)
	h.gate = nil
}

func (h *permHost) wait(ctx context.Context) error {
	h.mu.Lock()
	gate := h.gate
	h.mu.Unlock()
	if gate == nil {
		return nil
	}
	h.held <- struct{}{}
	select {
	case <-gate:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

func (h *permHost) CheckPermission(ctx context.Context, req *hostv1.CheckPermissionRequest, _ ...grpc.CallOption) (*hostv1.CheckPermissionResponse, error) {
	h.mu.Lock()
	h.single++
	h.mu.Unlock()
	if err := h.wait(ctx); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail != nil {
		return nil, h.fail
	}
	return &hostv1.CheckPermissionResponse{Allowed: h.allowed(req.GetUserId())}, nil
}

func (h *permHost) CheckPermissions(ctx context.Context, req *hostv1.CheckPermissionsRequest, _ ...grpc.CallOption) (*hostv1.CheckPermissionsResponse, error) {
	if h.noBatch {
		return nil, status.Error(codes.Unimplemented, "method CheckPermissions not implemented")
	}
	h.mu.Lock()
	h.batches = append(h.batches, len(req.GetChecks()))
	h.mu.Unlock()
	if err := h.wait(ctx); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail != nil {
		return nil, h.fail
	}
	resp := &hostv1.CheckPermissionsResponse{}
	for _, c := range req.GetChecks() {
		resp.Allowed = append(resp.Allowed, h.allowed(c.GetUserId()))
	}
	return resp, nil
}

func (h *permHost) calls() (single int, batches []int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.single, slices.Clone(h.batches)
}

// evenUsers may view; odd ones may not.
func evenUsers(user string) bool {
	var n int
	_, _ = fmt.Sscanf(user, "u%d", &n)
	return n%2 == 0
}

func viewKeys(n int) []permKey {
	keys := make([]permKey, n)
	for i := range keys {
		keys[i] = permKey{fmt.Sprintf("u%d", i), "p1", hostv1.Permission_PERMISSION_VIEW}
	}
	return keys
}

func TestPermCacheAsksOnceForManyViewers(t *testing.T) {
	t.Parallel()
	for _, old := range []bool{false, true} {
		t.Run(fmt.Sprintf("host without batch call %v", old), func(t *testing.T) {
			t.Parallel()
			host := newPermHost(evenUsers)
			host.noBatch = old
			clk := testutil.NewClock(time.Unix(1_700_000_000, 0))
			c := newPermCache(newHostClient(host), 2*time.Second, clk.Now) // view answers last 1 s
			defer c.close()
			ctx := context.Background()

			keys := viewKeys(300)
			got, err := c.checkMany(ctx, keys)
			if err != nil {
				t.Fatal(err)
			}
			for i, ok := range got {
				if ok != (i%2 == 0) {
					t.Fatalf("u%d: allowed %v, want %v", i, ok, i%2 == 0)
				}
			}
			single, batches := host.calls()
			if old {
				if single != 300 || len(batches) != 0 {
					t.Errorf("old host: %d single calls, batches %v; want 300 single calls", single, batches)
				}
			} else if single != 0 || !slices.Equal(batches, []int{300}) {
				t.Errorf("%d single calls, batches %v; want one batch of 300", single, batches)
			}

			// Within the cache window nothing goes to the host; after
			// it, everything is asked again.
			if _, err := c.checkMany(ctx, keys); err != nil {
				t.Fatal(err)
			}
			if s, b := host.calls(); s != single || len(b) != len(batches) {
				t.Errorf("cached answers went to the host: %d single calls, batches %v", s, b)
			}
			clk.Advance(time.Second)
			if ok, err := c.check(ctx, "u1", "p1", hostv1.Permission_PERMISSION_VIEW); err != nil || ok {
				t.Errorf("u1 after expiry: %v, %v; want refused", ok, err)
			}
			if s, b := host.calls(); s+len(b) != single+len(batches)+1 {
				t.Errorf("an expired answer was reused: %d single calls, batches %v", s, b)
			}
		})
	}
}

func TestPermCacheCoalescesQuestionsWhileTheHostIsBusy(t *testing.T) {
	t.Parallel()
	host := newPermHost(evenUsers)
	c := newPermCache(newHostClient(host), time.Second, time.Now)
	defer c.close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	host.hold()
	type answer struct {
		user    string
		allowed bool
		err     error
	}
	answers := make(chan answer, 100)
	ask := func(user string) {
		go func() {
			ok, err := c.check(ctx, user, "p1", hostv1.Permission_PERMISSION_VIEW)
			answers <- answer{user, ok, err}
		}()
	}
	// The first two questions take both batch slots and wait at the host.
	ask("u0")
	ask("u1")
	<-host.held
	<-host.held
	// Everything asked now queues: 40 users, each asked twice.
	for i := 2; i < 42; i++ {
		ask(fmt.Sprintf("u%d", i))
		ask(fmt.Sprintf("u%d", i))
	}
	testutil.Eventually(t, testTimeout, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.queue) == 40
	}, "40 questions queued (one per distinct user)")
	host.release()
	for range 2 + 80 {
		a := <-answers
		var n int
		_, _ = fmt.Sscanf(a.user, "u%d", &n)
		if a.err != nil || a.allowed != (n%2 == 0) {
			t.Errorf("%s: %v, %v", a.user, a.allowed, a.err)
		}
	}
	single, batches := host.calls()
	slices.Sort(batches)
	// A lone question goes out on its own, as a single call.
	if single != 2 || !slices.Equal(batches, []int{40}) {
		t.Errorf("%d single calls and batches %v; want 2 single calls and one batch of the 40 queued users", single, batches)
	}
}

func TestPermCacheDoesNotCacheFailures(t *testing.T) {
	t.Parallel()
	host := newPermHost(evenUsers)
	host.fail = status.Error(codes.Unavailable, "host is restarting") // before any call: no lock needed
	c := newPermCache(newHostClient(host), time.Second, time.Now)
	defer c.close()
	ctx := context.Background()
	if _, err := c.checkMany(ctx, viewKeys(5)); status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v, want the host's Unavailable", err)
	}
	host.mu.Lock()
	host.fail = nil
	host.mu.Unlock()
	got, err := c.checkMany(ctx, viewKeys(5))
	if err != nil || !slices.Equal(got, []bool{true, false, true, false, true}) {
		t.Fatalf("after the host recovered: %v, %v", got, err)
	}
	if _, batches := host.calls(); len(batches) != 2 {
		t.Errorf("batches %v; want the failed one asked again", batches)
	}
}

func TestPermCacheCallerGivesUp(t *testing.T) {
	t.Parallel()
	host := newPermHost(evenUsers)
	c := newPermCache(newHostClient(host), time.Second, time.Now)
	defer c.close()
	host.hold()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.check(ctx, "u0", "p1", hostv1.Permission_PERMISSION_VIEW)
		errc <- err
	}()
	<-host.held
	// Another caller waits on the same question and keeps waiting.
	other := make(chan error, 1)
	go func() {
		_, err := c.check(context.Background(), "u0", "p1", hostv1.Permission_PERMISSION_VIEW)
		other <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: err = %v, want context.Canceled", err)
	}
	host.release()
	if err := <-other; err != nil {
		t.Errorf("the other caller: %v", err)
	}
	if single, _ := host.calls(); single != 1 {
		t.Errorf("%d host calls for one question", single)
	}
}

func TestPermCacheCloseFailsWaitingQuestions(t *testing.T) {
	t.Parallel()
	host := newPermHost(evenUsers)
	c := newPermCache(newHostClient(host), time.Second, time.Now)
	host.hold()
	errc := make(chan error, 3)
	for i := range 3 {
		go func() {
			_, err := c.check(context.Background(), fmt.Sprintf("u%d", i), "p1", hostv1.Permission_PERMISSION_VIEW)
			errc <- err
		}()
	}
	<-host.held
	<-host.held
	c.close() // the two calls out are cancelled; the queued one is failed
	for range 3 {
		if err := <-errc; err == nil {
			t.Error("a question was answered after close")
		}
	}
	if _, err := c.check(context.Background(), "u9", "p1", hostv1.Permission_PERMISSION_VIEW); status.Code(toStatus(err)) != codes.Unavailable {
		t.Errorf("after close: err = %v, want Unavailable", err)
	}
}

func TestPermCacheRenewsBusyAnswersInTheBackground(t *testing.T) {
	t.Parallel()
	host := newPermHost(evenUsers)
	clk := testutil.NewClock(time.Unix(1_700_000_000, 0))
	c := newPermCache(newHostClient(host), time.Second, clk.Now) // post answers last the whole window
	defer c.close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	check := func() (bool, error) { return c.check(ctx, "u0", "p1", hostv1.Permission_PERMISSION_POST) }

	if ok, err := check(); !ok || err != nil {
		t.Fatalf("first check: %v, %v", ok, err)
	}
	clk.Advance(400 * time.Millisecond) // first half of its life: just reused
	if _, err := check(); err != nil {
		t.Fatal(err)
	}
	if single, _ := host.calls(); single != 1 {
		t.Fatalf("%d host calls; a young answer was renewed", single)
	}

	// In the second half the cached answer comes back at once, even with
	// the host stuck, and a renewal goes out.
	host.hold()
	clk.Advance(200 * time.Millisecond)
	if ok, err := check(); !ok || err != nil {
		t.Fatalf("check while renewing: %v, %v", ok, err)
	}
	<-host.held
	if ok, err := check(); !ok || err != nil { // joins nothing, asks nothing more
		t.Fatalf("second check while renewing: %v, %v", ok, err)
	}
	host.release()
	testutil.Eventually(t, testTimeout, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.entries[permKey{"u0", "p1", hostv1.Permission_PERMISSION_POST}].expires.Equal(clk.Now().Add(time.Second))
	}, "the answer to be renewed")
	if single, _ := host.calls(); single != 2 {
		t.Errorf("%d host calls, want the first and one renewal", single)
	}

	// The renewed answer lasts a full ttl from the renewal: past the
	// original expiry no call waits.
	host.hold()
	clk.Advance(500 * time.Millisecond)
	done := make(chan error, 1)
	go func() { _, err := check(); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testTimeout):
		t.Fatal("a check waited on the host although a renewed answer was cached")
	}
	<-host.held // the renewal this check set off
	host.release()
}

func TestPermCacheNeverServesExpiredAnswers(t *testing.T) {
	t.Parallel()
	host := newPermHost(evenUsers)
	clk := testutil.NewClock(time.Unix(1_700_000_000, 0))
	c := newPermCache(newHostClient(host), 2*time.Second, clk.Now) // view answers last 1 s
	defer c.close()
	ctx := context.Background()
	if ok, _ := c.check(ctx, "u0", "p1", hostv1.Permission_PERMISSION_VIEW); !ok {
		t.Fatal("u0 refused")
	}
	// The host revokes u0 and the renewal fails; once the answer's ttl
	// is over, the old "allowed" must not be served.
	host.mu.Lock()
	host.allowed = func(string) bool { return false }
	host.fail = status.Error(codes.Unavailable, "host is restarting")
	host.mu.Unlock()
	clk.Advance(time.Second)
	if _, err := c.check(ctx, "u0", "p1", hostv1.Permission_PERMISSION_VIEW); status.Code(toStatus(err)) != codes.Unavailable {
		t.Fatalf("after expiry with the host down: err = %v, want Unavailable", err)
	}
	host.mu.Lock()
	host.fail = nil
	host.mu.Unlock()
	if ok, err := c.check(ctx, "u0", "p1", hostv1.Permission_PERMISSION_VIEW); ok || err != nil {
		t.Fatalf("after the host recovered: %v, %v; want the revocation", ok, err)
	}
}

func TestPermCacheLifetimes(t *testing.T) {
	t.Parallel()
	host := newPermHost(evenUsers)
	clk := testutil.NewClock(time.Unix(1_700_000_000, 0))
	c := newPermCache(newHostClient(host), 2*time.Second, clk.Now)
	defer c.close()
	ctx := context.Background()
	view, post := hostv1.Permission_PERMISSION_VIEW, hostv1.Permission_PERMISSION_POST
	ask := func(perm hostv1.Permission) {
		t.Helper()
		if _, err := c.check(ctx, "u0", "p1", perm); err != nil {
			t.Fatal(err)
		}
	}
	ask(view)
	ask(post)
	clk.Advance(time.Second) // view expired; post is in its second half
	host.hold()
	done := make(chan struct{})
	go func() { ask(post); close(done) }()
	select {
	case <-done: // served from the cache; a renewal went out
	case <-time.After(testTimeout):
		t.Fatal("a post answer one second old was not reused in a two second window")
	}
	<-host.held
	host.release()
	ask(view) // expired after half the window: asked again
	if single, _ := host.calls(); single != 4 {
		t.Errorf("%d host calls; want view, post, the post renewal and view again", single)
	}
}

func TestPermCacheSendsRenewalsDueTogetherInOneCall(t *testing.T) {
	t.Parallel()
	host := newPermHost(evenUsers)
	clk := testutil.NewClock(time.Unix(1_700_000_000, 0))
	c := newPermCache(newHostClient(host), 2*time.Second, clk.Now)
	defer c.close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	keys := make([]permKey, 10)
	for i := range keys {
		keys[i] = permKey{fmt.Sprintf("u%d", i), "p1", hostv1.Permission_PERMISSION_POST}
	}
	if _, err := c.checkMany(ctx, keys); err != nil {
		t.Fatal(err)
	}
	single0, batches0 := host.calls()

	// Ten senders, one after the other, each in the second half of its
	// answer's life: each is answered from the cache at once, and the
	// renewals they set off go to the host together.
	clk.Advance(1500 * time.Millisecond)
	for i, k := range keys {
		ok, err := c.check(ctx, k.user, k.page, k.perm)
		if err != nil || ok != evenUsers(k.user) {
			t.Fatalf("check %d: %v, %v", i, ok, err)
		}
	}
	renewed := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, k := range keys {
			if !c.entries[k].expires.Equal(clk.Now().Add(2 * time.Second)) {
				return false
			}
		}
		return true
	}
	testutil.Eventually(t, testTimeout, renewed, "all ten answers to be renewed")
	single, batches := host.calls()
	if single != single0 || !slices.Equal(batches[len(batches0):], []int{10}) {
		t.Errorf("renewals went as %d single calls and batches %v, want one batch of 10", single-single0, batches[len(batches0):])
	}
}
