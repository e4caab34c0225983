// Package store keeps pagechat's durable state: rooms, their message logs,
// the client-id index that makes sends idempotent, participants, uploaded
// files, read markers, bans and the transcript bookkeeping.
//
// # Edits and deletes
//
// A room's log only grows: every change to it takes the next sequence
// number, so replaying from any position (After, Before) stays gapless and
// ordered, and a client that saw seq n has seen everything up to n. An
// edit or a delete is therefore a message of its own, of Kind KindEdit or
// KindDelete, whose Target is the seq of the plain message it changes.
// Appending one changes the target in the same transaction, so the log
// never holds an event without its effect or the other way round:
//
//   - An edit event carries the new Text and HTML. The target takes them
//     over (it always holds its current version, so history shows the final
//     text without replaying events) and records the event in EditSeq and
//     its time in EditedAt. The previous version's text is erased: from
//     the target, which now holds the new one, and from the edit event
//     that brought it, which is marked Erased. Only the newest edit event
//     keeps text, the same as its target's.
//   - A delete event carries no text. The target's Text, HTML and File are
//     erased and it is marked Erased, as is its newest edit event; an
//     announced file leaves the room's Files. The target keeps its seq,
//     sender and time, so the log still shows that something was said and
//     removed. It records the event in DeleteSeq and its sender in
//     DeletedBy, so moderators can see who removed what.
//
// # Moderation events
//
// Setting the topic, kicking, banning and lifting a ban are events in the
// log too (KindTopic, KindKick, KindBan, KindUnban), so that the audit
// trail of a room is its log and every stream carries them in order. A
// topic event's Text is the new topic, which the room takes over in the
// same commit (Room.Topic); a kick, ban or unban names the user acted on
// in Subject, with an optional Reason, and a ban its end in Until. The
// ban list itself is kept by BanList: the chat service puts the ban and
// then appends its event.
//
// Erased means gone from the database, not hidden: no read returns it, and
// Bolt also overwrites the free pages of its file that held the old
// records before the change is acknowledged (scrub.go), because bbolt
// copies pages on write and would otherwise leave the old text in unused
// parts of the file; it wipes its journal too (journal.go), where a
// message waits between its acknowledgement and the next checkpoint.
// Copies elsewhere are out of the store's reach:
// transcript pages already written to the host (the store marks the
// target's day for rewriting), backups, and a file system that keeps old
// blocks itself.
//
// Store is the seam between backends: Bolt is the embedded default on
// go.etcd.io/bbolt, package pgstore the PostgreSQL store of cluster mode
// (several plugin processes sharing one database), and package storetest
// checks any implementation against the contract. The store knows
// nothing about permissions, rendering or fan-out: the chat service in
// plugin/internal/server owns those and calls the store only for durable facts.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrRoomNotFound is returned for a room id that was never created.
	ErrRoomNotFound = errors.New("room not found")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("store closed")
	// ErrTooManyRooms is returned by CreateRoom when the page already has
	// Options.MaxRoomsPerPage rooms.
	ErrTooManyRooms = errors.New("page has too many chat rooms")
	// ErrLocked is returned by Open when another process holds the database.
	ErrLocked = errors.New("database is locked by another process")
	// ErrInvalid is returned for a request the store refuses before
	// touching the database: an empty room or user id, a key too long for
	// the backend.
	ErrInvalid = errors.New("invalid argument")
	// ErrMessageNotFound is returned for an edit or delete whose target
	// seq is not in the room.
	ErrMessageNotFound = errors.New("message not found")
	// ErrMessageDeleted is returned for an edit or delete of a message
	// that was deleted.
	ErrMessageDeleted = errors.New("message was deleted")
	// ErrBanNotFound is returned by Ban when the user has no ban in force
	// in the room.
	ErrBanNotFound = errors.New("no ban in force")
	// ErrNewerSchema is returned by Open for a database whose recorded
	// schema version is newer than this store knows. Opening it anyway
	// could misread or overwrite what the newer release wrote, so it is
	// refused and left untouched.
	ErrNewerSchema = errors.New("database was written by a newer pagechat")
	// ErrUnavailable is returned when the database server cannot be
	// reached (a PostgreSQL store during a restart of its server). The
	// request did not take effect, or, for an append whose commit was
	// cut off, a retry with the same client id is deduplicated.
	ErrUnavailable = errors.New("database unavailable")
	// ErrJournalMismatch is returned by Open when the journal beside a
	// bbolt file holds batches that cannot follow what the file holds:
	// most likely the file was restored from a copy without its journal.
	// Nothing is applied or changed.
	ErrJournalMismatch = errors.New("journal does not belong to this database file")
)

