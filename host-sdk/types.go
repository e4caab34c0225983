package hostsdk

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// Room is a chat room's metadata.
type Room struct {
	ID           string // "<pageID>.<slug>"
	PageID       string
	Name         string
	Slug         string
	Epoch        string // resume positions are valid only within one epoch
	LastSeq      uint64 // 0 if the room has no messages
	CreatedAt    time.Time
	LastActivity time.Time // zero if the room has no messages
	Participants []Participant
	Files        []File       // uploaded files, oldest first
	Transcripts  []Transcript // daily transcript pages, newest first
	// Topic is the room topic a moderator set ("" if none), TopicBy
	// their user id and TopicAt when.
	Topic   string
	TopicBy string
	TopicAt time.Time
	// Read is the requesting user's read state; only RoomInfo fills it.
	Read ReadState
}

// File is a file uploaded to a room.
type File struct {
	ID          string // the host's id
	Name        string // sanitised by the plugin
	URL         string
	ContentType string // sniffed by the plugin
	Size        int64
	UserID      string
	UploadedAt  time.Time
	Seq         uint64 // the message that announced it
}

// Transcript is one day's transcript page of a room.
type Transcript struct {
	Date  string // "YYYY-MM-DD" in the configured time zone
	Title string
	URL   string // empty until first written
}

// Participant is a user who joined or posted in a room.
type Participant struct {
	UserID      string
	DisplayName string
	Online      bool
	// LastSeen is when the user last joined or posted, to within a minute.
	LastSeen time.Time
}

// Typing is a user typing in a room, as a room stream reports it.
type Typing struct {
	UserID      string
	DisplayName string
	At          time.Time
}

// Message is a stored chat message.
type Message struct {
	RoomID   string
	Seq      uint64 // per room, from 1, without gaps
	Epoch    string
	ClientID string
	UserID   string
	UserName string
	Text     string
	// HTML is Text rendered by the plugin to safe HTML (escaped, with wiki
	// links, URLs and <pre> pastes); insert it as is.
	HTML   string
	File   *File // set if the message announces an upload
	SentAt time.Time

	// Kind says what the log entry is; Target is, for an edit or
	// delete, the sequence of the message it changes.
	Kind   MessageKind
	Target uint64
	// EditSeq and EditedAt are, on an edited plain message, the edit that
	// gave it its current text (0 and zero if never edited).
	EditSeq  uint64
	EditedAt time.Time
	// Erased is set when the text is gone from storage: on a plain
	// message, it was deleted (DeleteSeq, by DeletedBy); on an edit, a
	// later change superseded it.
	Erased    bool
	DeleteSeq uint64
	DeletedBy string
	// Reason, Subject and Until describe a delete, kick, ban or unban:
	// the stated reason, the user acted on, a ban's end.
	Reason  string
	Subject string
	Until   time.Time
	// Mentions are the user ids the message mentions (@name);
	// MentionsRoom says it mentions the whole room (@room).
	Mentions     []string
	MentionsRoom bool
}

func timeOf(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func messageFromProto(m *chatv1.Message) Message {
	return Message{
		RoomID:       m.GetRoomId(),
		Seq:          m.GetSeq(),
		Epoch:        m.GetEpoch(),
		ClientID:     m.GetClientId(),
		UserID:       m.GetUserId(),
		UserName:     m.GetUserName(),
		Text:         m.GetText(),
		HTML:         m.GetHtml(),
		File:         fileFromProto(m.GetFile()),
		SentAt:       timeOf(m.GetSentAt()),
		Kind:         messageKindFromProto(m.GetKind()),
		Target:       m.GetTarget(),
		EditSeq:      m.GetEditSeq(),
		EditedAt:     timeOf(m.GetEditedAt()),
		Erased:       m.GetErased(),
		DeleteSeq:    m.GetDeleteSeq(),
		DeletedBy:    m.GetDeletedBy(),
		Reason:       m.GetReason(),
		Subject:      m.GetSubject(),
		Until:        timeOf(m.GetUntil()),
		Mentions:     m.GetMentions(),
		MentionsRoom: m.GetMentionsRoom(),
	}
}

func fileFromProto(f *chatv1.File) *File {
	if f == nil {
		return nil
	}
	return &File{
		ID:          f.GetId(),
		Name:        f.GetName(),
		URL:         f.GetUrl(),
		ContentType: f.GetContentType(),
		Size:        f.GetSize(),
		UserID:      f.GetUserId(),
		UploadedAt:  timeOf(f.GetUploadedAt()),
		Seq:         f.GetSeq(),
	}
}

func participantFromProto(p *chatv1.Participant) Participant {
	return Participant{UserID: p.GetUserId(), DisplayName: p.GetDisplayName(), Online: p.GetOnline(), LastSeen: timeOf(p.GetLastSeen())}
}

func typingFromProto(t *chatv1.TypingNotice) Typing {
	return Typing{UserID: t.GetUserId(), DisplayName: t.GetDisplayName(), At: timeOf(t.GetAt())}
}

func participantsFromProto(ps []*chatv1.Participant) []Participant {
	out := make([]Participant, len(ps))
	for i, p := range ps {
		out[i] = participantFromProto(p)
	}
	return out
}

func roomFromProto(r *chatv1.Room) Room {
	return Room{
		ID:           r.GetId(),
		PageID:       r.GetPageId(),
		Name:         r.GetName(),
		Slug:         r.GetSlug(),
		Epoch:        r.GetEpoch(),
		LastSeq:      r.GetLastSeq(),
		CreatedAt:    timeOf(r.GetCreatedAt()),
		LastActivity: timeOf(r.GetLastActivity()),
		Participants: participantsFromProto(r.GetParticipants()),
		Files:        filesFromProto(r.GetFiles()),
		Transcripts:  transcriptsFromProto(r.GetTranscripts()),
		Topic:        r.GetTopic(),
		TopicBy:      r.GetTopicBy(),
		TopicAt:      timeOf(r.GetTopicAt()),
	}
}

func filesFromProto(fs []*chatv1.File) []File {
	out := make([]File, len(fs))
	for i, f := range fs {
		out[i] = *fileFromProto(f)
	}
	return out
}

func transcriptsFromProto(ts []*chatv1.Transcript) []Transcript {
	out := make([]Transcript, len(ts))
	for i, t := range ts {
		out[i] = Transcript{Date: t.GetDate(), Title: t.GetTitle(), URL: t.GetUrl()}
	}
	return out
}
