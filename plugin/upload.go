package plugin

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"io"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pagechat/pagechat/internal/chunkio"
	"github.com/pagechat/pagechat/internal/humansize"
	"github.com/pagechat/pagechat/internal/safeurl"
	"github.com/pagechat/pagechat/plugin/internal/store"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

const (
	// DefaultMaxUploadBytes bounds one uploaded file: enough for
	// screenshots, logs and documents, small enough that a wiki's
	// attachment store does not become a file host.
	DefaultMaxUploadBytes = 10 << 20
	// MaxMaxUploadBytes caps what an admin may configure.
	MaxMaxUploadBytes = 1 << 30
	// uploadChunk is the size of the chunks relayed to the host; the
	// protocol allows up to 1 MiB, and smaller chunks keep memory flat.
	uploadChunk = 256 << 10
	// maxFileNameBytes bounds a sanitised file name, the usual file system
	// limit.
	maxFileNameBytes = 255
	// sniffBytes is how much content http.DetectContentType looks at.
	sniffBytes = 512
)

// SanitizeFileName turns a browser-supplied name into one safe to show and
// to store as a name (never as a path): the last path element only, no
// control or unusual characters, no leading dots, at most 255 bytes. It
// never returns "".
func SanitizeFileName(name string) string {
	name = strings.ToValidUTF8(name, "")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), strings.ContainsRune(" .-_()+,", r):
			if b.Len()+utf8.RuneLen(r) > maxFileNameBytes {
				break
			}
			b.WriteRune(r)
		default:
			if b.Len() < maxFileNameBytes {
				b.WriteByte('_')
			}
		}
	}
	// Dots and spaces together at the front: ". .x" must not become ".x".
	clean := strings.TrimRight(strings.TrimLeft(b.String(), ". "), " ")
	if clean == "" || strings.Trim(clean, "_") == "" {
		return "file"
	}
	return clean
}

// Upload receives a file, stores it on the room's page through the host and
// announces it with a message.
func (s *Server) Upload(stream grpc.ClientStreamingServer[chatv1.UploadRequest, chatv1.UploadResponse]) error {
	rt, err := s.runtime()
	if err != nil {
		return err
	}
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	h := first.GetHeader()
	if h == nil {
		return status.Error(codes.InvalidArgument, "upload: the first message must be the header")
	}
	pageID, err := checkRoomRequest(h.GetUserId(), h.GetRoomId())
	if err != nil {
		return err
	}
	if n := len(h.GetClientId()); n == 0 || n > MaxClientIDBytes {
		return status.Errorf(codes.InvalidArgument, "client_id must be 1 to %d bytes, got %d", MaxClientIDBytes, n)
	}
	switch size := h.GetSize(); {
	case size <= 0:
		return status.Errorf(codes.InvalidArgument, "upload: size must be positive, got %d", size)
	case size > rt.maxUploadBytes:
		return status.Errorf(codes.OutOfRange, "upload: file is %d bytes; the limit is %d", size, rt.maxUploadBytes)
	}
	if err := rt.authorize(ctx, h.GetUserId(), pageID, hostv1.Permission_PERMISSION_POST); err != nil {
		return err
	}
	if _, err := rt.store.Room(ctx, h.GetRoomId()); err != nil {
		return storeStatus(err, h.GetRoomId())
	}
	name := SanitizeFileName(h.GetFileName())
	content := chunkio.FromStream[*chatv1.UploadRequest, *chatv1.UploadHeader](h.GetSize(), stream.Recv)

	// Sniff before anything reaches the host: the browser's claimed type
	// is not trusted.
	head := make([]byte, min(int64(sniffBytes), h.GetSize()))
	if _, err := io.ReadFull(content, head); err != nil {
		return uploadErr(err)
	}
	ctype := http.DetectContentType(head)

	att, err := rt.attach(ctx, &hostv1.AttachFileHeader{
		PageId:      pageID,
		FileName:    name,
		ContentType: ctype,
		Size:        h.GetSize(),
		UserId:      h.GetUserId(),
	}, io.MultiReader(bytes.NewReader(head), content))
	if err != nil {
		return err
	}

	userName, err := rt.users.displayName(ctx, h.GetUserId())
	if err != nil {
		return err
	}
	file := &store.File{
		ID:          att.GetFileId(),
		Name:        name,
		URL:         att.GetUrl(),
		ContentType: ctype,
		Size:        h.GetSize(),
		UserID:      h.GetUserId(),
	}
	msg, _, err := rt.store.Append(ctx, h.GetRoomId(), store.NewMessage{
		ClientID: h.GetClientId(),
		UserID:   h.GetUserId(),
		UserName: userName,
		Text:     "uploaded " + name,
		HTML:     fileMessageHTML(file),
		File:     file,
	})
	if err != nil {
		return storeStatus(err, h.GetRoomId())
	}
	epoch, err := rt.epoch(ctx, h.GetRoomId())
	if err != nil {
		return storeStatus(err, h.GetRoomId())
	}
	rt.logger.Info("file uploaded", "room", h.GetRoomId(), "user", h.GetUserId(), "file", name, "bytes", h.GetSize(), "type", ctype)
	pm := messageToProto(msg, epoch)
	return stream.SendAndClose(&chatv1.UploadResponse{Message: pm, File: pm.GetFile()})
}

