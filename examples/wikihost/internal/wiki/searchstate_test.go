package wiki

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/crypto/bcrypt"

	"github.com/pagechat/pagechat/examples/wikihost/internal/search"
	"github.com/pagechat/pagechat/internal/testutil"
)

// fakeIndex is a pageIndex that holds titles, or fails the way a search
// index on a full disk does.
type fakeIndex struct {
	mu     sync.Mutex
	titles map[string]string
	fail   string // "", "error" or "panic": what PutBatch and Put do
	closed bool
}

func (f *fakeIndex) put(docs []search.Doc) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch f.fail {
	case "error":
		return fmt.Errorf("write segment: %w", syscall.ENOSPC)
	case "panic":
		// What bleve does on an index a failed write broke.
		panic("assignment to entry in nil map")
	}
	for _, d := range docs {
		f.titles[d.ID] = d.Title
	}
	return nil
}

func (f *fakeIndex) Put(d search.Doc) error           { return f.put([]search.Doc{d}) }
func (f *fakeIndex) PutBatch(docs []search.Doc) error { return f.put(docs) }
func (f *fakeIndex) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakeIndex) Search(_ context.Context, q string, _ int, _ func(string) bool) ([]search.Hit, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var hits []search.Hit
	for id, title := range f.titles {
		if strings.Contains(title, q) {
			hits = append(hits, search.Hit{ID: id, Title: title})
		}
	}
	return hits, nil
}

// A search index that fails or panics on an update (as bleve does once a
// full disk broke a write) must not take the wiki down: the panic is
// recovered, search says it is unavailable, and the index is rebuilt once
// building works again (finding #1).
func TestFailingSearchIndexIsRebuilt(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"error", "panic"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			var logs testutil.SyncBuffer
			var builds atomic.Int32
			var buildOK atomic.Bool
			first := &fakeIndex{titles: map[string]string{}, fail: mode}
			s := newSearchState(hclog.New(&hclog.LoggerOptions{Output: &logs}), func() (pageIndex, error) {
				if builds.Add(1) == 1 {
					return first, nil
				}
				if !buildOK.Load() {
					return nil, fmt.Errorf("rebuild search index: %w", syscall.ENOSPC)
				}
				return &fakeIndex{titles: map[string]string{"p1": "wombat"}}, nil
			})
			bg := newBgIndexer(s, hclog.NewNullLogger())
			t.Cleanup(func() { bg.close(); _ = s.close() })

			bg.put(search.Doc{ID: "p1", Title: "wombat"})
			bg.flush() // must not panic
			err := s.use("search", func(ix pageIndex) error { _, err := ix.Search(context.Background(), "wombat", 10, nil); return err })
			if !errors.Is(err, ErrSearchUnavailable) {
				t.Fatalf("search after a failed update = %v, want ErrSearchUnavailable", err)
			}
			if !first.closed {
				t.Error("the failed index was not closed")
			}
			testutil.Eventually(t, 10*time.Second, func() bool { return builds.Load() >= 2 }, "a rebuild attempt")
			buildOK.Store(true)
			testutil.Eventually(t, 15*time.Second, func() bool {
				var hits []search.Hit
				err := s.use("search", func(ix pageIndex) error {
					var err error
					hits, err = ix.Search(context.Background(), "wombat", 10, nil)
					return err
				})
				return err == nil && len(hits) == 1
			}, "search to work again after the rebuild")
			if !strings.Contains(logs.String(), "search is unavailable") {
				t.Errorf("the log does not say search is unavailable:\n%s", logs.String())
			}
		})
	}
}

// A wiki whose search index cannot be built must still start and serve
// pages, and get search back once the index can be built (finding #1:
// the restart on a full disk failed with "rebuild search index").
func TestWikiStartsWithoutSearchAndRecovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A directory that is not a bleve index is never removed, so the
	// index cannot be built until the file is gone: the same failure as
	// a full disk, without filling one.
	junk := filepath.Join(dir, "index", "not-an-index")
	if err := os.MkdirAll(filepath.Dir(junk), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(junk, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := Open(dir, Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatalf("Open with an index that cannot be built: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	u, err := w.CreateUser(NewUser{Name: "alice", Admin: true, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, w, u.ID, PageInput{Title: "Wombat notes", Body: "numbat"})
	if _, err := w.Search(context.Background(), u.ID, "numbat", 10); !errors.Is(err, ErrSearchUnavailable) {
		t.Fatalf("Search without an index = %v, want ErrSearchUnavailable", err)
	}
	if err := os.Remove(junk); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() bool {
		hits, err := w.Search(context.Background(), u.ID, "numbat", 10)
		return err == nil && len(hits) == 1
	}, "search to come back with the page written while it was away")
}
