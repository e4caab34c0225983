package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pagechat/pagechat/plugin/internal/store"
)

// liveFeed is the smallest fan-out a CommitFunc can feed: per room, the
// channels of the readers subscribed to it.
type liveFeed struct {
	t    *testing.T
	mu   sync.Mutex
	subs map[string][]chan store.Message
}

func (f *liveFeed) subscribe(room string, capacity int) <-chan store.Message {
	ch := make(chan store.Message, capacity)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs[room] = append(f.subs[room], ch)
	return ch
}

func (f *liveFeed) publish(added []store.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range added {
		for _, ch := range f.subs[m.RoomID] {
			select {
			case ch <- m:
			default:
				f.t.Errorf("room %s: a reader's buffer overflowed at seq %d", m.RoomID, m.Seq)
			}
		}
	}
}

// commitChecker is an OnCommit that checks, as each commit is reported,
// that its messages continue each room's sequence without a gap or a
// repeat, and that they can already be read back: a reader who subscribes
// after OnCommit has passed a message must find it with After. The reads
// run on a goroutine of their own (readBack), as the hub's readers do:
// OnCommit runs on the store's writer and must not call the store.
type commitChecker struct {
	t     *testing.T
	store atomic.Pointer[store.Store]
	next  func([]store.Message)

	inFlight atomic.Int32
	mu       sync.Mutex
	last     map[string]uint64
	toRead   []store.Message // reported, not yet read back
	wake     chan struct{}   // buffered (1)
}

func (c *commitChecker) onCommit(added []store.Message) {
	if c.inFlight.Add(1) != 1 {
		c.t.Error("OnCommit calls overlap")
	}
	defer c.inFlight.Add(-1)
	c.mu.Lock()
	newest := map[string]store.Message{}
	for _, m := range added {
		if m.Seq != c.last[m.RoomID]+1 {
			c.t.Errorf("room %s: OnCommit got seq %d after %d", m.RoomID, m.Seq, c.last[m.RoomID])
		}
		c.last[m.RoomID] = m.Seq
		newest[m.RoomID] = m
	}
	for _, m := range newest {
		c.toRead = append(c.toRead, m)
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	c.next(added)
}

// readBack reads every reported message back until stop is closed and
// none is left, and then closes done.
func (c *commitChecker) readBack(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		c.mu.Lock()
		batch := c.toRead
		c.toRead = nil
		c.mu.Unlock()
		s := c.store.Load()
		for _, m := range batch {
			if s == nil {
				break
			}
			got, err := (*s).After(context.Background(), m.RoomID, m.Seq-1, 1)
			if err != nil || len(got) != 1 || !messagesEqual(got[0], m) {
				c.t.Errorf("room %s: OnCommit reported seq %d before it could be read (%+v, %v)", m.RoomID, m.Seq, got, err)
			}
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-c.wake:
		case <-stop:
			c.mu.Lock()
			left := len(c.toRead)
			c.mu.Unlock()
			if left == 0 {
				return
			}
		}
	}
}

