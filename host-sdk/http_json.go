package hostsdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/pagechat/pagechat/internal/limits"
	"github.com/pagechat/pagechat/internal/safeurl"
)

type errorJSON struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only unsupported Go values fail to encode; none of ours do.
		status = http.StatusInternalServerError
		body = []byte(`{"error":"internal error","code":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// The JSON the browser API speaks. Field names are part of the contract
// the popup's script and scripts of host admins rely on.

type messageJSON struct {
	Seq      uint64    `json:"seq"`
	Epoch    string    `json:"epoch"`
	RoomID   string    `json:"room_id"`
	ClientID string    `json:"client_id"`
	UserID   string    `json:"user_id"`
	UserName string    `json:"user_name"`
	Text     string    `json:"text"`
	HTML     string    `json:"html"` // safe HTML rendered by the plugin
	SentAt   time.Time `json:"sent_at"`
	File     *fileJSON `json:"file,omitempty"`

	// Moderation and the message lifecycle; all left out of a plain,
	// unchanged message. kind is the entry's kind ("edit", "delete",
	// "topic", "kick", "ban", "unban"), target the message an edit or
	// delete changes. On a plain message: edited_at once edited, deleted
	// (with deleted_by) once deleted. erased marks an edit whose text a
	// later change removed. reason, subject (the user acted on) and until
	// (a ban's end) describe moderation.
	Kind      string    `json:"kind,omitempty"`
	Target    uint64    `json:"target,omitempty"`
	EditedAt  time.Time `json:"edited_at,omitzero"`
	Deleted   bool      `json:"deleted,omitempty"`
	DeletedBy string    `json:"deleted_by,omitempty"`
	Erased    bool      `json:"erased,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	Until     time.Time `json:"until,omitzero"`
	// Mentions are the mentioned user ids; MentionsRoom marks @room.
	Mentions     []string `json:"mentions,omitempty"`
	MentionsRoom bool     `json:"mentions_room,omitempty"`
}

type fileJSON struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	URL         string    `json:"url"` // empty unless a safe link
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	UserID      string    `json:"user_id"`
	UploadedAt  time.Time `json:"uploaded_at,omitzero"`
	Seq         uint64    `json:"seq"`
}

type participantJSON struct {
	UserID      string    `json:"user_id"`
	DisplayName string    `json:"display_name"`
	Online      bool      `json:"online"`
	LastSeen    time.Time `json:"last_seen,omitzero"`
}

