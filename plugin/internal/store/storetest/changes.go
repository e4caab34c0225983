package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil"

	"github.com/pagechat/pagechat/plugin/internal/store"
)

func mustChange(t *testing.T, s store.Store, room string, m store.NewMessage) store.Message {
	t.Helper()
	got, dup, err := s.Append(context.Background(), room, m)
	if err != nil || dup {
		t.Fatalf("Append(%s of %d): dup=%v, %v", m.Kind, m.Target, dup, err)
	}
	if got.Kind != m.Kind || got.Target != m.Target {
		t.Fatalf("Append(%s of %d) = %s of %d", m.Kind, m.Target, got.Kind, got.Target)
	}
	return got
}

func edit(target uint64, cid, text string) store.NewMessage {
	return store.NewMessage{Kind: store.KindEdit, Target: target, ClientID: cid, UserID: "editor", UserName: "Ed", Text: text, HTML: "<p>" + text + "</p>"}
}

func del(target uint64, cid string) store.NewMessage {
	return store.NewMessage{Kind: store.KindDelete, Target: target, ClientID: cid, UserID: "mod", UserName: "Mo"}
}

// wholeLog reads a room's log with After in small pages, checking that it
// is gapless and ordered, and that Before walking back agrees.
func wholeLog(t *testing.T, s store.Store, room string) []store.Message {
	t.Helper()
	ctx := context.Background()
	var out []store.Message
	for {
		var after uint64
		if len(out) > 0 {
			after = out[len(out)-1].Seq
		}
		msgs, err := s.After(ctx, room, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			break
		}
		out = append(out, msgs...)
	}
	for i, m := range out {
		if m.Seq != uint64(i+1) {
			t.Fatalf("room %s: message %d has seq %d", room, i, m.Seq)
		}
	}
	var back []store.Message
	for before := uint64(0); ; {
		msgs, more, err := s.Before(ctx, room, before, 4)
		if err != nil {
			t.Fatal(err)
		}
		back = append(msgs, back...)
		if !more {
			break
		}
		before = msgs[0].Seq
	}
	if len(back) != len(out) {
		t.Fatalf("room %s: Before walked %d messages, After %d", room, len(back), len(out))
	}
	for i := range out {
		if !messagesEqual(back[i], out[i]) {
			t.Fatalf("room %s: Before gave %+v, After %+v", room, back[i], out[i])
		}
	}
	return out
}

// checkLifecycle checks that a log is consistent with the rules of edits
// and deletes: every plain message holds the text of its newest edit, or
// nothing if deleted; only the newest edit of a message that was not
// deleted keeps text; events target earlier plain messages.
func checkLifecycle(t *testing.T, log []store.Message) {
	t.Helper()
	edits := map[uint64][]store.Message{}
	deletes := map[uint64][]store.Message{}
	for _, m := range log {
		switch m.Kind {
		case store.KindMessage, store.KindTopic, store.KindKick, store.KindBan, store.KindUnban:
			continue
		case store.KindEdit:
			edits[m.Target] = append(edits[m.Target], m)
		case store.KindDelete:
			deletes[m.Target] = append(deletes[m.Target], m)
			if m.Text != "" || m.HTML != "" || m.File != nil || m.Erased {
				t.Errorf("delete event %+v carries something", m)
			}
		default:
			t.Errorf("message %d of kind %s", m.Seq, m.Kind)
		}
		if m.Target == 0 || m.Target >= m.Seq || log[m.Target-1].Kind != store.KindMessage {
			t.Errorf("%s event %d targets %d, not an earlier plain message", m.Kind, m.Seq, m.Target)
		}
	}
	for _, p := range log {
		if p.Kind != store.KindMessage {
			continue
		}
		es, ds := edits[p.Seq], deletes[p.Seq]
		switch {
		case len(ds) > 1:
			t.Errorf("message %d deleted %d times", p.Seq, len(ds))
		case len(ds) == 1:
			if !p.Erased || p.Text != "" || p.HTML != "" || p.File != nil {
				t.Errorf("deleted message %+v keeps something", p)
			}
			if p.DeleteSeq != ds[0].Seq || p.DeletedBy != ds[0].UserID {
				t.Errorf("deleted message %d names delete %d by %q, want %d by %q", p.Seq, p.DeleteSeq, p.DeletedBy, ds[0].Seq, ds[0].UserID)
			}
			for _, e := range es {
				if e.Seq > ds[0].Seq {
					t.Errorf("message %d edited at %d after its delete at %d", p.Seq, e.Seq, ds[0].Seq)
				}
			}
		case p.Erased:
			t.Errorf("message %d erased without a delete", p.Seq)
		case len(es) == 0:
			if p.EditSeq != 0 || !p.EditedAt.IsZero() {
				t.Errorf("message %d never edited but has EditSeq %d, EditedAt %v", p.Seq, p.EditSeq, p.EditedAt)
			}
		default:
			last := es[len(es)-1]
			if p.EditSeq != last.Seq || !p.EditedAt.Equal(last.SentAt) || p.Text != last.Text || p.HTML != last.HTML {
				t.Errorf("message %+v does not hold its newest edit %+v", p, last)
			}
		}
		for i, e := range es {
			newest := i == len(es)-1 && len(ds) == 0
			if newest && e.Erased {
				t.Errorf("newest edit %+v of message %d lost its text", e, p.Seq)
			}
			if !newest && (!e.Erased || e.Text != "" || e.HTML != "") {
				t.Errorf("superseded edit %+v of message %d keeps text", e, p.Seq)
			}
		}
	}
}

