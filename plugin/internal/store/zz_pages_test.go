package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

func TestZZPagesPerCommit(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "c.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	r, err := s.CreateRoom(ctx, Room{ID: "p1:r", PageID: "p1", Name: "r", Slug: "r"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		s.Append(ctx, r.ID, NewMessage{ClientID: fmt.Sprint("w", i), UserID: fmt.Sprint("u", i%13), UserName: "U", Text: "hello", HTML: "<p>hello</p>"})
	}
	st := s.db.Stats()
	for i := 0; i < 1000; i++ {
		s.Append(ctx, r.ID, NewMessage{ClientID: fmt.Sprint("c", i), UserID: fmt.Sprint("u", i%13), UserName: "U", Text: "hello", HTML: "<p>hello</p>"})
	}
	st2 := s.db.Stats()
	d := st2.Sub(&st)
	t.Logf("per commit: pages written %.1f, spills %.1f, nodes %.1f, rebalance %.1f, commits %d",
		float64(d.TxStats.GetWrite())/1000, float64(d.TxStats.GetSpill())/1000, float64(d.TxStats.GetNodeCount())/1000, float64(d.TxStats.GetRebalance())/1000, d.TxN)
}
