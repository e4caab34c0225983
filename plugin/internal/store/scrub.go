package store

import (
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// Erasing text from a record is not enough to get it out of the file.
// bbolt never overwrites a page in place: a commit writes the changed
// records to fresh pages and puts the old ones on its free list, where
// the old text stays, readable with any hex viewer, until the space is
// reused. So after a commit that erased something, scrub overwrites every
// free page of the file with zeros before the erase is acknowledged.
//
// A free page may still be in use by a read transaction that began before
// the page was freed; bbolt only hands such "pending" pages out again once
// those readers are gone, and it does not tell the two kinds apart. scrub
// therefore begins its write transaction while no read transaction is
// open (readers is held exclusively for that moment): beginning a write
// transaction releases every pending page whose readers are gone, which
// is then all of them. Holding the write transaction keeps every other
// writer from reusing the pages while they are zeroed; readers that begin
// meanwhile see only pages that are in use.
//
// The commit that erases also records meta/scrub, and scrub deletes it in
// its own commit, so an erase a crash interrupted is scrubbed at the next
// Open.

// scrubKey in metaBucket marks free pages that may hold erased text.
var scrubKey = []byte("scrub")

// markScrub records, in an erasing commit, that a scrub is owed.
func markScrub(tx *bolt.Tx) error {
	if err := tx.Bucket(metaBucket).Put(scrubKey, []byte{1}); err != nil {
		return fmt.Errorf("record pending scrub: %w", err)
	}
	return nil
}

// scrubRecorded reports whether a scrub is owed.
func scrubRecorded(db *bolt.DB) (bool, error) {
	var owed bool
	err := db.View(func(tx *bolt.Tx) error {
		owed = tx.Bucket(metaBucket).Get(scrubKey) != nil
		return nil
	})
	return owed, err
}

// scrubAll erases old text from everywhere it may be left: the journal,
// whose records the file holds once the open transaction is committed,
// and the file's free pages.
func (b *Bolt) scrubAll() error {
	// scrub begins a write transaction of its own, which the open one
	// would block.
	if err := b.checkpoint(); err != nil {
		return err
	}
	if err := b.jr.wipe(); err != nil {
		return fmt.Errorf("scrub: %w", err)
	}
	return b.scrub()
}

// scrub zeroes the free pages of the file and then clears the scrub mark.
// It runs on the writer goroutine (or in Open before that starts), so no
// commit of the writer's runs alongside it.
func (b *Bolt) scrub() (err error) {
	b.readers.Lock()
	tx, err := b.db.Begin(true)
	b.readers.Unlock()
	if err != nil {
		return fmt.Errorf("scrub: %w", mapErr(err))
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()

	runs, err := freeRuns(tx)
	if err != nil {
		return fmt.Errorf("scrub: %w", err)
	}
	if len(runs) > 0 {
		if err := zeroPages(b.path, b.db.Info().PageSize, runs); err != nil {
			return fmt.Errorf("scrub: %w", err)
		}
	}
	if err := tx.Bucket(metaBucket).Delete(scrubKey); err != nil {
		return fmt.Errorf("scrub: clear mark: %w", err)
	}
	// The commit's fdatasync of the file also makes the zeros durable:
	// they were written to the same file before it.
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("scrub: %w", mapErr(err))
	}
	return nil
}

// pageRun is a run of consecutive free pages.
type pageRun struct{ first, n int }

// freeRuns lists the free pages below the file's high-water mark. Pages 0
// and 1 are the meta pages, never free. The header of a free page may be
// anything, so only pages in use are skipped by their overflow count.
func freeRuns(tx *bolt.Tx) ([]pageRun, error) {
	var runs []pageRun
	for id := 2; ; id++ {
		info, err := tx.Page(id)
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", id, err)
		}
		if info == nil {
			return runs, nil
		}
		if info.Type != "free" {
			id += info.OverflowCount
			continue
		}
		if n := len(runs); n > 0 && runs[n-1].first+runs[n-1].n == id {
			runs[n-1].n++
		} else {
			runs = append(runs, pageRun{first: id, n: 1})
		}
	}
}

// zeroPages overwrites the runs of pages with zeros through a descriptor of
// its own; bbolt reads the file through a shared mapping, which sees the
// writes, and never reads a free page.
func zeroPages(path string, pageSize int, runs []pageRun) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	const chunkPages = 64
	zeros := make([]byte, chunkPages*pageSize)
	for _, r := range runs {
		for done := 0; done < r.n; {
			n := min(r.n-done, chunkPages)
			if _, err := f.WriteAt(zeros[:n*pageSize], int64(r.first+done)*int64(pageSize)); err != nil {
				_ = f.Close()
				return fmt.Errorf("zero pages %d..%d: %w", r.first+done, r.first+done+n-1, err)
			}
			done += n
		}
	}
	return f.Close()
}
