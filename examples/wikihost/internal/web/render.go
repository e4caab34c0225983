package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
	"github.com/pagechat/pagechat/examples/wikihost/internal/wiki"
	"github.com/pagechat/pagechat/internal/humansize"
	"github.com/pagechat/pagechat/macro"
)

var (
	//go:embed templates/*.html
	templateFS embed.FS
	//go:embed static
	staticFS embed.FS
)

// contentSecurityPolicy is sent with every HTML page. The wiki's pages run
// no script but the chat macro's Join Chat handler, allowed by its hash
// alone, so even markup that slipped past escaping could not execute;
// styles may be inline because the plugin's HTML may carry them.
var contentSecurityPolicy = "default-src 'self'; script-src 'unsafe-hashes' " + macro.JoinLinkScriptSource + "; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"

// pageTemplates are the pages, each rendered inside templates/layout.html.
var pageTemplates = []string{"index.html", "page.html", "edit.html", "login.html", "search.html", "error.html", "notifications.html"}

// templates holds one parsed template set per page.
type templates struct {
	byName map[string]*template.Template
}

func loadTemplates() (*templates, error) {
	funcs := template.FuncMap{
		"pageURL": wiki.PageURL,
		"fileURL": wiki.FileURL,
		"size":    humansize.Format,
		"when":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"join":    func(list []string) string { return strings.Join(list, ", ") },
	}
	t := &templates{byName: make(map[string]*template.Template)}
	for _, name := range pageTemplates {
		tmpl, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name)
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", name, err)
		}
		t.byName[name] = tmpl
	}
	return t, nil
}

// base is what the layout needs on every page.
type base struct {
	Site  string
	Title string
	User  *store.User // nil when nobody is logged in
	Query string      // the search box's text
	// Unread is the user's unread notifications, for the bell.
	Unread int
}

func (s *Server) base(title string, u *store.User) base {
	b := base{Site: s.site, Title: title, User: u}
	if u != nil {
		b.Unread = s.unreadNotifications(u.ID)
	}
	return b
}

// render executes a page template into a buffer first, so a template error
// is a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	tmpl := s.pages.byName[name]
	if tmpl == nil {
		s.log.Error("unknown template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := tmpl.ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.Error("render template", "name", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store") // pages depend on who asks
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// errorPage is the data of templates/error.html.
type errorPage struct {
	base
	Status  int
	Message string
}

// htmlError answers an HTML request with an error page.
func (s *Server) htmlError(w http.ResponseWriter, r *http.Request, u *store.User, err error) {
	status, _, msg := classify(err)
	if status == http.StatusInternalServerError {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	setRetryAfter(w, err)
	s.render(w, status, "error.html", errorPage{base: s.base(http.StatusText(status), u), Status: status, Message: msg})
}

// htmlFunc handles an HTML request of a logged-in user.
type htmlFunc func(w http.ResponseWriter, r *http.Request, u store.User) error

// html wraps an HTML handler: visitors without a session are sent to the
// login form, and errors become error pages.
func (s *Server) html(h htmlFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, _, err := s.auth.identify(r)
		switch {
		case errors.Is(err, errNoLogin), errors.Is(err, wiki.ErrBadCredentials) && !hasBasicAuth(r):
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		case err != nil:
			s.htmlError(w, r, nil, err)
			return
		}
		if err := h(w, r, u); err != nil {
			s.htmlError(w, r, &u, err)
		}
	}
}

func hasBasicAuth(r *http.Request) bool {
	_, _, ok := r.BasicAuth()
	return ok
}

// apiFunc handles a JSON API request of an authenticated user.
type apiFunc func(w http.ResponseWriter, r *http.Request, u store.User) error

// api wraps a JSON API handler: it authenticates (Basic auth or the
// session cookie) and answers errors as {"error", "code"}.
func (s *Server) api(h apiFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, _, err := s.auth.identify(r)
		if err == nil {
			err = h(w, r, u)
		}
		if err == nil {
			return
		}
		status, code, msg := classify(err)
		switch status {
		case http.StatusInternalServerError:
			s.log.Error("API request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		case http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Basic realm="pagechat wiki", charset="UTF-8"`)
		}
		setRetryAfter(w, err)
		writeJSONError(w, status, code, msg)
	}
}

// decodeJSON reads one JSON value of at most maxJSONBytes into v.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBytes))
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return badRequest("invalid JSON body: " + err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("invalid JSON body: one JSON object expected")
	}
	return nil
}
