package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkAppendPagesPerCommit is a lone sender in a room with thirteen
// regular senders, as in the light-load run of scripts/loadtest.sh: every
// message is a commit of its own. Besides the time it reports how many
// pages each commit writes (bbolt writes each with its own pwrite before
// the first of its two fdatasyncs), the figure that says how much of a
// commit is the store's own layout rather than the disk.
func BenchmarkAppendPagesPerCommit(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "chat.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
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
	before := s.db.Stats()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		send("b", i)
	}
	after := s.db.Stats()
	d := after.Sub(&before)
	reportRate(b)
	b.ReportMetric(float64(d.TxStats.GetWrite())/float64(b.N), "pages/commit")
}
