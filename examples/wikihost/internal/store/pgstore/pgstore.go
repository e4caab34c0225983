package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
	"github.com/pagechat/pagechat/internal/pgcache"
)

// Limits, each with its reason.
const (
	// opTimeout bounds one store call. The wiki's store calls carry no
	// context (bbolt needs none), so without it a database that stops
	// answering would hold a request, and a chat permission check,
	// forever; 10 s is long past any healthy query.
	opTimeout = 10 * time.Second
	// pageWriteTimeout bounds a page write, which also computes the
	// search vector of up to maxSearchTextBytes of text: a large
	// transcript on a busy database takes seconds, not milliseconds.
	pageWriteTimeout = 30 * time.Second
	// openTimeout bounds connecting and migrating at start-up; a
	// migration may wait for another node's.
	openTimeout = time.Minute
	// maxSearchTextBytes bounds the text of one page that search sees.
	// PostgreSQL refuses a tsvector over 1 MiB, and a day's transcript
	// may hold 4 MiB of text, much of it distinct words; a page's text
	// past this point is not found by search, but the page is stored.
	maxSearchTextBytes = 256 << 10
)

// Options configure Open.
type Options struct {
	// SearchText returns the text of a page that search finds and shows
	// snippets from (what a reader sees, without markup). nil means the
	// body as stored.
	SearchText func(store.Page) string
}

// Store is the wiki's store in PostgreSQL. It is safe for concurrent use,
// also by several processes on one database.
type Store struct {
	pool       *pgxpool.Pool
	searchText func(store.Page) string
	// exclusive keeps this process's Exclusive calls to one at a time, so
	// that they hold at most one pooled connection while waiting for the
	// advisory lock, and fn always finds a connection free.
	exclusive sync.Mutex

	cache      *pgcache.Cache[any] // users, sessions and page metadata (cache.go)
	stopListen context.CancelFunc
	listening  chan struct{} // closed when the cache's listener has stopped
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at dsn (a postgres:// URL or keyword
// DSN) and creates or migrates the wiki's schema.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message can quote the DSN, password included.
		return nil, errors.New("the PostgreSQL DSN is malformed; want postgres://user:password@host:port/database")
	}
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", dbErr(err))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, dbErr(err))
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	st := &Store{pool: pool, searchText: opts.SearchText, cache: pgcache.New[any](), listening: make(chan struct{})}
	if st.searchText == nil {
		st.searchText = func(p store.Page) string { return p.Body }
	}
	lctx, stop := context.WithCancel(context.Background())
	st.stopListen = stop
	go func() {
		defer close(st.listening)
		st.listen(lctx)
	}()
	return st, nil
}

// Close stops the cache's listener and closes the connections.
func (s *Store) Close() error {
	s.stopListen()
	<-s.listening
	s.pool.Close()
	return nil
}

// Exclusive runs fn while holding a session advisory lock that every node
// takes for it, so only one node runs such an fn at a time. The lock lives
// on a connection of its own and goes with it, so a node that dies holding
// it releases it.
func (s *Store) Exclusive(fn func() error) error {
	s.exclusive.Lock()
	defer s.exclusive.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("exclusive: %w", dbErr(err))
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, exclusiveLockKey); err != nil {
		return fmt.Errorf("exclusive: take the lock: %w", dbErr(err))
	}
	defer func() {
		uctx, ucancel := opContext()
		defer ucancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, exclusiveLockKey); err != nil {
			// The lock must not stay with a pooled connection.
			_ = conn.Conn().Close(uctx)
		}
	}()
	return fn()
}

func opContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), opTimeout)
}

// pageID parses a page id. Ids are the decimal numbers the database
// assigned; anything else names no page.
func pageID(id string) (int64, bool) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != id {
		return 0, false
	}
	return n, true
}

// nullableID is a page id for a column that holds NULL for "no page".
func nullableID(id string) *int64 {
	if id == "" {
		return nil
	}
	n, _ := pageID(id)
	return &n
}

func formatID(n int64) string { return strconv.FormatInt(n, 10) }

// pgCode returns the SQLSTATE of err, or "" if the database did not
// answer with an error.
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

