// Command pagechat-seed fills a new plugin database with many rooms, each
// with some history, so that start-up time, memory and load figures can be
// measured with a site's worth of rooms present (scripts/loadtest.sh's
// EXTRA_ROOMS). It writes through the plugin's own store, as the plugin
// would, and marks every message as already judged for notifications, as
// on a site that has been running for a while: the plugin then finds
// nothing left to do in these rooms when it starts.
//
//	go run ./plugin/cmd/pagechat-seed -db DATA/chat/pagechat.db -rooms 9000 -messages 20
//
// It refuses to touch a file that exists: it is for measuring, never for a
// real database. The rooms' pages (seed-page-N) do not exist in any wiki;
// nothing reads them until someone opens such a room.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pagechat/pagechat/macro"
	"github.com/pagechat/pagechat/plugin/internal/store"
)

// seedWorkers is how many rooms are filled at once: the store commits
// concurrent appends together, so many writers make seeding fast.
const seedWorkers = 64

// judgeBatch bounds the rooms marked judged per commit.
const judgeBatch = 1000

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "pagechat-seed:", err)
		os.Exit(1)
	}
}

func run(args []string, log io.Writer) error {
	fs := flag.NewFlagSet("pagechat-seed", flag.ContinueOnError)
	fs.SetOutput(log)
	path := fs.String("db", "", "the plugin database to create (DATA/chat/pagechat.db under the wiki's -data); must not exist")
	rooms := fs.Int("rooms", 1000, "rooms to create, one page each")
	messages := fs.Int("messages", 20, "messages per room")
	users := fs.Int("users", 5, "participants per room (they take turns sending)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *path == "":
		return errors.New("-db is required")
	case *rooms < 1 || *rooms > 1_000_000:
		return fmt.Errorf("-rooms %d: want 1..1000000", *rooms)
	case *messages < 0 || *messages > 100_000:
		return fmt.Errorf("-messages %d: want 0..100000", *messages)
	case *users < 1 || *users > 10_000:
		return fmt.Errorf("-users %d: want 1..10000", *users)
	}
	if _, err := os.Stat(*path); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s exists (or cannot be checked: %v); pagechat-seed only creates new databases", *path, err)
	}
	st, err := store.Open(*path, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	return seed(context.Background(), st, *rooms, *messages, *users, log)
}

// seed creates the rooms and their messages, then marks them judged.
func seed(ctx context.Context, st *store.Bolt, rooms, messages, users int, log io.Writer) error {
	began := time.Now()
	ids := make([]string, rooms)
	last := make([]uint64, rooms)
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, seedWorkers)
	for range seedWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= rooms {
					return
				}
				pageID := fmt.Sprintf("seed-page-%d", i+1)
				name := fmt.Sprintf("Seed Room %d", i+1)
				id, err := macro.RoomID(pageID, name)
				if err == nil {
					_, err = st.CreateRoom(ctx, store.Room{ID: id, PageID: pageID, Name: name, Slug: macro.Slug(name)})
				}
				for k := 0; err == nil && k < messages; k++ {
					u := fmt.Sprintf("seed-user-%d", k%users+1)
					text := fmt.Sprintf("seeded message %d of room %d", k+1, i+1)
					var m store.Message
					m, _, err = st.Append(ctx, id, store.NewMessage{
						ClientID: fmt.Sprintf("seed-%d-%d", i+1, k+1), UserID: u, UserName: u,
						Text: text, HTML: text,
					})
					last[i] = m.Seq
				}
				if err != nil {
					errc <- fmt.Errorf("room %d: %w", i+1, err)
					return
				}
				ids[i] = id
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	// What a running plugin would long since have judged for mentions
	// and watches is marked so, or it would read every seeded room on
	// its first start.
	var batch []store.NotifyBatch
	for i, id := range ids {
		if last[i] > 0 {
			batch = append(batch, store.NotifyBatch{RoomID: id, JudgedSeq: last[i]})
		}
		if len(batch) == judgeBatch || (i == len(ids)-1 && len(batch) > 0) {
			if err := st.CommitNotifications(ctx, batch); err != nil {
				return fmt.Errorf("mark seeded messages judged: %w", err)
			}
			batch = batch[:0]
		}
	}
	fmt.Fprintf(log, "pagechat-seed: %d rooms with %d messages each in %v\n", rooms, messages, time.Since(began).Round(time.Millisecond))
	return nil
}