// DefaultPageLimit is the page size of After and Before when they are
// called with limit <= 0: a screenful of chat plus history, small enough to
// encode in one response.
const DefaultPageLimit = 100

// Room is a room's durable metadata.
type Room struct {
	ID           string // "<pageID>.<slug>"
	PageID       string
	Name         string
	Slug         string
	Epoch        string // random, fixed at creation
	CreatedAt    time.Time
	LastSeq      uint64    // 0 if the room has no messages
	LastActivity time.Time // zero if the room has no messages
	Participants []Participant
	Files        []File // uploaded files, oldest first
	// Transcripts are the room's written daily transcript pages, newest
	// first; see transcripts.go.
	Transcripts []Transcript
	// Topic is the room's topic as the newest KindTopic event set it,
	// TopicBy that event's sender and TopicAt its time.
	Topic   string
	TopicBy string
	TopicAt time.Time
}

// File is a file uploaded to a room and stored by the host.
type File struct {
	ID          string // the host's id
	Name        string // sanitised
	URL         string
	ContentType string // sniffed
	Size        int64
	UserID      string
	UploadedAt  time.Time // set by the store to the commit time
	Seq         uint64    // the announcing message; set by the store
}

// Participant is a user who joined or posted in a room, in first-seen order.
type Participant struct {
	UserID      string
	DisplayName string
	// LastSeen is when the user last joined or posted. A store may keep it
	// up to a minute behind, so that not every message has to rewrite it.
	LastSeen time.Time
}

// MessageKind tells plain messages from the events that change them.
type MessageKind uint8

// The kinds of message. The zero value is a plain message, so appends that
// do not set Kind keep meaning what they always did.
const (
	// KindMessage is a plain message.
	KindMessage MessageKind = iota
	// KindEdit replaces the text of the message at Target.
	KindEdit
	// KindDelete erases the message at Target.
	KindDelete
	// KindTopic sets the room's topic to Text (empty clears it).
	KindTopic
	// KindKick records that Subject was sent out of the room for now.
	KindKick
	// KindBan records that Subject was banned from the room, until Until
	// if it is set.
	KindBan
	// KindUnban records that Subject's ban was lifted.
	KindUnban
)

// IsChange reports whether k changes an earlier message (edit, delete).
func (k MessageKind) IsChange() bool { return k == KindEdit || k == KindDelete }

// IsModeration reports whether k acts on a user (kick, ban, unban).
func (k MessageKind) IsModeration() bool { return k == KindKick || k == KindBan || k == KindUnban }

// String names the kind for logs and errors.
func (k MessageKind) String() string {
	switch k {
	case KindMessage:
		return "message"
	case KindEdit:
		return "edit"
	case KindDelete:
		return "delete"
	case KindTopic:
		return "topic"
	case KindKick:
		return "kick"
	case KindBan:
		return "ban"
	case KindUnban:
		return "unban"
	default:
		return fmt.Sprintf("kind(%d)", uint8(k))
	}
}

// Message is one stored message: a plain message, or an edit or delete
// event (see the package documentation).
type Message struct {
	RoomID   string
	Seq      uint64
	ClientID string
	UserID   string
	UserName string
	Text     string
	// HTML is Text rendered once, at send time, so that every later view
	// (live, history, transcript) shows the same thing.
	HTML   string
	File   *File // set if the message announces an upload
	SentAt time.Time

	// Kind is what the message is; Target is, for an edit or delete,
	// the seq of the plain message it applies to.
	Kind   MessageKind
	Target uint64
	// EditSeq is, on a plain message, the seq of the edit that gave it its
	// current text (0 if never edited), and EditedAt that edit's time.
	EditSeq  uint64
	EditedAt time.Time
	// Erased says the text is gone: a deleted message, or an edit that a
	// later edit or a delete superseded.
	Erased bool
	// DeleteSeq is, on a deleted plain message, the seq of the delete
	// event, and DeletedBy the user who sent it.
	DeleteSeq uint64
	DeletedBy string

	// Reason is a delete's, kick's, ban's or unban's stated reason, Subject
	// the user a kick, ban or unban acts on, and Until a ban's end (zero:
	// never).
	Reason  string
	Subject string
	Until   time.Time
	// Mentions are the user ids the text mentions (@name), in the order
	// they first appear; MentionsRoom says it mentions everyone (@room).
	Mentions     []string
	MentionsRoom bool
}

