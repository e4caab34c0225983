package hostsdk

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/pagechat/pagechat/internal/roomlink"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pagechat/pagechat/internal/safeurl"
)

// webFS holds the popup's page templates, scripts and style sheets. They
// are plain files with no build step; scripts and styles are separate
// files because the popup's CSP forbids inline code. Every .js file in
// web/static is loaded by the popup: chat.js first, then the others in
// name order, each extending the popup through the window.pagechat seam
// that chat.js defines.
//
//go:embed web/popup.html web/error.html web/static
var webFS embed.FS

// staticTypes are the content types of the asset kinds the popup uses;
// files of other kinds in web/static are not served.
var staticTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml",
}

// popupCSP is the popup page's Content-Security-Policy: only this origin's
// script and style, nothing inline, no plugins, no framing by other sites.
// Message HTML comes from the plugin's allow-list renderer; the CSP is the
// second line of defence should anything slip through it.
const popupCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"

// staticFile is one embedded asset with its validator.
type staticFile struct {
	body    []byte
	ctype   string
	version string // short content hash: the ?v= of its URL and its ETag
}

// webAssets are the parsed templates and static files.
type webAssets struct {
	popup   *template.Template
	errors  *template.Template
	static  map[string]staticFile
	scripts []string // the popup's scripts in load order: chat.js, then the rest by name
	styles  []string // style sheets after chat.css, by name
}

func loadWebAssets() (*webAssets, error) {
	popup, err := template.ParseFS(webFS, "web/popup.html")
	if err != nil {
		return nil, fmt.Errorf("popup template: %w", err)
	}
	errPage, err := template.ParseFS(webFS, "web/error.html")
	if err != nil {
		return nil, fmt.Errorf("error page template: %w", err)
	}
	entries, err := webFS.ReadDir("web/static")
	if err != nil {
		return nil, fmt.Errorf("static files: %w", err)
	}
	static := make(map[string]staticFile)
	scripts := []string{"chat.js"}
	var styles []string
	for _, e := range entries { // ReadDir sorts by name
		name := e.Name()
		ctype, ok := staticTypes[path.Ext(name)]
		if e.IsDir() || !ok {
			continue
		}
		body, err := webFS.ReadFile("web/static/" + name)
		if err != nil {
			return nil, fmt.Errorf("static file %s: %w", name, err)
		}
		sum := sha256.Sum256(body)
		static[name] = staticFile{body: body, ctype: ctype, version: hex.EncodeToString(sum[:8])}
		if path.Ext(name) == ".js" && name != "chat.js" {
			scripts = append(scripts, name)
		}
		if path.Ext(name) == ".css" && name != "chat.css" {
			styles = append(styles, name)
		}
	}
	if _, ok := static["chat.js"]; !ok {
		return nil, errors.New("static files: chat.js is missing")
	}
	return &webAssets{popup: popup, errors: errPage, static: static, scripts: scripts, styles: styles}, nil
}

// serveStatic serves the popup's script and style. They are the same for
// everyone, so they need no login; a URL carrying the current content hash
// may be cached for good, any other is revalidated by ETag.
func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.writeError(w, r, &apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", msg: "method " + r.Method + " not allowed here"})
		return
	}
	f, ok := h.web.static[r.PathValue("file")]
	if !ok {
		h.writeError(w, r, &apiError{status: http.StatusNotFound, code: "not_found", msg: "no such file"})
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", f.ctype)
	hdr.Set("ETag", `"`+f.version+`"`)
	if r.URL.Query().Get("v") == f.version {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, r.PathValue("file"), time.Time{}, bytes.NewReader(f.body))
}

func (h *Handler) staticURL(name string) string {
	return h.cfg.prefix + "static/" + name + "?v=" + h.web.static[name].version
}

// scriptURLs are the popup's script URLs in load order.
func (h *Handler) scriptURLs() []string {
	urls := make([]string, len(h.web.scripts))
	for i, name := range h.web.scripts {
		urls[i] = h.staticURL(name)
	}
	return urls
}

// extraStyleURLs are the URLs of the popup's style sheets after chat.css
// (format.css for formatted messages, and any an extension adds).
func (h *Handler) extraStyleURLs() []string {
	urls := make([]string, len(h.web.styles))
	for i, name := range h.web.styles {
		urls[i] = h.staticURL(name)
	}
	return urls
}

// apiBase is the API path of a room, as the popup's script uses it.
func (h *Handler) apiBase(roomID string) string {
	return h.cfg.prefix + "api/rooms/" + url.PathEscape(roomID)
}

// popupData is what the popup template shows. html/template escapes every
// field for its context; the script reads the data- attributes.
type popupData struct {
	RoomID      string
	RoomName    string
	PageURL     string // empty if unknown or not a safe link
	PageTitle   string
	API         string
	UserID      string
	UploadLimit int64
	MaxMessage  int64 // largest message text, bytes of UTF-8
	CanPost     bool
	LoginURL    string   // where to log in again and come back; may be empty
	Scripts     []string // script URLs in load order
	StyleURL    string
	IconURL     string
	ExtraStyles []string    // style sheet URLs after StyleURL
	RoomLinks   []popupLink // the host's extra links (WithRoomLinks)
}

// popupLink is an extra room link; URL passed roomlink.Check's scheme
// allow-list, so html/template may take it as is.
type popupLink struct {
	Label string
	URL   template.URL
}

