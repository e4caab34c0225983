package plugin

import (
	"context"

	"github.com/pagechat/pagechat/plugin/internal/render"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

// hostLinks resolves wiki links in messages through HostAPI.ResolveLink.
type hostLinks struct {
	host hostv1.HostAPIClient
}

var _ render.LinkResolver = hostLinks{}

func (h hostLinks) ResolveLink(ctx context.Context, fromPageID, title string) (render.Link, error) {
	ctx, cancel := context.WithTimeout(ctx, hostCallTimeout)
	defer cancel()
	resp, err := h.host.ResolveLink(ctx, &hostv1.ResolveLinkRequest{FromPageId: fromPageID, Title: title})
	if err != nil {
		return render.Link{}, err
	}
	return render.Link{URL: resp.GetUrl(), Exists: resp.GetExists()}, nil
}
