// Package pgstore is the PostgreSQL implementation of store.Store, for
// cluster mode: every node runs its own plugin process and all of them
// share one database.
//
// It keeps the guarantees of the embedded bbolt store (and passes the same
// conformance suite, package storetest), across processes:
//
//   - Sequences are assigned in the append transaction from the room's
//     row, locked for the transaction, so they stay gapless however many
//     nodes send to a room at once. Rooms are locked in id order, so two
//     nodes' batches never deadlock.
//   - A unique index on (room, sender, client id) backs the idempotent
//     send; the lookup runs under the room lock, so a retry landing on
//     another node finds the first send.
//   - One writer goroutine per node commits everything queued in one
//     transaction as soon as the previous commit returns (group commit),
//     as the bbolt store does.
//   - After each commit it sends NOTIFY with the room and newest sequence.
//     That is only a wake-up: every node's follower reads new messages by
//     sequence range from the table and hands them to the CommitFunc, so a
//     missed notification (a dropped LISTEN connection) costs latency, not
//     a message; a slow poll covers it.
//   - Presence, the shared rate-limit buckets and the transcript leases
//     live in tables too (cluster.go).
//
// Erasing a text (delete, superseded edit) is an UPDATE that empties it;
// no history table or trigger keeps the old version. PostgreSQL itself
// keeps the old row version until VACUUM reclaims it, and in its WAL and
// backups: out of this store's reach, as the file system is for bbolt.
package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pagechat/pagechat/internal/pgcache"
	"github.com/pagechat/pagechat/plugin/internal/store"
)

// Defaults of Options.
const (
	// DefaultPollInterval is how often the follower looks for messages
	// other nodes committed when no notification woke it: the latency a
	// lost notification costs at most.
	DefaultPollInterval = time.Second
	// DefaultLeaseTTL is how long a node holds a room's transcript lease
	// without renewing it. The transcript writer renews it at least every
	// second while it has work, so 30 s survives long host writes and
	// still lets another node take over a dead node's rooms soon.
	DefaultLeaseTTL = 30 * time.Second
	// DefaultConnectTimeout bounds each connection attempt, so that a
	// database that does not answer fails sends quickly instead of
	// hanging them.
	DefaultConnectTimeout = 5 * time.Second
	// maxConns bounds the pool: the writer, the follower's reads, stream
	// replays and the transcript writer. PostgreSQL's default
	// max_connections is 100, shared by every node.
	maxConns = 16
)

// maxBatch caps the requests one transaction commits, as in the bbolt
// store: under overload a bounded batch keeps each sender's wait bounded.
const maxBatch = 1024

// The chat service only sees store.Store.
var _ store.Store = (*Store)(nil)

// Options configures Open.
type Options struct {
	// DSN is the PostgreSQL connection string (URL or keyword form).
	DSN string
	// OnCommit receives the messages of every commit, this node's and,
	// through the follower, other nodes'; see store.CommitFunc. It must
	// not call Append, TouchParticipant, SetReadMarker or Close.
	OnCommit store.CommitFunc
	// OnFollow, if set, receives other nodes' messages instead of
	// OnCommit, which then gets this node's commits only (the
	// notifier judges promptly only what its own node committed). The
	// two are never called at once, and together they see each room
	// gapless and in order.
	OnFollow store.CommitFunc
	// Now replaces time.Now. Times are stored with microsecond precision.
	Now func() time.Time
	// DayOf turns on transcript bookkeeping; see store.Options.
	DayOf func(time.Time) string
	// MaxRoomsPerPage bounds rooms per page; 0 means no limit.
	MaxRoomsPerPage int
	// PollInterval is the follower's slow poll; 0 means
	// DefaultPollInterval.
	PollInterval time.Duration
	// LeaseTTL is the transcript lease's lifetime; 0 means
	// DefaultLeaseTTL.
	LeaseTTL time.Duration
	// Node names this process in leases and presence rows; empty means a
	// random id. It must not start with "!released:".
	Node string
}

