package web

import (
	"mime"
	"net/http"
	"strings"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
)

// inlineTypes are the only types a browser is allowed to show inline:
// raster images, which cannot run script. SVG and HTML can, so they, and
// everything else, are sent as downloads.
var inlineTypes = map[string]bool{
	"image/png":  true,
	"image/jpeg": true,
	"image/gif":  true,
	"image/webp": true,
}

// safeInline returns the media type of contentType if it may be shown
// inline, or "" if the file must be downloaded.
func safeInline(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	mt = strings.ToLower(mt)
	if !inlineTypes[mt] {
		return ""
	}
	return mt
}

// handleFile serves an attachment to a user who may view its page.
func (s *Server) handleFile(w http.ResponseWriter, r *http.Request, u store.User) error {
	f, content, err := s.wiki.OpenFile(u.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	defer content.Close()

	h := w.Header()
	// Never let a browser guess: a "text" file that looks like HTML would
	// otherwise run as a page of this site.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; sandbox")
	h.Set("Cache-Control", "private, max-age=300")
	disposition := "attachment"
	contentType := "application/octet-stream"
	if mt := safeInline(f.ContentType); mt != "" {
		disposition, contentType = "inline", mt
	}
	h.Set("Content-Type", contentType)
	// FormatMediaType quotes the name, or encodes it (RFC 2231) if it is
	// not plain ASCII; it returns "" for names it cannot express.
	cd := mime.FormatMediaType(disposition, map[string]string{"filename": f.Name})
	if cd == "" {
		cd = disposition
	}
	h.Set("Content-Disposition", cd)
	// ServeContent handles Range and If-Modified-Since; the Content-Type
	// set above keeps it from sniffing.
	http.ServeContent(w, r, "", f.Created, content)
	return nil
}