// searchTextOf is what the search columns hold for p.
func (s *Store) searchTextOf(p store.Page) string {
	t := s.searchText(p)
	// The snippet markers (see Search) must not occur in the text.
	t = strings.NewReplacer(markStart, " ", markEnd, " ").Replace(t)
	if len(t) > maxSearchTextBytes {
		cut := maxSearchTextBytes
		for cut > 0 && !utf8.RuneStart(t[cut]) {
			cut--
		}
		t = t[:cut]
	}
	return t
}

// noEmpty turns an empty list into nil, as the bbolt store returns it.
func noEmpty(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

// orEmpty is a list for a NOT NULL array column.
func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// CreateUser stores a new user; it fails with store.ErrExists if the id is
// taken.
func (s *Store) CreateUser(u store.User) error {
	ctx, cancel := opContext()
	defer cancel()
	hash := u.PasswordHash
	if hash == nil {
		hash = []byte{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO wiki_users (id, display_name, password_hash, admin, created) VALUES ($1, $2, $3, $4, $5)`,
		u.ID, u.DisplayName, hash, u.Admin, u.Created)
	if code := pgCode(err); code == uniqueViolation {
		return fmt.Errorf("user %q: %w", u.ID, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.ID, dbErr(err))
	}
	return nil
}

// User returns the user with id.
func (s *Store) User(id string) (store.User, error) {
	return cached(s, userKey(id), func() (store.User, error) { return s.readUser(id) })
}

func (s *Store) readUser(id string) (store.User, error) {
	ctx, cancel := opContext()
	defer cancel()
	u := store.User{ID: id}
	err := s.pool.QueryRow(ctx, `SELECT display_name, password_hash, admin, created FROM wiki_users WHERE id = $1`, id).
		Scan(&u.DisplayName, &u.PasswordHash, &u.Admin, &u.Created)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.User{}, fmt.Errorf("user %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("user %q: %w", id, dbErr(err))
	}
	u.Created = u.Created.UTC()
	return u, nil
}

// PutSession stores a session under the hash of its token.
func (s *Store) PutSession(tokenHash string, sess store.Session) error {
	ctx, cancel := opContext()
	defer cancel()
	// One statement, so one transaction: the notification goes out
	// when, and only if, the session is stored.
	_, err := s.pool.Exec(ctx, `WITH w AS (INSERT INTO wiki_sessions (token_hash, user_id, expires) VALUES ($1, $2, $3)
			ON CONFLICT (token_hash) DO UPDATE SET user_id = EXCLUDED.user_id, expires = EXCLUDED.expires RETURNING 1)
		SELECT pg_notify('`+cacheChannel+`', $4) FROM w`,
		tokenHash, sess.UserID, sess.Expires, sessionKey(tokenHash))
	s.changed(sessionKey(tokenHash))
	if err != nil {
		return fmt.Errorf("store session: %w", dbErr(err))
	}
	return nil
}

// Session returns the session stored under tokenHash, expired or not.
func (s *Store) Session(tokenHash string) (store.Session, error) {
	return cached(s, sessionKey(tokenHash), func() (store.Session, error) { return s.readSession(tokenHash) })
}

func (s *Store) readSession(tokenHash string) (store.Session, error) {
	ctx, cancel := opContext()
	defer cancel()
	var sess store.Session
	err := s.pool.QueryRow(ctx, `SELECT user_id, expires FROM wiki_sessions WHERE token_hash = $1`, tokenHash).
		Scan(&sess.UserID, &sess.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Session{}, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("session: %w", dbErr(err))
	}
	sess.Expires = sess.Expires.UTC()
	return sess, nil
}

// DeleteSession removes a session; removing a missing one is not an error.
func (s *Store) DeleteSession(tokenHash string) error {
	ctx, cancel := opContext()
	defer cancel()
	_, err := s.pool.Exec(ctx, `WITH d AS (DELETE FROM wiki_sessions WHERE token_hash = $1 RETURNING 1)
		SELECT pg_notify('`+cacheChannel+`', $2) FROM d`, tokenHash, sessionKey(tokenHash))
	// Forgotten here even if the outcome is unknown: a read then asks
	// the database.
	s.changed(sessionKey(tokenHash))
	if err != nil {
		return fmt.Errorf("delete session: %w", dbErr(err))
	}
	return nil
}

// PurgeSessions deletes every session that expired before now and returns
// how many it deleted.
func (s *Store) PurgeSessions(now time.Time) (int, error) {
	ctx, cancel := opContext()
	defer cancel()
	// Every node forgets everything it cached when any session went:
	// purges are rare, and this keeps the notification one message.
	var n int
	err := s.pool.QueryRow(ctx, `WITH d AS (DELETE FROM wiki_sessions WHERE expires < $1 RETURNING 1), c AS (SELECT count(*) AS n FROM d)
		SELECT n, CASE WHEN n > 0 THEN pg_notify('`+cacheChannel+`', '`+forgetAll+`') END IS NULL FROM c`, now).Scan(&n, nil)
	if err != nil {
		s.changed(forgetAll)
		return 0, fmt.Errorf("purge sessions: %w", dbErr(err))
	}
	if n > 0 {
		s.changed(forgetAll)
	}
	return n, nil
}

// Meta returns a stored setting, or "" if it was never set.
func (s *Store) Meta(name string) (string, error) {
	ctx, cancel := opContext()
	defer cancel()
	var v string
	err := s.pool.QueryRow(ctx, `SELECT value FROM wiki_meta WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("setting %q: %w", name, dbErr(err))
	}
	return v, nil
}

// SetMeta stores a setting.
func (s *Store) SetMeta(name, value string) error {
	ctx, cancel := opContext()
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO wiki_meta (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value`, name, value)
	if err != nil {
		return fmt.Errorf("store setting %q: %w", name, dbErr(err))
	}
	return nil
}

// metaColumns are the columns scanPage reads, in its order.
const metaColumns = `id, parent_id, child_key, title, format, author, created, updated, view_users, edit_users`

// scanPage reads a row of metaColumns, followed by extra.
func scanPage(row pgx.Row, extra ...any) (store.Page, error) {
	var (
		p        store.Page
		id       int64
		parent   *int64
		childKey *string
		format   string
	)
	dest := append([]any{&id, &parent, &childKey, &p.Title, &format, &p.Author, &p.Created, &p.Updated, &p.View, &p.Edit}, extra...)
	if err := row.Scan(dest...); err != nil {
		return store.Page{}, err
	}
	p.ID = formatID(id)
	if parent != nil {
		p.ParentID = formatID(*parent)
	}
	if childKey != nil {
		p.ChildKey = *childKey
	}
	p.Format = store.Format(format)
	p.Created, p.Updated = p.Created.UTC(), p.Updated.UTC()
	p.View, p.Edit = noEmpty(p.View), noEmpty(p.Edit)
	return p, nil
}

// CreatePage stores p as a new page with a fresh id and returns it. Its
// parent, if any, must exist; titles need not be unique.
func (s *Store) CreatePage(p store.Page) (store.Page, error) {
	ctx, cancel := context.WithTimeout(context.Background(), pageWriteTimeout)
	defer cancel()
	return s.insertPage(ctx, s.pool, p)
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) insertPage(ctx context.Context, q querier, p store.Page) (store.Page, error) {
	if p.ParentID != "" {
		if _, ok := pageID(p.ParentID); !ok {
			return store.Page{}, fmt.Errorf("parent page %q: %w", p.ParentID, store.ErrNotFound)
		}
	}
	var childKey *string
	if p.ChildKey != "" {
		childKey = &p.ChildKey
	}
	var id int64
	err := q.QueryRow(ctx, `INSERT INTO wiki_pages
		(parent_id, child_key, title, title_key, format, author, created, updated, view_users, edit_users, body, search_text)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
		nullableID(p.ParentID), childKey, p.Title, store.TitleKey(p.Title), string(p.Format), p.Author, p.Created, p.Updated,
		orEmpty(p.View), orEmpty(p.Edit), p.Body, s.searchTextOf(p)).Scan(&id)
	if err != nil {
		return store.Page{}, pageWriteErr(err, p)
	}
	p.ID = formatID(id)
	p.Created, p.Updated = p.Created.UTC(), p.Updated.UTC()
	p.View, p.Edit = noEmpty(slices.Clone(p.View)), noEmpty(slices.Clone(p.Edit))
	return p, nil
}

// pageWriteErr files the database's refusal of a page write under the
// store's errors.
func pageWriteErr(err error, p store.Page) error {
	if code := pgCode(err); code == foreignKeyViolation {
		return fmt.Errorf("parent page %q: %w", p.ParentID, store.ErrNotFound)
	}
	return fmt.Errorf("store page %q: %w", p.Title, dbErr(err))
}

// Page returns the page with id, body included.
func (s *Store) Page(id string) (store.Page, error) {
	return s.readPage(id, true)
}

// PageMeta returns the page with id without its body. It is served from
// the cache (cache.go): a permission change on another node is seen here
// once its notification arrives.
func (s *Store) PageMeta(id string) (store.Page, error) {
	n, ok := pageID(id)
	if !ok {
		return store.Page{}, fmt.Errorf("page %q: %w", id, store.ErrNotFound)
	}
	return cached(s, pageKey(n), func() (store.Page, error) { return s.readPage(id, false) })
}

func (s *Store) readPage(id string, withBody bool) (store.Page, error) {
	n, ok := pageID(id)
	if !ok {
		return store.Page{}, fmt.Errorf("page %q: %w", id, store.ErrNotFound)
	}
	ctx, cancel := opContext()
	defer cancel()
	var (
		p   store.Page
		err error
	)
	if withBody {
		var body string
		p, err = scanPage(s.pool.QueryRow(ctx, `SELECT `+metaColumns+`, body FROM wiki_pages WHERE id = $1`, n), &body)
		p.Body = body
	} else {
		p, err = scanPage(s.pool.QueryRow(ctx, `SELECT `+metaColumns+` FROM wiki_pages WHERE id = $1`, n))
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Page{}, fmt.Errorf("page %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Page{}, fmt.Errorf("page %q: %w", id, dbErr(err))
	}
	return p, nil
}

// PagesByTitle returns the pages people wrote whose title matches title
// as store.TitleKey compares them, without bodies, oldest first; none is
// store.ErrNotFound. Keyed pages are never found by title.
func (s *Store) PagesByTitle(title string) ([]store.Page, error) {
	ctx, cancel := opContext()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+metaColumns+` FROM wiki_pages WHERE title_key = $1 AND child_key IS NULL ORDER BY id`, store.TitleKey(title))
	if err != nil {
		return nil, fmt.Errorf("pages titled %q: %w", title, dbErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Page, error) { return scanPage(r) })
	if err != nil {
		return nil, fmt.Errorf("pages titled %q: %w", title, dbErr(err))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("page titled %q: %w", title, store.ErrNotFound)
	}
	return out, nil
}

// Children returns the child pages of parentID without bodies, oldest
// first; Children("") returns the top-level pages.
func (s *Store) Children(parentID string) ([]store.Page, error) {
	ctx, cancel := opContext()
	defer cancel()
	var rows pgx.Rows
	var err error
	if parentID == "" {
		rows, err = s.pool.Query(ctx, `SELECT `+metaColumns+` FROM wiki_pages WHERE parent_id IS NULL ORDER BY id`)
	} else {
		n, ok := pageID(parentID)
		if !ok {
			return nil, nil
		}
		rows, err = s.pool.Query(ctx, `SELECT `+metaColumns+` FROM wiki_pages WHERE parent_id = $1 ORDER BY id`, n)
	}
	if err != nil {
		return nil, fmt.Errorf("children of page %q: %w", parentID, dbErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Page, error) { return scanPage(r) })
	if err != nil {
		return nil, fmt.Errorf("children of page %q: %w", parentID, dbErr(err))
	}
	return out, nil
}

// UpdatePage applies fn to the page with id (body included) and stores the
// result, holding the row locked in between so that concurrent updates on
// any node apply one after the other. fn may change the title, body,
// permissions and Updated; the rest is kept. An error from fn changes
// nothing.
func (s *Store) UpdatePage(id string, fn func(*store.Page) error) (store.Page, error) {
	n, ok := pageID(id)
	if !ok {
		return store.Page{}, fmt.Errorf("page %q: %w", id, store.ErrNotFound)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pageWriteTimeout)
	defer cancel()
	var out store.Page
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var body string
		old, err := scanPage(tx.QueryRow(ctx, `SELECT `+metaColumns+`, body FROM wiki_pages WHERE id = $1 FOR UPDATE`, n), &body)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("page %q: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("page %q: %w", id, dbErr(err))
		}
		old.Body = body
		p := old
		p.View, p.Edit = slices.Clone(old.View), slices.Clone(old.Edit)
		if err := fn(&p); err != nil {
			return err
		}
		p.ID, p.ParentID, p.ChildKey, p.Format = old.ID, old.ParentID, old.ChildKey, old.Format
		p.Author, p.Created = old.Author, old.Created
		_, err = tx.Exec(ctx, `UPDATE wiki_pages SET title = $2, title_key = $3, updated = $4, view_users = $5, edit_users = $6, body = $7, search_text = $8 WHERE id = $1`,
			n, p.Title, store.TitleKey(p.Title), p.Updated, orEmpty(p.View), orEmpty(p.Edit), p.Body, s.searchTextOf(p))
		if err != nil {
			return pageWriteErr(err, p)
		}
		if _, err := tx.Exec(ctx, notifySQL, pageKey(n)); err != nil {
			return fmt.Errorf("page %q: %w", id, dbErr(err))
		}
		p.Updated = p.Updated.UTC()
		p.View, p.Edit = noEmpty(p.View), noEmpty(p.Edit)
		out = p
		return nil
	})
	s.changed(pageKey(n))
	if err != nil {
		return store.Page{}, err
	}
	return out, nil
}

