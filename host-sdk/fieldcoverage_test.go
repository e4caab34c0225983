package hostsdk

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

// This test makes sure that what the plugin sends reaches the host: every
// field of every message the plugin sends to host-sdk (ChatPlugin's
// answers and stream events, HostAPI's requests) must change the Go value
// host-sdk makes of the message. A field added to the protocol that no
// converter copies fails it, unless notCarried lists it with the reason.

// notCarried lists the fields host-sdk drops on purpose. A field listed
// here covers everything inside it.
var notCarried = map[protoreflect.FullName]string{
	// Configure's answer is only logged when a plugin process starts;
	// callers learn the version from Health.
	"pagechat.chat.v1.ConfigureResponse.plugin_version": "logged at start",
	// The replay's last sequence is what Subscription.LastSeq already
	// says; Event only marks where live events begin.
	"pagechat.chat.v1.RoomEvent.caught_up": "Event.CaughtUp marks the end of the replay; LastSeq is the position",
	// Chunks are the file's bytes, which reach the host through the reader
	// it gets (compared byte for byte by the upload tests), not a field.
	"pagechat.host.v1.AttachFileRequest.chunk": "streamed as the file's content",
}

// recordingHost is a Host that records what HostAPI hands it.
type recordingHost struct{ calls []any }

func (h *recordingHost) CheckPermission(_ context.Context, userID, pageID string, perm Permission) (bool, error) {
	h.calls = append(h.calls, []any{userID, pageID, perm})
	return false, nil
}

func (h *recordingHost) GetPage(_ context.Context, pageID string) (Page, error) {
	h.calls = append(h.calls, pageID)
	return Page{ID: pageID}, nil
}

func (h *recordingHost) GetUser(_ context.Context, userID string) (User, error) {
	h.calls = append(h.calls, userID)
	return User{ID: userID}, nil
}

func (h *recordingHost) UpsertChildPage(_ context.Context, c ChildPage) (Page, error) {
	h.calls = append(h.calls, c)
	return Page{}, nil
}

func (h *recordingHost) AttachFile(context.Context, FileInfo, io.Reader) (Attachment, error) {
	return Attachment{}, nil
}

func (h *recordingHost) ResolveLink(_ context.Context, userID, fromPageID, title string) (Link, error) {
	h.calls = append(h.calls, []string{userID, fromPageID, title})
	return Link{}, nil
}

func (h *recordingHost) SearchUsers(_ context.Context, pageID, prefix string, limit int) ([]User, error) {
	h.calls = append(h.calls, []any{pageID, prefix, limit})
	return nil, nil
}

func (h *recordingHost) Notify(_ context.Context, n Notification) error {
	h.calls = append(h.calls, n)
	return nil
}

func (h *recordingHost) DeleteFile(_ context.Context, pageID, fileID, userID string) error {
	h.calls = append(h.calls, []string{pageID, fileID, userID})
	return nil
}

// hostSees returns what a Host is handed when HostAPI serves m with call.
func hostSees[M proto.Message, R any](call func(*hostAPIServer, context.Context, M) (R, error)) func(proto.Message) any {
	return func(m proto.Message) any {
		h := &recordingHost{}
		_, err := call(&hostAPIServer{host: h}, context.Background(), m.(M))
		return []any{h.calls, fmt.Sprint(err)}
	}
}

// as adapts a converter of one message type to the table's type.
func as[M proto.Message, R any](f func(M) R) func(proto.Message) any {
	return func(m proto.Message) any { return f(m.(M)) }
}

