package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkAppendPagesPerCommit is a lone sender in a room with thirteen
// regular senders, as in the light-load run of scripts/loadtest.sh: every
// message is a batch of its own. Besides the time it reports how many
// pages of the database file each message costs (bbolt writes each with
// its own pwrite before the first of a commit's two fdatasyncs), the
// figure that says how much of the work is the store's own layout rather
// than the disk. Since layout 7 a message is made durable in the journal
// and its pages reach the file with the next checkpoint, which carries
// every message since the one before (journal.go); before, every message
// was a commit of its own and the figure was pages per commit.
//
// The plugin keeps transcript bookkeeping on (a DayOf); "transcripts=off"
// is the store alone, as this benchmark measured before it had cases.
// cpu_us/msg is the CPU time a message costs, the kernel's for writing
// and flushing the journal and the pages included (BenchmarkDiskFlush has
// that part alone).
//
// rooms=100 is the same in a file that holds 99 more rooms, as a site's
// does: the rooms bucket and the transcript buckets then have pages of
// their own, which every commit wrote while it rewrote the room record and
// the day's bookkeeping there (layouts before 5 and 6).
func BenchmarkAppendPagesPerCommit(b *testing.B) {
	utcDay := func(t time.Time) string { return t.UTC().Format("2006-01-02") }
	for _, bc := range []struct {
		name  string
		dayOf func(time.Time) string
		rooms int
	}{
		{"transcripts=off", nil, 1},
		{"transcripts=on", utcDay, 1},
		{"transcripts=on/rooms=100", utcDay, 100},
	} {
		b.Run(bc.name, func(b *testing.B) { benchAppendPages(b, Options{DayOf: bc.dayOf}, bc.rooms) })
	}
}

func benchAppendPages(b *testing.B, opts Options, rooms int) {
	s, err := Open(filepath.Join(b.TempDir(), "chat.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := 1; i < rooms; i++ {
		slug := fmt.Sprint("other", i)
		if _, err := s.CreateRoom(ctx, Room{ID: "p2:" + slug, PageID: "p2", Name: slug, Slug: slug}); err != nil {
			b.Fatal(err)
		}
	}
	r, err := s.CreateRoom(ctx, Room{ID: "p1:r", PageID: "p1", Name: "r", Slug: "r"})
	if err != nil {
		b.Fatal(err)
	}
	send := func(prefix string, i int) {
		if _, _, err := s.Append(ctx, r.ID, NewMessage{ClientID: fmt.Sprint(prefix, i), UserID: fmt.Sprint("u", i%13), UserName: "User", Text: benchText, HTML: "<p>" + benchText + "</p>"}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 200 { // the room and its senders exist
		send("warm", i)
	}
	if _, err := s.settle(ctx, nil); err != nil {
		b.Fatal(err)
	}
	before := s.db.Stats()
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		send("b", i)
	}
	// The pages of the loop's messages that are still in the journal
	// count too.
	if _, err := s.settle(ctx, nil); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cpu1, _ := processCPU()
	after := s.db.Stats()
	d := after.Sub(&before)
	reportRate(b)
	b.ReportMetric(float64(d.TxStats.GetWrite())/float64(b.N), "pages/msg")
	if cpuOK {
		// The whole process's, which during the loop is the store's.
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "cpu_us/msg")
	}
}
