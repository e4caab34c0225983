package hostsdk

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/pagechat/pagechat/macro"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// uploadChunkBytes is the size of the chunks streamed to the plugin; the
// protocol allows 1 MiB, and smaller chunks keep memory flat.
const uploadChunkBytes = 256 << 10

// UploadResult is a stored upload.
type UploadResult struct {
	Message Message // the message announcing the file
	File    File
	// Duplicate is set when the user had already uploaded with this
	// client id in the room: nothing new was stored and Message is the
	// earlier one.
	Duplicate bool
}

// Upload streams exactly size bytes from r into roomID as fileName. The
// plugin sanitises the name, sniffs the content type, stores the file on
// the room's page through the host's AttachFile and announces it with a
// message carrying clientID. A file over the limit fails with ErrTooLarge.
//
// Unlike other calls, Upload is not retried after a plugin crash: r has
// been consumed. Retry it with a fresh reader and the same clientID.
func (c *Client) Upload(ctx context.Context, userID, roomID, clientID, fileName string, size int64, r io.Reader) (UploadResult, error) {
	in, err := c.live(ctx)
	if err != nil {
		return UploadResult{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := in.chat.Upload(ctx)
	if err != nil {
		return UploadResult{}, fromStatus(err)
	}
	hdr := &chatv1.UploadHeader{UserId: userID, RoomId: roomID, ClientId: clientID, FileName: fileName, Size: size}
	if err := stream.Send(&chatv1.UploadRequest{Part: &chatv1.UploadRequest_Header{Header: hdr}}); err != nil {
		return UploadResult{}, uploadFailure(stream, err)
	}
	buf := make([]byte, uploadChunkBytes)
	var sent int64
	for sent < size {
		n, rerr := io.ReadFull(r, buf[:min(int64(len(buf)), size-sent)])
		if n > 0 {
			if err := stream.Send(&chatv1.UploadRequest{Part: &chatv1.UploadRequest_Chunk{Chunk: buf[:n]}}); err != nil {
				return UploadResult{}, uploadFailure(stream, err)
			}
			sent += int64(n)
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
				return UploadResult{}, &Error{Kind: ErrInvalidArgument, Message: fmt.Sprintf("upload ended after %d of %d bytes", sent, size)}
			}
			return UploadResult{}, fmt.Errorf("read upload: %w", rerr)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return UploadResult{}, fromStatus(err)
	}
	return uploadResultFromProto(resp), nil
}

func uploadResultFromProto(r *chatv1.UploadResponse) UploadResult {
	res := UploadResult{Message: messageFromProto(r.GetMessage()), Duplicate: r.GetDuplicate()}
	if f := fileFromProto(r.GetFile()); f != nil {
		res.File = *f
	}
	return res
}

// uploadFailure gets the plugin's real status once Send fails: gRPC reports
// only io.EOF from Send on a stream the server has already ended.
func uploadFailure(stream chatv1.ChatPlugin_UploadClient, err error) error {
	if errors.Is(err, io.EOF) {
		if _, rerr := stream.CloseAndRecv(); rerr != nil {
			return fromStatus(rerr)
		}
	}
	return fromStatus(err)
}

// mayPost asks the host's Authorizer directly whether userID may post in
// roomID. The plugin checks again on Upload; this early answer exists so
// the browser API can refuse a forbidden upload before reading (and
// spooling) a body of up to the upload limit. A malformed room id is left
// to the plugin, which refuses it as it refuses every other call.
func (c *Client) mayPost(ctx context.Context, userID, roomID string) error {
	pageID, _, err := macro.SplitRoomID(roomID)
	if err != nil {
		return &Error{Kind: ErrRoomNotFound, Message: err.Error()}
	}
	ok, err := c.host.CheckPermission(ctx, userID, pageID, PermissionPost)
	if err != nil {
		return fmt.Errorf("check post permission on page %q: %w: %w", pageID, ErrHostFailed, err)
	}
	if !ok {
		return &Error{Kind: ErrPermissionDenied, Message: fmt.Sprintf("%s may not post on page %s", userID, pageID)}
	}
	return nil
}