func testEditAndDelete(t *testing.T, db Opener) {
	clock := newTickingClock()
	rec := &commitRecorder{t: t}
	cfg := Config{Now: clock.Now, OnCommit: rec.onCommit}
	s := open(t, db, cfg)
	ctx := context.Background()
	mustCreate(t, s, "r")
	m1 := mustAppend(t, s, "r", "m1", "first version")
	file := &store.File{ID: "f1", Name: "notes.txt", URL: "/files/1", ContentType: "text/plain", Size: 5, UserID: "u1"}
	m2, _, err := s.Append(ctx, "r", store.NewMessage{ClientID: "m2", UserID: "u1", Text: "notes.txt", File: file})
	if err != nil {
		t.Fatal(err)
	}
	keep := mustAppend(t, s, "r", "m3", "untouched")

	e1 := mustChange(t, s, "r", edit(m1.Seq, "e1", "second version"))
	if e1.Seq != 4 || e1.Text != "second version" || e1.UserID != "editor" || e1.Erased {
		t.Errorf("first edit = %+v", e1)
	}
	log := wholeLog(t, s, "r")
	if got := log[m1.Seq-1]; got.Text != "second version" || got.EditSeq != e1.Seq || !got.EditedAt.Equal(e1.SentAt) ||
		got.UserID != m1.UserID || !got.SentAt.Equal(m1.SentAt) {
		t.Errorf("edited message = %+v; want the edit's text, its own sender and time", got)
	}
	checkLifecycle(t, log)

	e2 := mustChange(t, s, "r", edit(m1.Seq, "e2", "third version"))
	log = wholeLog(t, s, "r")
	if got := log[e1.Seq-1]; !got.Erased || got.Text != "" || got.HTML != "" || got.Target != m1.Seq {
		t.Errorf("superseded edit = %+v, want erased", got)
	}
	if got := log[m1.Seq-1]; got.Text != "third version" || got.EditSeq != e2.Seq {
		t.Errorf("message after a second edit = %+v", got)
	}
	checkLifecycle(t, log)

	d2 := mustChange(t, s, "r", del(m2.Seq, "d2"))
	if d2.Text != "" || d2.UserID != "mod" {
		t.Errorf("delete event = %+v", d2)
	}
	if room := mustRoom(t, s, "r"); len(room.Files) != 0 {
		t.Errorf("the deleted upload is still listed: %+v", room.Files)
	}
	d1 := mustChange(t, s, "r", del(m1.Seq, "d1"))
	log = wholeLog(t, s, "r")
	if got := log[m1.Seq-1]; !got.Erased || got.Text != "" || got.HTML != "" {
		t.Errorf("deleted message = %+v", got)
	}
	if got := log[e2.Seq-1]; !got.Erased || got.Text != "" {
		t.Errorf("the deleted message's newest edit = %+v, want erased", got)
	}
	if got := log[m2.Seq-1]; !got.Erased || got.File != nil || got.Text != "" {
		t.Errorf("deleted upload = %+v", got)
	}
	if got := log[keep.Seq-1]; !messagesEqual(got, keep) {
		t.Errorf("untouched message = %+v, want %+v", got, keep)
	}
	if len(log) != int(d1.Seq) || mustRoom(t, s, "r").LastSeq != d1.Seq {
		t.Errorf("log has %d messages, want %d", len(log), d1.Seq)
	}
	checkLifecycle(t, log)

	// Every event reached OnCommit once, in order, as Append returned it.
	seen := rec.seen()
	if len(seen) != len(log) {
		t.Fatalf("OnCommit saw %d messages, want %d", len(seen), len(log))
	}
	for i, want := range []store.Message{e1, e2, d2, d1} {
		if got := seen[int(want.Seq)-1]; !messagesEqual(got, want) {
			t.Errorf("OnCommit event %d = %+v, want %+v", i, got, want)
		}
	}

	s = reopen(t, s, db, cfg)
	after := wholeLog(t, s, "r")
	for i := range log {
		if !messagesEqual(after[i], log[i]) {
			t.Errorf("after reopen message %d = %+v, want %+v", i+1, after[i], log[i])
		}
	}
}

