package server

import (
	"github.com/pagechat/pagechat/plugin/internal/macrotable"
	"github.com/pagechat/pagechat/plugin/internal/store"
)

// tableTranscripts lists the room's transcript pages for the macro table,
// newest first. Days whose page has not been written yet have no URL and
// are left out: a link to nothing helps nobody.
func (rt *runtime) tableTranscripts(room store.Room) []macrotable.Transcript {
	var out []macrotable.Transcript
	for _, t := range room.Transcripts { // the store keeps them newest first
		if t.URL != "" {
			out = append(out, macrotable.Transcript{Date: t.Date, URL: t.URL})
		}
	}
	return out
}
