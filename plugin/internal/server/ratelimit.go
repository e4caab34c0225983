package server

import (
	"context"
	"sync"
	"time"
)

// maxLimiterEntries bounds the limiter's memory; past it, buckets that have
// refilled completely (and so carry no information) are dropped.
const maxLimiterEntries = 100_000

// tokenBuckets is a token bucket per user and room: up to capacity tokens
// at once, refilled evenly over window. The message rate and the upload
// byte quota are both such buckets, counting messages and bytes.
type tokenBuckets struct {
	capacity float64
	window   time.Duration
	now      func() time.Time

	mu      sync.Mutex
	buckets map[rateKey]*bucket

	// shared, in cluster mode, holds the buckets in the database, so a
	// limit holds across nodes; kind tells this limit's buckets from the
	// other's there. The in-memory buckets then only stand in while the
	// database cannot be reached: the limit holds per node meanwhile.
	shared clusterDB
	kind   string
}

type rateKey struct{ user, room string }

type bucket struct {
	tokens float64
	at     time.Time
}

// rateLimiter limits each user's messages per room: a burst of up to
// perMinute messages, refilled evenly over a minute.
type rateLimiter = tokenBuckets

// uploadQuota is a byte budget per user and room: up to perWindow bytes
// at once, refilled evenly over window. Uploads take their whole size
// before the file reaches the host, so parallel uploads cannot together
// overrun the budget, and give it back if the host does not store the
// file. It lives in memory: a plugin restart forgets what was spent,
// which costs at most one more window's worth per user and room.
type uploadQuota = tokenBuckets

// newRateLimiter returns nil (no limit) for perMinute <= 0.
func newRateLimiter(perMinute int, now func() time.Time) *rateLimiter {
	return newTokenBuckets(float64(perMinute), time.Minute, now)
}

// newUploadQuota returns nil (no quota) for perWindow <= 0.
func newUploadQuota(perWindow int64, window time.Duration, now func() time.Time) *uploadQuota {
	return newTokenBuckets(float64(perWindow), window, now)
}

// newTokenBuckets returns nil (no limit) for capacity <= 0.
func newTokenBuckets(capacity float64, window time.Duration, now func() time.Time) *tokenBuckets {
	if capacity <= 0 {
		return nil
	}
	return &tokenBuckets{capacity: capacity, window: window, now: now, buckets: make(map[rateKey]*bucket)}
}

// allow takes one message's token, or says how long until one is
// available.
func (t *tokenBuckets) allow(userID, roomID string) (ok bool, retryAfter time.Duration) {
	return t.spend(userID, roomID, 1)
}

// take spends n bytes of the user's budget in the room, or says how long
// until n bytes are available (never, for n above the whole budget).
func (t *tokenBuckets) take(userID, roomID string, n int64) (ok bool, retryAfter time.Duration) {
	return t.spend(userID, roomID, float64(n))
}

// spend takes n tokens, or says how long until n are available; a wait is
// at least a second, so a client is never told to retry at once.
func (t *tokenBuckets) spend(userID, roomID string, n float64) (ok bool, retryAfter time.Duration) {
	if t == nil {
		return true, 0
	}
	now := t.now()
	perSecond := t.perSecond()
	if t.shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), clusterCallTimeout)
		ok, wait, err := t.shared.SpendBucket(ctx, bucketKey(t.kind, userID, roomID), t.capacity, perSecond, n)
		cancel()
		if err == nil {
			if ok {
				return true, 0
			}
			return false, max(wait, time.Second)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	key := rateKey{userID, roomID}
	b := t.buckets[key]
	if b == nil {
		if len(t.buckets) >= maxLimiterEntries {
			t.sweep(now)
		}
		b = &bucket{tokens: t.capacity, at: now}
		t.buckets[key] = b
	}
	b.tokens = min(t.capacity, b.tokens+now.Sub(b.at).Seconds()*perSecond)
	b.at = now
	if n <= b.tokens {
		b.tokens -= n
		return true, 0
	}
	wait := time.Duration((n - b.tokens) / perSecond * float64(time.Second))
	return false, max(wait, time.Second)
}

// refund gives back n bytes taken for an upload the host did not store.
func (t *tokenBuckets) refund(userID, roomID string, n int64) {
	if t == nil {
		return
	}
	if t.shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), clusterCallTimeout)
		_ = t.shared.RefundBucket(ctx, bucketKey(t.kind, userID, roomID), t.capacity, float64(n))
		cancel()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if b := t.buckets[rateKey{userID, roomID}]; b != nil {
		b.tokens = min(t.capacity, b.tokens+float64(n))
	}
}

func (t *tokenBuckets) perSecond() float64 { return t.capacity / t.window.Seconds() }

// sweep drops full buckets, which carry no information: a user who has
// been quiet for a whole window is indistinguishable from a new one.
func (t *tokenBuckets) sweep(now time.Time) {
	perSecond := t.perSecond()
	for k, b := range t.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*perSecond >= t.capacity {
			delete(t.buckets, k)
		}
	}
}
