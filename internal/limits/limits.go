// Package limits holds the limits and defaults that cross the process
// boundary between host-sdk and the plugin. Both sides import them: the
// plugin enforces each one, and host-sdk checks the same numbers early (to
// size request bodies, to refuse a bad option at Load with the option's
// name, to answer a browser without a round trip). Keeping them in one
// place means the two sides cannot drift apart.
//
// A default that an admin can change is a ConfigureRequest field and a
// host-sdk option; its Max… is the most either side accepts. Limits that
// only one side knows about stay in that side's package.
package limits

import "time"

// Messages.
const (
	// DefaultMessageBytes bounds a message's text. 16 KiB holds a long
	// paste of code or a log excerpt while keeping a room's history cheap
	// to replay into a browser.
	DefaultMessageBytes = 16 << 10
	// MaxMessageBytes caps what an admin may configure. A message's
	// rendered HTML can be five times its text plus 16 KiB (render's
	// bound), and the largest message must still fit, as one row, in a
	// transcript page of 3 MiB less its chrome: no message may be left
	// out of a transcript, and so of search. 512 KiB renders to at most
	// about 2.5 MiB.
	MaxMessageBytes = 512 << 10
	// ClientIDBytes bounds a send's idempotency key, which is stored with
	// every message and indexed per room. 128 bytes holds any UUID or
	// ULID with a prefix.
	ClientIDBytes = 128
	// UserIDBytes bounds user ids, which end up in every stored message.
	UserIDBytes = 256
	// DefaultMessagesPerMinute is how many messages one user may send to
	// one room per minute. Two a second sustained is far above human
	// typing and pasting, while a runaway script is stopped within a
	// second.
	DefaultMessagesPerMinute = 120
)

// Reading.
const (
	// DefaultHistoryPage is how many messages one History call returns
	// when the caller does not say: a screenful and a bit.
	DefaultHistoryPage = 50
	// MaxHistoryPage caps a History page, so one call cannot hold a read
	// transaction over a room's whole log.
	MaxHistoryPage = 500
	// ViewersPerCheck bounds one AuthorizeViewers call, so one call cannot
	// queue thousands of host permission questions; it is also the most
	// checks the host answers in one CheckPermissions call.
	ViewersPerCheck = 1000
	// ViewersPerRoomsCheck bounds one AuthorizeRooms call, all its rooms
	// together: ten thousand open streams' users fit in one.
	ViewersPerRoomsCheck = 10 * ViewersPerCheck
)

// Permissions.
const (
	// DefaultPermissionCache is how long the plugin may reuse a host
	// permission answer, and so about the longest a revoked user keeps an
	// open stream.
	DefaultPermissionCache = 2 * time.Second
	// MaxPermissionCache caps what an admin may configure: revocation must
	// take effect within a few seconds, since a user removed from a page
	// must not go on reading its chat.
	MaxPermissionCache = 5 * time.Second
)

// Uploads.
const (
	// DefaultUploadBytes bounds one uploaded file: enough for screenshots,
	// logs and documents, small enough that a wiki's attachment store does
	// not become a file host.
	DefaultUploadBytes = 10 << 20
	// MaxUploadBytes caps what an admin may configure.
	MaxUploadBytes = 1 << 30
	// DefaultUploadBytesPerHour is how many bytes one user may upload to
	// one room per hour. Every upload becomes a file the host keeps, so
	// without a bound one user could fill the wiki's disk at the speed of
	// their connection. 100 MiB is ten files of the default largest size,
	// far more than people share in a room's hour of conversation, while
	// a script is held to 2.4 GiB a day per room instead of gigabytes a
	// minute.
	DefaultUploadBytesPerHour = 100 << 20
	// UploadQuotaWindow is the window of the upload quota: the quota
	// refills evenly over it.
	UploadQuotaWindow = time.Hour
	// UploadChunkBytes is the largest chunk of an Upload or AttachFile
	// stream. Files are streamed in chunks because gRPC refuses messages
	// over 4 MiB by default; 1 MiB stays far below that.
	UploadChunkBytes = 1 << 20
)

// Rooms and transcripts.
const (
	// DefaultRoomsPerPage bounds the rooms one page can create. A page with
	// more chat rooms than this is almost certainly a mistake (or a macro
	// generated in a loop), and every room costs storage and a feed.
	DefaultRoomsPerPage = 50
	// DefaultTranscriptDelay is how long after a room's latest activity
	// its transcript page for the day is brought up to date: soon enough
	// that a conversation is searchable within a minute, late enough that
	// a conversation is written in one page write instead of one per
	// message.
	DefaultTranscriptDelay = 60 * time.Second
	// MaxTranscriptDelay caps what an admin may configure: beyond an hour
	// a transcript would lag the chat by most of a working session.
	MaxTranscriptDelay = time.Hour
)

// DefaultChatURLPrefix is where a host mounts host-sdk's browser API unless
// it says otherwise, and so where the plugin's "Join Chat" links and
// transcripts' links back to a room point. The host passes its own prefix
// in Configure and RenderMacro.
const DefaultChatURLPrefix = "/chat/"

// Moderation limits.
const (
	// DefaultEditWindow is how long after sending an author may edit or
	// delete their own message: long enough to fix a typo or take back a
	// pasted secret, short enough that a conversation is not rewritten
	// after others answered.
	DefaultEditWindow = 15 * time.Minute
	// MaxEditWindow caps what an admin may configure.
	MaxEditWindow = 30 * 24 * time.Hour
	// ReasonBytes bounds a moderator's stated reason (delete, kick, ban).
	ReasonBytes = 500
	// TopicBytes bounds a room topic: one line for a header.
	TopicBytes = 500
)