// NewMessage is a message to append; the store assigns Seq and SentAt.
type NewMessage struct {
	ClientID string
	UserID   string
	UserName string
	Text     string
	HTML     string
	// File, if set, is added to the room's file list in the same commit.
	// Only plain messages announce files.
	File *File
	// Kind and Target make the message an edit or delete of the plain
	// message at seq Target. A delete carries no Text, HTML or File.
	Kind   MessageKind
	Target uint64
	// Reason, Subject and Until describe a moderation event; see Message.
	// Reason may also come with a delete.
	Reason  string
	Subject string
	Until   time.Time
	// Mentions and MentionsRoom are stored as given; see Message.
	Mentions     []string
	MentionsRoom bool
}

// CommitFunc is called by the store after each durable commit with the
// messages that commit added, in sequence order per room, before Append
// returns to their senders. Calls never overlap, so a fan-out hub fed from
// it sees every room's messages in order, and a read that starts after a
// call began finds its messages. It must not block for long: every sender
// waits for it. It must not call the store either: it runs on the writer,
// which a read may need (the bbolt store's reads ask the writer for a
// checkpoint). The store never reuses added, so the callee may keep it
// (and pointers into it).
type CommitFunc func(added []Message)

// Store is everything the plugin keeps: rooms, their messages and the
// uploaded files those announce, participants, and the bookkeeping of
// transcript pages. The chat service and the transcript writer depend on it
// alone, so that another backend (PostgreSQL, for several plugin processes
// sharing one database) can take Bolt's place; package storetest holds the
// conformance suite every implementation must pass.
//
// An implementation is opened with a CommitFunc that it calls after each
// durable commit of messages, as CommitFunc describes. All methods are safe
// for concurrent use, and after Close every method but Close fails with
// ErrClosed.
type Store interface {
	Rooms
	Messages
	Participants
	Markers
	BanList
	Transcripts
	Notifications
	// Close waits for in-flight commits and releases the database.
	// Calling it again returns the first call's result.
	Close() error
}

// Rooms creates and reads rooms.
type Rooms interface {
	// CreateRoom creates the room r.ID if it does not exist (filling Epoch
	// and CreatedAt) and returns the stored room either way. It fails with
	// ErrTooManyRooms when r.PageID already has as many rooms as the
	// store was configured to allow.
	CreateRoom(ctx context.Context, r Room) (Room, error)
	// Room returns a room's metadata and lists, or ErrRoomNotFound.
	Room(ctx context.Context, roomID string) (Room, error)
	// RoomPreview returns a room's metadata with no more of its lists
	// than lim asks for, and the lists' full lengths, or ErrRoomNotFound.
	// It is what a page showing the room needs, at a cost that does not
	// grow with the room's age.
	RoomPreview(ctx context.Context, roomID string, lim PreviewLimits) (Preview, error)
	// RoomCount returns the number of rooms.
	RoomCount(ctx context.Context) (int, error)
}

// PreviewLimits bounds the lists of a RoomPreview. A limit of 0 returns
// none of that list (its length is still counted).
type PreviewLimits struct {
	// Participants is how many participants to return. When the room
	// has no more, they come in first-seen order as in Room; when it has
	// more, the participants among Online come first, then the rest, each
	// part in first-seen order.
	Participants int
	Online       []string
	// Files is how many of the newest files to return, oldest of them
	// first as in Room.
	Files int
	// Transcripts is how many of the newest transcripts to return, newest
	// first as in Room.
	Transcripts int
}

// Preview is a room with the first entries of its lists (see
// PreviewLimits) and how long each list really is.
type Preview struct {
	Room
	TotalParticipants, TotalFiles, TotalTranscripts int
}

