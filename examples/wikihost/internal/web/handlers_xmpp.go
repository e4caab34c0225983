package web

import (
	"errors"
	"net/http"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
	"github.com/pagechat/pagechat/examples/wikihost/internal/xmpplink"
)

// Linking a user's XMPP address (docs/xmpp.md): the JSON API under
// /api/me/xmpp and the settings page /me/xmpp with the same steps as forms.

// maxXMPPFormBytes bounds the settings page's form posts.
const maxXMPPFormBytes = 8 << 10

// apiXMPPLink is GET /api/me/xmpp's answer.
type apiXMPPLink struct {
	JID      string `json:"jid"`
	Verified bool   `json:"verified"`
	Alerts   bool   `json:"alerts"`
}

// xmppError maps the link store's errors onto HTTP answers.
func xmppError(err error) error {
	switch {
	case errors.Is(err, xmpplink.ErrInvalid):
		return &httpError{http.StatusBadRequest, "bad_request", err.Error()}
	case errors.Is(err, xmpplink.ErrTaken):
		return &httpError{http.StatusConflict, "conflict", err.Error()}
	case errors.Is(err, xmpplink.ErrNoPending):
		return &httpError{http.StatusConflict, "no_pending_link", err.Error()}
	case errors.Is(err, xmpplink.ErrNoLink):
		return &httpError{http.StatusConflict, "no_link", err.Error()}
	case errors.Is(err, xmpplink.ErrWrongCode):
		return &httpError{http.StatusBadRequest, "wrong_code", err.Error()}
	case errors.Is(err, xmpplink.ErrTooSoon):
		return &httpError{http.StatusTooManyRequests, "rate_limited", err.Error()}
	case errors.Is(err, xmpplink.ErrBridgeOff):
		return &httpError{http.StatusServiceUnavailable, "xmpp_disabled", err.Error()}
	}
	return err
}

// links returns the link store, or the error for a wiki without one.
func (s *Server) links() (*xmpplink.Links, error) {
	if s.xmppLinks == nil {
		return nil, xmppError(xmpplink.ErrBridgeOff)
	}
	return s.xmppLinks, nil
}

func (s *Server) apiGetXMPP(w http.ResponseWriter, r *http.Request, u store.User) error {
	l, err := s.links()
	if err != nil {
		return err
	}
	link, _, err := l.Get(u.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiXMPPLink(link))
	return nil
}

// apiPutXMPP starts linking: PUT /api/me/xmpp {"jid"} → 202 {"jid","verified"}.
func (s *Server) apiPutXMPP(w http.ResponseWriter, r *http.Request, u store.User) error {
	l, err := s.links()
	if err != nil {
		return err
	}
	var in struct {
		JID string `json:"jid"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	link, err := l.Start(r.Context(), u.ID, in.JID)
	if err != nil {
		return xmppError(err)
	}
	status := http.StatusAccepted
	if link.Verified {
		status = http.StatusOK
	}
	writeJSON(w, status, apiXMPPLink(link))
	return nil
}

// apiVerifyXMPP confirms: POST /api/me/xmpp/verify {"code"} → {"jid","verified"}.
func (s *Server) apiVerifyXMPP(w http.ResponseWriter, r *http.Request, u store.User) error {
	l, err := s.links()
	if err != nil {
		return err
	}
	var in struct {
		Code string `json:"code"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	link, err := l.Verify(r.Context(), u.ID, in.Code)
	if err != nil {
		return xmppError(err)
	}
	writeJSON(w, http.StatusOK, apiXMPPLink(link))
	return nil
}

// apiPutXMPPAlerts turns the user's alerts over XMPP on or off:
// PUT /api/me/xmpp/alerts {"enabled": bool} → {"jid","verified","alerts"}.
func (s *Server) apiPutXMPPAlerts(w http.ResponseWriter, r *http.Request, u store.User) error {
	l, err := s.links()
	if err != nil {
		return err
	}
	var in struct {
		Enabled *bool `json:"enabled"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Enabled == nil {
		return badRequest(`"enabled" (true or false) is required`)
	}
	if err := l.SetAlerts(r.Context(), u.ID, *in.Enabled); err != nil {
		return xmppError(err)
	}
	link, _, err := l.Get(u.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiXMPPLink(link))
	return nil
}

func (s *Server) apiDeleteXMPP(w http.ResponseWriter, r *http.Request, u store.User) error {
	l, err := s.links()
	if err != nil {
		return err
	}
	if err := l.Delete(u.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// xmppPage is the data of templates/xmpp.html.
type xmppPage struct {
	base
	Enabled bool
	Link    xmpplink.Link
	Linked  bool
	BotJID  string
	Error   string
	Notice  string
}

func (s *Server) xmppPageData(u *store.User) (xmppPage, error) {
	p := xmppPage{base: s.base("XMPP", u), Enabled: s.xmppLinks != nil, BotJID: s.xmppBot}
	if s.xmppLinks != nil {
		link, ok, err := s.xmppLinks.Get(u.ID)
		if err != nil {
			return p, err
		}
		p.Link, p.Linked = link, ok
	}
	return p, nil
}

// handleXMPPPage shows the user's link and the forms to change it.
func (s *Server) handleXMPPPage(w http.ResponseWriter, r *http.Request, u store.User) error {
	p, err := s.xmppPageData(&u)
	if err != nil {
		return err
	}
	s.render(w, http.StatusOK, "xmpp.html", p)
	return nil
}

// handleXMPPForm handles the settings page's forms (action=link, verify,
// alerts or unlink) and shows the page again with the outcome.
func (s *Server) handleXMPPForm(w http.ResponseWriter, r *http.Request, u store.User) error {
	l, err := s.links()
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxXMPPFormBytes)
	if err := r.ParseForm(); err != nil {
		return badRequest("could not read the form")
	}
	var notice string
	switch r.PostForm.Get("action") {
	case "link":
		_, err = l.Start(r.Context(), u.ID, r.PostForm.Get("jid"))
		notice = "The bot has sent you a code over XMPP. Enter it below, or send it back to the bot."
	case "verify":
		_, err = l.Verify(r.Context(), u.ID, r.PostForm.Get("code"))
		notice = "Your XMPP address is verified: you can join this wiki's chat rooms from your XMPP client."
	case "alerts":
		// A checkbox sends its value only when checked.
		on := r.PostForm.Get("alerts") == "on"
		err = l.SetAlerts(r.Context(), u.ID, on)
		notice = "Alerts over XMPP are off: your notifications stay in the wiki's list only."
		if on {
			notice = "Alerts over XMPP are on: the bot sends you your notifications."
		}
	case "unlink":
		err = l.Delete(u.ID)
		notice = "Your XMPP address is no longer linked."
	default:
		return badRequest("unknown action")
	}
	p, perr := s.xmppPageData(&u)
	if perr != nil {
		return perr
	}
	status := http.StatusOK
	if err != nil {
		var code string
		status, code, p.Error = classify(xmppError(err))
		if status == http.StatusInternalServerError {
			s.log.Error("XMPP link failed", "user", u.ID, "error", err, "code", code)
		}
	} else {
		p.Notice = notice
	}
	s.render(w, status, "xmpp.html", p)
	return nil
}
