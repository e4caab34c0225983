// Package store keeps pagechat's durable state: rooms, their message logs and
// the client-id index that makes sends idempotent.
//
// Store is the seam for other backends (a PostgreSQL store for cluster mode
// later); Bolt is the embedded default on go.etcd.io/bbolt. The store knows
// nothing about permissions, rendering or fan-out: the chat service in
// package plugin owns those and calls the store only for durable facts.
package store

import (
	"context"
	"errors"
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
)

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
	LastSeen    time.Time
}

// Message is one stored message.
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
}

// NewMessage is a message to append; the store assigns Seq and SentAt.
type NewMessage struct {
	ClientID string
	UserID   string
	UserName string
	Text     string
	HTML     string
	// File, if set, is added to the room's file list in the same commit.
	File *File
}

// CommitFunc is called by the store after each durable commit with the
// messages that commit added, in sequence order per room, before Append
// returns to their senders. Calls never overlap, so a fan-out hub fed from
// it sees every room's messages in order. It must not block for long: every
// sender waits for it. The store never reuses added, so the callee may keep
// it (and pointers into it).
type CommitFunc func(added []Message)

// Store is the durable state behind the chat service.
type Store interface {
	// CreateRoom creates the room r.ID if it does not exist (filling Epoch
	// and CreatedAt) and returns the stored room either way.
	CreateRoom(ctx context.Context, r Room) (Room, error)
	// Room returns a room's metadata, or ErrRoomNotFound.
	Room(ctx context.Context, roomID string) (Room, error)
	// RoomCount returns the number of rooms.
	RoomCount(ctx context.Context) (int, error)
	// Append stores m durably and returns it with its sequence number. If
	// m.ClientID was already used in the room it stores nothing and returns
	// the earlier message with duplicate set.
	Append(ctx context.Context, roomID string, m NewMessage) (msg Message, duplicate bool, err error)
	// After returns up to limit messages with Seq > afterSeq, ascending.
	After(ctx context.Context, roomID string, afterSeq uint64, limit int) ([]Message, error)
	// Before returns up to limit messages with Seq < beforeSeq (0 = newest),
	// ascending, and whether older ones exist.
	Before(ctx context.Context, roomID string, beforeSeq uint64, limit int) (msgs []Message, more bool, err error)
	// TouchParticipant records that a user joined or was seen in a room.
	TouchParticipant(ctx context.Context, roomID string, p Participant) error
	// Close waits for in-flight commits and closes the database.
	Close() error
}