// Messages appends to and reads a room's log. Files are kept here too: a
// message that announces an upload adds its File to the room's Files in
// the same commit.
type Messages interface {
	// Append stores m durably and returns it with its sequence number,
	// the room's previous one plus one. If m.UserID already sent
	// m.ClientID in the room it stores nothing and returns the earlier
	// message with duplicate set; the same client id from another user is
	// another message, and an empty ClientID is never deduplicated.
	//
	// An edit or delete (m.Kind) changes its target in the same commit, as
	// the package documentation describes. Its target must be a plain
	// message of the room (else ErrMessageNotFound, or ErrInvalid for an
	// edit or delete event) that was not deleted (else ErrMessageDeleted).
	// A topic event sets the room's topic in the same commit; a kick, ban
	// or unban must name its Subject and carry no text (else ErrInvalid).
	Append(ctx context.Context, roomID string, m NewMessage) (msg Message, duplicate bool, err error)
	// After returns up to limit messages with Seq > afterSeq, ascending.
	After(ctx context.Context, roomID string, afterSeq uint64, limit int) ([]Message, error)
	// Before returns up to limit messages with Seq < beforeSeq (0 = newest),
	// ascending, and whether older ones exist.
	Before(ctx context.Context, roomID string, beforeSeq uint64, limit int) (msgs []Message, more bool, err error)
	// ByClientID returns the message userID sent to roomID with clientID,
	// the one a retried Append would return as its duplicate, and whether
	// there is one. It lets a caller skip work a retry must not repeat
	// (storing an upload's file again) before it appends.
	ByClientID(ctx context.Context, roomID, userID, clientID string) (msg Message, found bool, err error)
}

// Participants records who joined or was seen in a room; Room lists them.
type Participants interface {
	// TouchParticipant records that a user joined or was seen in a room.
	// A zero p.LastSeen means now; an empty p.DisplayName keeps the known
	// one.
	TouchParticipant(ctx context.Context, roomID string, p Participant) error
}

// Markers keeps how far each user has read each room.
type Markers interface {
	// SetReadMarker records that userID has read roomID up to seq and
	// returns the marker as stored. A marker never moves backwards: a seq
	// below the stored one leaves it as it is. A seq past the room's last
	// message counts as the last message, so a marker never claims
	// messages that do not exist yet have been read.
	SetReadMarker(ctx context.Context, roomID, userID string, seq uint64) (uint64, error)
	// ReadMarkers returns the markers of userIDs in roomID, or of every
	// user who has one if userIDs is empty. Users without a marker are
	// left out of the map.
	ReadMarkers(ctx context.Context, roomID string, userIDs ...string) (map[string]uint64, error)
	// SetReadMarkers applies several markers in one commit, each as
	// SetReadMarker would. Callers that collect markers for a while (the
	// plugin does, for about a second) pay one commit for all of them
	// instead of one per report. A marker of an unknown room is skipped,
	// not an error, so one stale report cannot block the others.
	SetReadMarkers(ctx context.Context, markers []ReadMarker) error
}

// ReadMarker is one user's read position in one room.
type ReadMarker struct {
	RoomID string
	UserID string
	Seq    uint64
}

// Ban keeps a user out of a room.
type Ban struct {
	RoomID string
	UserID string
	Reason string
	// BannedBy is the user who imposed the ban, BannedAt when (the
	// store's clock if zero).
	BannedBy string
	BannedAt time.Time
	// ExpiresAt ends the ban; zero means never. From then on the ban
	// reads as absent.
	ExpiresAt time.Time
}

// BanList keeps the bans of each room. Bans whose ExpiresAt has passed (by
// the store's clock) read as absent everywhere.
type BanList interface {
	// PutBan creates or replaces b.UserID's ban in b.RoomID and returns
	// it as stored.
	PutBan(ctx context.Context, b Ban) (Ban, error)
	// DeleteBan lifts userID's ban in roomID; lifting a ban that does not
	// exist is not an error, so a retried request succeeds.
	DeleteBan(ctx context.Context, roomID, userID string) error
	// Ban returns userID's ban in roomID, or ErrBanNotFound.
	Ban(ctx context.Context, roomID, userID string) (Ban, error)
	// Bans returns the bans in force in roomID, by user id.
	Bans(ctx context.Context, roomID string) ([]Ban, error)
}

// Transcripts is the bookkeeping behind the daily transcript pages: which
// room days have messages, which pages need a write, and which were
// written. Days are recorded in the same commit as their messages.
type Transcripts interface {
	// PendingTranscripts returns every room day whose transcript page
	// needs a write, by room id and then date.
	PendingTranscripts(ctx context.Context) ([]PendingTranscript, error)
	// TranscriptDays returns the days on which roomID had messages,
	// oldest first.
	TranscriptDays(ctx context.Context, roomID string) ([]TranscriptDay, error)
	// TranscriptWritten records a finished write and resolves the pending
	// entry if it did not change since w.Version.
	TranscriptWritten(ctx context.Context, w TranscriptWrite) error
	// TranscriptFailed counts a failed write of roomID's page for date and
	// returns the failures so far (0 if nothing is pending for that day).
	TranscriptFailed(ctx context.Context, roomID, date string, nextTry time.Time) (int, error)
}
