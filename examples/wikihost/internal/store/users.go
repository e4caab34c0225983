package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CreateUser stores a new user; it fails with ErrExists if the id is taken.
func (s *Bolt) CreateUser(u User) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		if b.Get([]byte(u.ID)) != nil {
			return fmt.Errorf("user %q: %w", u.ID, ErrExists)
		}
		return putJSON(b, u.ID, u)
	})
}

// User returns the user with id.
func (s *Bolt) User(id string) (User, error) {
	u, err := cachedRead(s, &s.users, id, func() (User, error) {
		var u User
		err := s.db.View(func(tx *bolt.Tx) error {
			return getJSON(tx.Bucket(bucketUsers), id, &u)
		})
		return u, err
	})
	if err != nil {
		return User{}, fmt.Errorf("user %q: %w", id, err)
	}
	u.PasswordHash = slices.Clone(u.PasswordHash) // the cached copy stays as read
	return u, nil
}

// PutSession stores a session under the hash of its token.
func (s *Bolt) PutSession(tokenHash string, sess Session) error {
	return s.updateSessions(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketSessions), tokenHash, sess)
	})
}

// Session returns the session stored under tokenHash, expired or not.
func (s *Bolt) Session(tokenHash string) (Session, error) {
	sess, err := cachedReadGen(&s.sessGen, &s.sessions, tokenHash, func() (Session, error) {
		var sess Session
		err := s.db.View(func(tx *bolt.Tx) error {
			return getJSON(tx.Bucket(bucketSessions), tokenHash, &sess)
		})
		return sess, err
	})
	if err != nil {
		return Session{}, fmt.Errorf("session: %w", err)
	}
	return sess, nil
}

// DeleteSession removes a session; removing a missing one is not an error.
func (s *Bolt) DeleteSession(tokenHash string) error {
	return s.updateSessions(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSessions).Delete([]byte(tokenHash))
	})
}

// PurgeSessions deletes every session that expired before now and returns
// how many it deleted.
func (s *Bolt) PurgeSessions(now time.Time) (int, error) {
	n := 0
	err := s.updateSessions(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		var expired [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var sess Session
			if err := json.Unmarshal(v, &sess); err != nil || sess.Expires.Before(now) {
				expired = append(expired, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range expired {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(expired)
		return nil
	})
	return n, err
}

// Meta returns a stored setting, or "" if it was never set.
func (s *Bolt) Meta(name string) (string, error) {
	var v string
	err := s.db.View(func(tx *bolt.Tx) error {
		v = string(tx.Bucket(bucketMeta).Get([]byte(name)))
		return nil
	})
	return v, err
}

// SetMeta stores a setting.
func (s *Bolt) SetMeta(name, value string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte(name), []byte(value))
	})
}
