package hub

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pagechat/pagechat/plugin/internal/store"
)

// waitTimeout bounds every wait in these tests. It is a deadlock detector,
// not a timing assertion: the hub never blocks, so a healthy run takes
// microseconds.
const waitTimeout = 5 * time.Second

func msg(room string, seq uint64) store.Message {
	return store.Message{RoomID: room, Seq: seq, Text: fmt.Sprintf("%s#%d", room, seq)}
}

func msgs(room string, from, to uint64) []store.Message {
	var out []store.Message
	for s := from; s <= to; s++ {
		out = append(out, msg(room, s))
	}
	return out
}

// describe renders an event compactly so order can be compared as strings.
func describe(ev Event) string {
	switch {
	case ev.Message != nil && ev.Presence != nil:
		return "BOTH"
	case ev.Message != nil:
		return fmt.Sprintf("m:%s:%d:%s", ev.Message.RoomID, ev.Message.Seq, ev.Message.Text)
	case ev.Presence != nil:
		return fmt.Sprintf("p:%s:%v", ev.Presence.UserID, ev.Presence.Online)
	}
	return "EMPTY"
}

// drain takes exactly n events from s, failing if they do not arrive.
func drain(t *testing.T, s *Subscription, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	timeout := time.After(waitTimeout)
	for len(out) < n {
		if ev, ok := s.Next(); ok {
			out = append(out, describe(ev))
			continue
		}
		select {
		case <-s.Ready():
		case <-timeout:
			t.Fatalf("got %d of %d events before timeout: %v", len(out), n, out)
		}
	}
	return out
}

// pending returns the events already buffered in s without waiting.
func pending(s *Subscription) []string {
	var out []string
	for {
		ev, ok := s.Next()
		if !ok {
			return out
		}
		out = append(out, describe(ev))
	}
}

// publishWithin publishes batch and fails the test if that blocks: the hub
// must never make a publisher wait for a subscriber.
func publishWithin(t *testing.T, h *Hub, batch []store.Message) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.PublishMessages(batch)
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("PublishMessages blocked")
	}
}

func isDone(s *Subscription) bool {
	select {
	case <-s.Done():
		return true
	default:
		return false
	}
}

func waitDone(t *testing.T, s *Subscription) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(waitTimeout):
		t.Fatal("subscription did not end")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPublishOrder(t *testing.T) {
	t.Parallel()
	type step struct {
		batch    []store.Message // published with PublishMessages
		presence *Presence       // published with Publish
	}
	tests := []struct {
		name  string
		steps []step
		want  []string
	}{
		{
			name:  "one batch",
			steps: []step{{batch: msgs("r", 1, 3)}},
			want:  []string{"m:r:1:r#1", "m:r:2:r#2", "m:r:3:r#3"},
		},
		{
			name:  "several batches",
			steps: []step{{batch: msgs("r", 1, 2)}, {batch: msgs("r", 3, 3)}, {batch: msgs("r", 4, 6)}},
			want:  []string{"m:r:1:r#1", "m:r:2:r#2", "m:r:3:r#3", "m:r:4:r#4", "m:r:5:r#5", "m:r:6:r#6"},
		},
		{
			name: "presence interleaved with messages",
			steps: []step{
				{presence: &Presence{UserID: "alice", Online: true}},
				{batch: msgs("r", 1, 2)},
				{presence: &Presence{UserID: "bob", Online: true}},
				{batch: msgs("r", 3, 3)},
				{presence: &Presence{UserID: "alice", Online: false}},
			},
			want: []string{"p:alice:true", "m:r:1:r#1", "m:r:2:r#2", "p:bob:true", "m:r:3:r#3", "p:alice:false"},
		},
		{
			name:  "mixed rooms in one commit are filtered",
			steps: []step{{batch: []store.Message{msg("r", 1), msg("other", 1), msg("r", 2), msg("other", 2), msg("r", 3)}}},
			want:  []string{"m:r:1:r#1", "m:r:2:r#2", "m:r:3:r#3"},
		},
		{
			name:  "empty batch delivers nothing",
			steps: []step{{batch: nil}, {batch: msgs("r", 1, 1)}},
			want:  []string{"m:r:1:r#1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := New(64)
			// Several subscribers of the same room must all see the same order.
			subs := []*Subscription{h.Subscribe("r"), h.Subscribe("r"), h.Subscribe("r")}
			for _, st := range tc.steps {
				if st.presence != nil {
					h.Publish("r", Event{Presence: st.presence})
				} else {
					h.PublishMessages(st.batch)
				}
			}
			for i, s := range subs {
				got := drain(t, s, len(tc.want))
				if !equal(got, tc.want) {
					t.Errorf("subscriber %d got %v, want %v", i, got, tc.want)
				}
				if extra := pending(s); len(extra) > 0 {
					t.Errorf("subscriber %d got extra events %v", i, extra)
				}
				if isDone(s) || s.Err() != nil {
					t.Errorf("subscriber %d ended (err %v) although it kept up", i, s.Err())
				}
			}
		})
	}
}