// UpsertChild creates or updates the child of p.ParentID with p.ChildKey:
// the same key always updates the same page, also when two nodes write it
// at once. On update only the title, body and Updated change. A keyed
// page is never found by title (see store.Bolt.UpsertChild for why).
func (s *Store) UpsertChild(p store.Page) (store.Page, bool, error) {
	if p.ChildKey == "" {
		return store.Page{}, false, errors.New("a child page needs a key")
	}
	if _, ok := pageID(p.ParentID); !ok {
		return store.Page{}, false, fmt.Errorf("parent page %q: %w", p.ParentID, store.ErrNotFound)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pageWriteTimeout)
	defer cancel()
	var (
		created bool
		got     store.Page
	)
	// The notification (of an update's new title) commits with the
	// upsert, so a transaction holds both.
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		got, err = scanPage(tx.QueryRow(ctx, `INSERT INTO wiki_pages
		(parent_id, child_key, title, title_key, format, author, created, updated, view_users, edit_users, body, search_text)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (parent_id, child_key) WHERE child_key IS NOT NULL DO UPDATE SET
			title = EXCLUDED.title, title_key = EXCLUDED.title_key, updated = EXCLUDED.updated,
			body = EXCLUDED.body, search_text = EXCLUDED.search_text
		RETURNING `+metaColumns+`, xmax = 0`,
			nullableID(p.ParentID), p.ChildKey, p.Title, store.TitleKey(p.Title), string(p.Format), p.Author, p.Created, p.Updated,
			orEmpty(p.View), orEmpty(p.Edit), p.Body, s.searchTextOf(p)), &created)
		if err != nil {
			return err
		}
		n, _ := pageID(got.ID)
		_, err = tx.Exec(ctx, notifySQL, pageKey(n))
		return err
	})
	if err != nil {
		return store.Page{}, false, pageWriteErr(err, p)
	}
	if n, ok := pageID(got.ID); ok {
		s.changed(pageKey(n))
	}
	return got, created, nil
}