// conversions says, for each message host-sdk receives, what it makes of
// it: the converter the Client or HostAPI server uses, or nil for a
// message that is not kept.
var conversions = map[protoreflect.FullName]func(proto.Message) any{
	// The Go types.
	"pagechat.chat.v1.Message":     as(messageFromProto),
	"pagechat.chat.v1.File":        as(fileFromProto),
	"pagechat.chat.v1.Participant": as(participantFromProto),
	"pagechat.chat.v1.Room":        as(roomFromProto),

	// ChatPlugin's answers, as the Client's methods convert them.
	"pagechat.chat.v1.ConfigureResponse": nil,
	"pagechat.chat.v1.HealthResponse":    as(healthFromProto),
	"pagechat.chat.v1.ShutdownResponse":  nil,
	"pagechat.chat.v1.OpenRoomResponse":  as(func(r *chatv1.OpenRoomResponse) Room { return roomFromProto(r.GetRoom()) }),
	"pagechat.chat.v1.RoomInfoResponse": as(func(r *chatv1.RoomInfoResponse) []any {
		room := roomFromProto(r.GetRoom())
		room.Read = readStateFromProto(r.GetReadState())
		return []any{room, rightsFromProto(r.GetRights())}
	}),
	"pagechat.chat.v1.ReadState":           as(readStateFromProto),
	"pagechat.chat.v1.MarkReadResponse":    as(func(r *chatv1.MarkReadResponse) ReadState { return readStateFromProto(r.GetReadState()) }),
	"pagechat.chat.v1.SetWatchResponse":    as((*chatv1.SetWatchResponse).GetWatching),
	"pagechat.chat.v1.RenderMacroResponse": as(renderedMacroFromProto),
	"pagechat.chat.v1.SendResponse":        as(sendResultFromProto),
	"pagechat.chat.v1.RoomEvent": as(func(e *chatv1.RoomEvent) []any {
		ev, err := eventFromProto(e)
		return []any{ev, fmt.Sprint(err)}
	}),
	"pagechat.chat.v1.HistoryResponse": as(historyPageFromProto),
	"pagechat.chat.v1.JoinResponse": as(func(r *chatv1.JoinResponse) []Participant {
		return participantsFromProto(r.GetParticipants())
	}),
	"pagechat.chat.v1.LeaveResponse": nil,
	"pagechat.chat.v1.AuthorizeRoomsResponse": as(func(r *chatv1.AuthorizeRoomsResponse) []any {
		var out []any
		for _, a := range authorizeRoomsFromProto(r) {
			out = append(out, a.allowed, a.err)
		}
		return out
	}),
	"pagechat.chat.v1.PresenceResponse": as(func(r *chatv1.PresenceResponse) []Participant {
		return participantsFromProto(r.GetParticipants())
	}),
	"pagechat.chat.v1.UploadResponse":           as(uploadResultFromProto),
	"pagechat.chat.v1.AuthorizeViewersResponse": as((*chatv1.AuthorizeViewersResponse).GetAllowedUserIds),
	"pagechat.chat.v1.TypingResponse":           nil,
	"pagechat.chat.v1.TypingNotice":             as(typingFromProto),
	"pagechat.chat.v1.Rights":                   as(rightsFromProto),
	"pagechat.chat.v1.Ban":                      as(banFromProto),
	"pagechat.chat.v1.EditMessageResponse": as(func(r *chatv1.EditMessageResponse) ChangeResult {
		return ChangeResult{Event: messageFromProto(r.GetEdit()), Duplicate: r.GetDuplicate()}
	}),
	"pagechat.chat.v1.DeleteMessageResponse": as(func(r *chatv1.DeleteMessageResponse) ChangeResult {
		return ChangeResult{Event: messageFromProto(r.GetDelete()), Duplicate: r.GetDuplicate()}
	}),
	"pagechat.chat.v1.SetTopicResponse": as(func(r *chatv1.SetTopicResponse) Message { return messageFromProto(r.GetEvent()) }),
	"pagechat.chat.v1.KickResponse":     as(func(r *chatv1.KickResponse) Message { return messageFromProto(r.GetEvent()) }),
	"pagechat.chat.v1.BanResponse": as(func(r *chatv1.BanResponse) []any {
		return []any{banFromProto(r.GetBan()), messageFromProto(r.GetEvent())}
	}),
	"pagechat.chat.v1.UnbanResponse":    as(func(r *chatv1.UnbanResponse) Message { return messageFromProto(r.GetEvent()) }),
	"pagechat.chat.v1.ListBansResponse": as(func(r *chatv1.ListBansResponse) []Ban { return bansFromProto(r.GetBans()) }),

	// HostAPI's requests, as the Host is handed them.
	"pagechat.host.v1.CheckPermissionRequest":  hostSees((*hostAPIServer).CheckPermission),
	"pagechat.host.v1.CheckPermissionsRequest": hostSees((*hostAPIServer).CheckPermissions),
	"pagechat.host.v1.GetPageRequest":          hostSees((*hostAPIServer).GetPage),
	"pagechat.host.v1.GetUserRequest":          hostSees((*hostAPIServer).GetUser),
	"pagechat.host.v1.UpsertChildPageRequest":  hostSees((*hostAPIServer).UpsertChildPage),
	"pagechat.host.v1.AttachFileRequest": as(func(r *hostv1.AttachFileRequest) FileInfo {
		return fileInfoFromProto(r.GetHeader())
	}),
	"pagechat.host.v1.ResolveLinkRequest":  hostSees((*hostAPIServer).ResolveLink),
	"pagechat.host.v1.ResolveLinksRequest": hostSees((*hostAPIServer).ResolveLinks),
	"pagechat.host.v1.NotifyRequest":       hostSees((*hostAPIServer).Notify),
	"pagechat.host.v1.DeleteFileRequest":   hostSees((*hostAPIServer).DeleteFile),
	"pagechat.host.v1.SearchUsersRequest":  hostSees((*hostAPIServer).SearchUsers),
}

