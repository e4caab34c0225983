package hostsdk

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

// BenchmarkSendParallel measures durable sends through the real plugin
// binary: host-sdk → go-plugin gRPC (unix socket, mTLS) → permission check
// (cached) → bbolt group commit → fan-out. Senders share one room, the
// worst case for the per-room sequence. Each iteration is one acknowledged,
// fsynced message.
func BenchmarkSendParallel(b *testing.B) {
	for _, senders := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			c := loadPlugin(b, newTestHost(), b.TempDir())
			ctx := testCtx(b)
			room, err := c.OpenRoom(ctx, "alice", "p1", "Bench")
			if err != nil {
				b.Fatal(err)
			}
			text := strings.Repeat("x", 200)
			var next atomic.Int64
			if senders == 1 {
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					if _, err := c.Send(ctx, "alice", room.ID, fmt.Sprint("b", i), text); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
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
