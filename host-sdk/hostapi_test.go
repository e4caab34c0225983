package hostsdk

import (
	"context"
	"errors"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

// failingAuthorizer is a Host whose permission lookups fail, as when its
// database is down.
type failingAuthorizer struct{ *testHost }

func (failingAuthorizer) CheckPermission(context.Context, string, string, Permission) (bool, error) {
	return false, errors.New("database is down")
}

func TestCheckPermissionsAnswersInOrder(t *testing.T) {
	t.Parallel()
	h := newTestHost()
	h.deny("bob", "p1", PermissionPost)
	srv := &hostAPIServer{host: h}
	check := func(user string, perm hostv1.Permission) *hostv1.CheckPermissionRequest {
		return &hostv1.CheckPermissionRequest{UserId: user, PageId: "p1", Permission: perm}
	}
	view, post := hostv1.Permission_PERMISSION_VIEW, hostv1.Permission_PERMISSION_POST
	many := make([]*hostv1.CheckPermissionRequest, maxPermissionChecks+1)
	for i := range many {
		many[i] = check("alice", view)
	}
	tests := []struct {
		name   string
		checks []*hostv1.CheckPermissionRequest
		host   Host
		want   []bool
		code   codes.Code
	}{
		{"mixed answers keep their order", []*hostv1.CheckPermissionRequest{check("alice", post), check("bob", post), check("bob", view)}, h, []bool{true, false, true}, codes.OK},
		{"no checks", nil, h, []bool{}, codes.OK},
		{"unknown permission", []*hostv1.CheckPermissionRequest{check("alice", view), check("alice", 42)}, h, nil, codes.InvalidArgument},
		{"too many", many, h, nil, codes.InvalidArgument},
		// One failed lookup fails the call: a missing answer must not
		// read as a refusal, or a flaky host would cut streams.
		{"host failure fails the call", []*hostv1.CheckPermissionRequest{check("alice", view)}, failingAuthorizer{h}, nil, codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := srv
			if tt.host != h {
				s = &hostAPIServer{host: tt.host}
			}
			resp, err := s.CheckPermissions(context.Background(), &hostv1.CheckPermissionsRequest{Checks: tt.checks})
			if status.Code(err) != tt.code {
				t.Fatalf("code = %v (%v), want %v", status.Code(err), err, tt.code)
			}
			if err == nil && !slices.Equal(resp.GetAllowed(), tt.want) {
				t.Errorf("allowed = %v, want %v", resp.GetAllowed(), tt.want)
			}
		})
	}
}

// notifierlessHost is a Host without the optional Notifier capability.
type notifierlessHost struct {
	Authorizer
	Directory
	PageWriter
	LinkResolver
}

func TestNotifyIsAnOptionalCapability(t *testing.T) {
	t.Parallel()
	h := newTestHost()
	req := &hostv1.NotifyRequest{UserId: "bob", Subject: "You were mentioned", Url: "/chat/rooms/p1.lobby"}

	if _, err := (&hostAPIServer{host: h}).Notify(context.Background(), req); err != nil {
		t.Fatalf("Notify on a host with a Notifier: %v", err)
	}
	h.mu.Lock()
	got := slices.Clone(h.notified)
	h.mu.Unlock()
	if want := []Notification{{UserID: "bob", Subject: "You were mentioned", URL: "/chat/rooms/p1.lobby"}}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}

	bare := notifierlessHost{h, h, h, h}
	_, err := (&hostAPIServer{host: bare}).Notify(context.Background(), req)
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("Notify on a host without a Notifier: %v, want Unimplemented", err)
	}
}

// linkUsers is a Host whose LinkResolver records who each link was
// resolved for.
type linkUsers struct {
	*testHost
	users []string
}

func (l *linkUsers) ResolveLink(ctx context.Context, userID, fromPageID, title string) (Link, error) {
	l.users = append(l.users, userID)
	return l.testHost.ResolveLink(ctx, userID, fromPageID, title)
}

func TestResolveLinksAnswersEveryTitleInOrder(t *testing.T) {
	t.Parallel()
	host := &linkUsers{testHost: newTestHost()} // knows page "Team"
	srv := &hostAPIServer{host: host}
	resp, err := srv.ResolveLinks(context.Background(), &hostv1.ResolveLinksRequest{
		FromPageId: "p1", Titles: []string{"Nowhere", "Team", "Elsewhere"}, UserId: "bob",
	})
	if err != nil {
		t.Fatalf("ResolveLinks: %v", err)
	}
	var exists []bool
	for _, l := range resp.GetLinks() {
		exists = append(exists, l.GetExists())
	}
	if want := []bool{false, true, false}; !slices.Equal(exists, want) {
		t.Errorf("exists = %v, want %v", exists, want)
	}
	if want := []string{"bob", "bob", "bob"}; !slices.Equal(host.users, want) {
		t.Errorf("resolved for %v, want the sender each time", host.users)
	}

	many := make([]string, maxLinksPerCall+1)
	_, err = srv.ResolveLinks(context.Background(), &hostv1.ResolveLinksRequest{Titles: many})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("%d titles: %v, want InvalidArgument", len(many), err)
	}
}