// received lists every message the plugin sends host-sdk: what ChatPlugin
// answers and streams, and what HostAPI is asked.
func received() []protoreflect.MessageDescriptor {
	var out []protoreflect.MessageDescriptor
	chat := chatv1.File_pagechat_chat_v1_chat_proto.Services().ByName("ChatPlugin").Methods()
	for i := range chat.Len() {
		out = append(out, chat.Get(i).Output())
	}
	host := hostv1.File_pagechat_host_v1_host_proto.Services().ByName("HostAPI").Methods()
	for i := range host.Len() {
		out = append(out, host.Get(i).Input())
	}
	return out
}

func TestEveryReceivedMessageHasAConversion(t *testing.T) {
	t.Parallel()
	for _, md := range received() {
		if _, ok := conversions[md.FullName()]; !ok {
			t.Errorf("host-sdk receives %s but this test does not know what it converts it to: add it to conversions", md.FullName())
		}
	}
}

func TestConvertersCarryEveryField(t *testing.T) {
	t.Parallel()
	droppedOnPurpose := make(map[protoreflect.FullName]bool)
	for name, convert := range conversions {
		mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, filled := range filledVariants(t, mt) {
			base := convertOrNil(convert, filled)
			for _, path := range leaves(filled.ProtoReflect(), nil) {
				changed := proto.Clone(filled)
				perturb(t, changed.ProtoReflect(), path)
				if !reflect.DeepEqual(convertOrNil(convert, changed), base) {
					continue
				}
				if allowed := allowedBy(path); allowed != "" {
					droppedOnPurpose[allowed] = true
					continue
				}
				t.Errorf("%s: field %s does not reach the converted %T; copy it, or list it in notCarried with the reason", name, pathString(path), base)
			}
		}
	}
	for name := range notCarried {
		if !droppedOnPurpose[name] {
			t.Errorf("notCarried lists %s, but it is carried now (or no longer exists): remove it", name)
		}
	}
}

func convertOrNil(convert func(proto.Message) any, m proto.Message) any {
	if convert == nil {
		return nil
	}
	return convert(m)
}

// step is one step into a message: a field, and for a list or map field
// its only element.
type step struct {
	fd  protoreflect.FieldDescriptor
	key protoreflect.MapKey // for map fields
}

// filledVariants returns messages of type mt with every field set to a
// non-zero value, one message for each member of a top-level oneof, so that
// each member is checked.
func filledVariants(t *testing.T, mt protoreflect.MessageType) []proto.Message {
	t.Helper()
	md := mt.Descriptor()
	var variants []proto.Message
	oneofs := md.Oneofs()
	members := 1
	for i := range oneofs.Len() {
		if !oneofs.Get(i).IsSynthetic() {
			members = max(members, oneofs.Get(i).Fields().Len())
		}
	}
	for v := range members {
		m := mt.New()
		counter := 0
		fill(t, m, v, &counter, 0)
		variants = append(variants, m.Interface())
	}
	return variants
}

// fill sets every field of m; in each oneof it sets member number pick
// (or the last one, if the oneof has fewer). Nested oneofs are refused:
// only one member could be checked.
func fill(t *testing.T, m protoreflect.Message, pick int, counter *int, depth int) {
	t.Helper()
	if depth > 8 {
		t.Fatalf("%s: messages nest too deep to fill", m.Descriptor().FullName())
	}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
			if depth > 0 {
				t.Fatalf("%s is in a nested oneof; teach this test to check each member", fd.FullName())
			}
			if o.Fields().Get(min(pick, o.Fields().Len()-1)) != fd {
				continue
			}
		}
		switch {
		case fd.IsList():
			list := m.Mutable(fd).List()
			if fd.Message() != nil {
				el := list.NewElement()
				fill(t, el.Message(), pick, counter, depth+1)
				list.Append(el)
			} else {
				list.Append(scalar(t, fd, counter))
			}
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			key := scalar(t, fd.MapKey(), counter).MapKey()
			if fd.MapValue().Message() != nil {
				val := mp.NewValue()
				fill(t, val.Message(), pick, counter, depth+1)
				mp.Set(key, val)
			} else {
				mp.Set(key, scalar(t, fd.MapValue(), counter))
			}
		case fd.Message() != nil:
			fill(t, m.Mutable(fd).Message(), pick, counter, depth+1)
		default:
			m.Set(fd, scalar(t, fd, counter))
		}
	}
}

