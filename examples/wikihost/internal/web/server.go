package web

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	hostsdk "github.com/pagechat/pagechat/host-sdk"

	"github.com/pagechat/pagechat/examples/wikihost/internal/wiki"
	"github.com/pagechat/pagechat/examples/wikihost/internal/xmpplink"
)

// ChatPrefix is where the chat handler is mounted and where the plugin's
// "Join Chat" links point (docs/architecture.md, "Browser API").
const ChatPrefix = hostsdk.DefaultChatPrefix

// Limits of request handling.
const (
	// maxJSONBytes bounds a JSON API request body.
	maxJSONBytes = 1 << 20
	// maxFormBytes bounds an HTML form post: a page body (wiki.MaxBodyBytes)
	// plus its title and permission lists, URL-encoded (up to three bytes
	// per byte of text).
	maxFormBytes = 3*wiki.MaxBodyBytes + 64<<10
	// macroTimeout bounds the plugin calls of one page render, so a page
	// still renders (with notices in place of rooms) while the plugin is
	// restarting.
	macroTimeout = 5 * time.Second
	// defaultSearchResults is how many results a search shows unless the
	// API asks for another number.
	defaultSearchResults = 20
)

// MacroRenderer renders chat macros; *hostsdk.Client is one.
type MacroRenderer interface {
	RenderMacro(ctx context.Context, req hostsdk.MacroRequest) (hostsdk.RenderedMacro, error)
}

// Config is what a Server serves.
type Config struct {
	// Wiki is the wiki to serve. Required.
	Wiki *wiki.Wiki
	// Macros renders chat macros. Nil shows a notice in place of each
	// room, which is how tests run the wiki without the plugin.
	Macros MacroRenderer
	// Chat is host-sdk's browser API handler, mounted at ChatPrefix. Nil
	// answers 503 there.
	Chat http.Handler
	// Logger receives request errors; nil discards them.
	Logger hclog.Logger
	// SiteName is shown in every page's header.
	SiteName string
	// XMPPLinks stores users' XMPP address links; nil when the XMPP
	// bridge is off (the settings page says so and the API answers 503).
	XMPPLinks *xmpplink.Links
	// XMPPBot is the bridge bot's JID, shown on the settings page.
	XMPPBot string
	// PagesPerMinute is how many pages one user may create a minute, on
	// the form and the API together; 0 means DefaultPagesPerMinute and a
	// negative number turns the limit off. Pages the chat plugin writes
	// do not count.
	PagesPerMinute int
}

// Server is the wiki's http.Handler.
type Server struct {
	wiki    *wiki.Wiki
	macros  MacroRenderer
	log     hclog.Logger
	site    string
	auth    *authenticator
	pages   *templates
	handler http.Handler
	// newPages limits page creation per user.
	newPages *userLimiter
	// xmppLinks and xmppBot: see Config.
	xmppLinks *xmpplink.Links
	xmppBot   string
}

// New builds the Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Wiki == nil {
		return nil, errors.New("web.New: Wiki is nil")
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	site := cfg.SiteName
	if site == "" {
		site = "pagechat wiki"
	}
	tmpl, err := loadTemplates()
	if err != nil {
		return nil, err
	}
	s := &Server{
		wiki:   cfg.Wiki,
		macros: cfg.Macros,
		log:    log,
		site:   site,
		auth:   &authenticator{wiki: cfg.Wiki},
		pages:  tmpl,

		newPages: newUserLimiter(cfg.PagesPerMinute, nil),

		xmppLinks: cfg.XMPPLinks,
		xmppBot:   cfg.XMPPBot,
	}
	chat := cfg.Chat
	if chat == nil {
		chat = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSONError(w, http.StatusServiceUnavailable, "unavailable", "chat is not enabled on this server")
		})
	}
	mux, err := s.routes(chat)
	if err != nil {
		return nil, err
	}
	// One CSRF guard for every state-changing request: forms, the JSON
	// API when a browser sends the session cookie, and the chat API.
	// Requests from scripts carry no Origin or Sec-Fetch-Site header and
	// pass.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(denyCrossOrigin))
	s.handler = csrf.Handler(mux)
	return s, nil
}

