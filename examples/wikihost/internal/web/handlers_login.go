package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
	"github.com/pagechat/pagechat/examples/wikihost/internal/wiki"
)

// maxLoginFormBytes bounds the login form: a name, a password, a path.
const maxLoginFormBytes = 16 << 10

// loginPage is the data of templates/login.html.
type loginPage struct {
	base
	Name  string
	Next  string
	Error string
}

func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	var cur *store.User
	if u, _, err := s.auth.identify(r); err == nil {
		cur = &u
	}
	s.render(w, http.StatusOK, "login.html", loginPage{base: s.base("Log in", cur), Next: localPath(r.URL.Query().Get("next"))})
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginFormBytes)
	if err := r.ParseForm(); err != nil {
		s.htmlError(w, r, nil, badRequest("could not read the login form"))
		return
	}
	name, next := r.PostForm.Get("name"), localPath(r.PostForm.Get("next"))
	u, err := s.wiki.AuthenticateFrom(clientAddr(r), name, r.PostForm.Get("password"))
	if errors.Is(err, wiki.ErrBadCredentials) {
		s.log.Info("login failed", "user", wiki.NormalizeUserID(name), "remote", r.RemoteAddr)
		s.render(w, http.StatusUnauthorized, "login.html", loginPage{
			base: s.base("Log in", nil), Name: name, Next: next, Error: "Wrong user name or password.",
		})
		return
	}
	if errors.Is(err, wiki.ErrTooManyAttempts) {
		s.log.Warn("login refused: too many failed attempts", "user", wiki.NormalizeUserID(name), "remote", r.RemoteAddr)
		setRetryAfter(w, err)
		s.render(w, http.StatusTooManyRequests, "login.html", loginPage{
			base: s.base("Log in", nil), Name: name, Next: next, Error: throttledWhat(err) + retryHint(err),
		})
		return
	}
	if err != nil {
		s.htmlError(w, r, nil, err)
		return
	}
	token, expires, err := s.wiki.NewSession(u.ID)
	if err != nil {
		s.htmlError(w, r, nil, err)
		return
	}
	setSession(w, r, token, expires)
	s.log.Info("login", "user", u.ID, "remote", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// throttledWhat says what a throttled login was throttled for.
func throttledWhat(err error) string {
	var throttled *wiki.ThrottledError
	if errors.As(err, &throttled) && throttled.Client {
		return "Too many failed logins from your address. "
	}
	return "Too many failed logins for this name. "
}

// retryHint says when a throttled login may try again.
func retryHint(err error) string {
	var throttled *wiki.ThrottledError
	if errors.As(err, &throttled) {
		return fmt.Sprintf("Try again in %d seconds.", throttled.RetryAfterSeconds())
	}
	return "Try again later."
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.wiki.EndSession(c.Value); err != nil {
			s.log.Warn("could not end session", "error", err)
		}
	}
	clearSession(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
