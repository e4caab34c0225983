package store

import "time"

// Store is what the wiki keeps: users, login sessions, pages with their
// permission lists, the metadata of attached files and a few settings.
// Bolt (one bbolt file, the single-node default) and pgstore.Store (one
// PostgreSQL database shared by every node of a cluster) implement it, and
// package storetest holds the behaviour both must show.
//
// Implementations are safe for concurrent use. Errors wrap ErrNotFound,
// ErrExists and ErrUnavailable where those apply.
type Store interface {
	// CreateUser stores a new user; it fails with ErrExists if the id is
	// taken.
	CreateUser(u User) error
	// User returns the user with id.
	User(id string) (User, error)

	// PutSession stores (or replaces) a session under the hash of its
	// token.
	PutSession(tokenHash string, sess Session) error
	// Session returns the session stored under tokenHash, expired or
	// not.
	Session(tokenHash string) (Session, error)
	// DeleteSession removes a session; removing a missing one is not an
	// error.
	DeleteSession(tokenHash string) error
	// PurgeSessions deletes every session that expired before now and
	// returns how many it deleted.
	PurgeSessions(now time.Time) (int, error)

	// Meta returns a stored setting, or "" if it was never set.
	Meta(name string) (string, error)
	// SetMeta stores a setting.
	SetMeta(name, value string) error

	// CreatePage stores p as a new page with a fresh id and returns it.
	// Its parent, if any, must exist; its title may be any page's.
	CreatePage(p Page) (Page, error)
	// Page returns the page with id, body included.
	Page(id string) (Page, error)
	// PageMeta returns the page with id without its body: the cheap read
	// that permission checks make on every chat call.
	PageMeta(id string) (Page, error)
	// PagesByTitle returns the pages people wrote whose title matches
	// title as TitleKey compares them, without bodies, oldest first; none
	// is ErrNotFound. Titles are not unique, and keyed pages are never
	// found by title.
	PagesByTitle(title string) ([]Page, error)
	// Children returns the child pages of parentID without bodies,
	// oldest first; Children("") returns the top-level pages.
	Children(parentID string) ([]Page, error)
	// UpdatePage applies fn to the page with id (body included) and
	// stores the result; fn may change the title, body, permissions and
	// Updated, the rest is kept. An error from fn changes nothing.
	UpdatePage(id string, fn func(*Page) error) (Page, error)
	// UpsertChild creates or updates the child of p.ParentID with
	// p.ChildKey (the chat plugin's transcripts); on update only the
	// title, body and Updated change.
	UpsertChild(p Page) (page Page, created bool, err error)
	// EachPage calls fn for every page, body included, in id order. fn
	// must not call back into the store.
	EachPage(fn func(Page) error) error

	// AddFile stores the metadata of an attached file; its page must
	// exist.
	AddFile(f File) error
	// File returns the metadata of the file with id.
	File(id string) (File, error)
	// Files returns the files attached to pageID, oldest first.
	Files(pageID string) ([]File, error)
	// DeleteFile removes the metadata of file id from pageID; a file that
	// is not there, or belongs to another page, is ErrNotFound.
	DeleteFile(pageID, id string) error

	// AddNotification stores n for userID unless a notification with the
	// same n.Source is already stored; it reports whether it added one. A
	// user keeps the newest MaxNotificationsPerUser.
	AddNotification(userID string, n Notification) (bool, error)
	// Notifications returns up to limit of userID's notifications, newest
	// first, and how many of all of them are unread.
	Notifications(userID string, limit int) (items []Notification, unread int, err error)
	// MarkNotificationsRead marks ids of userID read, or all of them;
	// unknown ids are ignored.
	MarkNotificationsRead(userID string, ids []string, all bool) error
	// EachUser calls fn for every user, in id order, until fn returns an
	// error.
	EachUser(fn func(User) error) error

	// Exclusive runs fn while no other Exclusive runs on the same data,
	// in this process or on another node sharing the database, so that
	// what the first start creates (the demo users and page) is created
	// once when nodes start together. fn may use the store.
	Exclusive(fn func() error) error

	// Close releases the store.
	Close() error
}

var _ Store = (*Bolt)(nil)

// Versioned is a Store that can say cheaply whether anything it holds
// about users, sessions and pages may have changed: Version returns a
// different value after every such write. Something worked out from reads
// made while Version held a value is still true while it holds it. Only a
// store with one writing process (a bbolt file) can promise that; a
// database shared by a cluster's nodes does not implement it.
type Versioned interface {
	Version() uint64
}