func TestPublishOrderConcurrentReader(t *testing.T) {
	t.Parallel()
	// A reader draining concurrently with a publisher sees every message in
	// sequence; the buffer is large enough that nobody is cut.
	const n = 5000
	h := New(n)
	s := h.Subscribe("r")
	done := make(chan error, 1)
	go func() {
		next := uint64(1)
		for next <= n {
			if ev, ok := s.Next(); ok {
				if ev.Message == nil || ev.Message.Seq != next {
					done <- fmt.Errorf("want seq %d, got %s", next, describe(ev))
					return
				}
				next++
				continue
			}
			select {
			case <-s.Ready():
			case <-s.Done():
				done <- fmt.Errorf("subscription ended at seq %d: %v", next, s.Err())
				return
			case <-time.After(waitTimeout):
				done <- fmt.Errorf("stalled at seq %d", next)
				return
			}
		}
		done <- nil
	}()
	for seq := uint64(1); seq <= n; seq += 10 {
		h.PublishMessages(msgs("r", seq, seq+9))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestPublishMessagesKeepsDistinctPointers(t *testing.T) {
	t.Parallel()
	h := New(8)
	s := h.Subscribe("r")
	batch := msgs("r", 1, 3)
	h.PublishMessages(batch)
	for want := uint64(1); want <= 3; want++ {
		ev, ok := s.Next()
		if !ok || ev.Message == nil || ev.Message.Seq != want {
			t.Fatalf("want seq %d, got %s", want, describe(ev))
		}
		if ev.Message != &batch[want-1] {
			t.Errorf("event %d does not point at its own element of the batch", want)
		}
	}
}

func TestOtherRoomsDoNotReceive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		publish func(h *Hub)
		wantA   []string
		wantB   []string
	}{
		{
			name:    "publish to a",
			publish: func(h *Hub) { h.Publish("a", Event{Presence: &Presence{UserID: "u", Online: true}}) },
			wantA:   []string{"p:u:true"},
		},
		{
			name:    "messages to b",
			publish: func(h *Hub) { h.PublishMessages(msgs("b", 1, 2)) },
			wantB:   []string{"m:b:1:b#1", "m:b:2:b#2"},
		},
		{
			name: "room with no subscribers",
			publish: func(h *Hub) {
				h.PublishMessages(msgs("c", 1, 5))
				h.Publish("c", Event{Presence: &Presence{UserID: "x"}})
			},
		},
		{
			// Room ids are compared exactly: "a" is not a prefix match for "a.b".
			name:    "similar room ids",
			publish: func(h *Hub) { h.PublishMessages(msgs("a.b", 1, 1)); h.PublishMessages(msgs("A", 1, 1)) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := New(8)
			a, b := h.Subscribe("a"), h.Subscribe("b")
			tc.publish(h)
			// Publish is synchronous: whatever it delivers is buffered by
			// the time it returns, so checking without waiting is exact.
			if got := pending(a); !equal(got, tc.wantA) {
				t.Errorf("room a got %v, want %v", got, tc.wantA)
			}
			if got := pending(b); !equal(got, tc.wantB) {
				t.Errorf("room b got %v, want %v", got, tc.wantB)
			}
		})
	}
}

