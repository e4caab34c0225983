package web

import (
	"context"
	"html/template"

	"github.com/pagechat/pagechat/macro"

	hostsdk "github.com/pagechat/pagechat/host-sdk"

	"github.com/pagechat/pagechat/examples/wikihost/internal/markup"
	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
)

// renderBody turns a page body into HTML for userID. Wiki markup goes
// through package markup, with chat macros drawn by the plugin; HTML pages
// are the plugin's own transcripts, stored as it rendered them (only
// UpsertChildPage can create that format) and shown as is.
func (s *Server) renderBody(ctx context.Context, userID string, p store.Page) template.HTML {
	if p.Format == store.FormatHTML {
		return template.HTML(p.Body)
	}
	ctx, cancel := context.WithTimeout(ctx, macroTimeout)
	defer cancel()
	return markup.Render(p.Body, markup.Options{
		Link:  func(title string) (string, bool) { return s.wiki.LinkTarget(userID, p.ID, title) },
		Macro: s.macroRenderer(ctx, userID, p.ID),
	})
}

// macroRenderer returns the markup callback that draws one chat macro.
// Whatever goes wrong, the page still renders, with a notice where the
// room would be.
func (s *Server) macroRenderer(ctx context.Context, userID, pageID string) func(macro.Macro) template.HTML {
	return func(m macro.Macro) template.HTML {
		if m.Err != nil {
			return template.HTML(markup.ErrorBox("Chat macro error: " + m.Err.Error()))
		}
		if m.RepeatOf != "" {
			// The room's table is already on the page: say so rather
			// than draw it again.
			return template.HTML(macro.RepeatNote(m))
		}
		if s.macros == nil {
			return template.HTML(markup.ErrorBox("Chat is not enabled on this server."))
		}
		out, err := s.macros.RenderMacro(ctx, hostsdk.MacroRequest{
			UserID:     userID,
			PageID:     pageID,
			Name:       m.Name,
			Params:     m.Params,
			ChatPrefix: ChatPrefix,
		})
		if err != nil {
			s.log.Warn("chat macro could not be rendered", "page", pageID, "room", m.Name, "error", err)
			return template.HTML(markup.ErrorBox("Chat room " + m.Name + " is unavailable right now; reload the page in a moment."))
		}
		// The plugin's HTML is trusted: it is rendered by its templates,
		// which escape the room name and participants.
		return template.HTML(out.HTML)
	}
}
