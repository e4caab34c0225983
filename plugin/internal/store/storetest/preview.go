package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/pagechat/pagechat/plugin/internal/store"
)

// testRoomPreview checks that RoomPreview returns the head of each list,
// in Room's order, with the lists' full lengths, and puts online users
// first only when not everyone fits.
func testRoomPreview(t *testing.T, db Opener) {
	s := open(t, db, Config{Now: newTickingClock().Now})
	ctx := context.Background()
	mustCreate(t, s, "r")
	const members, files, days = 12, 9, 10
	for i := range members {
		if err := s.TouchParticipant(ctx, "r", store.Participant{UserID: fmt.Sprintf("u%02d", members-i), DisplayName: fmt.Sprint("User ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range files {
		f := &store.File{ID: fmt.Sprint("f", i), Name: fmt.Sprintf("file%d.txt", i), URL: fmt.Sprint("/files/", i), ContentType: "text/plain", UserID: "u01"}
		if _, _, err := s.Append(ctx, "r", store.NewMessage{ClientID: fmt.Sprint("f", i), UserID: "u01", Text: f.Name, File: f}); err != nil {
			t.Fatal(err)
		}
	}
	for d := range days {
		write(t, s, "r", d)
	}
	full := mustRoom(t, s, "r")
	ids := func(ps []store.Participant) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.UserID)
		}
		return out
	}
	online := []string{full.Participants[7].UserID, "stranger", full.Participants[3].UserID}
	for _, tc := range []struct {
		name      string
		lim       store.PreviewLimits
		wantUsers []string
	}{
		{"everything fits", store.PreviewLimits{Participants: 100, Online: online, Files: 100, Transcripts: 100}, ids(full.Participants)},
		{"online first when cut", store.PreviewLimits{Participants: 4, Online: online, Files: 3, Transcripts: 2},
			[]string{full.Participants[3].UserID, full.Participants[7].UserID, full.Participants[0].UserID, full.Participants[1].UserID}},
		{"first seen when nobody is online", store.PreviewLimits{Participants: 2, Files: 1, Transcripts: 1}, ids(full.Participants[:2])},
		{"counts only", store.PreviewLimits{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.RoomPreview(ctx, "r", tc.lim)
			if err != nil {
				t.Fatal(err)
			}
			if p.ID != "r" || p.Epoch != full.Epoch || p.LastSeq != full.LastSeq {
				t.Errorf("room = %+v, want the record of %+v", p.Room, full)
			}
			if p.TotalParticipants != members || p.TotalFiles != files || p.TotalTranscripts != days {
				t.Errorf("totals = %d, %d, %d; want %d, %d, %d", p.TotalParticipants, p.TotalFiles, p.TotalTranscripts, members, files, days)
			}
			if got := ids(p.Participants); !slices.Equal(got, tc.wantUsers) {
				t.Errorf("participants = %v, want %v", got, tc.wantUsers)
			}
			nf := min(tc.lim.Files, files)
			if len(p.Files) != nf || (nf > 0 && !filesEqual(&p.Files[0], &full.Files[files-nf])) {
				t.Errorf("files = %+v, want the newest %d of %+v", p.Files, nf, full.Files)
			}
			nt := min(tc.lim.Transcripts, days)
			if !slices.Equal(p.Transcripts, full.Transcripts[:nt]) {
				t.Errorf("transcripts = %+v, want %+v", p.Transcripts, full.Transcripts[:nt])
			}
		})
	}
	if _, err := s.RoomPreview(ctx, "nope", store.PreviewLimits{}); !errors.Is(err, store.ErrRoomNotFound) {
		t.Errorf("RoomPreview of a missing room: %v, want ErrRoomNotFound", err)
	}
}
