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

// uploadQuota is a byte budget per user and room: up to perWindow bytes
// at once, refilled evenly over window. Uploads take their whole size
// before the file reaches the host, so parallel uploads cannot together
// overrun the budget, and give it back if the host does not store the
// file. It lives in memory: a plugin restart forgets what was spent,
// which costs at most one more window's worth per user and room.
type uploadQuota struct {
	perWindow float64
	window    time.Duration
	now       func() time.Time

	mu      sync.Mutex
	buckets map[rateKey]*bucket
}

// newUploadQuota returns nil (no quota) for perWindow <= 0.
func newUploadQuota(perWindow int64, window time.Duration, now func() time.Time) *uploadQuota {
	if perWindow <= 0 {
		return nil
	}
	return &uploadQuota{perWindow: float64(perWindow), window: window, now: now, buckets: make(map[rateKey]*bucket)}
}

// take spends n bytes of the user's budget in the room, or says how long
// until n bytes are available (never, for n above the whole budget).
func (q *uploadQuota) take(userID, roomID string, n int64) (ok bool, retryAfter time.Duration) {
	if q == nil {
		return true, 0
	}
	now := q.now()
	perSecond := q.perWindow / q.window.Seconds()
	q.mu.Lock()
	defer q.mu.Unlock()
	key := rateKey{userID, roomID}
	b := q.buckets[key]
	if b == nil {
		if len(q.buckets) >= maxLimiterEntries {
			q.sweep(now)
		}
		b = &bucket{tokens: q.perWindow, at: now}
		q.buckets[key] = b
	}
	b.tokens = min(q.perWindow, b.tokens+now.Sub(b.at).Seconds()*perSecond)
	b.at = now
	if float64(n) <= b.tokens {
		b.tokens -= float64(n)
		return true, 0
	}
	wait := time.Duration((float64(n) - b.tokens) / perSecond * float64(time.Second))
	return false, max(wait, time.Second)
}

// refund gives back n bytes taken for an upload the host did not store.
func (q *uploadQuota) refund(userID, roomID string, n int64) {
	if q == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if b := q.buckets[rateKey{userID, roomID}]; b != nil {
		b.tokens = min(q.perWindow, b.tokens+float64(n))
	}
}

// sweep drops full budgets, which carry no information.
func (q *uploadQuota) sweep(now time.Time) {
	perSecond := q.perWindow / q.window.Seconds()
	for k, b := range q.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*perSecond >= q.perWindow {
			delete(q.buckets, k)
		}
	}
}
