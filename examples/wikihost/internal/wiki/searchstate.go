package wiki

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pagechat/pagechat/examples/wikihost/internal/search"
)

// ErrSearchUnavailable answers a search while the index is being rebuilt
// after it failed (a full disk, for one). Pages, chat and everything else
// keep working; only search waits.
var ErrSearchUnavailable = errors.New("search is temporarily unavailable; pages and chat still work, and search returns once its index is rebuilt")

// The rebuild of a failed index is retried from searchRetryMin, doubling
// up to searchRetryMax: quickly enough that search returns soon after an
// administrator frees space, rarely enough that a disk that stays full
// costs little.
const (
	searchRetryMin = time.Second
	searchRetryMax = 5 * time.Minute
)

// pageIndex is what the wiki needs of a search index. It is an interface
// so tests can put in one that fails or panics.
type pageIndex interface {
	Put(d search.Doc) error
	PutBatch(docs []search.Doc) error
	Search(ctx context.Context, q string, limit int, allow func(id string) bool) ([]search.Hit, error)
	Close() error
}

// searchState owns the wiki's search index and keeps a failing one from
// taking the wiki down (finding #1). An index update that fails or panics
// (bleve panics on an index left broken by a failed write) takes the index
// out of service: it is closed as unclean, searches answer
// ErrSearchUnavailable, and a goroutine rebuilds it from the database with
// backoff until that works. The wiki also starts when the first build
// fails, in the same state.
type searchState struct {
	log hclog.Logger
	// build opens the index and brings it up to date with the database.
	// A failed index is closed unclean, so build rebuilds it.
	build func() (pageIndex, error)

	mu  sync.RWMutex // held for reading while idx is in use
	idx pageIndex    // nil while out of service
	// missed counts updates dropped while idx was nil; a rebuild that
	// ran while one was dropped may lack it, so it runs again.
	missed     int
	rebuilding bool
	closed     bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// newSearchState builds the index, or starts without it and keeps trying.
func newSearchState(log hclog.Logger, build func() (pageIndex, error)) *searchState {
	s := &searchState{log: log, build: build, stop: make(chan struct{})}
	idx, err := s.safeBuild()
	if err != nil {
		log.Error("search index could not be opened; the wiki runs without search and keeps retrying", "error", err)
		s.mu.Lock()
		s.startRebuildLocked()
		s.mu.Unlock()
		return s
	}
	s.idx = idx
	return s
}

// safeBuild runs build, turning a panic into an error.
func (s *searchState) safeBuild() (idx pageIndex, err error) {
	defer func() {
		if r := recover(); r != nil {
			idx, err = nil, fmt.Errorf("search index build panicked: %v", r)
		}
	}()
	return s.build()
}

// use runs f on the index, if it is in service. A failure or panic in f
// takes the index out of service.
func (s *searchState) use(what string, f func(pageIndex) error) (err error) {
	s.mu.RLock()
	idx := s.idx
	if idx == nil {
		s.mu.RUnlock()
		return ErrSearchUnavailable
	}
	func() {
		defer s.mu.RUnlock()
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%s: search index panicked: %v", what, r)
				s.log.Error("recovered a panic in the search index", "during", what, "panic", r)
			}
		}()
		err = f(idx)
	}()
	return err
}

// update runs an index update; a failure takes the index out of service.
func (s *searchState) update(what string, f func(pageIndex) error) {
	err := s.use(what, f)
	if errors.Is(err, ErrSearchUnavailable) {
		s.mu.Lock()
		s.missed++
		s.mu.Unlock()
		return
	}
	if err == nil {
		return
	}
	s.fail(what, err)
}

// fail takes the index out of service after a failed update, once.
func (s *searchState) fail(what string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idx == nil {
		return
	}
	old := s.idx
	s.idx = nil
	s.log.Error("search index update failed; search is unavailable until the index is rebuilt, pages and chat keep working", "during", what, "error", err)
	if m, ok := old.(interface{ MarkDirty() }); ok {
		m.MarkDirty() // so the next Open rebuilds it
	}
	if cerr := safeClose(old); cerr != nil {
		s.log.Warn("closing the failed search index", "error", cerr)
	}
	s.startRebuildLocked()
}

// safeClose closes idx, turning a panic into an error.
func safeClose(idx pageIndex) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("search index close panicked: %v", r)
		}
	}()
	return idx.Close()
}

// startRebuildLocked starts the rebuild goroutine unless one runs; s.mu
// is held.
func (s *searchState) startRebuildLocked() {
	if s.rebuilding || s.closed {
		return
	}
	s.rebuilding = true
	s.wg.Add(1)
	go s.rebuild()
}

// rebuild tries to build the index with backoff until it works or the
// wiki closes.
func (s *searchState) rebuild() {
	defer s.wg.Done()
	wait := searchRetryMin
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-s.stop:
			s.mu.Lock()
			s.rebuilding = false
			s.mu.Unlock()
			return
		case <-timer.C:
		}
		s.mu.Lock()
		missed := s.missed
		s.mu.Unlock()
		idx, err := s.safeBuild()
		if err == nil {
			s.mu.Lock()
			switch {
			case s.closed:
				_ = safeClose(idx)
			case s.missed != missed:
				// An update was dropped while this rebuild ran and
				// may be missing from it: build again at once.
				_ = safeClose(idx)
				err = errors.New("pages changed during the rebuild")
				wait = 0
			default:
				s.idx = idx
				s.rebuilding = false
				s.mu.Unlock()
				s.log.Info("search index rebuilt; search is available again")
				return
			}
			s.mu.Unlock()
		}
		if err != nil && wait > 0 {
			s.log.Warn("search index rebuild failed; retrying", "in", wait, "error", err)
		}
		timer.Reset(wait)
		wait = min(max(wait*2, searchRetryMin), searchRetryMax)
	}
}

// close stops the rebuilds and closes the index.
func (s *searchState) close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idx == nil {
		return nil
	}
	err := safeClose(s.idx)
	s.idx = nil
	return err
}
