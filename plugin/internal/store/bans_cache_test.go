package store

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// The store keeps bans in memory once read. A ban or a lift must be what
// the next read sees even while other reads run alongside: a read that
// began before the change must not put the old bans back in memory.
func TestBanCacheReadsItsWrites(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, Options{})
	mustCreate(t, s, "p.r")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for ctx.Err() == nil {
				_, _ = s.Ban(ctx, "p.r", "mallory")
				_, _ = s.Bans(ctx, "p.r")
			}
		})
	}
	for i := range 300 {
		banned := i%2 == 0
		if banned {
			if _, err := s.PutBan(ctx, Ban{RoomID: "p.r", UserID: "mallory", Reason: "spam"}); err != nil {
				t.Fatal(err)
			}
		} else if err := s.DeleteBan(ctx, "p.r", "mallory"); err != nil {
			t.Fatal(err)
		}
		_, err := s.Ban(ctx, "p.r", "mallory")
		if got := err == nil; got != banned {
			t.Fatalf("change %d: banned = %v (%v), want %v", i, got, err, banned)
		}
		if err != nil && !errors.Is(err, ErrBanNotFound) {
			t.Fatal(err)
		}
		list, err := s.Bans(ctx, "p.r")
		if err != nil || (len(list) == 1) != banned {
			t.Fatalf("change %d: Bans = %v, %v; want banned %v", i, list, err, banned)
		}
	}
	cancel()
	readers.Wait()
}
