package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
)

// AddNotification stores n for userID unless a notification with the same
// n.Source is already stored; it reports whether it added one. A user
// keeps the newest store.MaxNotificationsPerUser.
func (s *Store) AddNotification(userID string, n store.Notification) (bool, error) {
	ctx, cancel := opContext()
	defer cancel()
	added := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `INSERT INTO wiki_notifications (user_id, source, subject, body, url, read, created)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (user_id, source) WHERE source <> '' DO NOTHING RETURNING id`,
			userID, n.Source, n.Subject, n.Body, n.URL, n.Read, n.Created).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // delivered before
		}
		if err != nil {
			return err
		}
		added = true
		_, err = tx.Exec(ctx, `DELETE FROM wiki_notifications WHERE user_id = $1 AND id < (
			SELECT min(id) FROM (SELECT id FROM wiki_notifications WHERE user_id = $1 ORDER BY id DESC LIMIT $2) AS kept)`,
			userID, store.MaxNotificationsPerUser)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("add notification for %q: %w", userID, dbErr(err))
	}
	return added, nil
}

// Notifications returns up to limit of userID's notifications, newest
// first, and how many of all of them are unread.
func (s *Store) Notifications(userID string, limit int) ([]store.Notification, int, error) {
	ctx, cancel := opContext()
	defer cancel()
	var unread int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM wiki_notifications WHERE user_id = $1 AND NOT read`, userID).Scan(&unread); err != nil {
		return nil, 0, fmt.Errorf("notifications of %q: %w", userID, dbErr(err))
	}
	rows, err := s.pool.Query(ctx, `SELECT id, source, subject, body, url, read, created FROM wiki_notifications
		WHERE user_id = $1 ORDER BY id DESC LIMIT $2`, userID, max(limit, 0))
	if err != nil {
		return nil, 0, fmt.Errorf("notifications of %q: %w", userID, dbErr(err))
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Notification, error) {
		var n store.Notification
		var id int64
		if err := r.Scan(&id, &n.Source, &n.Subject, &n.Body, &n.URL, &n.Read, &n.Created); err != nil {
			return n, err
		}
		n.ID = strconv.FormatInt(id, 10)
		n.Created = n.Created.UTC()
		return n, nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("notifications of %q: %w", userID, dbErr(err))
	}
	return items, unread, nil
}

// MarkNotificationsRead marks ids (the wiki's ids) of userID read, or all
// of them; unknown ids are ignored.
func (s *Store) MarkNotificationsRead(userID string, ids []string, all bool) error {
	ctx, cancel := opContext()
	defer cancel()
	var err error
	if all {
		_, err = s.pool.Exec(ctx, `UPDATE wiki_notifications SET read = true WHERE user_id = $1 AND NOT read`, userID)
	} else {
		nums := make([]int64, 0, len(ids))
		for _, id := range ids {
			if n, perr := strconv.ParseInt(id, 10, 64); perr == nil {
				nums = append(nums, n)
			}
		}
		if len(nums) == 0 {
			return nil
		}
		_, err = s.pool.Exec(ctx, `UPDATE wiki_notifications SET read = true WHERE user_id = $1 AND id = ANY($2)`, userID, nums)
	}
	if err != nil {
		return fmt.Errorf("mark notifications of %q read: %w", userID, dbErr(err))
	}
	return nil
}

// EachUser calls fn for every user, in id order, until fn returns an
// error.
func (s *Store) EachUser(fn func(store.User) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT id, display_name, password_hash, admin, created FROM wiki_users ORDER BY id`)
	if err != nil {
		return fmt.Errorf("list users: %w", dbErr(err))
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.User, error) {
		var u store.User
		err := r.Scan(&u.ID, &u.DisplayName, &u.PasswordHash, &u.Admin, &u.Created)
		u.Created = u.Created.UTC()
		return u, err
	})
	if err != nil {
		return fmt.Errorf("list users: %w", dbErr(err))
	}
	for _, u := range users {
		if err := fn(u); err != nil {
			return err
		}
	}
	return nil
}
