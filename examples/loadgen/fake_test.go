package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pagechat/pagechat/macro"
)

// fakeOptions make the fake Browser API misbehave in controlled ways.
// Faults aimed at "the first stream of each room" hit exactly one
// subscriber per room, so tests can predict exact counts.
type fakeOptions struct {
	noLogin        bool  // no login form: the tool must fall back to Basic auth
	dropEvery      int   // end every stream after this many message events (0: never)
	cutMidEvent    bool  // when dropping, write half of the next event (else an error event) first
	maxStreams     int   // event streams one user may hold (0: no limit); more get 429
	stream503Every int   // answer every Nth stream request 503 (plugin restarting)
	post503Every   int   // store every Nth POST but answer 503, so the client must retry
	post429Every   int   // refuse every Nth POST with 429 before storing it
	duplicateSeq   int64 // the first stream of each room sends this seq twice
	skipSeq        int64 // the first stream of each room never sends this seq
	swapSeq        int64 // the first stream of each room sends seq+1 before seq
	noUserAPI      bool  // POST /api/users answers 403, as for a non-admin
	hang           bool  // POSTs and streams never answer (until the client gives up)
}

type fakeUser struct {
	password string
	admin    bool
}

type fakePage struct {
	id, title, body, parent string
	view, edit              []string
	permsSet                bool
}

type fakeMsg struct {
	Seq      int64  `json:"seq"`
	ClientID string `json:"client_id"`
	UserID   string `json:"user_id"`
	Text     string `json:"text"`
	SentAt   string `json:"sent_at"`
}

type fakeRoom struct {
	msgs     []fakeMsg // msgs[i].Seq == i+1
	byClient map[string]int64
	changed  chan struct{} // closed and replaced on every new message
	streams  int           // streams opened so far; 0 is "the first stream"
}

// fakeServer implements the Browser API and the wikihost JSON API
// contracts (docs/architecture.md, "Browser API" and "Example wiki"), in
// memory.
type fakeServer struct {
	*httptest.Server
	opts fakeOptions
	quit chan struct{} // closed when the test ends

	mu         sync.Mutex
	users      map[string]fakeUser
	pages      map[string]*fakePage
	rooms      map[string]*fakeRoom
	posters    map[string]int // user → POSTs that stored a message
	streaming  map[string]int // user → open event streams
	streamers  map[string]bool
	posts      int
	streamReqs int
	histories  int // history reads
	logins     int // sessions handed out
	byCookie   int // requests authenticated by session cookie
}

