package store

import (
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// The layout version of the file is recorded as a decimal string under
// meta/layout. Open brings older layouts up to date and refuses newer ones:
// a release that rewrote a newer file in its own layout could lose what the
// newer one wrote, and nothing would tell the admin why.
var (
	// metaBucket holds facts about the file itself.
	metaBucket = []byte("meta")
	// layoutKey names the on-disk layout version in metaBucket.
	layoutKey = []byte("layout")
)

// currentLayout is the layout version Open writes.
//
//	1  (no layout key) the room's lists inside its record
//	2  the room's lists in buckets of their own (roomdata.go)
//	3  read markers and bans; edit and delete events in the log, which a
//	   layout-2 reader would show as plain messages
//	4  dedupe entries keyed by sender and client id, not client id alone
//	5  a room's last sequence and activity read from its log (readHead),
//	   and a day's span from its pending transcript entry while it has
//	   one; the copies in the room and day records stop moving, and a
//	   layout-4 reader trusting them would hand out sequence numbers
//	   already taken
//	6  pending transcript entries in each room's bucket (transcripts.go)
//	7  acknowledged batches may wait in the journal beside the file
//	   (journal.go); a layout-6 reader would not apply them, and would
//	   hand out their sequence numbers again
const currentLayout = 7

// migrations[v] brings layout v to layout v+1, inside Open's transaction.
var migrations = map[int]func(*bolt.Tx) error{
	1: migrateRoomLists,
	2: addRoomBuckets,
	3: migrateDedupeKeys,
	4: readHeadsFromLogs,
	5: movePendingIntoRooms,
	6: addJournal,
}

// addJournal moves nothing: the journal starts empty, and a file without
// meta/journal holds every batch numbered so far (none).
func addJournal(*bolt.Tx) error { return nil }

// readHeadsFromLogs moves nothing: every log already ends at its room's
// last sequence, which the record also held until now. Only the version
// changes, so that a release still reading the record refuses the file
// once the record's copies fall behind.
func readHeadsFromLogs(*bolt.Tx) error { return nil }

// migrate runs in Open's first transaction: it creates the top-level
// buckets of a new file, refuses a layout it does not know, and applies the
// migrations an older one needs. Being one transaction, a crash leaves
// either the old layout or the new one. It returns the layout it found,
// 0 for a new file.
func migrate(tx *bolt.Tx) (from int, err error) {
	meta, err := tx.CreateBucketIfNotExists(metaBucket)
	if err != nil {
		return 0, fmt.Errorf("create bucket %q: %w", metaBucket, err)
	}
	version, err := layoutOf(meta)
	if err != nil {
		return 0, err
	}
	if version > currentLayout {
		return 0, fmt.Errorf("layout version %d, but this plugin knows versions up to %d: %w; run the newer plugin, or restore the data directory kept from before the upgrade",
			version, currentLayout, ErrNewerSchema)
	}
	from = version
	if tx.Bucket(roomsBucket) == nil {
		from = 0 // a new file: nothing to bring up to date
	}
	for _, name := range [][]byte{roomsBucket, logsBucket} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return 0, fmt.Errorf("create bucket %q: %w", name, err)
		}
	}
	if version == currentLayout {
		return from, nil
	}
	for ; version < currentLayout; version++ {
		if err := migrations[version](tx); err != nil {
			return 0, fmt.Errorf("migrate layout %d to %d: %w", version, version+1, err)
		}
	}
	if err := meta.Put(layoutKey, []byte(strconv.Itoa(currentLayout))); err != nil {
		return 0, fmt.Errorf("record layout version: %w", err)
	}
	return from, nil
}

// layoutOf reads the recorded layout version; a file without one is either
// new or of layout 1, and both migrate the same way (an empty file has no
// rooms to move).
func layoutOf(meta *bolt.Bucket) (int, error) {
	v := meta.Get(layoutKey)
	if v == nil {
		return 1, nil
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("unreadable layout version %q in bucket %q", v, metaBucket)
	}
	return n, nil
}