// testReplayThenLive checks what the chat service's Subscribe builds on: a
// reader that subscribes to a room's live messages first and then reads the
// log with After from where it left off, skipping live messages it has
// already read, sees every message exactly once and in order, whenever it
// joins and however busy the room is.
func testReplayThenLive(t *testing.T, db Opener) {
	const (
		rooms     = 3
		senders   = 6
		perSender = 30 // per room
		readers   = 4  // per room
		total     = senders * perSender
	)
	feed := &liveFeed{t: t, subs: map[string][]chan store.Message{}}
	check := &commitChecker{t: t, next: feed.publish, last: map[string]uint64{}, wake: make(chan struct{}, 1)}
	s := open(t, db, Config{OnCommit: check.onCommit})
	check.store.Store(&s)
	stopReading, readDone := make(chan struct{}), make(chan struct{})
	go check.readBack(stopReading, readDone)
	defer func() {
		close(stopReading)
		<-readDone
	}()
	ctx := context.Background()
	ids := make([]string, rooms)
	for i := range ids {
		ids[i] = string(rune('a'+i)) + ".room"
		mustCreate(t, s, ids[i])
	}

	type delivery struct {
		room        string
		start       uint64
		got         []store.Message
		live, dupes int
	}
	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		deliveries []*delivery
	)
	// read subscribes, replays from after start, then takes live messages
	// until it has the room's last one.
	read := func(room string, start uint64, live <-chan store.Message) {
		d := &delivery{room: room, start: start}
		defer func() {
			mu.Lock()
			deliveries = append(deliveries, d)
			mu.Unlock()
		}()
		last := start
		for {
			msgs, err := s.After(ctx, room, last, 16)
			if err != nil {
				t.Error(err)
				return
			}
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				if m.Seq != last+1 {
					t.Errorf("room %s: replay from %d jumped from %d to %d", room, start, last, m.Seq)
					return
				}
				last = m.Seq
				d.got = append(d.got, m)
			}
		}
		for last < total {
			select {
			case m := <-live:
				if m.Seq <= last {
					// Committed before the replay read it; OnCommit
					// must have carried the same message.
					if m.Seq > start && !messagesEqual(m, d.got[m.Seq-start-1]) {
						t.Errorf("room %s: live %+v differs from stored %+v", room, m, d.got[m.Seq-start-1])
					}
					d.dupes++
					continue
				}
				if m.Seq != last+1 {
					t.Errorf("room %s: after replaying to %d (from %d) the next live message is %d", room, last, start, m.Seq)
					return
				}
				last = m.Seq
				d.got = append(d.got, m)
				d.live++
			case <-time.After(10 * time.Second):
				t.Errorf("room %s: reader from %d stalled at %d of %d", room, start, last, total)
				return
			}
		}
	}

	// The first reader of each room subscribes before anything is sent, so
	// some messages certainly arrive live; the others join while the
	// senders are busy, half of them resuming from the middle.
	for _, room := range ids {
		live := feed.subscribe(room, total)
		wg.Go(func() { read(room, 0, live) })
	}
	var sending sync.WaitGroup
	for g := range senders {
		sending.Go(func() {
			for j := range perSender {
				for _, room := range ids {
					m := store.NewMessage{ClientID: cid("g", g, "-", j), UserID: cid("u", g), Text: cid("message ", j, " from ", g)}
					if _, _, err := s.Append(ctx, room, m); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	for _, room := range ids {
		for k := 1; k < readers; k++ {
			wg.Go(func() {
				deadline := time.Now().Add(30 * time.Second)
				for {
					r, err := s.Room(ctx, room)
					if err != nil {
						t.Error(err)
						return
					}
					if r.LastSeq >= uint64(k*total/readers) || time.Now().After(deadline) {
						break
					}
					time.Sleep(time.Millisecond)
				}
				live := feed.subscribe(room, total)
				var start uint64
				if k%2 == 0 {
					r, err := s.Room(ctx, room)
					if err != nil {
						t.Error(err)
						return
					}
					start = r.LastSeq / 2
				}
				read(room, start, live)
			})
		}
	}
	sending.Wait()
	wg.Wait()

	liveTotal := 0
	for _, d := range deliveries {
		if want := total - int(d.start); len(d.got) != want {
			t.Errorf("room %s: reader from %d got %d messages, want %d", d.room, d.start, len(d.got), want)
			continue
		}
		for i, m := range d.got {
			if m.Seq != d.start+uint64(i)+1 || m.RoomID != d.room {
				t.Fatalf("room %s: reader from %d got %s/%d at %d", d.room, d.start, m.RoomID, m.Seq, i)
			}
		}
		liveTotal += d.live
	}
	if liveTotal == 0 {
		t.Error("no reader got a message live; the hand-over was not exercised")
	}
	check.mu.Lock()
	defer check.mu.Unlock()
	for _, room := range ids {
		if got := check.last[room]; got != total {
			t.Errorf("room %s: OnCommit reached seq %d, want %d", room, got, total)
		}
	}
}