func TestEventsBeforeSubscribeAreNotDelivered(t *testing.T) {
	t.Parallel()
	h := New(8)
	h.PublishMessages(msgs("r", 1, 3))
	s := h.Subscribe("r")
	h.PublishMessages(msgs("r", 4, 4))
	if got, want := pending(s), []string{"m:r:4:r#4"}; !equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestSlowConsumerIsCut(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		buffer int
		want   int // effective buffer
	}{
		{"buffer 1", 1, 1},
		{"buffer 4", 4, 4},
		{"zero means default", 0, DefaultBuffer},
		{"negative means default", -3, DefaultBuffer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := New(tc.buffer)
			slow := h.Subscribe("r")
			fast := h.Subscribe("r")
			other := h.Subscribe("other")
			if n := h.Subscribers("r"); n != 2 {
				t.Fatalf("Subscribers = %d, want 2", n)
			}

			// Fill the slow subscriber's buffer exactly: it must survive.
			for seq := 1; seq <= tc.want; seq++ {
				h.PublishMessages(msgs("r", uint64(seq), uint64(seq)))
				drain(t, fast, 1)
			}
			if isDone(slow) {
				t.Fatalf("cut with a full but not overflowing buffer (%d events)", tc.want)
			}
			if slow.Err() != nil {
				t.Fatalf("Err = %v while still subscribed", slow.Err())
			}

			// One more overflows it; publishing must not wait for the
			// subscriber that does not read.
			overflow := uint64(tc.want + 1)
			publishWithin(t, h, msgs("r", overflow, overflow))
			if !isDone(slow) {
				t.Fatal("subscriber with an overflowing buffer was not cut")
			}
			if !errors.Is(slow.Err(), ErrSlowConsumer) {
				t.Fatalf("Err = %v, want ErrSlowConsumer", slow.Err())
			}
			if n := h.Subscribers("r"); n != 1 {
				t.Fatalf("Subscribers after cut = %d, want 1", n)
			}
			// The fast subscriber got the event that cut the slow one.
			if got := drain(t, fast, 1); got[0] != fmt.Sprintf("m:r:%d:r#%d", overflow, overflow) {
				t.Fatalf("fast subscriber got %v, want seq %d", got, overflow)
			}

			// Later publishes reach the live subscriber and nobody else.
			for seq := overflow + 1; seq <= overflow+10; seq++ {
				h.PublishMessages(msgs("r", seq, seq))
				if got, want := drain(t, fast, 1)[0], fmt.Sprintf("m:r:%d:r#%d", seq, seq); got != want {
					t.Fatalf("fast subscriber got %s, want %s", got, want)
				}
			}
			if isDone(fast) {
				t.Fatalf("subscriber that kept up was cut: %v", fast.Err())
			}

			// Publishing never blocks, even when nobody reads at all: a
			// flood far beyond the buffer finishes and cuts the (now idle)
			// fast subscriber instead of waiting for it.
			const later = 3 * DefaultBuffer
			published := make(chan struct{})
			go func() {
				defer close(published)
				for seq := overflow + 11; seq <= overflow+10+later; seq++ {
					h.PublishMessages(msgs("r", seq, seq))
				}
			}()
			select {
			case <-published:
			case <-time.After(waitTimeout):
				t.Fatal("publisher blocked on subscribers that do not read")
			}
			if !isDone(fast) || !errors.Is(fast.Err(), ErrSlowConsumer) {
				t.Fatalf("idle subscriber after flood: done=%v err=%v, want cut", isDone(fast), fast.Err())
			}
			if got := len(pending(fast)); got != tc.want {
				t.Fatalf("idle subscriber holds %d events, want its buffer size %d", got, tc.want)
			}
			if n := h.Subscribers("r"); n != 0 {
				t.Fatalf("Subscribers after both were cut = %d", n)
			}

			// The cut subscriber keeps what was buffered before the cut
			// and received nothing after it.
			got := pending(slow)
			if len(got) != tc.want {
				t.Fatalf("cut subscriber holds %d events, want %d", len(got), tc.want)
			}
			for i, g := range got {
				if want := fmt.Sprintf("m:r:%d:r#%d", i+1, i+1); g != want {
					t.Fatalf("cut subscriber event %d = %s, want %s", i, g, want)
				}
			}
			// Closing a cut subscription keeps its reason.
			slow.Close()
			if !errors.Is(slow.Err(), ErrSlowConsumer) {
				t.Fatalf("Err after Close = %v, want ErrSlowConsumer", slow.Err())
			}
			if isDone(other) || len(pending(other)) != 0 {
				t.Fatal("subscriber of another room was affected")
			}
		})
	}
}

