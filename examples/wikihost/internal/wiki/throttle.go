package wiki

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// ErrTooManyAttempts means the account had too many failed logins lately;
// errors.As with *ThrottledError tells how long to wait.
var ErrTooManyAttempts = errors.New("too many failed logins")

// ThrottledError refuses a login attempt without checking the password.
type ThrottledError struct {
	Wait time.Duration // until the next attempt is accepted
	// Client is set when the client address, not the account name, is
	// throttled.
	Client bool
}

func (e *ThrottledError) Error() string {
	if e.Client {
		return fmt.Sprintf("too many failed logins from this address; try again in %d s", e.RetryAfterSeconds())
	}
	return fmt.Sprintf("too many failed logins for this account; try again in %d s", e.RetryAfterSeconds())
}

// Is makes errors.Is(err, ErrTooManyAttempts) true.
func (e *ThrottledError) Is(target error) bool { return target == ErrTooManyAttempts }

// RetryAfterSeconds is Wait rounded up to whole seconds, for Retry-After.
func (e *ThrottledError) RetryAfterSeconds() int {
	return max(1, int(math.Ceil(e.Wait.Seconds())))
}

// Limits of login throttling. Every account, existing or not, may fail
// freeFailures times; after that each attempt must wait, one second after
// the next failure and twice as long after each further one, up to
// maxLockout. A success, or failuresForgotten without a failure, starts
// over. Unknown names are throttled too, so that throttling does not tell
// which accounts exist. Someone who knows a name can keep that account
// locked for minutes at a time; that is the price of stopping password
// guessing, and the user's open sessions are not affected.
const (
	freeFailures      = 5
	firstLockout      = time.Second
	maxLockout        = 5 * time.Minute
	failuresForgotten = 15 * time.Minute
	// maxThrottled bounds the memory that names sprayed by an attacker
	// can take: beyond it, entries that would be forgotten anyway go
	// first, then arbitrary ones.
	maxThrottled = 10000
	// DefaultClientFreeFailures is how many failed logins one client
	// address may have before it is throttled like an account. The
	// per-name limit alone lets a client try a new made-up name on every
	// request, and each try costs a bcrypt check (finding #4). It is well
	// above freeFailures because an office behind one NAT address shares
	// it, and successes do not reset it, or an attacker with an account
	// could interleave logins to clear it.
	DefaultClientFreeFailures = 20
)

type failures struct {
	count int
	last  time.Time
	until time.Time // no attempt before this
}

// loginThrottle counts failed logins per key: an account name, or a
// client address.
type loginThrottle struct {
	free int // failures before the first lockout

	mu sync.Mutex
	m  map[string]*failures
}

func newLoginThrottle() *loginThrottle { return newThrottle(freeFailures) }

func newThrottle(free int) *loginThrottle {
	return &loginThrottle{free: free, m: make(map[string]*failures)}
}

// wait returns how long the account must wait before its next attempt;
// zero means go ahead.
func (t *loginThrottle) wait(id string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.m[id]
	if f == nil || !now.Before(f.until) {
		return 0
	}
	return f.until.Sub(now)
}

// failed counts a failed attempt.
func (t *loginThrottle) failed(id string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.m[id]
	if f == nil || now.Sub(f.last) > failuresForgotten {
		if f == nil && len(t.m) >= maxThrottled {
			t.evictLocked(now)
		}
		f = &failures{}
		t.m[id] = f
	}
	f.count++
	f.last = now
	if over := f.count - t.free; over > 0 {
		lockout := maxLockout
		if over <= 20 { // beyond that the shift overflows long after the cap
			lockout = min(firstLockout<<(over-1), maxLockout)
		}
		f.until = now.Add(lockout)
	}
}

// succeeded forgets the account's failures.
func (t *loginThrottle) succeeded(id string) {
	t.mu.Lock()
	delete(t.m, id)
	t.mu.Unlock()
}

func (t *loginThrottle) evictLocked(now time.Time) {
	for id, f := range t.m {
		if now.Sub(f.last) > failuresForgotten {
			delete(t.m, id)
		}
	}
	for id := range t.m {
		if len(t.m) < maxThrottled {
			return
		}
		delete(t.m, id)
	}
}