// attach relays the content to HostAPI.AttachFile in chunks. If the upload
// breaks off, the host stream is cancelled so the host discards the file.
func (rt *runtime) attach(ctx context.Context, hdr *hostv1.AttachFileHeader, content io.Reader) (*hostv1.AttachFileResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	up, err := rt.host.AttachFile(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "upload: reach the host: %v", err)
	}
	if err := up.Send(&hostv1.AttachFileRequest{Part: &hostv1.AttachFileRequest_Header{Header: hdr}}); err != nil {
		return nil, hostStreamErr(up, err)
	}
	buf := make([]byte, uploadChunk)
	for {
		n, rerr := io.ReadFull(content, buf)
		if n > 0 {
			if err := up.Send(&hostv1.AttachFileRequest{Part: &hostv1.AttachFileRequest_Chunk{Chunk: buf[:n]}}); err != nil {
				return nil, hostStreamErr(up, err)
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return nil, uploadErr(rerr)
		}
	}
	resp, err := up.CloseAndRecv()
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "upload: the host did not store the file: %v", status.Convert(err).Message())
	}
	return resp, nil
}

// hostStreamErr fetches the host's real error once a Send fails: gRPC
// reports only io.EOF from Send and the status from CloseAndRecv.
func hostStreamErr(up grpc.ClientStreamingClient[hostv1.AttachFileRequest, hostv1.AttachFileResponse], err error) error {
	if errors.Is(err, io.EOF) {
		if _, rerr := up.CloseAndRecv(); rerr != nil {
			err = rerr
		}
	}
	return status.Errorf(codes.Unavailable, "upload: the host refused the file: %v", status.Convert(err).Message())
}

// uploadErr turns a failure reading the client's upload into a status.
func uploadErr(err error) error {
	if chunkio.IsProtocolError(err) {
		return status.Errorf(codes.InvalidArgument, "upload: %v", err)
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Errorf(codes.Unavailable, "upload: %v", err)
}

var fileMessageTemplate = template.Must(template.New("file").Parse(
	`<span class="file-upload">uploaded {{if .URL}}<a class="file" href="{{.URL}}" download>{{.Name}}</a>{{else}}{{.Name}}{{end}} <span class="file-size">({{.Size}})</span></span>`))

// fileMessageHTML renders the announcement of an upload. The host's URL is
// used only if it is a same-site path or http(s), so a misbehaving host
// cannot inject a javascript: link into every viewer's chat.
func fileMessageHTML(f *store.File) string {
	url := safeurl.Href(f.URL)
	var b strings.Builder
	data := struct{ URL, Name, Size string }{url, f.Name, humansize.Format(f.Size)}
	if err := fileMessageTemplate.Execute(&b, data); err != nil {
		return template.HTMLEscapeString("uploaded " + f.Name)
	}
	return b.String()
}