func testChangeErrors(t *testing.T, db Opener) {
	rec := &commitRecorder{t: t}
	s := open(t, db, Config{OnCommit: rec.onCommit})
	ctx := context.Background()
	mustCreate(t, s, "r")
	m1 := mustAppend(t, s, "r", "m1", "hello")
	m2 := mustAppend(t, s, "r", "m2", "bye")
	e1 := mustChange(t, s, "r", edit(m1.Seq, "e1", "hello again"))
	d2 := mustChange(t, s, "r", del(m2.Seq, "d2"))
	last := d2.Seq

	withFile := edit(m1.Seq, "", "x")
	withFile.File = &store.File{ID: "f"}
	withText := del(m1.Seq, "")
	withText.Text = "why"
	oddKind := edit(m1.Seq, "", "x")
	oddKind.Kind = store.MessageKind(9)
	for _, tc := range []struct {
		name string
		room string
		m    store.NewMessage
		want error
	}{
		{"edit of seq 0", "r", edit(0, "", "x"), store.ErrMessageNotFound},
		{"edit past the end", "r", edit(last+1, "", "x"), store.ErrMessageNotFound},
		{"delete past the end", "r", del(1000, ""), store.ErrMessageNotFound},
		{"edit of an edit", "r", edit(e1.Seq, "", "x"), store.ErrInvalid},
		{"delete of a delete", "r", del(d2.Seq, ""), store.ErrInvalid},
		{"edit of a deleted message", "r", edit(m2.Seq, "", "x"), store.ErrMessageDeleted},
		{"second delete", "r", del(m2.Seq, "again"), store.ErrMessageDeleted},
		{"edit announcing a file", "r", withFile, store.ErrInvalid},
		{"delete with text", "r", withText, store.ErrInvalid},
		{"unknown kind", "r", oddKind, store.ErrInvalid},
		{"unknown room", "nope", edit(1, "", "x"), store.ErrRoomNotFound},
	} {
		if _, _, err := s.Append(ctx, tc.room, tc.m); !errors.Is(err, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, err, tc.want)
		}
	}
	if got := mustRoom(t, s, "r").LastSeq; got != last {
		t.Errorf("refused changes took seqs: LastSeq %d, want %d", got, last)
	}
	if got := len(rec.seen()); got != int(last) {
		t.Errorf("OnCommit saw %d messages, want %d", got, last)
	}

	// Retries are answered from the log, whatever happened since.
	mustChange(t, s, "r", edit(m1.Seq, "e2", "hello for the last time"))
	for _, tc := range []struct {
		name string
		m    store.NewMessage
		want store.Message
	}{
		{"retried superseded edit", edit(m1.Seq, "e1", "hello again"), e1},
		{"retried delete", del(m2.Seq, "d2"), d2},
	} {
		got, dup, err := s.Append(ctx, "r", tc.m)
		if err != nil || !dup || got.Seq != tc.want.Seq || got.Kind != tc.want.Kind {
			t.Errorf("%s = %+v, dup %v, %v; want duplicate of %d", tc.name, got, dup, err, tc.want.Seq)
		}
		if tc.want.Kind == store.KindEdit && (!got.Erased || got.Text != "") {
			t.Errorf("%s returned text %q of a superseded edit", tc.name, got.Text)
		}
	}
	checkLifecycle(t, wholeLog(t, s, "r"))
}

