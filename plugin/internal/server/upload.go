package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc"

	"github.com/pagechat/pagechat/internal/chunkio"
	"github.com/pagechat/pagechat/internal/humansize"
	"github.com/pagechat/pagechat/internal/safeurl"
	"github.com/pagechat/pagechat/plugin/internal/store"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

const (
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
		return toStatus(err)
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	h := first.GetHeader()
	if h == nil {
		return toStatus(failf(errInvalid, "upload: the first message must be the header"))
	}
	req := uploadRequest{
		userID: h.GetUserId(), roomID: h.GetRoomId(), clientID: h.GetClientId(),
		fileName: h.GetFileName(), size: h.GetSize(),
	}
	content := chunkio.FromStream[*chatv1.UploadRequest, *chatv1.UploadHeader](h.GetSize(), stream.Recv)
	msg, epoch, duplicate, err := rt.upload(stream.Context(), req, content)
	if err != nil {
		return toStatus(err)
	}
	pm := messageToProto(msg, epoch)
	return stream.SendAndClose(&chatv1.UploadResponse{Message: pm, File: pm.GetFile(), Duplicate: duplicate})
}

// uploadRequest is the header of an upload.
type uploadRequest struct {
	userID, roomID, clientID, fileName string
	size                               int64
}

// upload checks an upload, sniffs its type, relays it to the host and
// posts the message announcing it. content yields exactly req.size bytes.
func (rt *runtime) upload(ctx context.Context, req uploadRequest, content io.Reader) (msg store.Message, epoch string, duplicate bool, err error) {
	pageID, err := checkRoomRequest(req.userID, req.roomID)
	if err != nil {
		return store.Message{}, "", false, err
	}
	if err := checkClientID(req.clientID); err != nil {
		return store.Message{}, "", false, err
	}
	switch {
	case req.size == 0:
		return store.Message{}, "", false, failf(errInvalid, "upload: the file is empty; there is nothing to upload")
	case req.size < 0:
		return store.Message{}, "", false, failf(errInvalid, "upload: the file's size is %d; it cannot be negative", req.size)
	case req.size > rt.maxUploadBytes:
		return store.Message{}, "", false, failf(errTooLarge, "upload: file is %d bytes; the limit is %d", req.size, rt.maxUploadBytes)
	}
	if err := rt.authorize(ctx, req.userID, pageID, hostv1.Permission_PERMISSION_POST); err != nil {
		return store.Message{}, "", false, err
	}
	if err := rt.checkBan(ctx, req.roomID, req.userID); err != nil {
		return store.Message{}, "", false, err
	}
	if _, err := rt.store.Room(ctx, req.roomID); err != nil {
		return store.Message{}, "", false, storeErr(err, req.roomID)
	}
	// A retry must not store the file again: look for the sender's
	// earlier upload before anything reaches the host, since the store's
	// own deduplication comes only after the file is attached and would
	// leave the second copy on the page with no message pointing at it.
	if prev, found, err := rt.store.ByClientID(ctx, req.roomID, req.userID, req.clientID); err != nil {
		return store.Message{}, "", false, storeErr(err, req.roomID)
	} else if found {
		// Read the rest before answering: a client still sending the file
		// would otherwise see its stream end early and take the answer
		// for a failure.
		if _, err := io.Copy(io.Discard, content); err != nil {
			return store.Message{}, "", false, uploadErr(err)
		}
		epoch, err := rt.epoch(ctx, req.roomID)
		if err != nil {
			return store.Message{}, "", false, storeErr(err, req.roomID)
		}
		return prev, epoch, true, nil
	}
	// An upload is a message too, so it counts against the same rate as
	// sends; its bytes also count against a quota, since every one of
	// them ends up on the host's disk.
	if err := rt.rateLimit(req.userID, req.roomID); err != nil {
		return store.Message{}, "", false, err
	}
	if err := rt.takeUploadQuota(req.userID, req.roomID, req.size); err != nil {
		return store.Message{}, "", false, err
	}
	stored := false
	defer func() {
		if !stored {
			rt.quota.refund(req.userID, req.roomID, req.size)
		}
	}()
	name := SanitizeFileName(req.fileName)

	// Sniff before anything reaches the host: the browser's claimed type
	// is not trusted.
	head := make([]byte, min(int64(sniffBytes), req.size))
	if _, err := io.ReadFull(content, head); err != nil {
		return store.Message{}, "", false, uploadErr(err)
	}
	ctype := http.DetectContentType(head)
	var thumb *thumbnail
	if thumbTypes[ctype] {
		// An image: read a little more to learn its size for the
		// thumbnail (see imageHeadBytes).
		more := make([]byte, min(int64(imageHeadBytes), req.size)-int64(len(head)))
		if _, err := io.ReadFull(content, more); err != nil {
			return store.Message{}, "", false, uploadErr(err)
		}
		head = append(head, more...)
		thumb = &thumbnail{}
		if w, h, ok := imageSize(head, ctype); ok {
			thumb.Width, thumb.Height = thumbSize(w, h)
		}
	}

	att, err := rt.host.attachFile(ctx, &hostv1.AttachFileHeader{
		PageId:      pageID,
		FileName:    name,
		ContentType: ctype,
		Size:        req.size,
		UserId:      req.userID,
	}, io.MultiReader(bytes.NewReader(head), content))
	if err != nil {
		return store.Message{}, "", false, err
	}
	stored = true

	userName, err := rt.users.displayName(ctx, req.userID)
	if err != nil {
		return store.Message{}, "", false, err
	}
	file := &store.File{
		ID:          att.GetFileId(),
		Name:        name,
		URL:         att.GetUrl(),
		ContentType: ctype,
		Size:        req.size,
		UserID:      req.userID,
	}
	msg, duplicate, err = rt.store.Append(ctx, req.roomID, store.NewMessage{
		ClientID: req.clientID,
		UserID:   req.userID,
		UserName: userName,
		Text:     "uploaded " + name,
		HTML:     fileMessageHTML(file, thumb),
		File:     file,
	})
	if err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			// The store's batch failed as a whole, so no message
			// announces the file: take it off the page again, so an
			// upload on a full disk stores nothing. (Not on other
			// errors: a cancelled send may still be committed.)
			rt.dropOrphan(ctx, pageID, req.roomID, att.GetFileId(), req.userID, "the disk is full, so its message could not be stored")
		}
		return store.Message{}, "", false, storeErr(err, req.roomID)
	}
	if duplicate {
		// Two uploads with the same client id raced past the check above;
		// the earlier message points at its own copy, so this one goes.
		rt.dropOrphan(ctx, pageID, req.roomID, att.GetFileId(), req.userID, "a concurrent retry stored the upload first")
	}
	epoch, err = rt.epoch(ctx, req.roomID)
	if err != nil {
		return store.Message{}, "", false, storeErr(err, req.roomID)
	}
	rt.logger.Info("file uploaded", "room", req.roomID, "user", req.userID, "file", name, "bytes", req.size, "type", ctype)
	return msg, epoch, duplicate, nil
}

