package web

import (
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"
)

// DefaultPagesPerMinute is how many pages one user may create a minute
// unless Config.PagesPerMinute says otherwise. People create a few pages
// a minute at most, and an import script that needs more can be given a
// higher limit; without a limit one account fills the database and the
// search index as fast as the disk allows (finding #15b).
const DefaultPagesPerMinute = 30

// maxLimited bounds the memory of a userLimiter: beyond it, full buckets
// (which carry no information) go first, then arbitrary ones.
const maxLimited = 10000

// rateLimitedError refuses a request because its user is too fast.
type rateLimitedError struct {
	wait time.Duration // until the next request is accepted
}

func (e *rateLimitedError) Error() string {
	return fmt.Sprintf("you are creating pages too fast; try again in %d s", e.retryAfterSeconds())
}

// retryAfterSeconds is wait rounded up to whole seconds, for Retry-After.
func (e *rateLimitedError) retryAfterSeconds() int {
	return max(1, int(math.Ceil(e.wait.Seconds())))
}

// bucket is one user's token bucket.
type bucket struct {
	tokens float64
	last   time.Time
}

// userLimiter is a token bucket per user: perMinute requests a minute,
// in bursts of up to perMinute. A nil *userLimiter allows everything.
type userLimiter struct {
	perMinute float64
	now       func() time.Time

	mu sync.Mutex
	m  map[string]*bucket
}

// newUserLimiter returns a limiter for perMinute requests a minute, or nil
// (no limit) when perMinute is negative.
func newUserLimiter(perMinute int, now func() time.Time) *userLimiter {
	if perMinute < 0 {
		return nil
	}
	if perMinute == 0 {
		perMinute = DefaultPagesPerMinute
	}
	if now == nil {
		now = time.Now
	}
	return &userLimiter{perMinute: float64(perMinute), now: now, m: make(map[string]*bucket)}
}

// allow takes a token for user, or returns a *rateLimitedError saying how
// long to wait.
func (l *userLimiter) allow(user string) error {
	if l == nil {
		return nil
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[user]
	if b == nil {
		if len(l.m) >= maxLimited {
			l.evictLocked(now)
		}
		b = &bucket{tokens: l.perMinute, last: now}
		l.m[user] = b
	}
	b.tokens = l.refill(b, now)
	b.last = now
	if b.tokens < 1 {
		perToken := time.Duration(float64(time.Minute) / l.perMinute)
		return &rateLimitedError{wait: time.Duration((1 - b.tokens) * float64(perToken))}
	}
	b.tokens--
	return nil
}

func (l *userLimiter) refill(b *bucket, now time.Time) float64 {
	return min(l.perMinute, b.tokens+now.Sub(b.last).Minutes()*l.perMinute)
}

func (l *userLimiter) evictLocked(now time.Time) {
	for u, b := range l.m {
		if l.refill(b, now) >= l.perMinute {
			delete(l.m, u)
		}
	}
	for u := range l.m {
		if len(l.m) < maxLimited {
			return
		}
		delete(l.m, u)
	}
}

// setRetryAfterLimited sets Retry-After for a rate-limited request.
func setRetryAfterLimited(w http.ResponseWriter, e *rateLimitedError) {
	w.Header().Set("Retry-After", fmt.Sprint(e.retryAfterSeconds()))
}