// Senders, editors and deleters at once, in two rooms: the logs stay
// gapless and consistent, and OnCommit sees every event once, in order.
func testConcurrentChanges(t *testing.T, db Opener) {
	rec := &commitRecorder{t: t}
	s := open(t, db, Config{OnCommit: rec.onCommit})
	ctx := context.Background()
	rooms := []string{"a.r", "b.r"}
	var (
		mu    sync.Mutex
		plain = map[string][]uint64{}
	)
	for _, room := range rooms {
		mustCreate(t, s, room)
		for i := range 5 {
			plain[room] = append(plain[room], mustAppend(t, s, room, fmt.Sprint("seed", i), "seed").Seq)
		}
	}
	pick := func(r *mrand.Rand, room string) uint64 {
		mu.Lock()
		defer mu.Unlock()
		return plain[room][r.IntN(len(plain[room]))]
	}
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Go(func() {
			r := mrand.New(mrand.NewPCG(uint64(g), 42))
			for i := range 30 {
				room := rooms[r.IntN(len(rooms))]
				var m store.NewMessage
				switch g % 3 {
				case 0:
					m = store.NewMessage{ClientID: fmt.Sprint(g, "-", i), UserID: fmt.Sprint("u", g), Text: fmt.Sprint("text ", g, " ", i)}
				case 1:
					m = edit(pick(r, room), fmt.Sprint(g, "-", i), fmt.Sprint("edit ", g, " ", i))
				case 2:
					if r.IntN(3) != 0 {
						continue // deletes are rarer, or nothing would be left to edit
					}
					m = del(pick(r, room), fmt.Sprint(g, "-", i))
				}
				got, _, err := s.Append(ctx, room, m)
				switch {
				case errors.Is(err, store.ErrMessageDeleted) && m.Kind != store.KindMessage:
				case err != nil:
					t.Errorf("%s in %s: %v", m.Kind, room, err)
					return
				case m.Kind == store.KindMessage:
					mu.Lock()
					plain[room] = append(plain[room], got.Seq)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	committed := map[string][]store.Message{}
	for _, m := range rec.seen() {
		committed[m.RoomID] = append(committed[m.RoomID], m)
	}
	for _, room := range rooms {
		log := wholeLog(t, s, room)
		checkLifecycle(t, log)
		got := committed[room]
		if len(got) != len(log) {
			t.Errorf("room %s: OnCommit saw %d messages, the log has %d", room, len(got), len(log))
			continue
		}
		for i, m := range got {
			if m.Seq != uint64(i+1) || m.Kind != log[i].Kind || m.Target != log[i].Target {
				t.Fatalf("room %s: OnCommit message %d = %s %d of %d, log has %s %d of %d",
					room, i, m.Kind, m.Seq, m.Target, log[i].Kind, log[i].Seq, log[i].Target)
			}
		}
	}
}

// Erased text must be gone from the storage itself, where anyone with the
// database's files (a backup, a stolen disk) could otherwise read it.
func testErasedTextLeavesStorage(t *testing.T, db Opener) {
	if db.RawContains == nil {
		t.Skip("the implementation offers no raw view of its storage")
	}
	token := func(what string) string {
		var b [8]byte
		_, _ = rand.Read(b[:])
		return what + "-" + hex.EncodeToString(b[:])
	}
	var (
		original = token("original")
		replaced = token("replaced")
		final    = token("final")
		kept     = token("kept")
		big      = token("big") // spans several pages
		fileName = token("filename") + ".pdf"
		bigText  = strings.Repeat(big+" ", 2000)
	)
	s := open(t, db, Config{DayOf: utcDay})
	ctx := context.Background()
	mustCreate(t, s, "r")
	a := mustAppend(t, s, "r", "a", original)
	mustAppend(t, s, "r", "b", kept)
	c := mustAppend(t, s, "r", "c", bigText)
	d, _, err := s.Append(ctx, "r", store.NewMessage{ClientID: "d", UserID: "u1", Text: fileName,
		File: &store.File{ID: "f", Name: fileName, URL: "/files/f", ContentType: "application/pdf", Size: 1}})
	if err != nil {
		t.Fatal(err)
	}
	// Readers busy meanwhile, as in a busy room, keep old versions of
	// pages in use while the changes are committed.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.After(ctx, "r", 0, 0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	mustChange(t, s, "r", edit(a.Seq, "e1", replaced))
	mustChange(t, s, "r", edit(a.Seq, "e2", final))
	mustChange(t, s, "r", del(c.Seq, "dc"))
	mustChange(t, s, "r", del(d.Seq, "dd"))
	close(stop)
	readers.Wait()

	check := func(when string) {
		t.Helper()
		for _, w := range []struct {
			needle string
			want   bool
		}{
			{original, false}, {replaced, false}, {big, false}, {fileName, false},
			// The probe finds what is still there.
			{final, true}, {kept, true},
		} {
			got, err := db.RawContains([]byte(w.needle))
			if err != nil {
				t.Fatalf("RawContains: %v", err)
			}
			if got != w.want {
				t.Errorf("%s: storage holds %q: %v, want %v", when, w.needle, got, w.want)
			}
		}
	}
	check("as soon as the changes were acknowledged")
	s = reopen(t, s, db, Config{DayOf: utcDay})
	checkLifecycle(t, wholeLog(t, s, "r"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check("after close")
}

// Editing or deleting a message changes what its day's transcript page
// must show, so that day needs a write, however old it is.
func testChangeMarksTranscriptDay(t *testing.T, db Opener) {
	clock := testutil.NewClock(day(1, 10))
	s := open(t, db, Config{Now: clock.Now, DayOf: utcDay})
	ctx := context.Background()
	mustCreate(t, s, "r")
	m1 := mustAppend(t, s, "r", "m1", "monday")
	m2 := mustAppend(t, s, "r", "m2", "also monday")
	clock.Set(day(3, 10))
	mustAppend(t, s, "r", "m3", "wednesday")
	// A page written for the first time marks its neighbours, so writing
	// everything pending takes a round more.
	resolveAll := func() {
		t.Helper()
		for range 3 {
			for _, p := range pendingByDate(t, s) {
				w := store.TranscriptWrite{RoomID: p.RoomID, Date: p.Date, Version: p.Version, Page: &store.Transcript{Title: p.Date, URL: "/t/" + p.Date}}
				if err := s.TranscriptWritten(ctx, w); err != nil {
					t.Fatal(err)
				}
			}
		}
		if got := pendingByDate(t, s); len(got) != 0 {
			t.Fatalf("still pending: %+v", got)
		}
	}
	resolveAll()

	for _, change := range []store.NewMessage{edit(m1.Seq, "e", "changed"), del(m2.Seq, "d")} {
		clock.Set(clock.Now().Add(time.Hour))
		mustChange(t, s, "r", change)
		got := pendingByDate(t, s)
		if p, ok := got["r 2026-03-01"]; !ok || !p.DirtySince.Equal(clock.Now()) {
			t.Errorf("after a %s of a message of day 1: pending %+v, want day 1 dirty now", change.Kind, got)
		}
		if _, ok := got["r 2026-03-03"]; !ok {
			t.Errorf("after a %s on day 3: pending %+v, want day 3 too", change.Kind, got)
		}
		resolveAll()
	}
}
