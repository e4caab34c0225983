package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pagechat/pagechat/internal/testutil"
)

// On a real full disk an append fails with an error wrapping ENOSPC (which
// the server answers as storage full), every acknowledged message stays,
// and appends work again once space is freed (finding #1).
func TestFullDiskLosesNothingAcknowledged(t *testing.T) {
	dir := testutil.SmallFS(t)
	ctx := context.Background()
	path := filepath.Join(dir, "chat.db")
	s := openAt(t, path, Options{})
	mustCreate(t, s, "r1")
	mustAppend(t, s, "r1", "c0", "before the disk filled")
	filler := filepath.Join(dir, "filler")
	testutil.FillDisk(t, filler)

	text := strings.Repeat("x", 8<<10)
	acked := 1
	var failed error
	for i := 1; i < 4096 && failed == nil; i++ {
		if _, _, err := s.Append(ctx, "r1", NewMessage{ClientID: fmt.Sprintf("c%d", i), UserID: "u1", Text: text}); err != nil {
			failed = err
		} else {
			acked++
		}
	}
	if !errors.Is(failed, syscall.ENOSPC) {
		t.Fatalf("append on a full disk = %v, want an error wrapping ENOSPC", failed)
	}
	msgs, err := s.After(ctx, "r1", 0, 10000)
	if err != nil || len(msgs) != acked {
		t.Fatalf("after the failure: %d messages (%v), want the %d acknowledged", len(msgs), err, acked)
	}
	// A restart on the full disk, as an admin's would be: acknowledged
	// messages the file could not take yet wait in the journal, and the
	// store opens with them readable.
	if err := s.Close(); err != nil {
		t.Fatalf("Close on a full disk: %v", err)
	}
	s = openAt(t, path, Options{})
	if !s.unsettled.Load() {
		t.Fatal("setup: the reopened store has nothing waiting in the journal; the test no longer covers a restart with messages the file could not take")
	}
	msgs, err = s.After(ctx, "r1", 0, 10000)
	if err != nil || len(msgs) != acked {
		t.Fatalf("after a restart on the full disk: %d messages (%v), want the %d acknowledged", len(msgs), err, acked)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "r1", "after", "space is back")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2 := openAt(t, path, Options{})
	msgs, err = s2.After(ctx, "r1", 0, 10000)
	if err != nil || len(msgs) != acked+1 {
		t.Fatalf("after reopening: %d messages (%v), want %d", len(msgs), err, acked+1)
	}
	for i, m := range msgs {
		if m.Seq != uint64(i+1) {
			t.Fatalf("message %d has seq %d: a gap", i, m.Seq)
		}
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
}