// errorPageData is what the HTML error page shows.
type errorPageData struct {
	Status   int
	Title    string
	Message  string
	StyleURL string
	IconURL  string
	LoginURL string // set on 401 when the host said where its login is
}

// loginURL is the host's login address that comes back to next (a path on
// this site), or "" if the host gave none.
func (h *Handler) loginURL(next string) string {
	if h.cfg.loginURL == "" {
		return ""
	}
	return strings.ReplaceAll(h.cfg.loginURL, LoginNext, url.QueryEscape(next))
}

// servePopup serves GET {prefix}rooms/{roomID}: the chat window.
func (h *Handler) servePopup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.writePage(w, r, http.StatusMethodNotAllowed, "Method not allowed", "This address only shows the chat window.")
		return
	}
	id, err := h.identifyRequest(r)
	if err == nil {
		var roomID string
		roomID, err = roomIDFrom(r)
		if err == nil {
			err = h.renderPopup(w, r, id, roomID)
		}
	}
	if err == nil {
		return
	}
	ae := classify(err)
	if ae.status >= 500 && r.Context().Err() == nil && !errors.Is(ae, ErrPluginUnavailable) {
		h.logger.Error("chat popup failed", "path", r.URL.Path, "status", ae.status, "error", err)
	}
	if ae.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ae.retryAfter))
	}
	title, msg := "Chat unavailable", "The chat is not available right now. Try again in a moment."
	switch ae.status {
	case http.StatusUnauthorized:
		title, msg = "Not logged in", "Log in, then open the chat again from its page."
		if login := h.loginURL(r.URL.RequestURI()); login != "" {
			h.writeLoginPage(w, r, login)
			return
		}
	case http.StatusForbidden:
		title, msg = "No access", "You do not have permission to view this chat room."
		if ae.code == "banned" {
			// The plugin's sentence says why and until when.
			title, msg = "Banned from this room", sentence(ae.msg)
		}
	case http.StatusNotFound:
		title, msg = "No such room", "This chat room does not exist. Open it from the page that has it."
	case http.StatusBadRequest:
		title, msg = "Bad address", "This is not a valid chat room address."
	}
	h.writePage(w, r, ae.status, title, msg)
}

func (h *Handler) renderPopup(w http.ResponseWriter, r *http.Request, id Identity, roomID string) error {
	room, err := h.client.RoomInfo(r.Context(), id.UserID, roomID)
	if err != nil {
		return err
	}
	page := h.lookupPage(r, room.PageID)
	data := popupData{
		RoomID:      room.ID,
		RoomName:    room.Name,
		PageURL:     safeurl.Href(page.URL),
		PageTitle:   page.Title,
		API:         h.apiBase(room.ID),
		UserID:      id.UserID,
		UploadLimit: h.cfg.uploadLimit,
		MaxMessage:  h.maxMessage,
		CanPost:     h.canPost(r.Context(), id.UserID, room.ID),
		LoginURL:    h.loginURL(r.URL.RequestURI()),
		Scripts:     h.scriptURLs(),
		StyleURL:    h.staticURL("chat.css"),
		IconURL:     h.staticURL("favicon.svg"),
		ExtraStyles: h.extraStyleURLs(),
	}
	for _, l := range h.client.roomLinks() {
		data.RoomLinks = append(data.RoomLinks, popupLink{Label: l.Label, URL: template.URL(roomlink.Expand(l.URL, room.ID))})
	}
	var buf bytes.Buffer
	if err := h.web.popup.Execute(&buf, data); err != nil {
		return fmt.Errorf("render popup: %w", err)
	}
	h.setPageHeaders(w)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// sentence makes a message that starts in lower case, as the plugin's
// do, read as a sentence on a page of its own.
func sentence(msg string) string {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return msg
	}
	r, size := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(r)) + msg[size:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// lookupPage asks the host for the room's page, for its title and link.
// The user may view the room, hence the page; a failed lookup only costs
// the link, so it is logged, not fatal.
func (h *Handler) lookupPage(r *http.Request, pageID string) Page {
	page, err := h.pages.GetPage(r.Context(), pageID)
	if err != nil {
		h.logger.Warn("chat: page lookup failed", "page", pageID, "error", err)
		return Page{ID: pageID}
	}
	return page
}

func (h *Handler) setPageHeaders(w http.ResponseWriter) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Security-Policy", popupCSP)
	hdr.Set("Cache-Control", "no-store")
}

// writePage answers with the HTML error page.
func (h *Handler) writePage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	h.writeErrorPage(w, r, errorPageData{Status: status, Title: title, Message: msg})
}

// writeLoginPage answers a logged-out visitor of the popup with 401 and a
// link to the host's login, which brings them back to the room.
func (h *Handler) writeLoginPage(w http.ResponseWriter, r *http.Request, login string) {
	h.writeErrorPage(w, r, errorPageData{
		Status:   http.StatusUnauthorized,
		Title:    "Log in to chat",
		Message:  "You need to log in to use this chat room. You come back here afterwards.",
		LoginURL: login,
	})
}

func (h *Handler) writeErrorPage(w http.ResponseWriter, r *http.Request, data errorPageData) {
	status, title := data.Status, data.Title
	data.StyleURL = h.staticURL("chat.css")
	data.IconURL = h.staticURL("favicon.svg")
	var buf bytes.Buffer
	if err := h.web.errors.Execute(&buf, data); err != nil {
		h.logger.Error("chat: render error page", "error", err)
		http.Error(w, title, status)
		return
	}
	h.setPageHeaders(w)
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}
