package store

import (
	"errors"
	"time"
)

// Errors returned by Store. Match them with errors.Is.
var (
	// ErrNotFound means the user, session, page or file does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists means a user with that id already exists.
	ErrExists = errors.New("already exists")
)

// Format says how a page body is stored and rendered.
type Format string

const (
	// FormatWiki is wiki markup written by people (package markup).
	FormatWiki Format = "wiki"
	// FormatHTML is HTML written by the chat plugin through
	// UpsertChildPage (transcripts). It is produced by the plugin's safe
	// renderer and shown as is, so only that path may create it.
	FormatHTML Format = "html"
)

// User is a wiki account. Its ID is the login name.
type User struct {
	ID           string    `json:"id"`
	DisplayName  string    `json:"display_name"`
	PasswordHash []byte    `json:"password_hash"`
	Admin        bool      `json:"admin,omitempty"`
	Created      time.Time `json:"created"`
}

// Session is a login session. The store keys it by a hash of the token the
// browser holds, so a copy of the database does not hand out sessions.
type Session struct {
	UserID  string    `json:"user_id"`
	Expires time.Time `json:"expires"`
}

// Page is a wiki page. Body is only filled by the methods that say so;
// permission checks and listings read pages without their bodies.
type Page struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Format   Format `json:"format"`
	ParentID string `json:"parent_id,omitempty"`
	// ChildKey is the key the chat plugin gave the page through
	// UpsertChildPage; empty for pages written by people.
	ChildKey string    `json:"child_key,omitempty"`
	Author   string    `json:"author"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	// View and Edit list the users allowed to view and to edit the page;
	// an empty list means every user.
	View []string `json:"view,omitempty"`
	Edit []string `json:"edit,omitempty"`

	Body string `json:"-"` // kept in its own bucket
}

// File is the metadata of an attached file. Its content lives on disk under
// a name derived from ID alone (package wiki), never from Name.
type File struct {
	ID          string    `json:"id"`
	PageID      string    `json:"page_id"`
	UserID      string    `json:"user_id"`
	Name        string    `json:"name"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	Created     time.Time `json:"created"`
}
