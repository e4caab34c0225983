package store

import (
	"cmp"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// AddFile stores the metadata of an attached file; its page must exist.
func (s *Store) AddFile(f File) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketPages).Get([]byte(f.PageID)) == nil {
			return fmt.Errorf("page %q: %w", f.PageID, ErrNotFound)
		}
		if err := putJSON(tx.Bucket(bucketFiles), f.ID, f); err != nil {
			return err
		}
		return tx.Bucket(bucketPageFiles).Put(pair(f.PageID, f.ID), nil)
	})
}

// File returns the metadata of the file with id.
func (s *Store) File(id string) (File, error) {
	var f File
	err := s.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bucketFiles), id, &f)
	})
	if err != nil {
		return File{}, fmt.Errorf("file %q: %w", id, err)
	}
	return f, nil
}

// Files returns the files attached to pageID, oldest first.
func (s *Store) Files(pageID string) ([]File, error) {
	var out []File
	err := s.db.View(func(tx *bolt.Tx) error {
		files := tx.Bucket(bucketFiles)
		return eachPair(tx.Bucket(bucketPageFiles), pageID, func(fileID string, _ []byte) error {
			var f File
			if err := getJSON(files, fileID, &f); err != nil {
				return fmt.Errorf("file %q: %w", fileID, err)
			}
			out = append(out, f)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	// File ids are random, so the index is in no useful order.
	slices.SortFunc(out, func(a, b File) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteFile removes the metadata of file id from pageID; a file that is
// not there (or belongs to another page) is ErrNotFound.
func (s *Store) DeleteFile(pageID, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		var f File
		if err := getJSON(tx.Bucket(bucketFiles), id, &f); err != nil {
			return fmt.Errorf("file %q: %w", id, err)
		}
		if f.PageID != pageID {
			return fmt.Errorf("file %q on page %q: %w", id, pageID, ErrNotFound)
		}
		if err := tx.Bucket(bucketFiles).Delete([]byte(id)); err != nil {
			return err
		}
		return tx.Bucket(bucketPageFiles).Delete(pair(pageID, id))
	})
}
