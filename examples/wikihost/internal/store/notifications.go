package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Notifications the chat plugin delivers (mentions, watched rooms), kept
// per user. Their buckets are created on first use:
//
//	notifications/<user>\0<8-byte id>  Notification JSON; ids grow, so a
//	                                   user's entries sort oldest first
//	notifysrc/<user>\0<source id>      the entry's key: the plugin may
//	                                   deliver a notification again after a
//	                                   crash, and the wiki keeps one per id
var (
	bucketNotifications = []byte("notifications")
	bucketNotifySource  = []byte("notifysrc")
)

// MaxNotificationsPerUser bounds what one user keeps: the oldest go first.
const MaxNotificationsPerUser = 500

// Notification is one notification of one user.
type Notification struct {
	ID      string    `json:"id"`
	Source  string    `json:"source"` // the sender's id for it
	Subject string    `json:"subject"`
	Body    string    `json:"body"`
	URL     string    `json:"url"`
	Read    bool      `json:"read"`
	Created time.Time `json:"created"`
}

func notifyKey(userID string, id uint64) []byte {
	k := append([]byte(userID), 0)
	return binary.BigEndian.AppendUint64(k, id)
}

// AddNotification stores n for userID unless a notification with the same
// n.Source is already stored; it reports whether it added one.
func (s *Store) AddNotification(userID string, n Notification) (bool, error) {
	added := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		nb, err := tx.CreateBucketIfNotExists(bucketNotifications)
		if err != nil {
			return err
		}
		src, err := tx.CreateBucketIfNotExists(bucketNotifySource)
		if err != nil {
			return err
		}
		srcKey := append(append([]byte(userID), 0), n.Source...)
		if n.Source != "" && src.Get(srcKey) != nil {
			return nil
		}
		id, err := nb.NextSequence()
		if err != nil {
			return err
		}
		n.ID = strconv.FormatUint(id, 10)
		v, err := json.Marshal(n)
		if err != nil {
			return err
		}
		k := notifyKey(userID, id)
		if err := nb.Put(k, v); err != nil {
			return err
		}
		if n.Source != "" {
			if err := src.Put(srcKey, k); err != nil {
				return err
			}
		}
		added = true
		return trimNotifications(nb, src, userID)
	})
	if err != nil {
		return false, fmt.Errorf("store: add notification for %q: %w", userID, err)
	}
	return added, nil
}

// trimNotifications drops a user's oldest notifications beyond the cap.
func trimNotifications(nb, src *bolt.Bucket, userID string) error {
	prefix := append([]byte(userID), 0)
	var keys [][]byte
	c := nb.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys[:max(0, len(keys)-MaxNotificationsPerUser)] {
		var n Notification
		if err := json.Unmarshal(nb.Get(k), &n); err == nil && n.Source != "" {
			if err := src.Delete(append(bytes.Clone(prefix), n.Source...)); err != nil {
				return err
			}
		}
		if err := nb.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Notifications returns up to limit of userID's notifications, newest
// first, and how many of all of them are unread.
func (s *Store) Notifications(userID string, limit int) (items []Notification, unread int, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		nb := tx.Bucket(bucketNotifications)
		if nb == nil {
			return nil
		}
		prefix := append([]byte(userID), 0)
		c := nb.Cursor()
		// Newest first: from the end of the user's range backwards.
		end := append(bytes.Clone(prefix), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		k, v := c.Seek(end)
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			var n Notification
			if err := json.Unmarshal(v, &n); err != nil {
				continue
			}
			if !n.Read {
				unread++
			}
			if len(items) < limit {
				items = append(items, n)
			}
		}
		return nil
	})
	return items, unread, err
}

// MarkNotificationsRead marks ids (the wiki's ids) of userID read, or all
// of them; unknown ids are ignored.
func (s *Store) MarkNotificationsRead(userID string, ids []string, all bool) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		nb := tx.Bucket(bucketNotifications)
		if nb == nil {
			return nil
		}
		mark := func(k []byte) error {
			v := nb.Get(k)
			if v == nil {
				return nil
			}
			var n Notification
			if err := json.Unmarshal(v, &n); err != nil || n.Read {
				return nil
			}
			n.Read = true
			nv, err := json.Marshal(n)
			if err != nil {
				return err
			}
			return nb.Put(k, nv)
		}
		if all {
			prefix := append([]byte(userID), 0)
			var keys [][]byte
			c := nb.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				keys = append(keys, bytes.Clone(k))
			}
			for _, k := range keys {
				if err := mark(k); err != nil {
					return err
				}
			}
			return nil
		}
		for _, id := range ids {
			n, err := strconv.ParseUint(id, 10, 64)
			if err != nil {
				continue
			}
			if err := mark(notifyKey(userID, n)); err != nil {
				return err
			}
		}
		return nil
	})
}

// EachUser calls fn for every user, in id order, until fn returns an
// error.
func (s *Store) EachUser(fn func(User) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(_, v []byte) error {
			var u User
			if err := json.Unmarshal(v, &u); err != nil {
				return err
			}
			return fn(u)
		})
	})
}