func newFakeServer(t *testing.T, opts fakeOptions) *fakeServer {
	t.Helper()
	f := &fakeServer{
		opts:    opts,
		users:   map[string]fakeUser{"alice": {password: "pw", admin: true}, "bob": {password: "pw"}},
		pages:   make(map[string]*fakePage),
		rooms:   make(map[string]*fakeRoom),
		posters: make(map[string]int),

		streaming: make(map[string]int),
		streamers: make(map[string]bool),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/users", f.createUser)
	mux.HandleFunc("POST /api/pages", f.createPage)
	mux.HandleFunc("PUT /api/pages/{id}/permissions", f.setPermissions)
	mux.HandleFunc("GET /pages/{id}", f.renderPage)
	mux.HandleFunc("POST /chat/api/rooms/{roomID}/messages", f.postMessage)
	mux.HandleFunc("GET /chat/api/rooms/{roomID}/events", f.events)
	mux.HandleFunc("GET /chat/api/rooms/{roomID}/messages", f.history)
	if !opts.noLogin {
		mux.HandleFunc("POST /login", f.login)
	}
	f.quit = make(chan struct{})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(func() {
		// Streams and stalls never end by themselves: end them before
		// Close waits for their handlers.
		close(f.quit)
		f.CloseClientConnections()
		f.Close()
	})
	return f
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": msg, "code": code})
}

// auth returns the Basic-auth user, or answers 401.
// login hands out a session cookie, as the wiki's login form does.
func (f *fakeServer) login(w http.ResponseWriter, r *http.Request) {
	name, pw := r.PostFormValue("name"), r.PostFormValue("password")
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, ok := f.users[name]; !ok || u.password != pw {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	f.logins++
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "session-of-" + name})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (f *fakeServer) auth(w http.ResponseWriter, r *http.Request) (string, bool) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		name, found := strings.CutPrefix(c.Value, "session-of-")
		f.mu.Lock()
		_, known := f.users[name]
		if found && known {
			f.byCookie++
		}
		f.mu.Unlock()
		if found && known {
			return name, true
		}
	}
	name, pw, ok := r.BasicAuth()
	f.mu.Lock()
	u, known := f.users[name]
	f.mu.Unlock()
	if !ok || !known || u.password != pw {
		w.Header().Set("WWW-Authenticate", `Basic realm="wiki"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "log in")
		return "", false
	}
	return name, true
}

func (f *fakeServer) createUser(w http.ResponseWriter, r *http.Request) {
	name, ok := f.auth(w, r)
	if !ok {
		return
	}
	var in struct {
		Name        string `json:"name"`
		Password    string `json:"password"`
		DisplayName string `json:"display_name"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Name == "" || in.Password == "" {
		writeError(w, http.StatusBadRequest, "bad_request", "name and password required")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.opts.noUserAPI || !f.users[name].admin {
		writeError(w, http.StatusForbidden, "forbidden", "admins only")
		return
	}
	if _, exists := f.users[in.Name]; exists {
		writeError(w, http.StatusConflict, "exists", "user exists")
		return
	}
	f.users[in.Name] = fakeUser{password: in.Password}
	writeJSON(w, http.StatusCreated, map[string]string{"name": in.Name})
}

func (f *fakeServer) createPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.auth(w, r); !ok {
		return
	}
	var in struct {
		Title    string `json:"title"`
		Body     string `json:"body"`
		ParentID string `json:"parent_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Title == "" {
		writeError(w, http.StatusBadRequest, "bad_request", "title required")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.pages {
		if strings.EqualFold(p.title, in.Title) {
			writeError(w, http.StatusConflict, "title_taken", "title taken")
			return
		}
	}
	if _, ok := f.pages[in.ParentID]; in.ParentID != "" && !ok {
		writeError(w, http.StatusBadRequest, "bad_parent", "no such parent")
		return
	}
	id := fmt.Sprintf("pg%d", len(f.pages)+1)
	f.pages[id] = &fakePage{id: id, title: in.Title, body: in.Body, parent: in.ParentID}
	writeJSON(w, http.StatusCreated, map[string]string{"id": id, "url": "/pages/" + id})
}

func (f *fakeServer) setPermissions(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.auth(w, r); !ok {
		return
	}
	var in struct {
		View []string `json:"view"`
		Edit []string `json:"edit"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.View == nil || in.Edit == nil {
		writeError(w, http.StatusBadRequest, "bad_request", "view and edit lists required")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pages[r.PathValue("id")]
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such page")
		return
	}
	p.view, p.edit, p.permsSet = in.View, in.Edit, true
	w.WriteHeader(http.StatusNoContent)
}

// renderPage creates the page's rooms, as the real host does when the
// plugin renders a macro.
func (f *fakeServer) renderPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.auth(w, r); !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pages[r.PathValue("id")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	for _, m := range macro.Parse(p.body) {
		id, err := m.RoomID(p.id)
		if err != nil {
			continue
		}
		if _, ok := f.rooms[id]; !ok {
			f.rooms[id] = &fakeRoom{byClient: make(map[string]int64), changed: make(chan struct{})}
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<h1>%s</h1>", p.title)
}

// history answers with no messages; the load tool only reads history to
// open its senders' rooms.
func (f *fakeServer) history(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.auth(w, r); !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.rooms[r.PathValue("roomID")]; !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such room")
		return
	}
	f.histories++
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"messages":[]}`)
}

func (f *fakeServer) postMessage(w http.ResponseWriter, r *http.Request) {
	user, ok := f.auth(w, r)
	if !ok {
		return
	}
	if f.opts.hang {
		// Read the body first: only then does net/http notice the
		// client hanging up and cancel the request's context.
		_, _ = io.Copy(io.Discard, r.Body)
		f.stall(r)
		return
	}
	var in struct {
		Text     string `json:"text"`
		ClientID string `json:"client_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Text == "" || in.ClientID == "" {
		writeError(w, http.StatusBadRequest, "bad_request", "text and client_id required")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	room, ok := f.rooms[r.PathValue("roomID")]
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such room")
		return
	}
	f.posts++
	if n := f.opts.post429Every; n > 0 && f.posts%n == 0 {
		w.Header().Set("Retry-After", "0")
		writeError(w, http.StatusTooManyRequests, "rate_limited", "slow down")
		return
	}
	seq, dup := room.byClient[in.ClientID]
	if !dup {
		seq = int64(len(room.msgs) + 1)
		room.msgs = append(room.msgs, fakeMsg{Seq: seq, ClientID: in.ClientID, UserID: user, Text: in.Text,
			SentAt: time.Now().UTC().Format(time.RFC3339Nano)})
		room.byClient[in.ClientID] = seq
		close(room.changed)
		room.changed = make(chan struct{})
		f.posters[user]++
	}
	if n := f.opts.post503Every; n > 0 && f.posts%n == 0 {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "plugin restarting")
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"seq": seq})
}