// Store is a store.Store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	opts Options
	node string

	reqs    chan *request // unbuffered, as in the bbolt store
	closing chan struct{}
	stopped chan struct{} // writer exited
	follows chan struct{} // follower exited

	// deliverMu serialises OnCommit calls from the writer and the
	// follower; delivered is, per room, the newest seq handed to it.
	// writing is, per room, the seqs of the writer's commit in flight:
	// the follower may read them before the writer hands them on, and
	// they are still this node's (OnCommit's, not OnFollow's).
	deliverMu sync.Mutex
	delivered map[string]uint64
	writing   map[string]seqSpan

	bans    *pgcache.Cache[[]store.Ban]                 // per room (rooms.go)
	watches *pgcache.Cache[map[string]store.WatchState] // per room (notify.go)

	// knownDays are room days this node's writer has stored rows for;
	// used by the writer goroutine only.
	knownDays map[[2]string]struct{}

	closeOnce sync.Once
	closeErr  error
}

// Open connects to the database, creates or migrates the schema and starts
// the writer and the follower. A bad DSN fails with store.ErrInvalid, a
// database it cannot reach with store.ErrUnavailable, a schema written by a
// newer release with store.ErrNewerSchema. The DSN's password never
// appears in an error.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if strings.HasPrefix(opts.Node, releasedPrefix) {
		return nil, fmt.Errorf("store: node id %q starts with %q, which marks given-up transcript leases: %w", opts.Node, releasedPrefix, store.ErrInvalid)
	}
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("store: PostgreSQL DSN: %v: %w", redactErr(err, opts.DSN), store.ErrInvalid)
	}
	cfg.MaxConns = maxConns
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > DefaultConnectTimeout {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: PostgreSQL at %s: %w", where, err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: cannot reach PostgreSQL at %s: %v: %w", where, redactErr(err, opts.DSN), store.ErrUnavailable)
	}
	err = migrate(ctx, conn.Conn())
	conn.Release()
	if err != nil {
		pool.Close()
		if !errors.Is(err, store.ErrNewerSchema) && isUnavailable(err) {
			err = fmt.Errorf("%v: %w", err, store.ErrUnavailable)
		}
		return nil, fmt.Errorf("store: PostgreSQL at %s: %w", where, err)
	}
	node := opts.Node
	if node == "" {
		if node, err = randomID(); err != nil {
			pool.Close()
			return nil, err
		}
	}
	s := &Store{
		pool:      pool,
		opts:      opts,
		node:      node,
		reqs:      make(chan *request),
		closing:   make(chan struct{}),
		stopped:   make(chan struct{}),
		follows:   make(chan struct{}),
		delivered: make(map[string]uint64),
		writing:   make(map[string]seqSpan),
		bans:      pgcache.New[[]store.Ban](),
		watches:   pgcache.New[map[string]store.WatchState](),
		knownDays: make(map[[2]string]struct{}),
	}
	// The follower starts from the rooms' current ends: what was
	// committed before Open is history, read by streams from the table.
	if err := s.initDelivered(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	go s.writer()
	go s.follow()
	return s, nil
}

// Node returns the id this store uses in leases and presence rows.
func (s *Store) Node() string { return s.node }

// Close stops accepting writes, lets the commit in flight finish, fails
// waiting senders with store.ErrClosed, stops the follower and closes the
// connections. Calling it again returns the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.stopped
		<-s.follows
		// Hand this node's transcript rooms over at once rather than
		// after their leases expire.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _ = s.pool.Exec(ctx, `DELETE FROM pagechat.transcript_leases WHERE holder = $1`, s.node)
		cancel()
		s.pool.Close()
	})
	return s.closeErr
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// begin checks the store is open and ctx alive before a database call.
func (s *Store) begin(ctx context.Context) error {
	if s.isClosed() {
		return store.ErrClosed
	}
	return ctx.Err()
}

// mapErr turns what the driver says into this package's sentinels: a read
// racing Close into store.ErrClosed, a database that cannot be reached
// into store.ErrUnavailable (the chat service answers 503 for it).
func (s *Store) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case s.isClosed():
		return fmt.Errorf("%v: %w", err, store.ErrClosed)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case isUnavailable(err):
		return fmt.Errorf("database unavailable: %v: %w", err, store.ErrUnavailable)
	}
	return err
}

