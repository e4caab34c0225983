package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pagechat/pagechat/internal/chunkio"
	"github.com/pagechat/pagechat/plugin/internal/mention"
	"github.com/pagechat/pagechat/plugin/internal/render"
	"github.com/pagechat/pagechat/plugin/internal/store"
	"github.com/pagechat/pagechat/plugin/internal/transcript"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

// hostCallTimeout bounds each HostAPI call, so a hung host fails a request
// instead of hanging it.
const hostCallTimeout = 5 * time.Second

// hostClient is the plugin's one way to reach the host's callback API. It
// owns the per-call timeout and turns every failure into a hostError
// (errHostFailed), except the caller's own cancellation, which stays a
// context error. Nothing else in the plugin touches the generated client.
type hostClient struct {
	api hostv1.HostAPIClient
	// single is set once the host turns out not to implement
	// CheckPermissions (an older host-sdk): questions then go one by one.
	single atomic.Bool
	// noBatchLinks is set once the host turns out not to implement
	// ResolveLinks: links are then resolved one by one.
	noBatchLinks atomic.Bool
	// noSearchUsers is set once the host turns out not to implement
	// SearchUsers: mentions then resolve against participants and exact
	// user ids only.
	noSearchUsers atomic.Bool
}

var (
	_ transcript.PageWriter   = (*hostClient)(nil)
	_ transcript.ParentFinder = (*hostClient)(nil)
)

func newHostClient(api hostv1.HostAPIClient) *hostClient {
	return &hostClient{api: api}
}

// failed wraps a failed call. ctx is the caller's context, before the call
// timeout was added: if it ended, the caller gave up and the host is not
// to blame.
func (h *hostClient) failed(ctx context.Context, err error, format string, args ...any) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return &hostError{what: fmt.Sprintf(format, args...), err: err}
}

// checkPermissions asks about several permissions in one CheckPermissions
// call, or one call each for a host without it.
func (h *hostClient) checkPermissions(ctx context.Context, keys []permKey) ([]bool, error) {
	callCtx, cancel := context.WithTimeout(ctx, hostCallTimeout)
	defer cancel()
	if !h.single.Load() && len(keys) > 1 {
		req := &hostv1.CheckPermissionsRequest{Checks: make([]*hostv1.CheckPermissionRequest, len(keys))}
		for i, k := range keys {
			req.Checks[i] = &hostv1.CheckPermissionRequest{UserId: k.user, PageId: k.page, Permission: k.perm}
		}
		resp, err := h.api.CheckPermissions(callCtx, req)
		switch {
		case status.Code(err) == codes.Unimplemented:
			h.single.Store(true)
		case err != nil:
			return nil, h.failed(ctx, err, "cannot check permission with the host")
		case len(resp.GetAllowed()) != len(keys):
			return nil, h.failed(ctx, fmt.Errorf("host answered %d of %d permission checks", len(resp.GetAllowed()), len(keys)), "cannot check permission with the host")
		default:
			return resp.GetAllowed(), nil
		}
	}
	allowed := make([]bool, len(keys))
	for i, k := range keys {
		resp, err := h.api.CheckPermission(callCtx, &hostv1.CheckPermissionRequest{UserId: k.user, PageId: k.page, Permission: k.perm})
		if err != nil {
			return nil, h.failed(ctx, err, "cannot check permission with the host")
		}
		allowed[i] = resp.GetAllowed()
	}
	return allowed, nil
}

// displayName returns the user's display name, or "" if the host does not
// know the user or gives no name.
func (h *hostClient) displayName(ctx context.Context, userID string) (string, error) {
	callCtx, cancel := context.WithTimeout(ctx, hostCallTimeout)
	defer cancel()
	resp, err := h.api.GetUser(callCtx, &hostv1.GetUserRequest{UserId: userID})
	switch {
	case status.Code(err) == codes.NotFound:
		return "", nil
	case err != nil:
		return "", h.failed(ctx, err, "cannot look up user %q with the host", userID)
	}
	return resp.GetUser().GetDisplayName(), nil
}

// ResolveLink resolves a wiki link in a message as userID sees it: the host
// answers as for a missing page when userID may not view the linked page.
func (h *hostClient) ResolveLink(ctx context.Context, userID, fromPageID, title string) (render.Link, error) {
	callCtx, cancel := context.WithTimeout(ctx, hostCallTimeout)
	defer cancel()
	resp, err := h.api.ResolveLink(callCtx, &hostv1.ResolveLinkRequest{FromPageId: fromPageID, Title: title, UserId: userID})
	if err != nil {
		return render.Link{}, h.failed(ctx, err, "cannot resolve link %q with the host", title)
	}
	return render.Link{URL: resp.GetUrl(), Exists: resp.GetExists()}, nil
}

