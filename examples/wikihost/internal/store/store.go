package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// lockTimeout bounds the wait for bbolt's file lock, so a second wikihost
// on the same data directory fails with a clear message instead of hanging.
const lockTimeout = 3 * time.Second

// initialMmapSize is the address space bbolt maps up front (virtual, not
// resident). Every request reads the database for its session, and
// growing the map blocks all readers while bbolt remaps; transcripts make
// the file grow quickly, so start with room for a large wiki.
const initialMmapSize = 256 << 20

// Bucket names. Index buckets hold composite keys "<a>\x00<b>": ids and
// keys never contain NUL (package wiki refuses control characters), so a
// prefix scan over "<a>\x00" finds exactly a's entries.
var (
	bucketUsers     = []byte("users")     // user id -> User JSON
	bucketSessions  = []byte("sessions")  // token hash -> Session JSON
	bucketPages     = []byte("pages")     // page id -> Page JSON (no body)
	bucketBodies    = []byte("bodies")    // page id -> body
	bucketTitles    = []byte("titleids")  // title key \0 id of a page people wrote -> ""
	bucketChildren  = []byte("children")  // parent id ("" for none) \0 child id -> ""
	bucketChildKeys = []byte("childkeys") // parent id \0 child key -> child id
	bucketFiles     = []byte("files")     // file id -> File JSON
	bucketPageFiles = []byte("pagefiles") // page id \0 file id -> ""
	bucketMeta      = []byte("meta")      // setting name -> value

	allBuckets = [][]byte{bucketUsers, bucketSessions, bucketPages, bucketBodies, bucketTitles,
		bucketChildren, bucketChildKeys, bucketFiles, bucketPageFiles, bucketMeta}

	// bucketOldTitles is the title index of versions whose titles were
	// unique: title key -> page id. migrateTitles replaces it.
	bucketOldTitles = []byte("titles")
	// metaTitleIndex names the shape of the title index; it is set once
	// migrateTitles has built bucketTitles.
	metaTitleIndex = []byte("title-index")
)

// Bolt is the Store kept in one bbolt file, the single-node default. It
// is safe for concurrent use.
type Bolt struct {
	db *bolt.DB

	// Permission checks read a user and a page (and its parents) on every
	// chat call, thousands of times a second under load, while users and
	// pages change rarely. Those reads are cached, and every write to pages
	// or users bumps gen, which makes every cached read stale at once: an
	// entry is used only while gen still holds the value loaded before it
	// was read.
	gen   atomic.Uint64
	pages sync.Map // page id -> cached[Page]
	users sync.Map // user id -> cached[User]

	// Sessions are read on every chat request and by every open chat
	// stream each permission window, and written only at login, logout
	// and purges. They are cached the same way under a generation of
	// their own, so that a login does not retire the page and user reads.
	// Only this process writes the file (bbolt locks it), so a logout is
	// seen by the next request.
	sessGen  atomic.Uint64
	sessions sync.Map // token hash -> cached[Session]

	exclusive sync.Mutex // see Exclusive
}

// Version implements Versioned: every write to pages, users or sessions
// bumps one of the two generations, which only grow.
func (s *Bolt) Version() uint64 {
	return s.gen.Load() + s.sessGen.Load()
}

// cached is a read made while gen held the value in gen.
type cached[T any] struct {
	gen uint64
	v   T
}

// update runs a write transaction that may change pages or users, and then
// retires every cached read.
func (s *Bolt) update(fn func(*bolt.Tx) error) error {
	defer s.gen.Add(1) // after the commit: a read that saw old data is never served
	return s.db.Update(fn)
}

// updateSessions runs a write transaction that may change sessions, and
// then retires every cached session read. It also empties the cache, so
// that the sessions of past logins do not pile up in it.
func (s *Bolt) updateSessions(fn func(*bolt.Tx) error) error {
	defer func() {
		s.sessGen.Add(1) // after the commit, as in update
		s.sessions.Clear()
	}()
	return s.db.Update(fn)
}

// cachedRead returns m's entry for id if it is current, or reads it with
// read and caches the result. Failed reads are not cached.
func cachedRead[T any](s *Bolt, m *sync.Map, id string, read func() (T, error)) (T, error) {
	return cachedReadGen(&s.gen, m, id, read)
}

// cachedReadGen is cachedRead under the generation gen.
func cachedReadGen[T any](genp *atomic.Uint64, m *sync.Map, id string, read func() (T, error)) (T, error) {
	gen := genp.Load() // before reading: a write during the read retires the entry
	if e, ok := m.Load(id); ok && e.(cached[T]).gen == gen {
		return e.(cached[T]).v, nil
	}
	v, err := read()
	if err != nil {
		return v, err
	}
	m.Store(id, cached[T]{gen: gen, v: v})
	return v, nil
}

// Open opens (creating if needed) the bbolt database file at path.
func Open(path string) (*Bolt, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: lockTimeout,
		// Rewriting a transcript page frees its old pages; with the
		// default array freelist synced on every commit, each commit
		// rewrites a freelist that keeps growing. The map freelist is
		// rebuilt on open instead.
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: initialMmapSize,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: another process (a second wikihost?) holds the database lock: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		return migrateTitles(tx)
	})
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Bolt{db: db}, nil
}

// Close closes the database.
func (s *Bolt) Close() error { return s.db.Close() }

// Exclusive runs fn while no other Exclusive runs. bbolt's file lock
// already keeps other processes out, so a mutex is enough.
func (s *Bolt) Exclusive(fn func() error) error {
	s.exclusive.Lock()
	defer s.exclusive.Unlock()
	return fn()
}

func pair(a, b string) []byte { return []byte(a + "\x00" + b) }

func getJSON(b *bolt.Bucket, key string, v any) error {
	raw := b.Get([]byte(key))
	if raw == nil {
		return ErrNotFound
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode record %q: %w", key, err)
	}
	return nil
}

func putJSON(b *bolt.Bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", key, err)
	}
	return b.Put([]byte(key), raw)
}

// eachPair calls fn with the second half of every "<a>\x00<b>" key in
// bucket b whose first half is a, and the key's value.
func eachPair(b *bolt.Bucket, a string, fn func(second string, value []byte) error) error {
	prefix := pair(a, "")
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, v = c.Next() {
		if err := fn(string(k[len(prefix):]), v); err != nil {
			return err
		}
	}
	return nil
}
