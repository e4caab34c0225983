package server

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestRateLimiter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newRateLimiter(60, func() time.Time { return now })
	for i := range 60 {
		if ok, _ := l.allow("u", "r"); !ok {
			t.Fatalf("message %d of the first 60 refused", i+1)
		}
	}
	ok, wait := l.allow("u", "r")
	if ok || wait < time.Second {
		t.Fatalf("61st message: ok=%v retry after %v; want refused with a retry hint", ok, wait)
	}
	if ok, _ := l.allow("u", "other room"); !ok {
		t.Fatal("another room shares the user's bucket")
	}
	if ok, _ := l.allow("v", "r"); !ok {
		t.Fatal("another user shares the bucket")
	}
	now = now.Add(2 * time.Second)
	for i := range 2 {
		if ok, _ := l.allow("u", "r"); !ok {
			t.Fatalf("refill message %d refused after 2s at 1/s", i+1)
		}
	}
	if ok, _ := l.allow("u", "r"); ok {
		t.Fatal("more refilled than elapsed time allows")
	}
	if ok, _ := newRateLimiter(0, time.Now).allow("u", "r"); !ok {
		t.Fatal("a disabled limiter refused")
	}
}

func TestUploadQuota(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	q := newUploadQuota(3600, time.Hour, func() time.Time { return now }) // 1 byte a second
	steps := []struct {
		name    string
		advance time.Duration
		user    string
		take    int64
		refund  int64
		want    bool
	}{
		{"first half", 0, "u", 1800, 0, true},
		{"second half", 0, "u", 1800, 0, true},
		{"budget spent", 0, "u", 1, 0, false},
		{"another user", 0, "v", 3600, 0, true},
		{"refill is even", 10 * time.Second, "u", 11, 0, false},
		{"refilled part", 0, "u", 10, 0, true},
		{"refund of a failed upload", 0, "u", 0, 500, true},
		{"refund spendable", 0, "u", 500, 0, true},
		{"more than the whole budget", 2 * time.Hour, "u", 3601, 0, false},
		{"whole budget after a quiet window", 0, "u", 3600, 0, true},
	}
	for _, st := range steps {
		now = now.Add(st.advance)
		if st.refund > 0 {
			q.refund(st.user, "r", st.refund)
		}
		if st.take == 0 {
			continue
		}
		ok, wait := q.take(st.user, "r", st.take)
		if ok != st.want || (!ok && wait < time.Second) {
			t.Errorf("%s: take(%d) = %v, retry after %v; want %v with a retry hint when refused", st.name, st.take, ok, wait, st.want)
		}
	}
	if ok, _ := newUploadQuota(-1, time.Hour, time.Now).take("u", "r", 1<<40); !ok {
		t.Error("a disabled quota refused")
	}
}

// sharedBuckets is an in-memory stand-in for the cluster's buckets in
// PostgreSQL, counting the calls that would be round trips.
type sharedBuckets struct {
	clusterDB
	now    func() time.Time
	mu     sync.Mutex
	calls  int
	levels map[string]*bucket
}

func (s *sharedBuckets) SpendBucket(_ context.Context, key string, capacity, perSecond, n float64) (bool, time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	now := s.now()
	b := s.levels[key]
	if b == nil {
		b = &bucket{tokens: capacity, at: now}
		s.levels[key] = b
	}
	b.tokens = min(capacity, b.tokens+now.Sub(b.at).Seconds()*perSecond)
	b.at = now
	if b.tokens < n {
		return false, time.Duration((n - b.tokens) / perSecond * float64(time.Second)), nil
	}
	b.tokens -= n
	return true, 0, nil
}

// TestSharedLimitLeasesTokens: on a cluster a node asks the shared bucket
// once for many sends, and two nodes together still get no more than the
// bucket's capacity.
func TestSharedLimitLeasesTokens(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	db := &sharedBuckets{now: clock, levels: map[string]*bucket{}}
	node := func() *tokenBuckets {
		l := newRateLimiter(120, clock)
		l.shared, l.kind = db, "msg"
		return l
	}
	a, b := node(), node()

	sent := 0
	for range 60 {
		if ok, _ := a.allow("u", "r"); ok {
			sent++
		}
	}
	if sent != 60 || db.calls > 5 {
		t.Fatalf("60 sends on one node: %d allowed with %d calls to the database; want 60 with at most 5", sent, db.calls)
	}
	for range 200 {
		for _, l := range []*tokenBuckets{b, a} {
			if ok, wait := l.allow("u", "r"); ok {
				sent++
			} else if wait < time.Second {
				t.Fatalf("refused with a retry hint of %v", wait)
			}
		}
	}
	if sent != 120 {
		t.Errorf("two nodes sent %d from one bucket of 120 with no time passing; want exactly 120", sent)
	}
	// A stale lease is dropped rather than spent: after a quiet minute
	// the user has the whole bucket again, no more.
	now = now.Add(time.Minute)
	sent = 0
	for range 200 {
		if ok, _ := b.allow("u", "r"); ok {
			sent++
		}
	}
	if sent != 120 {
		t.Errorf("after a quiet minute node b sent %d; want 120", sent)
	}
}