// stall waits until the client gives up or the test ends.
func (f *fakeServer) stall(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-f.quit:
	}
}

// since returns the messages after seq and the channel closed on the next
// new message. The caller holds f.mu.
func (room *fakeRoom) since(after int64) ([]fakeMsg, chan struct{}) {
	if after >= int64(len(room.msgs)) {
		return nil, room.changed
	}
	return append([]fakeMsg(nil), room.msgs[max(after, 0):]...), room.changed
}

func (f *fakeServer) events(w http.ResponseWriter, r *http.Request) {
	user, ok := f.auth(w, r)
	if !ok {
		return
	}
	after := int64(0)
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		after, _ = strconv.ParseInt(v, 10, 64)
	} else if v := r.URL.Query().Get("after"); v != "" {
		after, _ = strconv.ParseInt(v, 10, 64)
	}
	f.mu.Lock()
	room, ok := f.rooms[r.PathValue("roomID")]
	f.streamReqs++
	fail := f.opts.stream503Every > 0 && f.streamReqs%f.opts.stream503Every == 0
	busy := f.opts.maxStreams > 0 && f.streaming[user] >= f.opts.maxStreams
	first := false
	if ok && !fail && !busy {
		first = room.streams == 0
		room.streams++
		f.streaming[user]++
		f.streamers[user] = true
		defer func() {
			f.mu.Lock()
			f.streaming[user]--
			f.mu.Unlock()
		}()
	}
	f.mu.Unlock()
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, "not_found", "no such room")
		return
	case busy:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "too_many_streams", "too many streams")
		return
	case fail:
		w.Header().Set("Retry-After", "0")
		writeError(w, http.StatusServiceUnavailable, "unavailable", "plugin restarting")
		return
	case f.opts.hang:
		f.stall(r)
		return
	}

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	// Mixed line endings on purpose: the client must take all three.
	fmt.Fprint(w, ": connected\r\n\r\nevent: presence\rdata: {\"users\":[\"alice\"]}\r\r")
	_ = rc.Flush()

	heartbeat := time.NewTicker(50 * time.Millisecond)
	defer heartbeat.Stop()
	sent := 0
	var held *fakeMsg
	for {
		f.mu.Lock()
		msgs, changed := room.since(after)
		f.mu.Unlock()
		for _, m := range msgs {
			after = m.Seq
			if f.opts.dropEvery > 0 && sent == f.opts.dropEvery {
				if f.opts.cutMidEvent && m.Seq%2 == 0 {
					fmt.Fprintf(w, "id: %d\nevent: message\ndata: {\"seq\":%d,", m.Seq, m.Seq)
				} else {
					// What host-sdk sends when the plugin goes away.
					fmt.Fprint(w, "event: error\ndata: {\"error\":\"chat is temporarily unavailable; reconnecting\",\"code\":\"unavailable\"}\n\n")
				}
				_ = rc.Flush()
				return
			}
			switch {
			case first && m.Seq == f.opts.skipSeq:
				continue
			case first && m.Seq == f.opts.swapSeq:
				held = &m
				continue
			}
			writeEvent(w, m)
			sent++
			if held != nil {
				writeEvent(w, *held)
				held = nil
			}
			if first && m.Seq == f.opts.duplicateSeq {
				writeEvent(w, m)
			}
		}
		_ = rc.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-f.quit:
			return
		case <-changed:
		case <-heartbeat.C:
			fmt.Fprint(w, ": heartbeat\n\n")
			_ = rc.Flush()
		}
	}
}

// writeEvent writes a message event, its JSON split over two data lines
// as a server may do.
func writeEvent(w http.ResponseWriter, m fakeMsg) {
	b, _ := json.Marshal(m)
	s := string(b)
	cut := strings.Index(s, `"user_id"`)
	fmt.Fprintf(w, "id: %d\nevent: message\ndata: %s\ndata: %s\n\n", m.Seq, s[:cut], s[cut:])
}

// stats returns who posted how many stored messages, how many users
// opened streams, and whether every page had its permissions set to
// everyone.
func (f *fakeServer) stats() (posters map[string]int, streamers int, allOpen bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	posters = make(map[string]int, len(f.posters))
	for k, v := range f.posters {
		posters[k] = v
	}
	streamers = len(f.streamers)
	allOpen = true
	for _, p := range f.pages {
		allOpen = allOpen && p.permsSet && len(p.view) == 0 && len(p.edit) == 0
	}
	return posters, streamers, allOpen
}
