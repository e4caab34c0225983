package wiki

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
)

func TestCredCacheChecksConcurrentCredentialsOnce(t *testing.T) {
	t.Parallel()
	c := newCredCache()
	// Every request that reaches the cache either runs a compare or joins
	// one already running; arrived counts both.
	var arrived sync.WaitGroup
	c.joined = arrived.Done
	now := time.Now
	u := store.User{ID: "bob", PasswordHash: []byte("$2a$hash-of-bob")}

	// run makes n concurrent checks of uncached credentials. Their compare
	// blocks until all n have reached the cache, so the checks really
	// overlap whatever the scheduler does, and run returns how many
	// compares ran and how many checks passed.
	run := func(password string, n int, answer bool) (compares, passed int64) {
		var calls, ok atomic.Int64
		release := make(chan struct{})
		var wg sync.WaitGroup
		arrived.Add(n)
		for range n {
			wg.Go(func() {
				if passed, _ := c.check(u, password, now, func() (bool, error) {
					calls.Add(1)
					arrived.Done()
					<-release
					return answer, nil
				}); passed {
					ok.Add(1)
				}
			})
		}
		arrived.Wait()
		close(release)
		wg.Wait()
		return calls.Load(), ok.Load()
	}

	if calls, ok := run("right", 50, true); calls != 1 || ok != 50 {
		t.Errorf("right password: %d compares and %d passes for 50 concurrent checks; want 1 and 50", calls, ok)
	}
	// Cached now: no check waits for anything, so none needs a barrier.
	var calls, ok atomic.Int64
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if passed, _ := c.check(u, "right", now, func() (bool, error) { calls.Add(1); return true, nil }); passed {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if calls.Load() != 0 || ok.Load() != 10 {
		t.Errorf("right password again: %d compares and %d passes; want 0 (cached) and 10", calls.Load(), ok.Load())
	}
	// A wrong password is shared only by the requests that came with it.
	if calls, ok := run("wrong", 20, false); calls != 1 || ok != 0 {
		t.Errorf("wrong password: %d compares and %d passes for 20 concurrent checks; want 1 and 0", calls, ok)
	}
	if calls, _ := run("wrong", 1, false); calls != 1 {
		t.Errorf("wrong password later: %d compares; a failure must not be remembered", calls)
	}
	// A changed password hash makes the cached success useless.
	changed := u
	changed.PasswordHash = []byte("$2a$new-hash")
	var compared bool
	if passed, _ := c.check(changed, "right", now, func() (bool, error) { compared = true; return false, nil }); passed || !compared {
		t.Error("a success cached against the old hash was used after the hash changed")
	}
}

// Requests that joined a check which found no free slot get ErrBusy
// too, not a wrong password (finding #4).
func TestCredCacheJoinersShareBusy(t *testing.T) {
	t.Parallel()
	c := newCredCache()
	var arrived sync.WaitGroup
	c.joined = arrived.Done
	u := store.User{ID: "bob", PasswordHash: []byte("$2a$hash-of-bob")}
	const n = 10
	release := make(chan struct{})
	errs := make(chan error, n)
	arrived.Add(n)
	for range n {
		go func() {
			_, err := c.check(u, "right", time.Now, func() (bool, error) {
				arrived.Done()
				<-release
				return false, ErrBusy
			})
			errs <- err
		}()
	}
	arrived.Wait()
	close(release)
	for range n {
		if err := <-errs; !errors.Is(err, ErrBusy) {
			t.Errorf("check: %v, want ErrBusy", err)
		}
	}
}
