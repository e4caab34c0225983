package web

import (
	"net/http"
	"time"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
)

// maxNotificationsShown bounds the list the API and the page return.
const maxNotificationsShown = 100

func (s *Server) notificationRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/notifications", s.api(s.apiNotifications))
	mux.HandleFunc("POST /api/notifications/read", s.api(s.apiNotificationsRead))
	mux.HandleFunc("GET /notifications", s.html(s.handleNotifications))
	mux.HandleFunc("POST /notifications/read", s.html(s.handleNotificationsRead))
}

// unreadNotifications is the bell's count; a failed read shows none
// rather than failing the page.
func (s *Server) unreadNotifications(userID string) int {
	_, n, err := s.wiki.Notifications(userID, 0)
	if err != nil {
		s.log.Warn("read notifications", "user", userID, "error", err)
		return 0
	}
	return n
}

type notificationJSON struct {
	ID      string    `json:"id"`
	Subject string    `json:"subject"`
	Body    string    `json:"body"`
	URL     string    `json:"url"`
	Read    bool      `json:"read"`
	Created time.Time `json:"created"`
}

// apiNotifications serves GET /api/notifications: the user's newest
// notifications and the unread count.
func (s *Server) apiNotifications(w http.ResponseWriter, _ *http.Request, u store.User) error {
	items, unread, err := s.wiki.Notifications(u.ID, maxNotificationsShown)
	if err != nil {
		return err
	}
	out := struct {
		Unread int                `json:"unread"`
		Items  []notificationJSON `json:"items"`
	}{Unread: unread, Items: []notificationJSON{}}
	for _, n := range items {
		out.Items = append(out.Items, notificationJSON{ID: n.ID, Subject: n.Subject, Body: n.Body, URL: n.URL, Read: n.Read, Created: n.Created})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// apiNotificationsRead serves POST /api/notifications/read with
// {"ids": [...]} or {"all": true}.
func (s *Server) apiNotificationsRead(w http.ResponseWriter, r *http.Request, u store.User) error {
	var body struct {
		IDs []string `json:"ids"`
		All bool     `json:"all"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	if !body.All && len(body.IDs) == 0 {
		return badRequest(`give "ids" or "all": true`)
	}
	if len(body.IDs) > store.MaxNotificationsPerUser {
		return badRequest("too many ids")
	}
	if err := s.wiki.MarkNotificationsRead(u.ID, body.IDs, body.All); err != nil {
		return err
	}
	_, unread, err := s.wiki.Notifications(u.ID, 0)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"unread": unread})
	return nil
}

// notificationsPage is the data of templates/notifications.html.
type notificationsPage struct {
	base
	Items []store.Notification
}

func (s *Server) handleNotifications(w http.ResponseWriter, _ *http.Request, u store.User) error {
	items, _, err := s.wiki.Notifications(u.ID, maxNotificationsShown)
	if err != nil {
		return err
	}
	s.render(w, http.StatusOK, "notifications.html", notificationsPage{base: s.base("Notifications", &u), Items: items})
	return nil
}

// handleNotificationsRead serves the page's mark-as-read forms.
func (s *Server) handleNotificationsRead(w http.ResponseWriter, r *http.Request, u store.User) error {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		return badRequest("invalid form")
	}
	all := r.PostForm.Get("all") != ""
	ids := r.PostForm["id"]
	if !all && len(ids) == 0 {
		return badRequest("nothing to mark")
	}
	if err := s.wiki.MarkNotificationsRead(u.ID, ids, all); err != nil {
		return err
	}
	http.Redirect(w, r, "/notifications", http.StatusSeeOther)
	return nil
}
