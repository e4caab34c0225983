package hostsdk

import (
	"context"
	"errors"
	"io"
	"syscall"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pagechat/pagechat/internal/chunkio"
	"github.com/pagechat/pagechat/internal/handshake"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

// hostAPIServer serves a Host to the plugin over the broker.
type hostAPIServer struct {
	hostv1.UnimplementedHostAPIServer
	host Host
}

var _ hostv1.HostAPIServer = (*hostAPIServer)(nil)

// toStatus turns a Host method's error into the status the plugin
// receives. A Host says "my disk is full" by returning an error that
// wraps syscall.ENOSPC, as os file writes do.
func toStatus(op string, err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return status.Errorf(codes.NotFound, "%s: %v", op, err)
	case errors.Is(err, syscall.ENOSPC):
		st := status.Newf(codes.ResourceExhausted, "%s: the host's disk is full", op)
		if detailed, derr := st.WithDetails(&errdetails.ErrorInfo{Domain: handshake.ErrorDomain, Reason: handshake.ReasonStorageFull}); derr == nil {
			st = detailed
		}
		return st.Err()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return status.Errorf(codes.Unavailable, "%s: host error: %v", op, err)
}

func permissionFromProto(p hostv1.Permission) (Permission, bool) {
	switch p {
	case hostv1.Permission_PERMISSION_VIEW:
		return PermissionView, true
	case hostv1.Permission_PERMISSION_POST:
		return PermissionPost, true
	case hostv1.Permission_PERMISSION_MODERATE:
		return PermissionModerate, true
	}
	return 0, false
}

func (s *hostAPIServer) CheckPermission(ctx context.Context, req *hostv1.CheckPermissionRequest) (*hostv1.CheckPermissionResponse, error) {
	perm, ok := permissionFromProto(req.GetPermission())
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "unknown permission %v", req.GetPermission())
	}
	allowed, err := s.host.CheckPermission(ctx, req.GetUserId(), req.GetPageId(), perm)
	if err != nil {
		return nil, toStatus("check permission", err)
	}
	return &hostv1.CheckPermissionResponse{Allowed: allowed}, nil
}

// maxPermissionChecks bounds one CheckPermissions call, as the proto
// promises, so a single call cannot hold the host for long.
const maxPermissionChecks = 1000

// CheckPermissions answers each check with the host's Authorizer. The
// saving is in round trips across the process boundary, which cost far
// more than an in-process permission lookup.
func (s *hostAPIServer) CheckPermissions(ctx context.Context, req *hostv1.CheckPermissionsRequest) (*hostv1.CheckPermissionsResponse, error) {
	checks := req.GetChecks()
	if len(checks) > maxPermissionChecks {
		return nil, status.Errorf(codes.InvalidArgument, "%d permission checks; at most %d per call", len(checks), maxPermissionChecks)
	}
	resp := &hostv1.CheckPermissionsResponse{Allowed: make([]bool, len(checks))}
	for i, c := range checks {
		perm, ok := permissionFromProto(c.GetPermission())
		if !ok {
			return nil, status.Errorf(codes.InvalidArgument, "check %d: unknown permission %v", i, c.GetPermission())
		}
		allowed, err := s.host.CheckPermission(ctx, c.GetUserId(), c.GetPageId(), perm)
		if err != nil {
			return nil, toStatus("check permission", err)
		}
		resp.Allowed[i] = allowed
	}
	return resp, nil
}

func pageToProto(p Page) *hostv1.Page {
	return &hostv1.Page{Id: p.ID, Title: p.Title, Url: p.URL, ParentId: p.ParentID, AuthorId: p.AuthorID}
}

func (s *hostAPIServer) GetPage(ctx context.Context, req *hostv1.GetPageRequest) (*hostv1.GetPageResponse, error) {
	p, err := s.host.GetPage(ctx, req.GetPageId())
	if err != nil {
		return nil, toStatus("get page", err)
	}
	return &hostv1.GetPageResponse{Page: pageToProto(p)}, nil
}

func (s *hostAPIServer) GetUser(ctx context.Context, req *hostv1.GetUserRequest) (*hostv1.GetUserResponse, error) {
	u, err := s.host.GetUser(ctx, req.GetUserId())
	if err != nil {
		return nil, toStatus("get user", err)
	}
	return &hostv1.GetUserResponse{User: &hostv1.User{Id: u.ID, DisplayName: u.DisplayName}}, nil
}

func childPageFromProto(r *hostv1.UpsertChildPageRequest) ChildPage {
	return ChildPage{ParentID: r.GetParentPageId(), Key: r.GetKey(), Title: r.GetTitle(), BodyHTML: r.GetBodyHtml()}
}

func (s *hostAPIServer) UpsertChildPage(ctx context.Context, req *hostv1.UpsertChildPageRequest) (*hostv1.UpsertChildPageResponse, error) {
	p, err := s.host.UpsertChildPage(ctx, childPageFromProto(req))
	if err != nil {
		return nil, toStatus("upsert child page", err)
	}
	return &hostv1.UpsertChildPageResponse{Page: pageToProto(p)}, nil
}