// EachPage calls fn for every page, body included, in id order.
func (s *Store) EachPage(fn func(store.Page) error) error {
	// No opTimeout: a rebuild over a large wiki may take long, and it
	// runs at start-up only.
	ctx := context.Background()
	rows, err := s.pool.Query(ctx, `SELECT `+metaColumns+`, body FROM wiki_pages ORDER BY id`)
	if err != nil {
		return fmt.Errorf("list pages: %w", dbErr(err))
	}
	defer rows.Close()
	for rows.Next() {
		var body string
		p, err := scanPage(rows, &body)
		if err != nil {
			return fmt.Errorf("list pages: %w", dbErr(err))
		}
		p.Body = body
		if err := fn(p); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list pages: %w", dbErr(err))
	}
	return nil
}

// AddFile stores the metadata of an attached file; its page must exist.
func (s *Store) AddFile(f store.File) error {
	n, ok := pageID(f.PageID)
	if !ok {
		return fmt.Errorf("page %q: %w", f.PageID, store.ErrNotFound)
	}
	ctx, cancel := opContext()
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO wiki_files (id, page_id, user_id, name, content_type, size, created) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		f.ID, n, f.UserID, f.Name, f.ContentType, f.Size, f.Created)
	if code := pgCode(err); code == foreignKeyViolation {
		return fmt.Errorf("page %q: %w", f.PageID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store file %q: %w", f.ID, dbErr(err))
	}
	return nil
}