type transcriptJSON struct {
	Date  string `json:"date"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

type roomJSON struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	PageID       string            `json:"page_id"`
	PageTitle    string            `json:"page_title"`
	PageURL      string            `json:"page_url"`
	Epoch        string            `json:"epoch"`
	LastSeq      uint64            `json:"last_seq"`
	Participants []participantJSON `json:"participants"`
	Files        []fileJSON        `json:"files"`
	Transcripts  []transcriptJSON  `json:"transcripts"`
	Topic        string            `json:"topic"`
	TopicBy      string            `json:"topic_by,omitempty"`
	TopicAt      time.Time         `json:"topic_at,omitzero"`
	// What the viewer may do, so the popup offers only what will succeed.
	CanPost           bool  `json:"can_post"`
	CanModerate       bool  `json:"can_moderate"`
	EditWindowSeconds int64 `json:"edit_window_seconds"`
	// The requesting user's read state.
	LastRead uint64 `json:"last_read"`
	Unread   int    `json:"unread"`
	Mentions int    `json:"mentions"`
	Watching bool   `json:"watching"`
}

type banJSON struct {
	UserID    string    `json:"user_id"`
	Reason    string    `json:"reason"`
	BannedBy  string    `json:"banned_by"`
	BannedAt  time.Time `json:"banned_at,omitzero"`
	ExpiresAt time.Time `json:"expires,omitzero"`
}

type bansJSON struct {
	Bans []banJSON `json:"bans"`
}

func toBanJSON(b Ban) banJSON {
	return banJSON(b)
}

type historyJSON struct {
	Messages []messageJSON `json:"messages"`
	HasMore  bool          `json:"has_more"`
	Epoch    string        `json:"epoch"`
}

type sendResponseJSON struct {
	Seq       uint64      `json:"seq"`
	Message   messageJSON `json:"message"`
	Duplicate bool        `json:"duplicate"`
}

type uploadResponseJSON struct {
	Seq     uint64      `json:"seq"`
	Message messageJSON `json:"message"`
	File    fileJSON    `json:"file"`
}

type resetJSON struct {
	Epoch string `json:"epoch"`
}

func toMessageJSON(m Message) messageJSON {
	out := messageJSON{
		Seq:          m.Seq,
		Epoch:        m.Epoch,
		RoomID:       m.RoomID,
		ClientID:     m.ClientID,
		UserID:       m.UserID,
		UserName:     m.UserName,
		Text:         m.Text,
		HTML:         m.HTML,
		SentAt:       m.SentAt,
		Target:       m.Target,
		EditedAt:     m.EditedAt,
		Reason:       m.Reason,
		Subject:      m.Subject,
		Until:        m.Until,
		Mentions:     m.Mentions,
		MentionsRoom: m.MentionsRoom,
	}
	switch {
	case m.Kind != KindMessage && m.Kind != "":
		out.Kind = string(m.Kind)
		out.Erased = m.Erased
	case m.Erased:
		out.Deleted, out.DeletedBy = true, m.DeletedBy
	}
	if m.File != nil {
		f := toFileJSON(*m.File)
		out.File = &f
	}
	return out
}

func toFileJSON(f File) fileJSON {
	return fileJSON{
		ID:          f.ID,
		Name:        f.Name,
		URL:         safeurl.Href(f.URL),
		ContentType: f.ContentType,
		Size:        f.Size,
		UserID:      f.UserID,
		UploadedAt:  f.UploadedAt,
		Seq:         f.Seq,
	}
}

func toParticipantJSON(p Participant) participantJSON {
	return participantJSON(p)
}

func toRoomJSON(r Room, page Page) roomJSON {
	out := roomJSON{
		ID:           r.ID,
		Name:         r.Name,
		PageID:       r.PageID,
		PageTitle:    page.Title,
		PageURL:      safeurl.Href(page.URL),
		Epoch:        r.Epoch,
		LastSeq:      r.LastSeq,
		Participants: make([]participantJSON, len(r.Participants)),
		Files:        make([]fileJSON, len(r.Files)),
		Transcripts:  make([]transcriptJSON, len(r.Transcripts)),
		Topic:        r.Topic,
		TopicBy:      r.TopicBy,
		TopicAt:      r.TopicAt,
		LastRead:     r.Read.LastRead,
		Unread:       r.Read.Unread,
		Mentions:     r.Read.Mentions,
		Watching:     r.Read.Watching,
	}
	for i, p := range r.Participants {
		out.Participants[i] = toParticipantJSON(p)
	}
	for i, f := range r.Files {
		out.Files[i] = toFileJSON(f)
	}
	for i, t := range r.Transcripts {
		out.Transcripts[i] = transcriptJSON{Date: t.Date, Title: t.Title, URL: safeurl.Href(t.URL)}
	}
	return out
}

// sendRequest is the body of POST .../messages.
type sendRequest struct {
	Text     string `json:"text"`
	ClientID string `json:"client_id"`
}

// decodeSendRequest reads exactly one JSON object with the known fields
// and nothing after it. Strictness keeps typos ("txt") from silently
// posting empty messages and keeps the API unambiguous for scripts.
func decodeSendRequest(r io.Reader) (sendRequest, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var req sendRequest
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return sendRequest{}, err
		}
		return sendRequest{}, badRequest("malformed JSON body: %v", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return sendRequest{}, err
		}
		return sendRequest{}, badRequest("malformed JSON body: data after the object")
	}
	if strings.TrimSpace(req.Text) == "" {
		return sendRequest{}, badRequest(`"text" is missing or blank`)
	}
	if n := len(req.ClientID); n == 0 || n > limits.ClientIDBytes {
		return sendRequest{}, badRequest(`"client_id" must be 1 to %d bytes`, limits.ClientIDBytes)
	}
	return req, nil
}

// jsonProblem describes a decoding error without echoing the body.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "empty body"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of body"
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be a %s", typ.Field, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "not a JSON object with text and client_id"
}
