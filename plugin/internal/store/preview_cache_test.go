package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// The bbolt store keeps recent room previews. Every write that changes
// what a preview shows must show at the next RoomPreview, even while
// other previews of the room are read alongside, and no caller may
// change what the cache holds.
func TestPreviewCacheFollowsWrites(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const room = "p.r"
	lim := PreviewLimits{Participants: 30, Files: 10, Transcripts: 30}
	preview := func() Preview {
		t.Helper()
		p, err := s.RoomPreview(ctx, room, lim)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := s.RoomPreview(ctx, room, lim); err == nil {
		t.Fatal("preview of a room not created yet")
	}
	mustCreate(t, s, room)
	var readers sync.WaitGroup
	for range 3 {
		readers.Go(func() {
			for ctx.Err() == nil {
				_, _ = s.RoomPreview(ctx, room, lim)
			}
		})
	}
	for i := 1; i <= 40; i++ {
		user := fmt.Sprint("u", i)
		switch i % 4 {
		case 0:
			if err := s.TouchParticipant(ctx, room, Participant{UserID: user, DisplayName: "User " + user}); err != nil {
				t.Fatal(err)
			}
		case 1:
			f := &File{ID: user, Name: user + ".txt", URL: "/f/" + user}
			if _, _, err := s.Append(ctx, room, NewMessage{UserID: user, Text: "file", File: f}); err != nil {
				t.Fatal(err)
			}
		case 2:
			date := time.Date(2026, 1, i, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
			if err := s.TranscriptWritten(ctx, TranscriptWrite{RoomID: room, Date: date, Page: &Transcript{Title: date, URL: "/t/" + date}}); err != nil {
				t.Fatal(err)
			}
		case 3:
			if _, _, err := s.Append(ctx, room, NewMessage{Kind: KindTopic, UserID: user, Text: "topic " + user}); err != nil {
				t.Fatal(err)
			}
		}
		got := preview()
		want, err := s.readPreview(ctx, room, lim)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after write %d the preview is\n%+v\nbut the database says\n%+v", i, got, want)
		}
	}
	// A caller changing its copy changes nothing for the next one.
	p := preview()
	if len(p.Files) == 0 || len(p.Participants) == 0 {
		t.Fatalf("preview has no files or participants: %+v", p)
	}
	p.Files[0].Name, p.Participants[0].DisplayName = "changed", "changed"
	if again := preview(); again.Files[0].Name == "changed" || again.Participants[0].DisplayName == "changed" {
		t.Error("a caller's change to its preview reached the cache")
	}
	cancel()
	readers.Wait()
}
