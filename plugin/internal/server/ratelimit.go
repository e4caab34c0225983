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
	// leases are tokens this node took from the shared buckets ahead of
	// need (see spendShared); guarded by mu.
	leases map[rateKey]*bucket
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
		ok, wait, err := t.spendShared(userID, roomID, n, now)
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

// Leasing: a send that asked the database for its one token spent a round
// trip and five statements there, which on a busy cluster was the largest
// share of PostgreSQL's work per message. A node now takes an eighth of
// the capacity more than it needs when the bucket has it, keeps the rest
// for the same user and room, and spends from that until it runs out or
// grows stale. The shared bucket still gives out no more than its
// capacity and refill over all nodes together, so the limit holds across
// the cluster; what a node holds back is at most an eighth of a bucket,
// for leaseTTL, and unused leases are not given back (a user who moves
// to another node at the very edge of the limit may be held back by that
// much sooner).
const (
	leaseShare = 1.0 / 8
	leaseTTL   = 10 * time.Second
)

// spendShared takes n tokens from the user's lease on this node, else
// from the shared bucket (with a lease for the next sends when there is
// room for one).
func (t *tokenBuckets) spendShared(userID, roomID string, n float64, now time.Time) (bool, time.Duration, error) {
	key := rateKey{userID, roomID}
	// held is what is left of this node's lease, which this send uses up
	// before asking for more.
	held := 0.0
	t.mu.Lock()
	if l := t.leases[key]; l != nil {
		switch {
		case now.Sub(l.at) > leaseTTL || now.Before(l.at):
			delete(t.leases, key)
		case l.tokens >= n:
			l.tokens -= n
			t.mu.Unlock()
			return true, 0, nil
		default:
			// Claimed now, so a concurrent send cannot use it too.
			held, l.tokens = l.tokens, 0
		}
	}
	t.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), clusterCallTimeout)
	defer cancel()
	shared, need, extra := bucketKey(t.kind, userID, roomID), n-held, t.capacity*leaseShare
	ok, wait, err := false, time.Duration(0), error(nil)
	if need+extra <= t.capacity {
		ok, _, err = t.shared.SpendBucket(ctx, shared, t.capacity, t.perSecond(), need+extra)
	}
	if err == nil && !ok {
		// Not enough for a lease: take what this send needs, if that.
		extra = 0
		ok, wait, err = t.shared.SpendBucket(ctx, shared, t.capacity, t.perSecond(), need)
	}
	if err != nil || !ok {
		if held > 0 {
			t.mu.Lock()
			if l := t.leases[key]; l != nil {
				l.tokens += held
			}
			t.mu.Unlock()
		}
		return false, wait, err
	}
	if extra > 0 {
		t.mu.Lock()
		if t.leases == nil {
			t.leases = make(map[rateKey]*bucket)
		}
		if len(t.leases) >= maxLimiterEntries {
			for k, l := range t.leases {
				if now.Sub(l.at) > leaseTTL {
					delete(t.leases, k)
				}
			}
		}
		if l := t.leases[key]; l != nil {
			l.tokens, l.at = l.tokens+extra, now
		} else if len(t.leases) < maxLimiterEntries {
			t.leases[key] = &bucket{tokens: extra, at: now}
		}
		t.mu.Unlock()
	}
	return true, 0, nil
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