// linksFor returns a resolver that resolves every link as userID. A message
// is rendered once, at send time, and its HTML is stored and shown to every
// reader and in transcripts, so resolving as anyone but the sender (or as
// nobody in particular) would let a link reveal a page its writer may not
// see (finding #10).
func (h *hostClient) linksFor(userID string) render.LinkResolver {
	return senderLinks{host: h, userID: userID}
}

// senderLinks resolves a message's links as its sender, all in one call
// where the host offers ResolveLinks.
type senderLinks struct {
	host   *hostClient
	userID string
}

var _ render.BatchLinkResolver = senderLinks{}

func (s senderLinks) ResolveLink(ctx context.Context, fromPageID, title string) (render.Link, error) {
	return s.host.ResolveLink(ctx, s.userID, fromPageID, title)
}

func (s senderLinks) ResolveLinks(ctx context.Context, fromPageID string, titles []string) ([]render.Link, error) {
	return s.host.resolveLinks(ctx, s.userID, fromPageID, titles)
}

// resolveLinks asks about all of a message's titles in one ResolveLinks
// call, or one ResolveLink each from a host without it. A link bomb then
// costs one round trip instead of one per link, in series.
func (h *hostClient) resolveLinks(ctx context.Context, userID, fromPageID string, titles []string) ([]render.Link, error) {
	if !h.noBatchLinks.Load() {
		callCtx, cancel := context.WithTimeout(ctx, hostCallTimeout)
		defer cancel()
		resp, err := h.api.ResolveLinks(callCtx, &hostv1.ResolveLinksRequest{FromPageId: fromPageID, Titles: titles, UserId: userID})
		switch {
		case status.Code(err) == codes.Unimplemented:
			h.noBatchLinks.Store(true)
		case err != nil:
			return nil, h.failed(ctx, err, "cannot resolve %d links with the host", len(titles))
		case len(resp.GetLinks()) != len(titles):
			return nil, h.failed(ctx, fmt.Errorf("host answered %d of %d links", len(resp.GetLinks()), len(titles)), "cannot resolve links with the host")
		default:
			links := make([]render.Link, len(titles))
			for i, l := range resp.GetLinks() {
				links[i] = render.Link{URL: l.GetUrl(), Exists: l.GetExists()}
			}
			return links, nil
		}
	}
	links := make([]render.Link, len(titles))
	for i, title := range titles {
		l, err := h.ResolveLink(ctx, userID, fromPageID, title)
		if err != nil {
			return nil, err
		}
		links[i] = l
	}
	return links, nil
}

// UpsertChildPage writes a transcript page.
func (h *hostClient) UpsertChildPage(ctx context.Context, parentID, key, title, bodyHTML string) (string, error) {
	callCtx, cancel := context.WithTimeout(ctx, hostCallTimeout)
	defer cancel()
	resp, err := h.api.UpsertChildPage(callCtx, &hostv1.UpsertChildPageRequest{ParentPageId: parentID, Key: key, Title: title, BodyHtml: bodyHTML})
	if err != nil {
		return "", h.failed(ctx, err, "host did not store page %q", title)
	}
	return resp.GetPage().GetUrl(), nil
}

// ParentPage reads the chat page a transcript hangs under.
func (h *hostClient) ParentPage(ctx context.Context, pageID string) (transcript.Parent, error) {
	callCtx, cancel := context.WithTimeout(ctx, hostCallTimeout)
	defer cancel()
	resp, err := h.api.GetPage(callCtx, &hostv1.GetPageRequest{PageId: pageID})
	if err != nil {
		return transcript.Parent{}, h.failed(ctx, err, "cannot read page %q from the host", pageID)
	}
	return transcript.Parent{Title: resp.GetPage().GetTitle(), URL: resp.GetPage().GetUrl()}, nil
}

