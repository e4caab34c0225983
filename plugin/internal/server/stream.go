package server

import (
	"context"
	"errors"
	"time"

	"github.com/pagechat/pagechat/plugin/internal/hub"
	"github.com/pagechat/pagechat/plugin/internal/store"
)

// replayPage is how many stored messages a stream reads per transaction
// while replaying; small enough not to hold a read transaction (and
// bbolt's remap lock) for long.
const replayPage = 256

// roomSink receives a room stream's events in order. Subscribe and Feed
// implement it over their gRPC stream.
type roomSink interface {
	// opened tells the client the stream is authorised and open, before
	// any event, even in an empty room.
	opened(epoch string) error
	message(m store.Message, epoch string) error
	presence(p hub.Presence) error
	typing(t hub.Typing) error
	// caughtUp marks the end of the replay from storage.
	caughtUp(lastSeq uint64) error
}

// streamOptions are what differs between Subscribe's and Feed's streams.
type streamOptions struct {
	// recheck, if set, runs every half permission window and ends the
	// stream when it fails.
	recheck func(context.Context) error
	who     string // for logs
	// user is the subscriber whose stream a live kick or ban of them ends;
	// empty for the host's feed, which ends its browsers' streams itself.
	user string
}

// checkResume refuses a resume position that does not belong to room.
func checkResume(room store.Room, after uint64, epoch string) error {
	if epoch != "" && epoch != room.Epoch {
		return failf(errEpochChanged, "room %s has epoch %s, not %s: its log was recreated; reload history instead of resuming", room.ID, room.Epoch, epoch)
	}
	if after > room.LastSeq {
		return failf(errInvalid, "after_seq %d is beyond the room's last sequence %d", after, room.LastSeq)
	}
	return nil
}

// streamRoom replays a room from after, then streams it live, with no gap
// and no duplicate at the hand-over. It returns when ctx ends, the plugin
// stops, the subscriber falls behind, a recheck fails or the sink fails.
func (rt *runtime) streamRoom(ctx context.Context, room store.Room, after uint64, epoch string, sink roomSink, opts streamOptions) error {
	if err := checkResume(room, after, epoch); err != nil {
		return err
	}

	// Subscribe to live events before reading storage: anything committed
	// after this point is in the subscription, anything before it is in
	// storage, and sequence numbers weed out what is in both.
	sub := rt.hub.Subscribe(room.ID)
	defer sub.Close()
	if err := sink.opened(room.Epoch); err != nil {
		return err
	}

	last := after
	send := func(m store.Message) error {
		if err := sink.message(m, room.Epoch); err != nil {
			return err
		}
		last = m.Seq
		return nil
	}
	// catchUp sends everything stored after last up to and including upTo
	// (0 = all). It serves the initial replay and also fills a hole should
	// a live event ever arrive ahead of last+1.
	catchUp := func(upTo uint64) error {
		for {
			msgs, err := rt.store.After(ctx, room.ID, last, replayPage)
			if err != nil {
				return storeErr(err, room.ID)
			}
			for _, m := range msgs {
				if upTo != 0 && m.Seq > upTo {
					return nil
				}
				if err := send(m); err != nil {
					return err
				}
			}
			if len(msgs) < replayPage {
				return nil
			}
		}
	}
	if err := catchUp(0); err != nil {
		return err
	}
	if err := sink.caughtUp(last); err != nil {
		return err
	}

	var recheck <-chan time.Time
	if opts.recheck != nil {
		t := time.NewTicker(rt.permTTL / 2)
		defer t.Stop()
		recheck = t.C
	}
	// take handles every event waiting on sub, in order.
	take := func() error {
		for {
			ev, ok := sub.Next()
			if !ok {
				return nil
			}
			switch {
			case ev.Message != nil:
				m := *ev.Message
				if m.Seq <= last {
					continue // already replayed from storage
				}
				if m.Seq > last+1 {
					if err := catchUp(m.Seq - 1); err != nil {
						return err
					}
				}
				if err := send(m); err != nil {
					return err
				}
				// Live only: an old kick in the replay is history, not
				// an order to leave now.
				if err := endsStreamOf(m, opts.user, rt.location); err != nil {
					rt.logger.Info("stream closed by a moderator", "action", m.Kind.String(), "room", room.ID, "user", opts.user, "event_seq", m.Seq)
					return err
				}
			case ev.Presence != nil:
				if err := sink.presence(*ev.Presence); err != nil {
					return err
				}
			case ev.Typing != nil:
				if err := sink.typing(*ev.Typing); err != nil {
					return err
				}
			}
		}
	}
	stopping := failf(errStopping, "plugin is shutting down; resume after the restart")
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-rt.done:
			return stopping
		case <-sub.Done():
			if errors.Is(sub.Err(), hub.ErrSlowConsumer) {
				rt.logger.Warn("cut slow subscriber", "room", room.ID, "subscriber", opts.who, "last_seq", last)
				return failf(errSlowSubscriber, "subscriber fell too far behind; resume after sequence %d", last)
			}
			return stopping
		case <-recheck:
			if err := opts.recheck(ctx); err != nil {
				return err
			}
		case <-sub.Ready():
			if err := take(); err != nil {
				return err
			}
		}
	}
}