func (s *hostAPIServer) ResolveLink(ctx context.Context, req *hostv1.ResolveLinkRequest) (*hostv1.ResolveLinkResponse, error) {
	l, err := s.host.ResolveLink(ctx, req.GetUserId(), req.GetFromPageId(), req.GetTitle())
	if err != nil {
		return nil, toStatus("resolve link", err)
	}
	return &hostv1.ResolveLinkResponse{Exists: l.Exists, Url: l.URL}, nil
}

// maxLinksPerCall bounds one ResolveLinks call, as the proto promises; the
// plugin asks about at most its per-message cap of distinct titles.
const maxLinksPerCall = 100

// ResolveLinks answers all of a message's links in one round trip. The
// host's LinkResolver is asked once per title, in process, which costs
// nothing like the gRPC round trip it saves per link.
func (s *hostAPIServer) ResolveLinks(ctx context.Context, req *hostv1.ResolveLinksRequest) (*hostv1.ResolveLinksResponse, error) {
	if n := len(req.GetTitles()); n > maxLinksPerCall {
		return nil, status.Errorf(codes.InvalidArgument, "%d titles; at most %d per call", n, maxLinksPerCall)
	}
	resp := &hostv1.ResolveLinksResponse{Links: make([]*hostv1.ResolveLinkResponse, len(req.GetTitles()))}
	for i, title := range req.GetTitles() {
		l, err := s.host.ResolveLink(ctx, req.GetUserId(), req.GetFromPageId(), title)
		if err != nil {
			return nil, toStatus("resolve links", err)
		}
		resp.Links[i] = &hostv1.ResolveLinkResponse{Exists: l.Exists, Url: l.URL}
	}
	return resp, nil
}

func notificationFromProto(r *hostv1.NotifyRequest) Notification {
	return Notification{ID: r.GetId(), UserID: r.GetUserId(), RoomID: r.GetRoomId(), Kind: r.GetKind(),
		Subject: r.GetSubject(), Body: r.GetBody(), URL: r.GetUrl()}
}

func (s *hostAPIServer) Notify(ctx context.Context, req *hostv1.NotifyRequest) (*hostv1.NotifyResponse, error) {
	n, ok := s.host.(Notifier)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this host does not deliver notifications")
	}
	err := n.Notify(ctx, notificationFromProto(req))
	if err != nil {
		return nil, toStatus("notify", err)
	}
	return &hostv1.NotifyResponse{}, nil
}

func (s *hostAPIServer) DeleteFile(ctx context.Context, req *hostv1.DeleteFileRequest) (*hostv1.DeleteFileResponse, error) {
	r, ok := s.host.(FileRemover)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this host does not remove files")
	}
	if err := r.DeleteFile(ctx, req.GetPageId(), req.GetFileId(), req.GetUserId()); err != nil {
		return nil, toStatus("delete file", err)
	}
	return &hostv1.DeleteFileResponse{}, nil
}

func fileInfoFromProto(h *hostv1.AttachFileHeader) FileInfo {
	return FileInfo{
		PageID:      h.GetPageId(),
		UserID:      h.GetUserId(),
		Name:        h.GetFileName(),
		ContentType: h.GetContentType(),
		Size:        h.GetSize(),
	}
}

// AttachFile reads the header, then hands the host a reader over the chunks
// so that a large file never sits in memory whole.
func (s *hostAPIServer) AttachFile(stream hostv1.HostAPI_AttachFileServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	h := first.GetHeader()
	if h == nil {
		return status.Error(codes.InvalidArgument, "attach file: the first message must be the header")
	}
	if h.GetSize() < 0 {
		return status.Errorf(codes.InvalidArgument, "attach file: negative size %d", h.GetSize())
	}
	content := &streamErrors{r: chunkio.FromStream[*hostv1.AttachFileRequest, *hostv1.AttachFileHeader](h.GetSize(), stream.Recv)}
	att, err := s.host.AttachFile(stream.Context(), fileInfoFromProto(h), content)
	if err != nil {
		if content.err != nil {
			if chunkio.IsProtocolError(content.err) {
				return status.Errorf(codes.InvalidArgument, "attach file: %v", content.err)
			}
			return content.err
		}
		return toStatus("attach file", err)
	}
	return stream.SendAndClose(&hostv1.AttachFileResponse{FileId: att.ID, Url: att.URL})
}

// streamErrors remembers why reading the stream failed (the plugin broke
// the protocol or the stream), so AttachFile reports that rather than
// whatever the host made of the failed read.
type streamErrors struct {
	r   io.Reader
	err error
}

func (s *streamErrors) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	if err != nil && !errors.Is(err, io.EOF) {
		s.err = err
	}
	return n, err
}