// isUnavailable tells errors of a database that is down, restarting or
// unreachable from errors of a request.
func isUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 57P01-57P03: the server is
		// shutting down or starting; 53300: too many connections.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P") || pgErr.Code == "53300"
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed") ||
		strings.Contains(err.Error(), "closed pool")
}

// redactErr returns err's text with the DSN's password taken out, in case
// the driver quoted the DSN.
func redactErr(err error, dsn string) string {
	msg := err.Error()
	if cfg, perr := pgconn.ParseConfig(dsn); perr == nil && cfg.Password != "" {
		msg = strings.ReplaceAll(msg, cfg.Password, "xxxxx")
	}
	return msg
}

func randomID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("store: random id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func checkKey(what, k string) error {
	if k == "" {
		return fmt.Errorf("empty %s: %w", what, store.ErrInvalid)
	}
	return checkText(what, k)
}

// checkText refuses what a PostgreSQL text column cannot hold (NUL bytes,
// invalid UTF-8) before it reaches the database, where it would fail the
// whole batch instead of one request.
func checkText(what string, v ...string) error {
	for _, s := range v {
		if strings.IndexByte(s, 0) >= 0 || !validUTF8(s) {
			return fmt.Errorf("%s holds a NUL byte or invalid UTF-8: %w", what, store.ErrInvalid)
		}
	}
	return nil
}

// now is the store's clock at the database's precision, so that a time
// returned reads back Equal.
func (s *Store) now() time.Time {
	return s.opts.Now().UTC().Truncate(time.Microsecond)
}

// ts is a time as a query argument: NULL for the zero time.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Truncate(time.Microsecond)
}

// fromTS reads a nullable timestamptz.
func fromTS(p *time.Time) time.Time {
	if p == nil {
		return time.Time{}
	}
	return p.UTC()
}

// fileJSON is a message's announced file as the messages table keeps it.
type fileJSON struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	URL         string    `json:"url"`
	ContentType string    `json:"type"`
	Size        int64     `json:"size"`
	UserID      string    `json:"uid"`
	UploadedAt  time.Time `json:"at"`
	Seq         uint64    `json:"seq"`
}

func encodeFile(f *store.File) ([]byte, error) {
	if f == nil {
		return nil, nil
	}
	return json.Marshal(fileJSON(*f))
}

// msgCols are the messages columns scanMessage reads, in its order.
const msgCols = `room_id, seq, client_id, user_id, user_name, text, html, file, sent_at, kind, target, edit_seq, edited_at, erased,
	reason, subject, until, delete_seq, deleted_by, mentions, mentions_room`

func scanMessage(row pgx.Row) (store.Message, error) {
	var (
		m        store.Message
		seq      int64
		target   int64
		editSeq  int64
		kind     int16
		file     []byte
		editedAt *time.Time
		until    *time.Time
		delSeq   int64
	)
	if err := row.Scan(&m.RoomID, &seq, &m.ClientID, &m.UserID, &m.UserName, &m.Text, &m.HTML, &file,
		&m.SentAt, &kind, &target, &editSeq, &editedAt, &m.Erased,
		&m.Reason, &m.Subject, &until, &delSeq, &m.DeletedBy, &m.Mentions, &m.MentionsRoom); err != nil {
		return store.Message{}, err
	}
	m.Seq, m.Target, m.EditSeq, m.Kind = uint64(seq), uint64(target), uint64(editSeq), store.MessageKind(kind)
	m.SentAt, m.EditedAt, m.Until = m.SentAt.UTC(), fromTS(editedAt), fromTS(until)
	m.DeleteSeq = uint64(delSeq)
	if len(m.Mentions) == 0 {
		m.Mentions = nil
	}
	if file != nil {
		var f fileJSON
		if err := json.Unmarshal(file, &f); err != nil {
			return store.Message{}, fmt.Errorf("decode file of message %d in room %q: %w", seq, m.RoomID, err)
		}
		sf := store.File(f)
		sf.UploadedAt = sf.UploadedAt.UTC()
		m.File = &sf
	}
	return m, nil
}