func TestSubscriptionClose(t *testing.T) {
	t.Parallel()
	h := New(4)
	a1, a2, b := h.Subscribe("a"), h.Subscribe("a"), h.Subscribe("b")
	if got := [3]int{h.Subscribers("a"), h.Subscribers("b"), h.Subscribers("none")}; got != [3]int{2, 1, 0} {
		t.Fatalf("Subscribers = %v, want [2 1 0]", got)
	}
	a1.Close()
	if !isDone(a1) {
		t.Fatal("Done not closed after Close")
	}
	if a1.Err() != nil {
		t.Fatalf("Err after own Close = %v, want nil", a1.Err())
	}
	a1.Close() // idempotent: no panic on double close of done
	if n := h.Subscribers("a"); n != 1 {
		t.Fatalf("Subscribers(a) after one Close = %d, want 1", n)
	}
	h.PublishMessages(msgs("a", 1, 1))
	if got := pending(a1); len(got) != 0 {
		t.Fatalf("closed subscription got %v", got)
	}
	if got := pending(a2); len(got) != 1 {
		t.Fatalf("open subscription got %v, want one event", got)
	}
	a2.Close()
	b.Close()
	b.Close()
	for _, room := range []string{"a", "b"} {
		if n := h.Subscribers(room); n != 0 {
			t.Fatalf("Subscribers(%s) after closing all = %d, want 0", room, n)
		}
	}
	// Closed subscriptions are forgotten: the hub holds no empty rooms.
	h.mu.Lock()
	rooms := len(h.rooms)
	h.mu.Unlock()
	if rooms != 0 {
		t.Fatalf("hub still tracks %d rooms after all subscriptions closed", rooms)
	}
}

func TestCloseConcurrentWithPublish(t *testing.T) {
	t.Parallel()
	const (
		rooms      = 4
		perRoom    = 25
		publishers = 4
		rounds     = 300
	)
	h := New(16)
	var subs []*Subscription
	for r := 0; r < rooms; r++ {
		for i := 0; i < perRoom; i++ {
			subs = append(subs, h.Subscribe(fmt.Sprint("room", r)))
		}
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for p := 0; p < publishers; p++ {
		wg.Go(func() {
			<-start
			for i := 0; i < rounds; i++ {
				room := fmt.Sprint("room", (p+i)%rooms)
				if i%2 == 0 {
					h.PublishMessages(msgs(room, uint64(i), uint64(i+2)))
				} else {
					h.Publish(room, Event{Presence: &Presence{UserID: "u", Online: i%4 == 1}})
				}
			}
		})
	}
	// Readers drain half the subscriptions so both the cut and the
	// delivered paths race with Close.
	for i, s := range subs {
		if i%2 == 0 {
			wg.Go(func() {
				for {
					for {
						if _, ok := s.Next(); !ok {
							break
						}
					}
					select {
					case <-s.Ready():
					case <-s.Done():
						return
					}
				}
			})
		}
	}
	// Every subscription is closed twice, from two goroutines at once.
	for range 2 {
		for _, s := range subs {
			wg.Go(func() {
				<-start
				s.Close()
			})
		}
	}
	// And new subscriptions come and go meanwhile.
	wg.Go(func() {
		<-start
		for i := 0; i < rounds; i++ {
			s := h.Subscribe(fmt.Sprint("room", i%rooms))
			s.Close()
			s.Close()
		}
	})
	close(start)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(4 * waitTimeout):
		t.Fatal("Close or Publish deadlocked")
	}
	for i, s := range subs {
		if !isDone(s) {
			t.Fatalf("subscription %d not done after Close", i)
		}
		if err := s.Err(); err != nil && !errors.Is(err, ErrSlowConsumer) {
			t.Fatalf("subscription %d: Err = %v, want nil or ErrSlowConsumer", i, err)
		}
	}
	for r := 0; r < rooms; r++ {
		if n := h.Subscribers(fmt.Sprint("room", r)); n != 0 {
			t.Fatalf("room%d has %d subscribers after all closed", r, n)
		}
	}
}

