package server

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pagechat/pagechat/plugin/internal/store"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// BenchmarkRenderMacroAgedRoom renders the macro table of a room after a
// year of use: 2,000 participants (50 of them online), 300 files and 365
// daily transcripts, in a real bbolt file. Each iteration is one
// RenderMacro as a page render makes it (permission from the cache, the
// room and its lists from the store, the viewer's unread count, the
// HTML), and the benchmark reports the 50th and 99th percentile of one
// render besides the mean.
func BenchmarkRenderMacroAgedRoom(b *testing.B) {
	h := newConfigured(b, func(r *chatv1.ConfigureRequest) {
		r.PermissionCacheMs = 2000 // the default: renders reuse answers as in production
	})
	ctx := context.Background()
	room := h.openRoom("alice", "p1", "Aged Room")
	rt := h.rt()
	seedAgedRoom(b, rt, room.GetId())
	req := &chatv1.RenderMacroRequest{UserId: "alice", PageId: "p1", Name: "Aged Room"}
	// The first render fills the permission cache.
	if _, err := h.srv.RenderMacro(ctx, req); err != nil {
		b.Fatal(err)
	}
	took := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		resp, err := h.srv.RenderMacro(ctx, req)
		took = append(took, time.Since(start))
		if err != nil || resp.GetRoomId() == "" {
			b.Fatalf("RenderMacro: %v (%q)", err, resp.GetHtml())
		}
	}
	b.StopTimer()
	slices.Sort(took)
	pct := func(p float64) float64 {
		return float64(took[min(len(took)-1, int(p*float64(len(took))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// seedAgedRoom gives roomID 2,000 participants (the first 50 online), 300
// files and 365 written daily transcripts.
func seedAgedRoom(b *testing.B, rt *runtime, roomID string) {
	b.Helper()
	ctx := context.Background()
	for i := range 2000 {
		u := fmt.Sprint("member", i)
		if err := rt.store.TouchParticipant(ctx, roomID, store.Participant{UserID: u, DisplayName: fmt.Sprint("Member ", i), LastSeen: time.Now()}); err != nil {
			b.Fatal(err)
		}
		if i < 50 {
			rt.presence.inc(roomID, u)
		}
	}
	for i := range 300 {
		f := &store.File{ID: fmt.Sprint("f", i), Name: fmt.Sprintf("report-%d.pdf", i), URL: fmt.Sprint("/files/", i), ContentType: "application/pdf", Size: 1 << 20, UserID: "member1"}
		if _, _, err := rt.store.Append(ctx, roomID, store.NewMessage{UserID: "member1", UserName: "Member 1", Text: f.Name, HTML: f.Name, File: f}); err != nil {
			b.Fatal(err)
		}
	}
	day := time.Now().AddDate(-1, 0, 0)
	for i := range 365 {
		date := day.AddDate(0, 0, i).Format(time.DateOnly)
		if err := rt.store.TranscriptWritten(ctx, store.TranscriptWrite{RoomID: roomID, Date: date, Page: &store.Transcript{Title: "Aged Room " + date, URL: "/pages/" + date}}); err != nil {
			b.Fatal(err)
		}
	}
}
