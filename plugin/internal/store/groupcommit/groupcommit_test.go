package groupcommit_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pagechat/pagechat/plugin/internal/store/groupcommit"
)

var errClosed = errors.New("closed")

// req is a test request: the channel its answer goes to.
type req = chan int

// recorder's commit answers each request with a running count and records
// the batches, failing the test if two commits ever overlap.
type recorder struct {
	t        *testing.T
	running  atomic.Bool
	mu       sync.Mutex
	batches  []int
	answered int
}

func (r *recorder) commit(batch []req) {
	if !r.running.CompareAndSwap(false, true) {
		r.t.Error("two commits ran at once")
	}
	defer r.running.Store(false)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, len(batch))
	for _, done := range batch {
		r.answered++
		done <- r.answered
	}
}

func submit(ctx context.Context, c *groupcommit.Committer[req]) (int, error) {
	done := make(req, 1)
	return groupcommit.Submit(ctx, c, errClosed, done, done)
}

// Every request is committed exactly once, in batches no larger than the
// limit and never two commits at once, with senders racing each other.
func TestEveryRequestCommittedOnceWithinTheLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		limit, senders int
	}{
		{"lone sender", 8, 1},
		{"more senders than the limit", 4, 32},
		{"limit 0 means 1", 0, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const perSender = 300
			rec := &recorder{t: t}
			c := groupcommit.New(tc.limit, rec.commit)
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				seen = map[int]bool{}
			)
			for range tc.senders {
				wg.Go(func() {
					for range perSender {
						n, err := submit(context.Background(), c)
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						if seen[n] {
							t.Errorf("answer %d given twice", n)
						}
						seen[n] = true
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			c.Close()
			if want := tc.senders * perSender; rec.answered != want || len(seen) != want {
				t.Errorf("answered %d, senders saw %d distinct answers; want %d", rec.answered, len(seen), want)
			}
			limit := max(tc.limit, 1)
			for _, n := range rec.batches {
				if n > limit || n == 0 {
					t.Fatalf("a batch of %d, limit %d", n, limit)
				}
			}
		})
	}
}

// A request that finds no commit running is committed on its caller's
// goroutine, so a lone sender never waits for another goroutine to wake.
func TestIdleCommitterCommitsOnTheCallersGoroutine(t *testing.T) {
	t.Parallel()
	var inline []bool
	c := groupcommit.New(8, func(batch []req) {
		buf := make([]byte, 64<<10)
		stack := string(buf[:runtime.Stack(buf, false)])
		inline = append(inline, strings.Contains(stack, "groupcommit_test.submit"))
		for _, done := range batch {
			done <- 1
		}
	})
	defer c.Close()
	for range 3 {
		if _, err := submit(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	for i, ok := range inline {
		if !ok {
			t.Errorf("commit %d of a lone sender ran on another goroutine", i)
		}
	}
}

// gate is a commit function whose first commit waits for release, so
// tests can queue requests behind it.
type gate struct {
	rec     *recorder
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGate(t *testing.T) *gate {
	return &gate{rec: &recorder{t: t}, entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) commit(batch []req) {
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.entered)
		<-g.release
	}
	g.rec.commit(batch)
}

// queueBehind starts a first request that holds the commit, then n more
// that queue behind it, and returns their answers.
func queueBehind(t *testing.T, c *groupcommit.Committer[req], g *gate, n int) (first chan error, rest chan error) {
	t.Helper()
	first = make(chan error, 1)
	go func() { _, err := submit(context.Background(), c); first <- err }()
	<-g.entered
	rest = make(chan error, n)
	for range n {
		go func() { _, err := submit(context.Background(), c); rest <- err }()
	}
	// Nothing observable says a goroutine has queued; give them time.
	time.Sleep(50 * time.Millisecond)
	return first, rest
}

// Requests that arrive while a commit runs are committed together in the
// next one: one commit (one fsync) serves all of them.
func TestRequestsQueuedDuringACommitShareTheNext(t *testing.T) {
	t.Parallel()
	g := newGate(t)
	c := groupcommit.New(64, g.commit)
	defer c.Close()
	first, rest := queueBehind(t, c, g, 10)
	close(g.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := <-rest; err != nil {
			t.Fatal(err)
		}
	}
	g.rec.mu.Lock()
	defer g.rec.mu.Unlock()
	if want := []int{1, 10}; len(g.rec.batches) != 2 || g.rec.batches[1] != 10 {
		t.Errorf("batches %v, want %v", g.rec.batches, want)
	}
}

// Close refuses new requests but commits and answers those already
// queued, and waits for the commit in flight.
func TestCloseCommitsWhatIsQueued(t *testing.T) {
	t.Parallel()
	g := newGate(t)
	c := groupcommit.New(64, g.commit)
	first, rest := queueBehind(t, c, g, 5)
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a commit was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := submit(context.Background(), c); !errors.Is(err, errClosed) {
		t.Errorf("Submit while closing = %v, want %v", err, errClosed)
	}
	close(g.release)
	<-closed
	if err := <-first; err != nil {
		t.Error(err)
	}
	for range 5 {
		if err := <-rest; err != nil {
			t.Errorf("a request queued before Close: %v", err)
		}
	}
	if g.rec.answered != 6 {
		t.Errorf("answered %d, want 6", g.rec.answered)
	}
	if _, err := submit(context.Background(), c); !errors.Is(err, errClosed) {
		t.Errorf("Submit after Close = %v, want %v", err, errClosed)
	}
	c.Close() // a second Close returns too
}

// A caller whose ctx ends while its request waits in the queue gets
// ctx.Err(); an answer already given wins over a cancellation.
func TestSubmitContext(t *testing.T) {
	t.Parallel()
	t.Run("ends while queued", func(t *testing.T) {
		t.Parallel()
		g := newGate(t)
		c := groupcommit.New(64, g.commit)
		defer c.Close()
		first := make(chan error, 1)
		go func() { _, err := submit(context.Background(), c); first <- err }()
		<-g.entered
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := submit(ctx, c); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Submit = %v, want DeadlineExceeded", err)
		}
		close(g.release)
		if err := <-first; err != nil {
			t.Error(err)
		}
	})
	t.Run("an answer racing the cancellation wins", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		c := groupcommit.New(8, func(batch []req) {
			for _, done := range batch {
				done <- 9
			}
			cancel()
		})
		defer c.Close()
		if got, err := submit(ctx, c); err != nil || got != 9 {
			t.Errorf("Submit = %d, %v; want 9, nil: the answer was there before the cancellation", got, err)
		}
	})
}

// Close stops the Committer's goroutine.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rec := &recorder{t: t}
	c := groupcommit.New(4, rec.commit)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if _, err := submit(context.Background(), c); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	c.Close()
}
