package pgstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil/pgtest"
	"github.com/pagechat/pagechat/plugin/internal/store"
	"github.com/pagechat/pagechat/plugin/internal/store/pgstore"
)

// benchText is a typical chat line: 200 bytes, longer than most.
var benchText = strings.Repeat("lorem ipsum ", 17)[:200]

// benchDayOf turns on the transcript bookkeeping, as the plugin does.
func benchDayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// BenchmarkAppend measures both stores side by side in one run, on the same
// machine at the same moment: a lone sender (throughput and median
// latency) and 32 concurrent senders (group commit) in one room, with
// the transcript bookkeeping on. PostgreSQL is the server pgtest finds: a
// private one from Debian's packages with its default settings (fsync and
// synchronous_commit on, so every commit is durable, as bbolt's).
func BenchmarkAppend(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) store.Store
	}{
		{"bolt", func(b *testing.B) store.Store {
			s, err := store.Open(filepath.Join(b.TempDir(), "chat.db"), store.Options{DayOf: benchDayOf})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"postgres", func(b *testing.B) store.Store {
			s, err := pgstore.Open(context.Background(), pgstore.Options{DSN: pgtest.DSN(b), DayOf: benchDayOf})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	for _, senders := range []int{1, 32} {
		for _, be := range backends {
			b.Run(fmt.Sprintf("senders=%d/%s", senders, be.name), func(b *testing.B) {
				s := be.open(b)
				defer func() { _ = s.Close() }()
				ctx := context.Background()
				if _, err := s.CreateRoom(ctx, store.Room{ID: "bench.room", PageID: "bench"}); err != nil {
					b.Fatal(err)
				}
				var (
					next atomic.Int64
					mu   sync.Mutex
					lat  []time.Duration
					wg   sync.WaitGroup
				)
				b.ResetTimer()
				for range senders {
					wg.Go(func() {
						var mine []time.Duration
						for {
							n := next.Add(1)
							if n > int64(b.N) {
								break
							}
							began := time.Now()
							if _, _, err := s.Append(ctx, "bench.room", store.NewMessage{
								ClientID: fmt.Sprint("c", n), UserID: fmt.Sprint("u", n%64), UserName: "Bench", Text: benchText,
							}); err != nil {
								b.Error(err)
								return
							}
							mine = append(mine, time.Since(began))
						}
						mu.Lock()
						lat = append(lat, mine...)
						mu.Unlock()
					})
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
				if len(lat) > 0 {
					slices.Sort(lat)
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				}
			})
		}
	}
}
