package store

import (
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// SetLayoutForTest records layout version v in the closed database at path,
// for the conformance suite's check that a newer layout is refused.
func SetLayoutForTest(path string, v int) error {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		return meta.Put(layoutKey, []byte(strconv.Itoa(v)))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// CurrentLayout is the layout version this store writes.
const CurrentLayout = currentLayout
