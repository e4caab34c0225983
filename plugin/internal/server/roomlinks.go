package server

import (
	"html/template"

	"github.com/pagechat/pagechat/internal/roomlink"
	"github.com/pagechat/pagechat/plugin/internal/macrotable"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// roomLinkSetting is one of ConfigureRequest.room_links, checked.
type roomLinkSetting struct {
	label, url string
}

// roomLinksFrom checks the host's extra room links.
func roomLinksFrom(req *chatv1.ConfigureRequest) ([]roomLinkSetting, error) {
	links := req.GetRoomLinks()
	if len(links) > roomlink.MaxLinks {
		return nil, failf(errInvalid, "room_links: at most %d", roomlink.MaxLinks)
	}
	out := make([]roomLinkSetting, 0, len(links))
	for _, l := range links {
		if err := roomlink.Check(l.GetLabel(), l.GetUrl()); err != nil {
			return nil, failf(errInvalid, "room_links: %v", err)
		}
		out = append(out, roomLinkSetting{label: l.GetLabel(), url: l.GetUrl()})
	}
	return out, nil
}

// tableLinks are the extra links of one room's table. The templates were
// checked (scheme allow-list) at Configure, so the expanded URLs are safe
// to mark as such for html/template, which would otherwise refuse xmpp:.
func (rt *runtime) tableLinks(roomID string) []macrotable.Link {
	out := make([]macrotable.Link, 0, len(rt.roomLinks))
	for _, l := range rt.roomLinks {
		out = append(out, macrotable.Link{Label: l.label, URL: template.URL(roomlink.Expand(l.url, roomID))})
	}
	return out
}
