package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// benchParallelism is the goroutines-per-GOMAXPROCS for RunParallel. The
// work is bound by fsync, not CPU, so one goroutine per CPU would measure a
// handful of senders; 16 per CPU approximates a busy instance with many
// chat users sending at once, which is where group commit has to pay off.
const benchParallelism = 16

// benchText is a typical chat line: 200 bytes, longer than most.
var benchText = strings.Repeat("lorem ipsum ", 17)[:200]

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkBoltBatchRaw is the baseline the store's writer is measured against: bbolt's own
// DB.Batch, which waits MaxBatchDelay for company before committing.
func BenchmarkBoltBatchRaw(b *testing.B) {
	for _, tc := range []struct {
		name  string
		delay time.Duration // 0 keeps bbolt's default (10ms)
	}{
		{"delay=default", 0},
		{"delay=1ms", time.Millisecond},
	} {
		b.Run(tc.name, func(b *testing.B) {
			db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if tc.delay > 0 {
				db.MaxBatchDelay = tc.delay
			}
			bucket := []byte("log")
			if err := db.Update(func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket(bucket)
				return err
			}); err != nil {
				b.Fatal(err)
			}
			value := []byte(benchText)
			var seq atomic.Uint64

			b.SetParallelism(benchParallelism)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key := binary.BigEndian.AppendUint64(nil, seq.Add(1))
					if err := db.Batch(func(tx *bolt.Tx) error {
						return tx.Bucket(bucket).Put(key, value)
					}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportRate(b)
		})
	}
}

func benchStore(b *testing.B) *Bolt {
	b.Helper()
	// DayOf as the plugin sets it: transcript bookkeeping is part of
	// every production commit.
	s, err := Open(filepath.Join(b.TempDir(), "chat.db"), Options{DayOf: func(t time.Time) string { return t.UTC().Format(time.DateOnly) }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	if _, err := s.CreateRoom(context.Background(), Room{ID: "bench.room"}); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkAppendParallel measures Bolt.Append under many concurrent
// senders, the case the single writer goroutine is built for.
func BenchmarkAppendParallel(b *testing.B) {
	s := benchStore(b)
	appendInParallel(b, s)
}

// appendInParallel times many senders appending to bench.room, 64 users
// among them.
func appendInParallel(b *testing.B, s *Bolt) {
	var id atomic.Uint64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			n := id.Add(1)
			_, _, err := s.Append(ctx, "bench.room", NewMessage{
				ClientID: fmt.Sprint("c", n), UserID: fmt.Sprint("u", n%64), UserName: "Bench", Text: benchText,
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

// BenchmarkAppendParallelRooms is BenchmarkAppendParallel spread over 100
// rooms with 13 senders each, the shape of the 100 × 20 load runs: a
// commit then carries messages of many rooms, and what it writes per room
// (the room's own pages, its record, its transcript bookkeeping) adds up.
func BenchmarkAppendParallelRooms(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	const rooms = 100
	ids := make([]string, rooms)
	for i := range ids {
		ids[i] = fmt.Sprintf("page%d.room", i)
		if _, err := s.CreateRoom(ctx, Room{ID: ids[i], PageID: fmt.Sprint("page", i), Name: "Room", Slug: "room"}); err != nil {
			b.Fatal(err)
		}
		for j := range 13 { // the senders are participants already
			if _, _, err := s.Append(ctx, ids[i], NewMessage{ClientID: fmt.Sprint("warm", j), UserID: fmt.Sprint("u", j), UserName: "Bench", Text: benchText}); err != nil {
				b.Fatal(err)
			}
		}
	}
	var id atomic.Uint64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := id.Add(1)
			_, _, err := s.Append(ctx, ids[n%rooms], NewMessage{
				ClientID: fmt.Sprint("c", n), UserID: fmt.Sprint("u", n/rooms%13), UserName: "Bench", Text: benchText,
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

// BenchmarkAppendSingleSender measures the lone-sender latency that
// DB.Batch's fixed delay would have ruined (about 64 writes/s with its
// default 10 ms delay).
func BenchmarkAppendSingleSender(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		_, _, err := s.Append(ctx, "bench.room", NewMessage{
			ClientID: fmt.Sprint("c", i), UserID: "u", UserName: "Bench", Text: benchText,
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

// BenchmarkAppendAgedRoom is BenchmarkAppendParallel in a room after years
// of use: 2,000 participants, 300 files and 1,000 daily transcripts. A send
// should cost what it costs in a new room.
func BenchmarkAppendAgedRoom(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	for i := range 2000 {
		if err := s.TouchParticipant(ctx, "bench.room", Participant{UserID: fmt.Sprint("member", i), DisplayName: "Member"}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 300 {
		f := &File{ID: fmt.Sprint("f", i), Name: "report.pdf", URL: fmt.Sprint("/files/", i), ContentType: "application/pdf", Size: 1 << 20, UserID: "member1"}
		if _, _, err := s.Append(ctx, "bench.room", NewMessage{UserID: "member1", Text: "report.pdf", File: f}); err != nil {
			b.Fatal(err)
		}
	}
	day := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		date := day.AddDate(0, 0, i).Format(time.DateOnly)
		if err := s.TranscriptWritten(ctx, TranscriptWrite{RoomID: "bench.room", Date: date, Page: &Transcript{Title: "Bench Room " + date, URL: "/pages/" + date}}); err != nil {
			b.Fatal(err)
		}
	}
	appendInParallel(b, s)
}

// BenchmarkEditLargeLog measures an edit, with the scrub that follows it,
// in a database of 200,000 messages: the scrub reads every page header.
func BenchmarkEditLargeLog(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	const msgs, perBatch = 200_000, 1000
	for i := 0; i < msgs; i += perBatch {
		batch := make([]*request, perBatch)
		for j := range batch {
			batch[j] = newTestRequest(opAppend, "bench.room", NewMessage{ClientID: fmt.Sprint(i + j), UserID: "u", UserName: "Bench", Text: benchText}, Participant{})
		}
		commitOnWriter(b, s, batch)
		for _, r := range batch {
			if res := <-r.done; res.err != nil {
				b.Fatal(res.err)
			}
		}
	}
	b.ResetTimer()
	for i := range b.N {
		if _, _, err := s.Append(ctx, "bench.room", NewMessage{Kind: KindEdit, Target: uint64(i%msgs + 1), UserID: "u", Text: benchText}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := s.view(ctx, func(tx *bolt.Tx) error {
		b.ReportMetric(float64(tx.Size()>>20), "MiB")
		return nil
	}); err != nil {
		b.Fatal(err)
	}
}