func collectMessages(rows pgx.Rows) ([]store.Message, error) {
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// CreateRoom creates the room if needed and returns it as stored. The
// page's rooms are counted under an advisory lock on the page, so nodes
// creating rooms of one page at once cannot pass the limit together.
func (s *Store) CreateRoom(ctx context.Context, r store.Room) (store.Room, error) {
	if err := s.begin(ctx); err != nil {
		return store.Room{}, err
	}
	if err := checkKey("room id", r.ID); err != nil {
		return store.Room{}, fmt.Errorf("store: create room: %w", err)
	}
	if err := checkText("room", r.PageID, r.Name, r.Slug); err != nil {
		return store.Room{}, fmt.Errorf("store: create room: %w", err)
	}
	var buf [16]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return store.Room{}, fmt.Errorf("store: epoch: %w", err)
	}
	epoch := hex.EncodeToString(buf[:])
	now := s.now()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pagechat.rooms WHERE id = $1)`, r.ID).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return nil
		}
		if limit := s.opts.MaxRoomsPerPage; limit > 0 {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('pagechat.page:' || $1))`, r.PageID); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM pagechat.rooms WHERE page_id = $1`, r.PageID).Scan(&n); err != nil {
				return err
			}
			if n >= limit {
				return fmt.Errorf("page %q already has %d rooms: %w", r.PageID, limit, store.ErrTooManyRooms)
			}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO pagechat.rooms (id, page_id, name, slug, epoch, created_at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (id) DO NOTHING`, r.ID, r.PageID, r.Name, r.Slug, epoch, now)
		if err != nil || tag.RowsAffected() == 0 {
			return err // another node created it meanwhile: read theirs
		}
		for _, p := range r.Participants {
			if _, err := tx.Exec(ctx, `INSERT INTO pagechat.participants (room_id, user_id, display_name, last_seen) VALUES ($1, $2, $3, $4)
				ON CONFLICT DO NOTHING`, r.ID, p.UserID, p.DisplayName, p.LastSeen.UTC().Truncate(time.Microsecond)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return store.Room{}, fmt.Errorf("store: create room %q: %w", r.ID, s.mapErr(err))
	}
	return s.Room(ctx, r.ID)
}

// Room returns the room's metadata and lists, read in one snapshot.
func (s *Store) Room(ctx context.Context, roomID string) (store.Room, error) {
	if err := s.begin(ctx); err != nil {
		return store.Room{}, err
	}
	var out store.Room
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		err := readRoomRecord(ctx, tx, roomID, &out)
		if err != nil {
			return err
		}

		rows, _ := tx.Query(ctx, `SELECT `+participantCols+` FROM pagechat.participants WHERE room_id = $1 ORDER BY rank`, roomID)
		out.Participants, err = pgx.CollectRows(rows, scanParticipant)
		if err != nil {
			return err
		}
		rows, _ = tx.Query(ctx, `SELECT `+fileCols+` FROM pagechat.files WHERE room_id = $1 ORDER BY seq`, roomID)
		out.Files, err = pgx.CollectRows(rows, scanFile)
		if err != nil {
			return err
		}
		rows, _ = tx.Query(ctx, `SELECT date, title, url FROM pagechat.transcripts WHERE room_id = $1 ORDER BY date DESC`, roomID)
		out.Transcripts, err = pgx.CollectRows(rows, scanTranscript)
		out.Participants, out.Files, out.Transcripts = nilIfEmpty(out.Participants), nilIfEmpty(out.Files), nilIfEmpty(out.Transcripts)
		return err
	})
	if err != nil {
		return store.Room{}, fmt.Errorf("store: %w", s.mapErr(err))
	}
	return out, nil
}

// participantCols are the columns scanParticipant reads, in its order.
const participantCols = `user_id, display_name, last_seen`

// scanParticipant reads a row of participantCols.
func scanParticipant(row pgx.CollectableRow) (store.Participant, error) {
	var p store.Participant
	err := row.Scan(&p.UserID, &p.DisplayName, &p.LastSeen)
	p.LastSeen = p.LastSeen.UTC()
	return p, err
}

// fileCols are the columns scanFile reads, in its order.
const fileCols = `id, name, url, content_type, size, user_id, uploaded_at, seq`

