package server

import (
	"context"
	"fmt"
	"time"

	"github.com/pagechat/pagechat/plugin/internal/hub"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

// typingPerMinute bounds one user's typing signals per room. Clients send
// one every few seconds while the user types (the popup: at most one per
// 3 s, 20 a minute); the bound leaves room for two windows typing at once
// and stops a script from flooding every viewer of the room.
const typingPerMinute = 40

// typing checks that userID may post in roomID and tells the room's open
// streams that they type. Nothing is stored: a signal nobody is connected
// to see is simply gone, which is what a typing indicator wants.
func (rt *runtime) typing(ctx context.Context, userID, roomID string) error {
	pageID, err := checkRoomRequest(userID, roomID)
	if err != nil {
		return err
	}
	if err := rt.authorize(ctx, userID, pageID, hostv1.Permission_PERMISSION_POST); err != nil {
		return err
	}
	if err := rt.checkBan(ctx, roomID, userID); err != nil {
		return err
	}
	if ok, wait := rt.typingLimit.allow(userID, roomID); !ok {
		return &rateLimitedError{
			msg:  fmt.Sprintf("user %q signals typing in room %q too often; retry in %v", userID, roomID, wait.Round(time.Second)),
			wait: wait,
		}
	}
	name, err := rt.users.displayName(ctx, userID)
	if err != nil {
		return err
	}
	rt.hub.Publish(roomID, hub.Event{Typing: &hub.Typing{UserID: userID, DisplayName: name, At: rt.now()}})
	return nil
}
