package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DefaultLockTimeout is how long Open waits for the database file lock when
// Options.LockTimeout is zero. bbolt's own default is to wait forever, which
// would hang a plugin that is started while its predecessor is still shutting
// down; a few seconds covers a normal restart and still fails loudly when a
// second instance really is running.
const DefaultLockTimeout = 3 * time.Second

// maxBatch caps how many queued requests the writer folds into one
// transaction. Without a cap a burst of senders could grow one transaction
// (and the time every sender in it waits for the fsync) without bound; 1024
// is far above the batches seen with 64 parallel senders, so it only bites under
// overload, where bounded latency matters more than a slightly larger batch.
const maxBatch = 1024

// Bucket and key names of the on-disk layout:
//
//	rooms/<roomID>            JSON roomRecord
//	logs/<roomID>/log/<seq>   JSON messageRecord, seq as 8-byte big endian
//	logs/<roomID>/dedupe/<key> 8-byte big-endian seq of the message with that sender and client id; key in dedupe.go
//	logs/<roomID>/...         the room's lists; see roomdata.go
//	meta/layout               layout version
var (
	roomsBucket  = []byte("rooms")
	logsBucket   = []byte("logs")
	logBucket    = []byte("log")
	dedupeBucket = []byte("dedupe")
)

// The chat service only sees Store; keep Bolt from drifting away from it.
var _ Store = (*Bolt)(nil)

// initialMmapSize is the address space bbolt maps up front: 256 MiB of
// virtual memory, not resident memory, enough for a busy wiki's chat.
const initialMmapSize = 256 << 20

// Options tunes Open. The zero value is what production uses.
type Options struct {
	// LockTimeout bounds the wait for the file lock; zero means
	// DefaultLockTimeout. Tests set it short so a lock conflict fails fast.
	LockTimeout time.Duration
	// OnCommit, if set, receives the messages each commit added; see
	// CommitFunc for the ordering guarantees the fan-out hub relies on.
	// It runs on the writer goroutine, so it must not call the store:
	// Append, TouchParticipant and Close wait for the writer, and so does
	// a read while the journal holds what the file does not.
	OnCommit CommitFunc
	// Now replaces time.Now so tests get deterministic timestamps.
	Now func() time.Time
	// DayOf, if set, names the transcript day ("YYYY-MM-DD" in the
	// configured time zone) of a commit time, and turns on the bookkeeping
	// of which room days need their transcript page written (see
	// transcripts.go). Nil means no transcript tracking.
	DayOf func(time.Time) string
	// MaxRoomsPerPage bounds how many rooms CreateRoom makes per page;
	// 0 means no limit.
	MaxRoomsPerPage int
	// Warn, if set, hears of failures no caller is waiting for: a
	// checkpoint of the journal (journal.go) that failed on its timer.
	Warn func(msg string, err error)

	// checkpointEvery replaces the constant of that name, so that tests
	// can keep batches in the journal for as long as they look.
	checkpointEvery time.Duration
}

// Bolt is the embedded Store on a single bbolt file and its journal. All
// writes that can come in bursts (Append, TouchParticipant and the read
// markers) go through one writer goroutine that takes everything queued as
// one batch as soon as the previous one is answered: one flush then serves
// many senders, without the fixed delay that bbolt's DB.Batch adds to
// every lone write. A batch is durable once it is in the journal, and
// reaches the bbolt file with the next checkpoint (journal.go).
type Bolt struct {
	db   *bolt.DB
	path string
	opts Options

	reqs    chan *request // unbuffered: a request is either taken by the writer or never seen
	calls   chan func()   // run on the writer goroutine, between batches; see settle
	closing chan struct{} // closed by Close; stops the writer and rejects new work
	stopped chan struct{} // closed by the writer when it has exited

	// unsettled says the journal holds acknowledged batches that the
	// file does not: a read must ask for a checkpoint first.
	unsettled atomic.Bool
	// Only the writer goroutine (and Open, before it starts) uses these.
	jr   *journal
	open *bolt.Tx       // the transaction the journaled batches are applied to
	inTx []journalBatch // the journaled batches open holds, oldest first
	lsn  uint64         // number of the last journaled batch
	// fileLSN is the number meta/journal holds: the file holds every
	// batch up to it. lsn is fileLSN+len(inTx) unless a number was
	// spent on a failed write, which the next checkpoint records.
	fileLSN uint64
	// stalled is the error of the last checkpoint, if it failed, and
	// stalledAt when.
	stalled   error
	stalledAt time.Time
	// wipeOwed says the journal may hold records from before this Open,
	// to be wiped at the next checkpoint that succeeds.
	wipeOwed bool

	// readers is held shared by every read transaction and exclusively
	// by scrub while it begins its write transaction.
	readers sync.RWMutex
	// scrubPending says free pages may still hold erased text; only the
	// writer goroutine (and Open, before it starts) uses it.
	scrubPending bool

	// bans keeps every room's bans in memory once read: a send, an
	// upload and every viewer re-check ask for them.
	bans banCache
	// previews keeps recent room tables' data; see previewCache.
	previews previewCache

	closeOnce sync.Once
	closeErr  error

	from     int // the layout Open found; see Upgraded
	replayed int // batches Open applied from the journal; see Replayed
}