// scanFile reads a row of fileCols.
func scanFile(row pgx.CollectableRow) (store.File, error) {
	var (
		f   store.File
		seq int64
	)
	err := row.Scan(&f.ID, &f.Name, &f.URL, &f.ContentType, &f.Size, &f.UserID, &f.UploadedAt, &seq)
	f.Seq, f.UploadedAt = uint64(seq), f.UploadedAt.UTC()
	return f, err
}

// scanTranscript reads a row of date, title and url.
func scanTranscript(row pgx.CollectableRow) (store.Transcript, error) {
	var t store.Transcript
	err := row.Scan(&t.Date, &t.Title, &t.URL)
	return t, err
}

// nilIfEmpty gives an empty list as nil, as the bbolt store gives it, so
// both stores answer alike.
func nilIfEmpty[T any](list []T) []T {
	if len(list) == 0 {
		return nil
	}
	return list
}

// readRoomRecord reads roomID's row (not its lists) into out.
func readRoomRecord(ctx context.Context, tx pgx.Tx, roomID string, out *store.Room) error {
	var (
		lastSeq int64
		lastAct *time.Time
		topicAt *time.Time
	)
	err := tx.QueryRow(ctx, `SELECT page_id, name, slug, epoch, created_at, last_seq, last_activity, topic, topic_by, topic_at FROM pagechat.rooms WHERE id = $1`, roomID).
		Scan(&out.PageID, &out.Name, &out.Slug, &out.Epoch, &out.CreatedAt, &lastSeq, &lastAct, &out.Topic, &out.TopicBy, &topicAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("room %q: %w", roomID, store.ErrRoomNotFound)
	}
	if err != nil {
		return err
	}
	out.ID, out.LastSeq, out.LastActivity, out.CreatedAt = roomID, uint64(lastSeq), fromTS(lastAct), out.CreatedAt.UTC()
	out.TopicAt = fromTS(topicAt)
	return nil
}

// RoomPreview returns roomID with the head of its lists, each read with a
// LIMIT and counted by the database.
func (s *Store) RoomPreview(ctx context.Context, roomID string, lim store.PreviewLimits) (store.Preview, error) {
	if err := s.begin(ctx); err != nil {
		return store.Preview{}, err
	}
	var out store.Preview
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := readRoomRecord(ctx, tx, roomID, &out.Room); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM pagechat.participants WHERE room_id = $1),
			(SELECT count(*) FROM pagechat.files WHERE room_id = $1),
			(SELECT count(*) FROM pagechat.transcripts WHERE room_id = $1)`, roomID).
			Scan(&out.TotalParticipants, &out.TotalFiles, &out.TotalTranscripts); err != nil {
			return err
		}
		online := lim.Online
		if out.TotalParticipants <= lim.Participants || online == nil {
			online = []string{} // every one fits: first-seen order alone
		}
		rows, _ := tx.Query(ctx, `SELECT `+participantCols+` FROM pagechat.participants WHERE room_id = $1
			ORDER BY (user_id = ANY($2)) DESC, rank LIMIT $3`, roomID, online, max(lim.Participants, 0))
		var err error
		out.Participants, err = pgx.CollectRows(rows, scanParticipant)
		if err != nil {
			return err
		}
		rows, _ = tx.Query(ctx, `SELECT `+fileCols+` FROM pagechat.files WHERE room_id = $1
			ORDER BY seq DESC LIMIT $2`, roomID, max(lim.Files, 0))
		out.Files, err = pgx.CollectRows(rows, scanFile)
		if err != nil {
			return err
		}
		slices.Reverse(out.Files)
		rows, _ = tx.Query(ctx, `SELECT date, title, url FROM pagechat.transcripts WHERE room_id = $1 ORDER BY date DESC LIMIT $2`, roomID, max(lim.Transcripts, 0))
		out.Transcripts, err = pgx.CollectRows(rows, scanTranscript)
		out.Participants, out.Files, out.Transcripts = nilIfEmpty(out.Participants), nilIfEmpty(out.Files), nilIfEmpty(out.Transcripts)
		return err
	})
	if err != nil {
		return store.Preview{}, fmt.Errorf("store: %w", s.mapErr(err))
	}
	return out, nil
}

// RoomCount counts the rooms.
func (s *Store) RoomCount(ctx context.Context) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pagechat.rooms`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count rooms: %w", s.mapErr(err))
	}
	return n, nil
}

