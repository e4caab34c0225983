package server

import (
	"slices"
	"testing"

	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

func TestAuthorizeRoomsAnswersEachRoomLikeAuthorizeViewers(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	ctx := testCtx(t)
	open := h.openRoom("alice", "p1", "Lobby").GetId()
	secret := h.openRoom("alice", "secret", "Hidden").GetId()
	users := []string{"alice", "bob", "carol"}
	resp, err := h.c.AuthorizeRooms(ctx, &chatv1.AuthorizeRoomsRequest{Rooms: []*chatv1.AuthorizeViewersRequest{
		{RoomId: open, UserIds: users},
		{RoomId: "no dot here", UserIds: users},
		{RoomId: secret, UserIds: users},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetRooms()) != 3 {
		t.Fatalf("%d answers for 3 rooms", len(resp.GetRooms()))
	}
	for i, want := range [][]string{{"alice", "bob"}, nil, {"alice"}} {
		got := resp.GetRooms()[i]
		if !slices.Equal(got.GetAllowedUserIds(), want) {
			t.Errorf("room %d: allowed %v, want %v", i, got.GetAllowedUserIds(), want)
		}
		if (i == 1) != (got.GetError() != "") {
			t.Errorf("room %d: error %q", i, got.GetError())
		}
	}
	for i, room := range []string{open, secret} {
		one, err := h.c.AuthorizeViewers(ctx, &chatv1.AuthorizeViewersRequest{RoomId: room, UserIds: users})
		if err != nil || !slices.Equal(one.GetAllowedUserIds(), resp.GetRooms()[2*i].GetAllowedUserIds()) {
			t.Errorf("AuthorizeViewers(%s) = %v, %v; AuthorizeRooms said %v", room, one.GetAllowedUserIds(), err, resp.GetRooms()[2*i].GetAllowedUserIds())
		}
	}
}