// denyCrossOrigin answers a request the CSRF guard refused. The JSON API
// and the chat API promise JSON errors {"error", "code"}, with the same
// code host-sdk uses for its own check, so clients handle one shape
// whichever layer refused; HTML forms keep a plain-text answer.
func denyCrossOrigin(w http.ResponseWriter, r *http.Request) {
	const msg = "cross-origin request refused"
	if isJSONPath(r.URL.Path) {
		writeJSONError(w, http.StatusForbidden, "cross_origin", msg)
		return
	}
	http.Error(w, msg, http.StatusForbidden)
}

// isJSONPath reports whether path belongs to an API that answers JSON.
func isJSONPath(path string) bool {
	return strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, ChatPrefix+"api/")
}

// ServeHTTP serves the wiki.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

func (s *Server) routes(chat http.Handler) (*http.ServeMux, error) {
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleRoot)
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(time.Hour, http.FileServerFS(static))))
	// Browsers ask for /favicon.ico on every page that names no icon,
	// the chat popup's among them: answer with the wiki's SVG icon.
	mux.Handle("GET /favicon.ico", cacheFor(time.Hour, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		http.ServeFileFS(w, r, static, "favicon.svg")
	})))

	mux.HandleFunc("GET /login", s.handleLoginForm)
	mux.HandleFunc("POST /login", s.handleLogin)
	mux.HandleFunc("POST /logout", s.handleLogout)

	mux.HandleFunc("GET /pages", s.html(s.handleIndex))
	mux.HandleFunc("GET /pages/{id}", s.html(s.handlePage))
	mux.HandleFunc("GET /pages/new", s.html(s.handleNewPageForm))
	mux.HandleFunc("POST /pages", s.html(s.handleCreatePage))
	mux.HandleFunc("GET /pages/{id}/edit", s.html(s.handleEditForm))
	mux.HandleFunc("POST /pages/{id}", s.html(s.handleUpdatePage))
	mux.HandleFunc("GET /search", s.html(s.handleSearch))
	mux.HandleFunc("GET /files/{id}", s.html(s.handleFile))

	mux.HandleFunc("POST /api/pages", s.api(s.apiCreatePage))
	mux.HandleFunc("GET /api/pages/{id}", s.api(s.apiGetPage))
	mux.HandleFunc("PUT /api/pages/{id}/permissions", s.api(s.apiSetPermissions))
	mux.HandleFunc("GET /api/search", s.api(s.apiSearch))
	mux.HandleFunc("POST /api/users", s.api(s.apiCreateUser))
	mux.HandleFunc("GET /api/me/xmpp", s.api(s.apiGetXMPP))
	mux.HandleFunc("PUT /api/me/xmpp", s.api(s.apiPutXMPP))
	mux.HandleFunc("DELETE /api/me/xmpp", s.api(s.apiDeleteXMPP))
	mux.HandleFunc("POST /api/me/xmpp/verify", s.api(s.apiVerifyXMPP))
	mux.HandleFunc("PUT /api/me/xmpp/alerts", s.api(s.apiPutXMPPAlerts))
	mux.HandleFunc("GET /me/xmpp", s.html(s.handleXMPPPage))
	mux.HandleFunc("POST /me/xmpp", s.html(s.handleXMPPForm))
	s.notificationRoutes(mux)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, "not_found", "no such API endpoint")
	})

	mux.Handle(ChatPrefix, chat)
	return mux, nil
}

// cacheFor lets browsers keep static files for d.
func cacheFor(d time.Duration, h http.Handler) http.Handler {
	maxAge := "public, max-age=" + strconv.Itoa(int(d.Seconds()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", maxAge)
		h.ServeHTTP(w, r)
	})
}

// handleRoot sends visitors to the demo page.
func (s *Server) handleRoot(w http.ResponseWriter, r *http.Request) {
	id, err := s.wiki.DemoPageID()
	if err != nil || id == "" {
		http.Redirect(w, r, "/search", http.StatusFound)
		return
	}
	http.Redirect(w, r, wiki.PageURL(id), http.StatusFound)
}