func TestHubClose(t *testing.T) {
	t.Parallel()
	h := New(4)
	subs := []*Subscription{h.Subscribe("a"), h.Subscribe("a"), h.Subscribe("b")}
	h.PublishMessages(msgs("a", 1, 1))

	h.Close()
	for i, s := range subs {
		if !isDone(s) {
			t.Fatalf("subscription %d not ended by hub Close", i)
		}
		if !errors.Is(s.Err(), ErrClosed) {
			t.Fatalf("subscription %d: Err = %v, want ErrClosed", i, s.Err())
		}
		s.Close() // closing after the hub did keeps the reason and does not panic
		if !errors.Is(s.Err(), ErrClosed) {
			t.Fatalf("subscription %d: Err after own Close = %v, want ErrClosed", i, s.Err())
		}
	}
	for _, room := range []string{"a", "b"} {
		if n := h.Subscribers(room); n != 0 {
			t.Fatalf("Subscribers(%s) after hub Close = %d", room, n)
		}
	}

	h.Close() // idempotent

	late := h.Subscribe("a")
	waitDone(t, late)
	if !errors.Is(late.Err(), ErrClosed) {
		t.Fatalf("Subscribe after Close: Err = %v, want ErrClosed", late.Err())
	}
	if n := h.Subscribers("a"); n != 0 {
		t.Fatalf("Subscribe after Close registered a subscriber (count %d)", n)
	}
	// Publishing to a closed hub neither blocks nor delivers.
	h.PublishMessages(msgs("a", 2, 2))
	h.Publish("a", Event{Presence: &Presence{UserID: "u"}})
	if got := pending(late); len(got) != 0 {
		t.Fatalf("subscription of a closed hub got %v", got)
	}
	late.Close()
}

func TestHubCloseConcurrent(t *testing.T) {
	t.Parallel()
	h := New(4)
	var subs []*Subscription
	for i := 0; i < 50; i++ {
		subs = append(subs, h.Subscribe(fmt.Sprint("r", i%5)))
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Go(func() { <-start; h.Close() })
		wg.Go(func() {
			<-start
			for j := 0; j < 100; j++ {
				h.PublishMessages(msgs(fmt.Sprint("r", j%5), 1, 1))
			}
		})
	}
	for _, s := range subs {
		wg.Go(func() { <-start; s.Close() })
	}
	close(start)
	wg.Wait()
	for i, s := range subs {
		waitDone(t, s)
		if err := s.Err(); err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrSlowConsumer) {
			t.Fatalf("subscription %d: unexpected Err %v", i, err)
		}
	}
	for i := 0; i < 5; i++ {
		if n := h.Subscribers(fmt.Sprint("r", i)); n != 0 {
			t.Fatalf("r%d has %d subscribers after Close", i, n)
		}
	}
	if s := h.Subscribe("r0"); !isDone(s) || !errors.Is(s.Err(), ErrClosed) {
		t.Fatalf("Subscribe after concurrent Close: done=%v err=%v", isDone(s), s.Err())
	}
}

// A subscription's queue grows with a burst and is let go once drained:
// an open room that is quiet holds no buffer of the hub's full size.
func TestDrainedQueueIsLetGo(t *testing.T) {
	t.Parallel()
	h := New(1024)
	s := h.Subscribe("r")
	if c := cap(s.queue); c != 0 {
		t.Fatalf("new subscription holds %d slots", c)
	}
	h.PublishMessages(msgs("r", 1, 500))
	if got := drain(t, s, 500); len(got) != 500 {
		t.Fatalf("drained %d events", len(got))
	}
	s.mu.Lock()
	c := cap(s.queue)
	s.mu.Unlock()
	if c > idleQueueCap {
		t.Errorf("drained subscription keeps %d slots, want at most %d", c, idleQueueCap)
	}
	if err := s.Err(); err != nil {
		t.Errorf("subscription ended: %v", err)
	}
}
