package transcript

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pagechat/pagechat/plugin/internal/store"
)

func (e *env) change(m store.NewMessage) store.Message {
	e.t.Helper()
	got, _, err := e.store.Append(context.Background(), roomID, m)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

// An edit or delete made days later rewrites the page of the day the
// message was sent: the edit's text marked edited, the deleted message
// replaced by "message deleted" at the same anchor; a day that only holds
// such changes gets no page of its own.
func TestEditAndDeleteRewritePastDays(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Minute, at(1, 10, 0))
	typo := e.send("teh plan")
	secret := e.send("password hunter2")
	e.change(store.NewMessage{Kind: store.KindTopic, UserID: "mod", UserName: "Mo", Text: "Planning"})
	e.clock.Advance(time.Hour)
	e.flush()
	before := e.mustPage("2026-03-01").body
	if !strings.Contains(before, "hunter2") || !strings.Contains(before, "set the topic: Planning") {
		t.Fatalf("day 1 before the changes:\n%s", before)
	}

	e.clock.Set(at(3, 9, 30))
	e.change(store.NewMessage{Kind: store.KindEdit, Target: typo.Seq, UserID: "alice", UserName: "Alice", Text: "the plan", HTML: "<em>the plan</em>"})
	e.change(store.NewMessage{Kind: store.KindDelete, Target: secret.Seq, UserID: "mod", UserName: "Mo"})
	e.clock.Advance(time.Hour)
	e.flush()

	after := e.mustPage("2026-03-01").body
	for _, want := range []string{
		`<em>the plan</em></div> <span class="edited">(edited 09:30:00)</span>`,
		`<li id="m-2">`,
		`<em>message deleted</em>`,
	} {
		if !strings.Contains(after, want) {
			t.Errorf("rewritten day 1 lacks %q:\n%s", want, after)
		}
	}
	for _, gone := range []string{"teh plan", "hunter2"} {
		if strings.Contains(after, gone) {
			t.Errorf("rewritten day 1 still shows %q:\n%s", gone, after)
		}
	}
	if _, ok := e.page("2026-03-03"); ok {
		t.Error("a day holding only an edit and a delete got a page")
	}
}
