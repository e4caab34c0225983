package hostsdk

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound is what a Host returns for an unknown page or user. It
// crosses to the plugin as NOT_FOUND; other errors cross as UNAVAILABLE.
var ErrNotFound = errors.New("not found")

// Permission is what a user may do on a page.
type Permission int

// The permissions the plugin asks about. The host maps them onto its own
// model, e.g. Post to "may edit" or "may comment".
const (
	// PermissionView lets a user see the page's rooms, their history and
	// stream.
	PermissionView Permission = iota + 1
	// PermissionPost lets a user send messages and upload files.
	PermissionPost
	// PermissionModerate lets a user moderate a room: delete other
	// people's messages, remove users and set the topic. The plugin asks
	// for it once moderation lands; map it now so that a host's Authorizer
	// need not change then (a host without moderators answers false).
	PermissionModerate
)

// String returns the permission's lower-case name.
func (p Permission) String() string {
	switch p {
	case PermissionView:
		return "view"
	case PermissionPost:
		return "post"
	case PermissionModerate:
		return "moderate"
	}
	return "unknown"
}

// Authorizer answers permission questions. It is the one callback the
// plugin makes on every read, stream and post, so it should be fast; the
// plugin caches answers for a few seconds.
type Authorizer interface {
	// CheckPermission reports whether user may do perm on page. An unknown
	// user or page is a plain false, not an error.
	CheckPermission(ctx context.Context, userID, pageID string, perm Permission) (bool, error)
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(ctx context.Context, userID, pageID string, perm Permission) (bool, error)

// CheckPermission calls f.
func (f AuthorizerFunc) CheckPermission(ctx context.Context, userID, pageID string, perm Permission) (bool, error) {
	return f(ctx, userID, pageID, perm)
}

// Page is a host page as the plugin sees it.
type Page struct {
	ID       string
	Title    string
	URL      string // path on the host, e.g. "/pages/42"
	ParentID string // empty for a top-level page
	// AuthorID is the user who created the page, empty if none or
	// unknown. Authors of a chat page watch its rooms by default.
	AuthorID string
}

// User is a host user as the plugin shows it.
type User struct {
	ID          string
	DisplayName string
}

// Directory looks up pages and users.
type Directory interface {
	// GetPage returns a page or an error wrapping ErrNotFound.
	GetPage(ctx context.Context, pageID string) (Page, error)
	// GetUser returns a user or an error wrapping ErrNotFound.
	GetUser(ctx context.Context, userID string) (User, error)
}

// ChildPage is a page the plugin writes under a chat page (a transcript).
type ChildPage struct {
	ParentID string
	// Key identifies the child across rewrites: the same key must update
	// the same page, so retries never create duplicates.
	Key      string
	Title    string
	BodyHTML string // safe HTML produced by the plugin
}

// FileInfo describes a file the plugin attaches to a page.
type FileInfo struct {
	PageID      string
	UserID      string
	Name        string // sanitised; never a path
	ContentType string // sniffed by the plugin
	Size        int64
}

// Attachment is a stored file.
type Attachment struct {
	ID  string
	URL string
}

// PageWriter stores what the plugin writes back to the host: transcript
// pages and uploaded files.
type PageWriter interface {
	// UpsertChildPage creates or replaces the child page of c.ParentID
	// with c.Key. Every host must guarantee, because people on the wiki
	// can create pages with any title before or after the plugin writes:
	//   - the page is found by (c.ParentID, c.Key) alone, never by title,
	//     and keeps c.Title (made to fit the host's title rules, but never
	//     renumbered): no page a person creates, with c.Title or any
	//     variant of it, may make the write fail or move it elsewhere;
	//   - the answer a person gets when creating a page with a title a
	//     child page holds is the one they would get for any free (or any
	//     taken) title, so it cannot reveal that a room the person may not
	//     view was active that day;
	//   - wherever the host lists or shows child pages (search, the page
	//     itself) it marks them as written by the chat, a mark no person's
	//     page can carry.
	UpsertChildPage(ctx context.Context, c ChildPage) (Page, error)
	// AttachFile stores content (exactly f.Size bytes) on f.PageID. An
	// error wrapping syscall.ENOSPC (as os writes return on a full disk)
	// says the host's storage is full: the browser gets 507 storage_full
	// rather than 503 host_failed. Any Host method may answer so.
	AttachFile(ctx context.Context, f FileInfo, content io.Reader) (Attachment, error)
}

// Link is a resolved wiki link.
type Link struct {
	URL    string
	Exists bool
}

// LinkResolver resolves wiki links written in messages.
type LinkResolver interface {
	// ResolveLink finds the page titled title, as linked from fromPageID
	// by userID, the message's sender. A missing page is
	// Link{Exists: false}, optionally with a URL to create it, not an
	// error.
	//
	// The host must check that userID may view the page and answer for a
	// page userID may not view exactly as for a missing page (same Exists,
	// same kind of URL). The plugin renders a message once, when it is
	// sent, and every reader and every transcript shows that HTML, so a
	// live link to a page the sender cannot see would reveal to the whole
	// room that the page exists, and its URL. An empty userID may view
	// nothing.
	ResolveLink(ctx context.Context, userID, fromPageID, title string) (Link, error)
}

// Notification is a message for one user.
type Notification struct {
	// ID identifies the notification. After a plugin crash the same
	// notification may be delivered again with the same ID: keep one per
	// ID, and delivery is exactly once.
	ID      string
	UserID  string
	RoomID  string
	Kind    string // "mention" or "watch"
	Subject string
	Body    string // plain text
	URL     string // the message in the chat popup, "...#m-SEQ"
}

// Notifier delivers notifications through the host's own channels. It is
// an optional capability of a Host: implement it on the same value to
// receive them.
type Notifier interface {
	// Notify delivers n, or returns an error if the host could not.
	Notify(ctx context.Context, n Notification) error
}

// FileRemover removes files from pages. It is an optional capability of a
// Host: the plugin calls it when a message that announced an upload is
// deleted, so the file leaves the page too. A Host without it keeps such
// files (the plugin logs that and carries on).
type FileRemover interface {
	// DeleteFile removes the file fileID (as AttachFile returned it) from
	// pageID; userID deleted the message. An unknown file is ErrNotFound
	// or nil.
	DeleteFile(ctx context.Context, pageID, fileID, userID string) error
}

// UserSearcher lists the users a message on a page may mention. It is an
// optional capability of a Host, used for @name completion in the popup and
// to resolve mentions of users who never joined the room; without it only
// the room's participants (and exact user ids the Directory knows) can be
// mentioned.
type UserSearcher interface {
	// SearchUsers returns up to limit users who may view pageID and whose
	// id or display name starts with prefix, case-insensitively (prefix
	// "" matches everyone). Users who may not view the page must never be
	// listed.
	SearchUsers(ctx context.Context, pageID, prefix string, limit int) ([]User, error)
}

// PermissionVersioner is an optional capability of a Host: it lets a
// Handler stop asking about the viewers of open chat streams while none of
// the host's permission answers can have changed.
//
// Without it, every open stream's viewer is re-checked with the plugin
// twice per permission window, which on a site with thousands of open
// chat windows and nothing happening is most of what they cost. With it,
// once a version has held for a whole window and a round has confirmed
// every viewer under it, later rounds confirm them without asking for as
// long as the version holds (and at least every QuietRecheckLimit). A new
// version means asking again, for a window, so that no answer the plugin
// cached from before the change is trusted.
type PermissionVersioner interface {
	// PermissionVersion returns a value that changes whenever any answer
	// of the host's CheckPermission may change: every write to users,
	// groups, pages and their permissions, and anything else those
	// answers depend on. It should move as soon as the write is visible
	// to CheckPermission: a round that reads the old version after that
	// confirms viewers one round late. ok false means the host cannot
	// tell now (a store shared by several nodes, say); every round then
	// asks. It is called once per round and should be cheap.
	PermissionVersion() (version uint64, ok bool)
}

// Host is everything the plugin asks of every host. It is made of small
// interfaces so that a host can assemble it from separate parts and tests
// can fake one part at a time.
//
// Some capabilities are optional: a Host that also implements Notifier
// gets notifications delivered; one that does not simply has none, and
// the plugin is told so (the callback answers Unimplemented). FileRemover
// is optional the same way, and so is PermissionVersioner.
type Host interface {
	Authorizer
	Directory
	PageWriter
	LinkResolver
}
