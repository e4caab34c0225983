package handshake

// ErrorDomain is the google.rpc.ErrorInfo domain of the reasons below; a
// status from the plugin carrying an ErrorInfo of another domain is not one
// of ours.
const ErrorDomain = "pagechat"

// ReasonHostCallbackFailed marks an UNAVAILABLE status that the plugin
// returns because one of the host's own HostAPI callbacks failed or timed
// out. The plugin is healthy, so host-sdk must answer at once with
// ErrHostFailed instead of waiting for a plugin restart that will never
// come; only an UNAVAILABLE without this reason means the plugin process
// or its connection is going away.
const ReasonHostCallbackFailed = "HOST_CALLBACK_FAILED"

// ReasonStorageFull marks a RESOURCE_EXHAUSTED status that says a disk
// filled up: the plugin's store could not write, or the host could not
// store a file (host-sdk answers a Host's ENOSPC with it, and the plugin
// passes it on). Nothing was saved, and retrying at once will not help
// until an administrator frees space, so host-sdk answers ErrStorageFull
// instead of "slow down" or "try again shortly".
const ReasonStorageFull = "STORAGE_FULL"

// Reasons that refine a PERMISSION_DENIED, NOT_FOUND or FAILED_PRECONDITION
// status from the moderation calls, so host-sdk can answer each with its
// own HTTP code and the plugin's sentence (chat.proto lists them).
const (
	// ReasonBanned: the user is banned from the room.
	ReasonBanned = "BANNED"
	// ReasonKicked ends a stream whose user a moderator kicked.
	ReasonKicked = "KICKED"
	// ReasonNotAuthor: only the author may edit (or, without moderate
	// permission, delete) a message.
	ReasonNotAuthor = "NOT_AUTHOR"
	// ReasonEditWindowPassed: the author's window to edit or delete is over.
	ReasonEditWindowPassed = "EDIT_WINDOW_PASSED"
	// ReasonNotModerator: the call needs moderate permission.
	ReasonNotModerator = "NOT_MODERATOR"
	// ReasonMessageNotFound: the room has no message with that sequence.
	ReasonMessageNotFound = "MESSAGE_NOT_FOUND"
	// ReasonMessageDeleted: the message was deleted.
	ReasonMessageDeleted = "MESSAGE_DELETED"
)

// ReasonDatabaseUnavailable marks an UNAVAILABLE status that the plugin
// returns when its PostgreSQL database cannot be reached (cluster mode,
// during a restart of the database server). The plugin itself is alive, so
// host-sdk answers at once instead of waiting to see whether the process
// died.
const ReasonDatabaseUnavailable = "DATABASE_UNAVAILABLE"
