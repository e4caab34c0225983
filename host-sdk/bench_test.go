package hostsdk

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// benchPluginOptions has the benchmark's plugin serve Go's profiler when
// PAGECHAT_BENCH_PLUGIN_DEBUG_ADDR names a loopback address, so that a
// profile or an execution trace of the plugin can be taken while a
// benchmark runs (curl ADDR/debug/pprof/trace?seconds=3 > plugin.trace).
func benchPluginOptions() []Option {
	addr := os.Getenv("PAGECHAT_BENCH_PLUGIN_DEBUG_ADDR")
	if addr == "" {
		return nil
	}
	return []Option{WithPluginEnv("PAGECHAT_PLUGIN_DEBUG_ADDR=" + addr)}
}

// BenchmarkSendParallel measures durable sends through the real plugin
// binary: host-sdk → go-plugin gRPC (unix socket, mTLS) → permission check
// (cached) → bbolt group commit → fan-out. Senders share one room, the
// worst case for the per-room sequence. Each iteration is one acknowledged,
// fsynced message.
func BenchmarkSendParallel(b *testing.B) {
	for _, senders := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			c := loadPlugin(b, newTestHost(), b.TempDir(), benchPluginOptions()...)
			ctx := testCtx(b)
			room, err := c.OpenRoom(ctx, "alice", "p1", "Bench")
			if err != nil {
				b.Fatal(err)
			}
			text := strings.Repeat("x", 200)
			var next atomic.Int64
			if senders == 1 {
				// A lone sender's latency is the figure a quiet room
				// feels, so its median and tail are reported too.
				lat := make([]time.Duration, 0, 1024)
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					start := time.Now()
					if _, err := c.Send(ctx, "alice", room.ID, fmt.Sprint("b", i), text); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(start))
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
				slices.Sort(lat)
				b.ReportMetric(percentileMs(lat, 50), "p50_ms")
				b.ReportMetric(percentileMs(lat, 99), "p99_ms")
				return
			}
			// RunParallel starts GOMAXPROCS*p goroutines; pick p so that
			// the number of concurrent senders is what the name says.
			b.SetParallelism(max(1, senders/max(1, procs())))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := fmt.Sprint("b", next.Add(1))
					if _, err := c.Send(ctx, "alice", room.ID, id, text); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// percentileMs is the nearest-rank p-th percentile of sorted, in
// milliseconds; 0 for none.
func percentileMs(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(max(int(math.Ceil(p/100*float64(len(sorted))))-1, 0), len(sorted)-1)
	return float64(sorted[i].Microseconds()) / 1000
}

// BenchmarkHealthParallel measures the bare RPC path to the plugin: gRPC
// over go-plugin's unix socket with mutual TLS, no permission check and no
// storage. Set against BenchmarkSendParallel it shows what the chat logic
// and the fsync add.
func BenchmarkHealthParallel(b *testing.B) {
	c := loadPlugin(b, newTestHost(), b.TempDir())
	ctx := testCtx(b)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Health(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
