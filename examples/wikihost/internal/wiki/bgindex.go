package wiki

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pagechat/pagechat/examples/wikihost/internal/search"
)

// bgBatchDelay is how long the background indexer gathers pages before
// it indexes them together.
const bgBatchDelay = 5 * time.Second

// bgIndexer brings the search index up to date with the pages the chat
// plugin writes, a few seconds late and in batches. A busy wiki has many
// rooms whose transcript pages fall due together, and indexing each page
// as it arrives makes one index segment per page, which the search
// engine then spends far more CPU merging than it spent indexing: during
// a burst of a hundred transcript writes, a fifth of the wiki's CPU, at
// the expense of live chat. People's own edits are still indexed at once
// (Wiki.reindex), since they expect to find what they just wrote.
//
// Search calls flush first, so a search finds every page written before
// it.
type bgIndexer struct {
	index *searchState
	log   hclog.Logger

	mu      sync.Mutex
	waiting map[string]search.Doc // latest version of each page not yet indexed

	// indexing is held while a batch is indexed, so flush waits for the
	// batch in hand as well as taking what is waiting.
	indexing sync.Mutex

	wake chan struct{} // capacity 1
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newBgIndexer(index *searchState, log hclog.Logger) *bgIndexer {
	b := &bgIndexer{
		index:   index,
		log:     log,
		waiting: make(map[string]search.Doc),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go b.run()
	return b
}

// put queues d, replacing a version of the same page that is still
// waiting.
func (b *bgIndexer) put(d search.Doc) {
	b.mu.Lock()
	b.waiting[d.ID] = d
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *bgIndexer) run() {
	defer close(b.done)
	gather := time.NewTimer(0)
	defer gather.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-b.wake:
		}
		gather.Reset(bgBatchDelay)
		select {
		case <-b.stop:
			return
		case <-gather.C:
		}
		b.flush()
	}
}

// flush indexes every waiting page now, in one batch, and returns once a
// batch being indexed in the background (if any) is done too.
func (b *bgIndexer) flush() {
	b.indexing.Lock()
	defer b.indexing.Unlock()
	b.mu.Lock()
	docs := slices.Collect(maps.Values(b.waiting))
	clear(b.waiting)
	b.mu.Unlock()
	if len(docs) == 0 {
		return
	}
	// update recovers a panic in the index, which would otherwise end
	// this goroutine and the wiki with it, and takes a failing index out
	// of service until it is rebuilt.
	b.index.update(fmt.Sprintf("index a batch of %d pages", len(docs)), func(ix pageIndex) error { return ix.PutBatch(docs) })
}

// close stops the background work and indexes what is still waiting, so
// the index closes complete.
func (b *bgIndexer) close() {
	b.once.Do(func() {
		close(b.stop)
		<-b.done
		b.flush()
	})
}
