package plugin

import (
	"github.com/pagechat/pagechat/macro"
	"github.com/pagechat/pagechat/plugin/internal/store"
)

// tableTranscripts lists the room's transcript pages for the macro table,
// newest first. Days whose page has not been written yet have no URL and
// are left out: a link to nothing helps nobody.
func (rt *runtime) tableTranscripts(room store.Room) []macro.TableTranscript {
	return nil
}