const fileColumns = `id, page_id, user_id, name, content_type, size, created`

func scanFile(row pgx.Row) (store.File, error) {
	var f store.File
	var page int64
	if err := row.Scan(&f.ID, &page, &f.UserID, &f.Name, &f.ContentType, &f.Size, &f.Created); err != nil {
		return store.File{}, err
	}
	f.PageID = formatID(page)
	f.Created = f.Created.UTC()
	return f, nil
}

// File returns the metadata of the file with id.
func (s *Store) File(id string) (store.File, error) {
	ctx, cancel := opContext()
	defer cancel()
	f, err := scanFile(s.pool.QueryRow(ctx, `SELECT `+fileColumns+` FROM wiki_files WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.File{}, fmt.Errorf("file %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.File{}, fmt.Errorf("file %q: %w", id, dbErr(err))
	}
	return f, nil
}

// DeleteFile removes the metadata of file id from page; a file that is
// not there, or belongs to another page, is store.ErrNotFound.
func (s *Store) DeleteFile(page, id string) error {
	n, ok := pageID(page)
	if !ok {
		return fmt.Errorf("file %q on page %q: %w", id, page, store.ErrNotFound)
	}
	ctx, cancel := opContext()
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM wiki_files WHERE id = $1 AND page_id = $2`, id, n)
	if err != nil {
		return fmt.Errorf("delete file %q: %w", id, dbErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("file %q on page %q: %w", id, page, store.ErrNotFound)
	}
	return nil
}

// Files returns the files attached to page, oldest first.
func (s *Store) Files(page string) ([]store.File, error) {
	n, ok := pageID(page)
	if !ok {
		return nil, nil
	}
	ctx, cancel := opContext()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+fileColumns+` FROM wiki_files WHERE page_id = $1 ORDER BY created, id`, n)
	if err != nil {
		return nil, fmt.Errorf("files of page %q: %w", page, dbErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.File, error) { return scanFile(r) })
	if err != nil {
		return nil, fmt.Errorf("files of page %q: %w", page, dbErr(err))
	}
	return out, nil
}

// dbErr marks an error that is not the database's answer to a statement
// (a refused or broken connection, a timeout) as store.ErrUnavailable: the
// database is down or unreachable, and the same request may work shortly.
// Of the server's own answers, those of a server shutting down or
// starting (57P01-57P03, "the database system is starting up" while a
// restarted PostgreSQL recovers), a connection failure (class 08) and too
// many connections (53300) mean the same.
func dbErr(err error) error {
	var pe *pgconn.PgError
	switch {
	case err == nil, errors.Is(err, store.ErrUnavailable):
		return err
	case errors.As(err, &pe):
		if !strings.HasPrefix(pe.Code, "08") && !strings.HasPrefix(pe.Code, "57P") && pe.Code != "53300" {
			return err
		}
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}