// Replayed reports how many acknowledged batches Open applied from the
// journal: nonzero after the process stopped without closing the store
// (a crash, a kill). An admin reading the log after an outage wants to
// know that nothing was lost, and that the start had work to do.
func (b *Bolt) Replayed() int { return b.replayed }

// Upgraded reports whether Open brought the file up from an older layout,
// and from which and to which layout version. Plugins older than the one
// that did so can no longer open the file, which an admin planning a
// rollback needs to hear.
func (b *Bolt) Upgraded() (from, to int, ok bool) {
	if b.from == 0 || b.from == currentLayout {
		return 0, 0, false
	}
	return b.from, currentLayout, true
}

// Open opens (creating if needed) the store at path and starts its writer.
// A database held by another process makes Open fail with an error wrapping
// ErrLocked after opts.LockTimeout.
func Open(path string, opts Options) (*Bolt, error) {
	if path == "" {
		return nil, fmt.Errorf("store: open: empty path: %w", ErrInvalid)
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.checkpointEvery <= 0 {
		opts.checkpointEvery = checkpointEvery
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: create directory for %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: opts.LockTimeout,
		// Every commit would otherwise rewrite the whole freelist, which
		// grows with the file; rebuilding it on open costs one scan
		// instead (as etcd does).
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		// Growing the mmap blocks every reader and the writer while it
		// remaps; starting large (address space only) makes that rare.
		InitialMmapSize: initialMmapSize,
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("store: open %s: %w (probably another pagechat plugin holds it; gave up after %s)",
				path, ErrLocked, opts.LockTimeout)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	var from int
	if err := db.Update(func(tx *bolt.Tx) (err error) {
		from, err = migrate(tx)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: init %s: %w", path, err)
	}
	if err := db.Update(baselineNotify); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: init %s: %w", path, err)
	}
	b := &Bolt{
		db:      db,
		path:    path,
		opts:    opts,
		from:    from,
		reqs:    make(chan *request),
		calls:   make(chan func()),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
	}
	// An erase whose scrub a crash interrupted is finished before anyone
	// can read the file through this store. The batches a crash left in
	// the journal come after it (an erase is never journaled).
	scrubOwed, err := scrubRecorded(db)
	if err == nil && scrubOwed {
		err = b.scrub()
	}
	if err == nil {
		err = b.recover(from == 0, scrubOwed)
	}
	if err != nil {
		if b.open != nil {
			_ = b.open.Rollback()
		}
		if b.jr != nil {
			_ = b.jr.close()
		}
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	go b.writer()
	return b, nil
}

// recover opens the journal and applies the batches in it that the file
// does not hold yet, which a crash kept from their checkpoint, with a
// checkpoint of its own. If that checkpoint fails (the disk is full), the
// store opens anyway, as it would be after such a failure at run time:
// the batches wait in the writer's open transaction, reads see them, and
// new writes are refused until a checkpoint succeeds.
//
// The journal of a file that Open has just made belonged to a file that
// is gone; it is wiped, not applied. scrubOwed says an erase's scrub was
// cut short, which may have left its old text in the journal too.
func (b *Bolt) recover(newFile, scrubOwed bool) error {
	jr, batches, err := openJournal(journalPath(b.path))
	if err != nil {
		return err
	}
	b.jr = jr
	if err := b.db.View(func(tx *bolt.Tx) error {
		b.lsn = journaledLSN(tx.Bucket(metaBucket))
		b.fileLSN = b.lsn
		return nil
	}); err != nil {
		return err
	}
	stale := newFile && len(batches) > 0
	if newFile {
		batches = nil
	}
	for _, jb := range batches {
		if jb.lsn <= b.lsn {
			continue // the file holds it
		}
		if jb.lsn != b.lsn+1 {
			// A gap: the batches before it are lost, so applying it could
			// give sequence numbers out of order. Nothing that this store
			// wrote leaves a gap.
			return fmt.Errorf("journal %s: its next batch is %d, but the file holds batches up to %d: %w; if the file was restored from a copy, restore the journal taken with it, or move the journal away to open the file as the copy left it",
				jr.path, jb.lsn, b.lsn, ErrJournalMismatch)
		}
		b.inTx = append(b.inTx, jb)
		b.lsn = jb.lsn
	}
	b.replayed = len(b.inTx)
	// The journal is wiped with the first checkpoint that succeeds when
	// it may hold text the file does not: an erase's old text, a gone
	// file's messages. What was replayed goes too. A clean start leaves
	// it as it is, and saves writing it over: what it holds the file
	// holds too, and every erase wiped it (scrubAll).
	b.wipeOwed = scrubOwed || stale || len(b.inTx) > 0
	if len(b.inTx) == 0 {
		return b.checkpoint()
	}
	b.unsettled.Store(true)
	// A batch that cannot be applied again fails Open: serving the file
	// without it would hand out its sequence numbers again.
	if err := b.rebuild(); err != nil {
		return fmt.Errorf("journal %s: %w", jr.path, err)
	}
	if err := b.checkpoint(); err != nil && b.opts.Warn != nil {
		b.opts.Warn("cannot write the messages a crash left in the journal to the database file; reads see them, and new messages are refused until that succeeds", err)
	}
	return nil
}

// Close stops accepting writes, lets the batch being committed finish and
// answer its senders, fails senders still waiting to be taken with
// ErrClosed, writes what waits in the journal to the file (or, if that
// fails, leaves it for the next Open and tells Options.Warn), and closes
// the files so another process can open them. Calling it
// again returns the first call's result.
func (b *Bolt) Close() error {
	b.closeOnce.Do(func() {
		close(b.closing)
		<-b.stopped // after the writer's last checkpoint
		if err := b.jr.close(); err != nil && b.closeErr == nil {
			b.closeErr = fmt.Errorf("store: close %s: %w", b.jr.path, err)
		}
		if err := b.db.Close(); err != nil && b.closeErr == nil {
			b.closeErr = fmt.Errorf("store: close %s: %w", b.path, err)
		}
	})
	return b.closeErr
}

func (b *Bolt) isClosed() bool {
	select {
	case <-b.closing:
		return true
	default:
		return false
	}
}

// mapErr turns bbolt's "not open" (a read racing Close) into ErrClosed so
// callers only need to know this package's sentinels.
func mapErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// CreateRoom creates the room if needed. It does not go through the writer:
// rooms are created rarely, and a direct transaction keeps room creation
// independent of message traffic.
func (b *Bolt) CreateRoom(ctx context.Context, r Room) (Room, error) {
	if b.isClosed() {
		return Room{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return Room{}, err
	}
	if err := checkKey("room id", r.ID); err != nil {
		return Room{}, fmt.Errorf("store: create room: %w", err)
	}
	var out Room
	// Nearly every call finds the room (each render of a page with a
	// macro makes one): a read transaction answers those without the
	// write transaction's commit and fsync.
	err := b.view(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(roomsBucket).Get([]byte(r.ID)) == nil {
			return ErrRoomNotFound
		}
		var err error
		out, err = loadRoom(tx, r.ID)
		return err
	})
	if err == nil {
		return out, nil
	}
	if !errors.Is(err, ErrRoomNotFound) {
		return Room{}, fmt.Errorf("store: create room %q: %w", r.ID, err)
	}
	defer b.previews.changed(r.ID) // a table read before it was created must not stay
	err = b.db.Update(func(tx *bolt.Tx) error {
		rooms := tx.Bucket(roomsBucket)
		if rooms.Get([]byte(r.ID)) != nil {
			var err error
			out, err = loadRoom(tx, r.ID)
			return err
		}
		if limit := b.opts.MaxRoomsPerPage; limit > 0 && roomsOfPage(rooms, r.PageID) >= limit {
			return fmt.Errorf("page %q already has %d rooms: %w", r.PageID, limit, ErrTooManyRooms)
		}
		epoch, err := newEpoch()
		if err != nil {
			return err
		}
		out = r
		out.Epoch = epoch
		out.CreatedAt = b.opts.Now().UTC()
		out.LastSeq = 0
		out.LastActivity = time.Time{}
		out.Participants = append([]Participant(nil), r.Participants...)
		out.Files, out.Transcripts = nil, nil
		v, err := encodeRoom(&out)
		if err != nil {
			return err
		}
		if err := rooms.Put([]byte(r.ID), v); err != nil {
			return err
		}
		rb, err := createRoomBuckets(tx, r.ID)
		if err != nil {
			return err
		}
		members := rb.Bucket(membersBucket)
		for _, p := range out.Participants {
			if err := putMember(members, &memberRecord{UserID: p.UserID, DisplayName: p.DisplayName, LastSeen: p.LastSeen}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Room{}, fmt.Errorf("store: create room %q: %w", r.ID, mapErr(err))
	}
	return out, nil
}

// roomsOfPage counts the rooms of pageID. Room ids are "<pageID>.<slug>"
// and slugs have no dots, so a key belongs to the page exactly when it has
// the page's prefix and no further dot; no record needs decoding.
func roomsOfPage(rooms *bolt.Bucket, pageID string) int {
	prefix := []byte(pageID + ".")
	n := 0
	c := rooms.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if !bytes.ContainsRune(k[len(prefix):], '.') {
			n++
		}
	}
	return n
}

// Room returns the stored metadata of roomID.
func (b *Bolt) Room(ctx context.Context, roomID string) (Room, error) {
	var out Room
	err := b.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = loadRoom(tx, roomID)
		return err
	})
	return out, err
}

// RoomCount counts the rooms; it walks the rooms bucket, which holds only
// small metadata records, so it stays cheap for realistic room counts.
func (b *Bolt) RoomCount(ctx context.Context) (int, error) {
	n := 0
	err := b.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(roomsBucket).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		return nil
	})
	return n, err
}

// After reads forward from afterSeq, for catching up after a reconnect.
func (b *Bolt) After(ctx context.Context, roomID string, afterSeq uint64, limit int) ([]Message, error) {
	if limit <= 0 {
		limit = DefaultPageLimit
	}
	var out []Message
	err := b.view(ctx, func(tx *bolt.Tx) error {
		rb, err := roomBuckets(tx, roomID)
		if err != nil {
			return err
		}
		if afterSeq == ^uint64(0) {
			return nil
		}
		c := rb.log.Cursor()
		for k, v := c.Seek(seqKey(afterSeq + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			m, err := decodeMessage(roomID, k, v)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// Before reads backwards from beforeSeq for scrolling into history, but
// returns the page in ascending order so callers render it as is.
func (b *Bolt) Before(ctx context.Context, roomID string, beforeSeq uint64, limit int) ([]Message, bool, error) {
	if limit <= 0 {
		limit = DefaultPageLimit
	}
	var (
		out  []Message
		more bool
	)
	err := b.view(ctx, func(tx *bolt.Tx) error {
		rb, err := roomBuckets(tx, roomID)
		if err != nil {
			return err
		}
		c := rb.log.Cursor()
		var k, v []byte
		if beforeSeq == 0 {
			k, v = c.Last()
		} else if k, _ = c.Seek(seqKey(beforeSeq)); k != nil {
			k, v = c.Prev()
		} else {
			k, v = c.Last() // beforeSeq is past the newest message
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			m, err := decodeMessage(roomID, k, v)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		more = k != nil
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, more, nil
}

// Append hands m to the writer goroutine and waits for the commit.
//
// If ctx ends before the writer took the request, nothing was stored. If it
// ends while the commit is in flight, Append returns ctx.Err() but the
// message may still have been stored (and delivered through OnCommit);
// retrying with the same ClientID is safe because the retry is deduplicated.
func (b *Bolt) Append(ctx context.Context, roomID string, m NewMessage) (Message, bool, error) {
	r, err := b.submit(ctx, &request{kind: opAppend, roomID: roomID, msg: m})
	if err != nil {
		return Message{}, false, err
	}
	return r.msg, r.dup, r.err
}

// TouchParticipant goes through the writer like Append because joins and
// presence updates arrive in bursts too (everyone reconnecting after a
// restart), and folding them into the message commits saves an fsync each.
// A zero p.LastSeen means now.
func (b *Bolt) TouchParticipant(ctx context.Context, roomID string, p Participant) error {
	if p.UserID == "" {
		return fmt.Errorf("store: touch participant in room %q: empty user id: %w", roomID, ErrInvalid)
	}
	r, err := b.submit(ctx, &request{kind: opTouch, roomID: roomID, part: p})
	if err != nil {
		return err
	}
	return r.err
}

// view runs fn in a read transaction unless the store is closed. Every
// read transaction goes through here, so that scrub can start its write
// transaction while none is open (see scrub.go).
func (b *Bolt) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if b.isClosed() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Before taking readers: the writer, which settle may wait for,
	// takes them exclusively for a scrub.
	if ran, err := b.settle(ctx, fn); ran || err != nil {
		return mapErr(err)
	}
	b.readers.RLock()
	defer b.readers.RUnlock()
	return mapErr(b.db.View(fn))
}

// update runs fn in a write transaction of its own, for the writes that
// are too rare to go through the writer.
func (b *Bolt) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if b.isClosed() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// bbolt would make fn wait for the writer's open transaction anyway;
	// asking for the checkpoint saves the wait for its timer, and fails
	// at once while checkpoints fail (a full disk).
	if _, err := b.settle(ctx, nil); err != nil {
		return err
	}
	return mapErr(b.db.Update(fn))
}

// roomBucketSet is an existing room's buckets under logs/<roomID>.
type roomBucketSet struct {
	log, dedupe, members, files, transcripts, markers, bans *bolt.Bucket
}

// roomBuckets returns the buckets of an existing room. Every room has all
// of them: CreateRoom makes them, and Open gives them to the rooms of
// older databases (migrateRoomLists).
func roomBuckets(tx *bolt.Tx, roomID string) (roomBucketSet, error) {
	if tx.Bucket(roomsBucket).Get([]byte(roomID)) == nil {
		return roomBucketSet{}, fmt.Errorf("store: room %q: %w", roomID, ErrRoomNotFound)
	}
	var set roomBucketSet
	if rb := tx.Bucket(logsBucket).Bucket([]byte(roomID)); rb != nil {
		set = roomBucketSet{
			log:         rb.Bucket(logBucket),
			dedupe:      rb.Bucket(dedupeBucket),
			members:     rb.Bucket(membersBucket),
			files:       rb.Bucket(filesBucket),
			transcripts: rb.Bucket(transcriptsBucket),
			markers:     rb.Bucket(markersBucket),
			bans:        rb.Bucket(bansBucket),
		}
	}
	if set.log == nil || set.dedupe == nil || set.members == nil || set.files == nil || set.transcripts == nil ||
		set.markers == nil || set.bans == nil {
		return roomBucketSet{}, fmt.Errorf("store: room %q: buckets missing", roomID)
	}
	return set, nil
}

func checkKey(what, k string) error {
	switch {
	case k == "":
		return fmt.Errorf("empty %s: %w", what, ErrInvalid)
	case len(k) > bolt.MaxKeySize:
		return fmt.Errorf("%s longer than %d bytes: %w", what, bolt.MaxKeySize, ErrInvalid)
	}
	return nil
}

func newEpoch() (string, error) {
	var buf [16]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return "", fmt.Errorf("epoch: %w", err)
	}
	return hex.EncodeToString(buf[:]), nil
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

// On-disk records. They are separate from the exported types so the API can
// change without silently changing the file format, and so the log does not
// repeat the room id and seq that its bucket and key already carry.

type roomRecord struct {
	PageID    string    `json:"page"`
	Name      string    `json:"name"`
	Slug      string    `json:"slug"`
	Epoch     string    `json:"epoch"`
	CreatedAt time.Time `json:"created"`
	// Up to date only in layouts before 5; see readHead.
	LastSeq      uint64    `json:"last_seq,omitempty"`
	LastActivity time.Time `json:"last_at,omitzero"`
	Topic        string    `json:"topic,omitempty"`
	TopicBy      string    `json:"topic_by,omitempty"`
	TopicAt      time.Time `json:"topic_at,omitzero"`
	// The room's lists as layout 1 kept them; only migrateRoomLists reads
	// them, and nothing writes them any more.
	Participants []memberRecord     `json:"members,omitempty"`
	Files        []fileRecord       `json:"files,omitempty"`
	Transcripts  []transcriptRecord `json:"transcripts,omitempty"`
}

type fileRecord struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	URL         string    `json:"url"`
	ContentType string    `json:"type"`
	Size        int64     `json:"size"`
	UserID      string    `json:"uid"`
	UploadedAt  time.Time `json:"at"`
	Seq         uint64    `json:"seq"`
}

type memberRecord struct {
	UserID      string    `json:"uid"`
	DisplayName string    `json:"name"`
	LastSeen    time.Time `json:"seen"`
	// Rank orders participants by when they were first seen; 1 is first.
	Rank uint64 `json:"rank,omitempty"`
}

type messageRecord struct {
	ClientID     string      `json:"cid,omitempty"`
	UserID       string      `json:"uid"`
	UserName     string      `json:"name"`
	Text         string      `json:"text"`
	HTML         string      `json:"html,omitempty"`
	File         *fileRecord `json:"file,omitempty"`
	SentAt       time.Time   `json:"at"`
	Kind         MessageKind `json:"kind,omitempty"`
	Target       uint64      `json:"target,omitempty"`
	EditSeq      uint64      `json:"edit_seq,omitempty"`
	EditedAt     time.Time   `json:"edited_at,omitzero"`
	Erased       bool        `json:"erased,omitempty"`
	DelSeq       uint64      `json:"del_seq,omitempty"`
	DelBy        string      `json:"del_by,omitempty"`
	Reason       string      `json:"reason,omitempty"`
	Subject      string      `json:"subject,omitempty"`
	Until        time.Time   `json:"until,omitzero"`
	Mentions     []string    `json:"mentions,omitempty"`
	MentionsRoom bool        `json:"mentions_room,omitempty"`
}

// encodeRoom encodes the room record, which leaves out the room's lists
// (they have buckets of their own, roomdata.go) and its last sequence and
// activity (its log has them, readHead).
func encodeRoom(r *Room) ([]byte, error) {
	rec := roomRecord{
		PageID:    r.PageID,
		Name:      r.Name,
		Slug:      r.Slug,
		Epoch:     r.Epoch,
		CreatedAt: r.CreatedAt,
		Topic:     r.Topic,
		TopicBy:   r.TopicBy,
		TopicAt:   r.TopicAt,
	}
	v, err := json.Marshal(&rec)
	if err != nil {
		return nil, fmt.Errorf("encode room %q: %w", r.ID, err)
	}
	return v, nil
}

// decodeRoom decodes a room record. Its LastSeq and LastActivity are what
// the record held, current only in files older than layout 5; readHead
// sets them from the log, and loadRoom adds the lists.
func decodeRoom(id string, v []byte) (Room, error) {
	var rec roomRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return Room{}, fmt.Errorf("decode room %q: %w", id, err)
	}
	r := Room{
		ID:           id,
		PageID:       rec.PageID,
		Name:         rec.Name,
		Slug:         rec.Slug,
		Epoch:        rec.Epoch,
		CreatedAt:    rec.CreatedAt,
		LastSeq:      rec.LastSeq,
		LastActivity: rec.LastActivity,
		Topic:        rec.Topic,
		TopicBy:      rec.TopicBy,
		TopicAt:      rec.TopicAt,
	}
	return r, nil
}

func encodeMessage(m *Message) ([]byte, error) {
	rec := messageRecord{
		ClientID:     m.ClientID,
		UserID:       m.UserID,
		UserName:     m.UserName,
		Text:         m.Text,
		HTML:         m.HTML,
		SentAt:       m.SentAt,
		Kind:         m.Kind,
		Target:       m.Target,
		EditSeq:      m.EditSeq,
		EditedAt:     m.EditedAt,
		Erased:       m.Erased,
		DelSeq:       m.DeleteSeq,
		DelBy:        m.DeletedBy,
		Reason:       m.Reason,
		Subject:      m.Subject,
		Until:        m.Until,
		Mentions:     m.Mentions,
		MentionsRoom: m.MentionsRoom,
	}
	if m.File != nil {
		f := fileRecord(*m.File)
		rec.File = &f
	}
	v, err := json.Marshal(&rec)
	if err != nil {
		return nil, fmt.Errorf("encode message %d in room %q: %w", m.Seq, m.RoomID, err)
	}
	return v, nil
}

// readHead sets r's LastSeq and LastActivity from the last entry of its
// log. They are not kept in the room record because every message would
// then rewrite the rooms bucket, and with it the pages above it, in its
// commit; the room's own bucket, which holds the log, is rewritten by that
// commit anyway. A log's keys run from 1 without gaps and nothing is ever
// removed from one, so its last key is the room's last sequence.
//
// An entry too damaged to read leaves LastActivity as the record had it:
// a stale time on the room table is better than a room no one can use.
func readHead(log *bolt.Bucket, r *Room) {
	k, v := log.Cursor().Last()
	r.LastSeq = lastSeqIn(k)
	if r.LastSeq == 0 {
		return
	}
	var rec struct {
		SentAt time.Time `json:"at"`
	}
	if json.Unmarshal(v, &rec) == nil {
		r.LastActivity = rec.SentAt
	}
}

// lastSeqIn is the sequence of lastKey, the last key of a room's log (nil
// for an empty log); 0 means the room has no messages. Those who need only
// the sequence, the writer among them, skip readHead's decoding of the
// entry.
func lastSeqIn(lastKey []byte) uint64 {
	if len(lastKey) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(lastKey)
}

// lastSeqOf is roomID's last sequence (readHead).
func lastSeqOf(tx *bolt.Tx, roomID string) (uint64, error) {
	rb, err := roomBuckets(tx, roomID)
	if err != nil {
		return 0, err
	}
	k, _ := rb.log.Cursor().Last()
	return lastSeqIn(k), nil
}

func decodeMessage(roomID string, k, v []byte) (Message, error) {
	if len(k) != 8 {
		return Message{}, fmt.Errorf("store: room %q: malformed log key %x", roomID, k)
	}
	seq := binary.BigEndian.Uint64(k)
	var rec messageRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return Message{}, fmt.Errorf("store: decode message %d in room %q: %w", seq, roomID, err)
	}
	m := Message{
		RoomID:       roomID,
		Seq:          seq,
		ClientID:     rec.ClientID,
		UserID:       rec.UserID,
		UserName:     rec.UserName,
		Text:         rec.Text,
		HTML:         rec.HTML,
		SentAt:       rec.SentAt,
		Kind:         rec.Kind,
		Target:       rec.Target,
		EditSeq:      rec.EditSeq,
		EditedAt:     rec.EditedAt,
		Erased:       rec.Erased,
		DeleteSeq:    rec.DelSeq,
		DeletedBy:    rec.DelBy,
		Reason:       rec.Reason,
		Subject:      rec.Subject,
		Until:        rec.Until,
		Mentions:     rec.Mentions,
		MentionsRoom: rec.MentionsRoom,
	}
	if rec.File != nil {
		f := File(*rec.File)
		m.File = &f
	}
	return m, nil
}
