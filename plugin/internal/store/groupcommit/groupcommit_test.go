package groupcommit_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/pagechat/pagechat/plugin/internal/store/groupcommit"
)

// Every request is committed exactly once, in batches no larger than the
// limit, with senders racing the writer.
func TestRunCommitsEveryRequestOnceWithinTheLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		limit, senders int
	}{
		{"lone sender", 8, 1},
		{"more senders than the limit", 4, 32},
		{"limit 0 means 1", 0, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const perSender = 200
			reqs := make(chan chan int)
			closing := make(chan struct{})
			stopped := make(chan struct{})
			var (
				batches  int
				biggest  int
				answered int
			)
			go func() {
				defer close(stopped)
				groupcommit.Run(reqs, closing, tc.limit, func(batch []chan int) {
					batches++
					biggest = max(biggest, len(batch))
					for _, done := range batch {
						answered++
						done <- answered
					}
				})
			}()
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				seen = map[int]bool{}
			)
			for range tc.senders {
				wg.Go(func() {
					for range perSender {
						done := make(chan int, 1)
						reqs <- done
						n := <-done
						mu.Lock()
						if seen[n] {
							t.Errorf("answer %d given twice", n)
						}
						seen[n] = true
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			close(closing)
			<-stopped
			if want := tc.senders * perSender; answered != want || len(seen) != want {
				t.Errorf("answered %d, senders saw %d distinct answers; want %d", answered, len(seen), want)
			}
			if limit := max(tc.limit, 1); biggest > limit {
				t.Errorf("a batch of %d, limit %d", biggest, limit)
			}
			if batches == 0 {
				t.Error("no commit")
			}
		})
	}
}

// Run returns once closing is closed, without waiting for a request.
func TestRunStopsWhenClosing(t *testing.T) {
	t.Parallel()
	closing := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		groupcommit.Run(make(chan int), closing, 4, func([]int) { t.Error("commit without a request") })
	}()
	close(closing)
	<-stopped
}

// Submit refuses a request once the writer is closing, returns the
// caller's ctx error when it ends first, and otherwise the writer's answer.
func TestSubmit(t *testing.T) {
	t.Parallel()
	errClosed := errors.New("closed")
	t.Run("answered", func(t *testing.T) {
		t.Parallel()
		reqs := make(chan chan int)
		go func() { done := <-reqs; done <- 7 }()
		done := make(chan int, 1)
		if got, err := groupcommit.Submit(context.Background(), reqs, nil, errClosed, done, done); err != nil || got != 7 {
			t.Errorf("Submit = %d, %v; want 7, nil", got, err)
		}
	})
	t.Run("closing", func(t *testing.T) {
		t.Parallel()
		closing := make(chan struct{})
		close(closing)
		done := make(chan int, 1)
		if _, err := groupcommit.Submit(context.Background(), make(chan chan int), closing, errClosed, done, done); !errors.Is(err, errClosed) {
			t.Errorf("Submit while closing = %v, want %v", err, errClosed)
		}
	})
	t.Run("ctx ends while queued", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan int, 1)
		if _, err := groupcommit.Submit(ctx, make(chan chan int), nil, errClosed, done, done); !errors.Is(err, context.Canceled) {
			t.Errorf("Submit with an ended ctx = %v, want context.Canceled", err)
		}
	})
	t.Run("an answer racing the cancellation wins", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		reqs := make(chan chan int)
		go func() { done := <-reqs; done <- 9; cancel() }()
		done := make(chan int, 1)
		got, err := groupcommit.Submit(ctx, reqs, nil, errClosed, done, done)
		if err == nil && got != 9 {
			t.Errorf("Submit = %d, nil; want 9", got)
		}
		if err != nil {
			t.Errorf("Submit = %v; the answer was there before the cancellation", err)
		}
	})
}