// attachFile relays content to HostAPI.AttachFile in chunks of
// uploadChunk. It has no overall timeout (a large file takes as long as
// the uploader's connection needs); if the upload breaks off, the host
// stream is cancelled so the host discards the file.
func (h *hostClient) attachFile(ctx context.Context, hdr *hostv1.AttachFileHeader, content io.Reader) (*hostv1.AttachFileResponse, error) {
	streamCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	up, err := h.api.AttachFile(streamCtx)
	if err != nil {
		return nil, h.failed(ctx, err, "upload: reach the host")
	}
	if err := up.Send(&hostv1.AttachFileRequest{Part: &hostv1.AttachFileRequest_Header{Header: hdr}}); err != nil {
		return nil, h.failed(ctx, hostStreamErr(up, err), "upload: the host refused the file")
	}
	buf := make([]byte, uploadChunk)
	for {
		n, rerr := io.ReadFull(content, buf)
		if n > 0 {
			if err := up.Send(&hostv1.AttachFileRequest{Part: &hostv1.AttachFileRequest_Chunk{Chunk: buf[:n]}}); err != nil {
				return nil, h.failed(ctx, hostStreamErr(up, err), "upload: the host refused the file")
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			// The uploader's side broke, not the host's.
			return nil, uploadErr(rerr)
		}
	}
	resp, err := up.CloseAndRecv()
	if err != nil {
		return nil, h.failed(ctx, err, "upload: the host did not store the file")
	}
	return resp, nil
}

// hostStreamErr fetches the host's real error once a Send fails: gRPC
// reports only io.EOF from Send and the status from CloseAndRecv.
func hostStreamErr(up grpc.ClientStreamingClient[hostv1.AttachFileRequest, hostv1.AttachFileResponse], err error) error {
	if errors.Is(err, io.EOF) {
		if _, rerr := up.CloseAndRecv(); rerr != nil {
			return rerr
		}
	}
	return err
}

// uploadErr turns a failure reading the uploader's stream into an error
// of the right kind.
func uploadErr(err error) error {
	if chunkio.IsProtocolError(err) {
		return failf(errInvalid, "upload: %v", err)
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return failf(errStopping, "upload: %v", err)
}

// errHostUnimplemented is a callback the host does not offer (an optional
// capability, or an older host-sdk).
var errHostUnimplemented = errors.New("the host does not implement this callback")

// deleteFile asks the host to remove an attached file from its page. A host
// without the callback answers errHostUnimplemented; an unknown file counts
// as removed.
func (h *hostClient) deleteFile(ctx context.Context, pageID, fileID, userID string) error {
	callCtx, cancel := context.WithTimeout(ctx, hostCallTimeout)
	defer cancel()
	_, err := h.api.DeleteFile(callCtx, &hostv1.DeleteFileRequest{PageId: pageID, FileId: fileID, UserId: userID})
	switch status.Code(err) {
	case codes.OK, codes.NotFound:
		return nil
	case codes.Unimplemented:
		return errHostUnimplemented
	}
	return h.failed(ctx, err, "remove file %q from page %q", fileID, pageID)
}

// errNoNotifier says the host does not take notifications (it answered
// Unimplemented): alerts are then dropped rather than retried forever.
var errNoNotifier = errors.New("host does not take notifications")

// notify delivers one alert through HostAPI.Notify.
func (h *hostClient) notify(ctx context.Context, a store.Alert) error {
	callCtx, cancel := context.WithTimeout(ctx, hostCallTimeout)
	defer cancel()
	_, err := h.api.Notify(callCtx, &hostv1.NotifyRequest{
		Id: a.ID, UserId: a.UserID, RoomId: a.RoomID, Kind: a.Kind, Subject: a.Subject, Body: a.Body, Url: a.URL,
	})
	switch {
	case status.Code(err) == codes.Unimplemented:
		return errNoNotifier
	case err != nil:
		return h.failed(ctx, err, "host did not take notification %q", a.ID)
	}
	return nil
}

// pageAuthor returns the user who created a page, "" if none or unknown.
func (h *hostClient) pageAuthor(ctx context.Context, pageID string) (string, error) {
	callCtx, cancel := context.WithTimeout(ctx, hostCallTimeout)
	defer cancel()
	resp, err := h.api.GetPage(callCtx, &hostv1.GetPageRequest{PageId: pageID})
	switch {
	case status.Code(err) == codes.NotFound, status.Code(err) == codes.Unimplemented:
		return "", nil
	case err != nil:
		return "", h.failed(ctx, err, "cannot read page %q from the host", pageID)
	}
	return resp.GetPage().GetAuthorId(), nil
}

// searchUsers lists users who may view pageID whose id or name starts with
// prefix. A host without SearchUsers gives nil and no error.
func (h *hostClient) searchUsers(ctx context.Context, pageID, prefix string, limit int) ([]mention.User, error) {
	if h.noSearchUsers.Load() {
		return nil, nil
	}
	callCtx, cancel := context.WithTimeout(ctx, hostCallTimeout)
	defer cancel()
	resp, err := h.api.SearchUsers(callCtx, &hostv1.SearchUsersRequest{PageId: pageID, Prefix: prefix, Limit: int32(limit)})
	switch {
	case status.Code(err) == codes.Unimplemented:
		h.noSearchUsers.Store(true)
		return nil, nil
	case err != nil:
		return nil, h.failed(ctx, err, "cannot search users with the host")
	}
	out := make([]mention.User, 0, len(resp.GetUsers()))
	for _, u := range resp.GetUsers() {
		out = append(out, mention.User{ID: u.GetId(), DisplayName: u.GetDisplayName()})
	}
	return out, nil
}
