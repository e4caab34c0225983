package pgstore_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil/pgtest"
)

// A shared bucket gives out exactly its capacity to two nodes spending
// at once, then tells the refused how long to wait, and a refund makes
// room again.
func TestSharedBucketNeverOverdraws(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	a, b := openNode(t, dsn, nil), openNode(t, dsn, nil)
	ctx := context.Background()
	key := "test-bucket-" + t.Name()
	const capacity = 20
	// Refills so slowly that none comes during the test.
	const perSecond = 0.001

	var taken atomic.Int64
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			s := a
			if i%2 == 1 {
				s = b
			}
			ok, wait, err := s.SpendBucket(ctx, key, capacity, perSecond, 1)
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				taken.Add(1)
			} else if wait < time.Second {
				t.Errorf("refused with a wait of %v; the bucket refills one token in 1000 s", wait)
			}
		})
	}
	wg.Wait()
	if got := taken.Load(); got != capacity {
		t.Fatalf("40 spends from a bucket of %d took %d", capacity, got)
	}
	if err := b.RefundBucket(ctx, key, capacity, 2); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, true, false} {
		ok, _, err := a.SpendBucket(ctx, key, capacity, perSecond, 1)
		if err != nil || ok != want {
			t.Fatalf("spend %d after a refund of 2: %v, %v; want %v", i+1, ok, err, want)
		}
	}
}
