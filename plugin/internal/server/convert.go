package server

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pagechat/pagechat/plugin/internal/hub"
	"github.com/pagechat/pagechat/plugin/internal/store"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

func messageToProto(m store.Message, epoch string) *chatv1.Message {
	return &chatv1.Message{
		RoomId:       m.RoomID,
		Seq:          m.Seq,
		Epoch:        epoch,
		ClientId:     m.ClientID,
		UserId:       m.UserID,
		UserName:     m.UserName,
		Text:         m.Text,
		Html:         m.HTML,
		SentAt:       timestamppb.New(m.SentAt),
		File:         fileToProto(m.File),
		Kind:         kindToProto[m.Kind],
		Target:       m.Target,
		EditSeq:      m.EditSeq,
		EditedAt:     optionalTime(m.EditedAt),
		Erased:       m.Erased,
		DeleteSeq:    m.DeleteSeq,
		DeletedBy:    m.DeletedBy,
		Reason:       m.Reason,
		Subject:      m.Subject,
		Until:        optionalTime(m.Until),
		Mentions:     m.Mentions,
		MentionsRoom: m.MentionsRoom,
	}
}

func fileToProto(f *store.File) *chatv1.File {
	if f == nil {
		return nil
	}
	return &chatv1.File{
		Id:          f.ID,
		Name:        f.Name,
		Url:         f.URL,
		ContentType: f.ContentType,
		Size:        f.Size,
		UserId:      f.UserID,
		UploadedAt:  optionalTime(f.UploadedAt),
		Seq:         f.Seq,
	}
}

func (rt *runtime) participants(room store.Room) []*chatv1.Participant {
	out := make([]*chatv1.Participant, len(room.Participants))
	for i, p := range room.Participants {
		out[i] = &chatv1.Participant{
			UserId:      p.UserID,
			DisplayName: p.DisplayName,
			Online:      rt.presence.online(room.ID, p.UserID),
			LastSeen:    optionalTime(p.LastSeen),
		}
	}
	return out
}

func (rt *runtime) roomToProto(room store.Room) *chatv1.Room {
	return &chatv1.Room{
		Id:           room.ID,
		PageId:       room.PageID,
		Name:         room.Name,
		Slug:         room.Slug,
		Epoch:        room.Epoch,
		LastSeq:      room.LastSeq,
		CreatedAt:    optionalTime(room.CreatedAt),
		LastActivity: optionalTime(room.LastActivity),
		Participants: rt.participants(room),
		Files:        filesToProto(room.Files),
		Transcripts:  transcriptsToProto(room.Transcripts),
		Topic:        room.Topic,
		TopicBy:      room.TopicBy,
		TopicAt:      optionalTime(room.TopicAt),
	}
}

func filesToProto(files []store.File) []*chatv1.File {
	out := make([]*chatv1.File, len(files))
	for i := range files {
		out[i] = fileToProto(&files[i])
	}
	return out
}

func presenceToProto(p hub.Presence) *chatv1.Participant {
	return &chatv1.Participant{UserId: p.UserID, DisplayName: p.DisplayName, Online: p.Online, LastSeen: timestamppb.New(p.At)}
}

// optionalTime leaves unset times unset on the wire instead of sending the
// zero time, which clients would show as year 1.
func optionalTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

var kindToProto = map[store.MessageKind]chatv1.MessageKind{
	store.KindMessage: chatv1.MessageKind_MESSAGE_KIND_UNSPECIFIED,
	store.KindEdit:    chatv1.MessageKind_MESSAGE_KIND_EDIT,
	store.KindDelete:  chatv1.MessageKind_MESSAGE_KIND_DELETE,
	store.KindTopic:   chatv1.MessageKind_MESSAGE_KIND_TOPIC,
	store.KindKick:    chatv1.MessageKind_MESSAGE_KIND_KICK,
	store.KindBan:     chatv1.MessageKind_MESSAGE_KIND_BAN,
	store.KindUnban:   chatv1.MessageKind_MESSAGE_KIND_UNBAN,
}

func banToProto(b store.Ban) *chatv1.Ban {
	return &chatv1.Ban{
		UserId:    b.UserID,
		Reason:    b.Reason,
		BannedBy:  b.BannedBy,
		BannedAt:  optionalTime(b.BannedAt),
		ExpiresAt: optionalTime(b.ExpiresAt),
	}
}