// roomExists reports ErrRoomNotFound for an unknown room, for reads that
// would otherwise return an empty list for it.
func (s *Store) roomExists(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, roomID string) error {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pagechat.rooms WHERE id = $1)`, roomID).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("room %q: %w", roomID, store.ErrRoomNotFound)
	}
	return nil
}

// After reads forward from afterSeq.
func (s *Store) After(ctx context.Context, roomID string, afterSeq uint64, limit int) ([]store.Message, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = store.DefaultPageLimit
	}
	if afterSeq >= 1<<63-1 {
		return nil, s.mapErr(s.roomExists(ctx, s.pool, roomID))
	}
	msgs, err := s.after(ctx, roomID, afterSeq, limit)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		if err := s.roomExists(ctx, s.pool, roomID); err != nil {
			return nil, fmt.Errorf("store: %w", s.mapErr(err))
		}
	}
	return msgs, nil
}

func (s *Store) after(ctx context.Context, roomID string, afterSeq uint64, limit int) ([]store.Message, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+msgCols+` FROM pagechat.messages WHERE room_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
		roomID, int64(afterSeq), limit)
	if err != nil {
		return nil, fmt.Errorf("store: read room %q: %w", roomID, s.mapErr(err))
	}
	msgs, err := collectMessages(rows)
	if err != nil {
		return nil, fmt.Errorf("store: read room %q: %w", roomID, s.mapErr(err))
	}
	return msgs, nil
}

// Before reads backwards from beforeSeq and returns the page ascending.
func (s *Store) Before(ctx context.Context, roomID string, beforeSeq uint64, limit int) ([]store.Message, bool, error) {
	if err := s.begin(ctx); err != nil {
		return nil, false, err
	}
	if limit <= 0 {
		limit = store.DefaultPageLimit
	}
	bound := int64(1<<63 - 1)
	if beforeSeq != 0 && beforeSeq < 1<<63-1 {
		bound = int64(beforeSeq)
	}
	// One more than asked tells whether older ones exist.
	rows, err := s.pool.Query(ctx, `SELECT `+msgCols+` FROM pagechat.messages WHERE room_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`,
		roomID, bound, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("store: read room %q: %w", roomID, s.mapErr(err))
	}
	msgs, err := collectMessages(rows)
	if err != nil {
		return nil, false, fmt.Errorf("store: read room %q: %w", roomID, s.mapErr(err))
	}
	if len(msgs) == 0 {
		if err := s.roomExists(ctx, s.pool, roomID); err != nil {
			return nil, false, fmt.Errorf("store: %w", s.mapErr(err))
		}
	}
	more := len(msgs) > limit
	if more {
		msgs = msgs[:limit]
	}
	for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
		msgs[i], msgs[j] = msgs[j], msgs[i]
	}
	return msgs, more, nil
}

// ByClientID returns the message userID sent to roomID with clientID.
func (s *Store) ByClientID(ctx context.Context, roomID, userID, clientID string) (store.Message, bool, error) {
	if err := s.begin(ctx); err != nil {
		return store.Message{}, false, err
	}
	if clientID == "" || checkText("client id", userID, clientID) != nil {
		return store.Message{}, false, nil // never recorded
	}
	m, err := scanMessage(s.pool.QueryRow(ctx, `SELECT `+msgCols+` FROM pagechat.messages WHERE room_id = $1 AND user_id = $2 AND client_id = $3 AND client_id <> ''`,
		roomID, userID, clientID))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if err := s.roomExists(ctx, s.pool, roomID); err != nil {
			return store.Message{}, false, fmt.Errorf("store: %w", s.mapErr(err))
		}
		return store.Message{}, false, nil
	case err != nil:
		return store.Message{}, false, fmt.Errorf("store: room %q: %w", roomID, s.mapErr(err))
	}
	return m, true, nil
}

// Describe names the database of dsn for logs: host, port and database,
// never the password. A DSN that does not parse reads as "(invalid DSN)".
func Describe(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "(invalid DSN)"
	}
	return fmt.Sprintf("postgres %s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}
