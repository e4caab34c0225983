package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/pagechat/pagechat/plugin/internal/store"
)

// Mentions belong to the text: an edit brings its own and they replace the
// message's, a superseded edit and a deleted message keep none (unread
// mention counts read them from the plain message), and a delete cannot
// carry any.
func testMentionsFollowChanges(t *testing.T, db Opener) {
	s := open(t, db, Config{Now: newTickingClock().Now})
	ctx := context.Background()
	mustCreate(t, s, "r")
	m, _, err := s.Append(ctx, "r", store.NewMessage{ClientID: "c", UserID: "ann", Text: "@bob @room", Mentions: []string{"bob"}, MentionsRoom: true})
	if err != nil {
		t.Fatal(err)
	}
	e1 := edit(m.Seq, "e1", "@cy only")
	e1.Mentions = []string{"cy"}
	ev1 := mustChange(t, s, "r", e1)
	if !slices.Equal(ev1.Mentions, []string{"cy"}) || ev1.MentionsRoom {
		t.Errorf("edit event mentions %q room %v, want [cy] false", ev1.Mentions, ev1.MentionsRoom)
	}
	log := wholeLog(t, s, "r")
	if got := log[0]; !slices.Equal(got.Mentions, []string{"cy"}) || got.MentionsRoom {
		t.Errorf("edited message mentions %q room %v, want [cy] false", got.Mentions, got.MentionsRoom)
	}

	mustChange(t, s, "r", edit(m.Seq, "e2", "nobody"))
	log = wholeLog(t, s, "r")
	if got := log[0]; len(got.Mentions) != 0 || got.MentionsRoom {
		t.Errorf("message edited to mention nobody keeps mentions %q room %v", got.Mentions, got.MentionsRoom)
	}
	if got := log[ev1.Seq-1]; !got.Erased || len(got.Mentions) != 0 {
		t.Errorf("superseded edit %+v keeps its mentions", got)
	}

	withMentions := del(m.Seq, "d0")
	withMentions.Mentions = []string{"bob"}
	_, _, err = s.Append(ctx, "r", withMentions)
	wantErr(t, "Append(delete with mentions)", err, store.ErrInvalid)

	n, _, err := s.Append(ctx, "r", store.NewMessage{ClientID: "c2", UserID: "ann", Text: "@bob", Mentions: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	mustChange(t, s, "r", del(n.Seq, "d1"))
	log = wholeLog(t, s, "r")
	if got := log[n.Seq-1]; !got.Erased || len(got.Mentions) != 0 || got.MentionsRoom {
		t.Errorf("deleted message %+v keeps its mentions", got)
	}
	checkLifecycle(t, log)
}
