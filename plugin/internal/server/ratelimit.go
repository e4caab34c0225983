package server

import (
	"sync"
	"time"
)

// maxLimiterEntries bounds the limiter's memory; past it, buckets that have
// refilled completely (and so carry no information) are dropped.
const maxLimiterEntries = 100_000

// rateLimiter is a token bucket per user and room: a burst of up to
// perMinute messages, refilled evenly over a minute.
type rateLimiter struct {
	perMinute float64
	now       func() time.Time

	mu      sync.Mutex
	buckets map[rateKey]*bucket
}

type rateKey struct{ user, room string }

type bucket struct {
	tokens float64
	at     time.Time
}

// newRateLimiter returns nil (no limit) for perMinute <= 0.
func newRateLimiter(perMinute int, now func() time.Time) *rateLimiter {
	if perMinute <= 0 {
		return nil
	}
	return &rateLimiter{perMinute: float64(perMinute), now: now, buckets: make(map[rateKey]*bucket)}
}

// allow takes a token, or says how long until one is available.
func (l *rateLimiter) allow(userID, roomID string) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	perSecond := l.perMinute / 60
	l.mu.Lock()
	defer l.mu.Unlock()
	key := rateKey{userID, roomID}
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxLimiterEntries {
			l.sweep(now)
		}
		b = &bucket{tokens: l.perMinute, at: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.perMinute, b.tokens+now.Sub(b.at).Seconds()*perSecond)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / perSecond * float64(time.Second))
	return false, max(wait, time.Second)
}

// sweep drops full buckets: a user who has been quiet for a minute is
// indistinguishable from a new one.
func (l *rateLimiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.perMinute/60 >= l.perMinute {
			delete(l.buckets, k)
		}
	}
}