// dropOrphan asks the host to remove a file it stored for an upload that no
// message announces, so no page keeps a file the chat never shows. The
// upload's own context may be ending, so the removal does not end with it
// (deleteFile bounds it with the host call timeout).
func (rt *runtime) dropOrphan(ctx context.Context, pageID, roomID, fileID, userID, why string) {
	err := rt.host.deleteFile(context.WithoutCancel(ctx), pageID, fileID, userID)
	switch {
	case err == nil:
		rt.logger.Info("removed an uploaded file no message announces", "room", roomID, "page", pageID, "file", fileID, "why", why)
	case errors.Is(err, errHostUnimplemented):
		rt.logger.Warn("an uploaded file no message announces stays on the page: the host cannot remove files", "room", roomID, "page", pageID, "file", fileID, "why", why)
	default:
		rt.logger.Warn("removing an uploaded file no message announces failed", "room", roomID, "page", pageID, "file", fileID, "why", why, "error", err)
	}
}

// takeUploadQuota spends size bytes of the user's upload quota in the
// room, or refuses the upload saying when it would fit.
func (rt *runtime) takeUploadQuota(userID, roomID string, size int64) error {
	ok, wait := rt.quota.take(userID, roomID, size)
	if ok {
		return nil
	}
	per := int64(rt.quota.capacity)
	if size > per {
		return &quotaError{msg: fmt.Sprintf("upload: the file is %s, more than the %s a user may upload to a room per hour",
			humansize.Format(size), humansize.Format(per))}
	}
	return &quotaError{msg: fmt.Sprintf("upload: you have uploaded the %s allowed per room per hour; this file fits again in %v",
		humansize.Format(per), wait.Round(time.Second))}
}

// thumbnail is how an uploaded image is shown in the message list; width
// and height are 0 when the image's size could not be read.
type thumbnail struct {
	Width, Height int
}

var fileMessageTemplate = template.Must(template.New("file").Parse(
	`<span class="file-upload">uploaded {{if .URL}}<a class="file" href="{{.URL}}" download>{{.Name}}</a>{{else}}{{.Name}}{{end}} <span class="file-size">({{.Size}})</span></span>` +
		`{{if and .URL .Thumb}}<a class="file-thumb" href="{{.URL}}" target="_blank" rel="noopener"><img src="{{.URL}}" alt="{{.Name}}" loading="lazy"` +
		`{{if .Thumb.Width}} width="{{.Thumb.Width}}" height="{{.Thumb.Height}}"{{end}}></a>{{end}}`))

// fileMessageHTML renders the announcement of an upload, with a thumbnail
// linking to the full image when thumb is set. The host's URL is used only
// if it is a same-site path or http(s), so a misbehaving host cannot
// inject a javascript: link into every viewer's chat.
func fileMessageHTML(f *store.File, thumb *thumbnail) string {
	url := safeurl.Href(f.URL)
	var b strings.Builder
	data := struct {
		URL, Name, Size string
		Thumb           *thumbnail
	}{url, f.Name, humansize.Format(f.Size), thumb}
	if err := fileMessageTemplate.Execute(&b, data); err != nil {
		return template.HTMLEscapeString("uploaded " + f.Name)
	}
	return b.String()
}