// scalar returns a non-zero value for fd, different for every call.
func scalar(t *testing.T, fd protoreflect.FieldDescriptor, counter *int) protoreflect.Value {
	t.Helper()
	*counter++
	n := *counter
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(fmt.Sprintf("%s-%d", fd.Name(), n))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(fmt.Sprintf("%s-%d", fd.Name(), n)))
	case protoreflect.EnumKind:
		values := fd.Enum().Values()
		for i := range values.Len() {
			if values.Get(i).Number() != 0 {
				return protoreflect.ValueOfEnum(values.Get(i).Number())
			}
		}
		return protoreflect.ValueOfEnum(1)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(n))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(n))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(n))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(n) + 0.5)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(float64(n) + 0.5)
	}
	t.Fatalf("field %s: this test cannot fill kind %v", fd.FullName(), fd.Kind())
	return protoreflect.Value{}
}

// leaves returns the path to every scalar set in m.
func leaves(m protoreflect.Message, prefix []step) [][]step {
	var out [][]step
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			path := append(append([]step(nil), prefix...), step{fd: fd})
			if fd.Message() != nil {
				out = append(out, leaves(v.List().Get(0).Message(), path)...)
			} else {
				out = append(out, path)
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				path := append(append([]step(nil), prefix...), step{fd: fd, key: k})
				if fd.MapValue().Message() != nil {
					out = append(out, leaves(mv.Message(), path)...)
				} else {
					out = append(out, path)
				}
				return true
			})
		case fd.Message() != nil:
			out = append(out, leaves(v.Message(), append(append([]step(nil), prefix...), step{fd: fd}))...)
		default:
			out = append(out, append(append([]step(nil), prefix...), step{fd: fd}))
		}
		return true
	})
	return out
}

// perturb changes the scalar at path in m to another non-zero value (or,
// for a bool, to false).
func perturb(t *testing.T, m protoreflect.Message, path []step) {
	t.Helper()
	s := path[0]
	last := len(path) == 1
	switch {
	case s.fd.IsList():
		list := m.Mutable(s.fd).List()
		if last {
			list.Set(0, other(t, s.fd, list.Get(0)))
			return
		}
		perturb(t, list.Get(0).Message(), path[1:])
	case s.fd.IsMap():
		mp := m.Mutable(s.fd).Map()
		if last {
			mp.Set(s.key, other(t, s.fd.MapValue(), mp.Get(s.key)))
			return
		}
		perturb(t, mp.Mutable(s.key).Message(), path[1:])
	case last:
		m.Set(s.fd, other(t, s.fd, m.Get(s.fd)))
	default:
		perturb(t, m.Mutable(s.fd).Message(), path[1:])
	}
}

// other returns a value of fd's kind other than v.
func other(t *testing.T, fd protoreflect.FieldDescriptor, v protoreflect.Value) protoreflect.Value {
	t.Helper()
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(!v.Bool())
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(v.String() + "'")
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes(append(append([]byte(nil), v.Bytes()...), '\''))
	case protoreflect.EnumKind:
		values := fd.Enum().Values()
		for i := range values.Len() {
			if n := values.Get(i).Number(); n != 0 && n != v.Enum() {
				return protoreflect.ValueOfEnum(n)
			}
		}
		return protoreflect.ValueOfEnum(v.Enum() + 1)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(v.Int() + 1))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(v.Int() + 1)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(v.Uint() + 1))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(v.Uint() + 1)
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(v.Float() + 1))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(v.Float() + 1)
	}
	t.Fatalf("field %s: this test cannot change kind %v", fd.FullName(), fd.Kind())
	return protoreflect.Value{}
}

// allowedBy returns the notCarried entry that covers path, if any.
func allowedBy(path []step) protoreflect.FullName {
	for _, s := range path {
		if _, ok := notCarried[s.fd.FullName()]; ok {
			return s.fd.FullName()
		}
	}
	return ""
}

func pathString(path []step) string {
	parts := make([]string, len(path))
	for i, s := range path {
		parts[i] = string(s.fd.FullName())
		if i > 0 {
			parts[i] = string(s.fd.Name())
		}
	}
	return strings.Join(parts, ".")
}
