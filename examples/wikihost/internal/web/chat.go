package web

import (
	"fmt"

	hostsdk "github.com/pagechat/pagechat/host-sdk"

	"github.com/pagechat/pagechat/examples/wikihost/internal/wiki"
)

// NewChatHandler returns host-sdk's chat handler (the popup and its
// browser API) for client, authenticating requests the way the rest of the
// wiki does. Pass it as Config.Chat; it expects to be mounted at
// ChatPrefix. Close it before the client.
func NewChatHandler(client *hostsdk.Client, w *wiki.Wiki) (*hostsdk.Handler, error) {
	a := &authenticator{wiki: w}
	// The login form follows only a next that is a path on this site
	// (localPath), so the room's address is safe to hand it.
	h, err := hostsdk.NewHandler(client, a.chatIdentity, hostsdk.WithPrefix(ChatPrefix),
		hostsdk.WithLoginURL("/login?next="+hostsdk.LoginNext))
	if err != nil {
		return nil, fmt.Errorf("chat handler: %w", err)
	}
	return h, nil
}
