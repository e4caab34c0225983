package plugin

import (
	"bytes"
	"context"
	"html/template"
	"net/url"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pagechat/pagechat/macro"
	"github.com/pagechat/pagechat/plugin/internal/store"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// defaultChatPrefix is where hosts mount the browser API unless they say
// otherwise (DESIGN.md, Browser API).
const defaultChatPrefix = "/chat/"

var macroTemplates = template.Must(template.New("table").Parse(`<table class="pagechat-room" data-room="{{.Room.ID}}">
<caption>Chat: {{.Room.Name}}</caption>
<tbody>
<tr><th scope="row">Last activity</th><td>{{if .Room.LastActivity.IsZero}}No messages yet{{else}}<time datetime="{{.Room.LastActivity.UTC.Format "2006-01-02T15:04:05Z07:00"}}">{{.Room.LastActivity.UTC.Format "2006-01-02 15:04 MST"}}</time>{{end}}</td></tr>
<tr><th scope="row">Participants</th><td>{{range $i, $p := .Room.Participants}}{{if $i}}, {{end}}{{$p.DisplayName}}{{else}}Nobody yet{{end}}</td></tr>
</tbody>
</table>
<p class="pagechat-join"><a class="pagechat-join-link" href="{{.JoinURL}}" target="pagechat-{{.Room.ID}}" rel="noopener">Join Chat</a></p>
{{define "error"}}<div class="pagechat-error" role="alert">Chat macro error: {{.}}</div>{{end}}
{{define "denied"}}<div class="pagechat-denied">This chat room is only visible to users who may view this page.</div>{{end}}`))

// RenderMacro renders a macro as its room table. Errors a page author can
// fix, or a viewer who may not see the room, render as an inline box rather
// than failing the page render.
func (s *Server) RenderMacro(ctx context.Context, req *chatv1.RenderMacroRequest) (*chatv1.RenderMacroResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, err
	}
	if _, err := macro.RoomID(req.GetPageId(), strings.TrimSpace(req.GetName())); err != nil {
		return &chatv1.RenderMacroResponse{Html: execTemplate("error", err.Error())}, nil
	}
	room, err := rt.openRoom(ctx, req.GetUserId(), req.GetPageId(), req.GetName())
	switch status.Code(err) {
	case codes.OK:
	case codes.PermissionDenied:
		return &chatv1.RenderMacroResponse{Html: execTemplate("denied", nil)}, nil
	case codes.InvalidArgument:
		return &chatv1.RenderMacroResponse{Html: execTemplate("error", status.Convert(err).Message())}, nil
	default:
		return nil, err
	}
	prefix := req.GetChatUrlPrefix()
	if prefix == "" {
		prefix = defaultChatPrefix
	}
	data := struct {
		Room    store.Room
		JoinURL string
	}{room, prefix + "rooms/" + url.PathEscape(room.ID)}
	return &chatv1.RenderMacroResponse{Html: execTemplate("table", data), RoomId: room.ID}, nil
}

func execTemplate(name string, data any) string {
	var b bytes.Buffer
	if err := macroTemplates.ExecuteTemplate(&b, name, data); err != nil {
		// The templates are fixed and their data typed, so this is a
		// programming error; show it in place rather than break the page.
		return `<div class="pagechat-error" role="alert">Chat macro could not be rendered.</div>`
	}
	return b.String()
}
