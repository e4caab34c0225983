package web

import (
	"bytes"
	"context"
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
	"github.com/pagechat/pagechat/macro"

	"github.com/pagechat/pagechat/examples/wikihost/internal/wiki"
)

const testPassword = "correct horse"

// fakeMacros stands in for the plugin: it renders a macro as a table
// naming the room and remembers what it was asked.
type fakeMacros struct {
	err error

	mu   sync.Mutex
	reqs []hostsdk.MacroRequest
}

func (f *fakeMacros) RenderMacro(_ context.Context, req hostsdk.MacroRequest) (hostsdk.RenderedMacro, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if f.err != nil {
		return hostsdk.RenderedMacro{}, f.err
	}
	room := req.PageID + "." + macro.Slug(req.Name)
	html := `<table class="pagechat-room" data-room="` + template.HTMLEscapeString(room) + `"><caption>Chat: ` +
		template.HTMLEscapeString(req.Name) + `</caption></table><p class="pagechat-join"><a class="pagechat-join-link" href="` +
		req.ChatPrefix + "rooms/" + room + `">Join Chat</a></p>`
	return hostsdk.RenderedMacro{HTML: html, RoomID: room}, nil
}

// testServer is a Server over a fresh wiki with alice (admin), bob and
// carol, and a fake plugin.
type testServer struct {
	t      *testing.T
	wiki   *wiki.Wiki
	srv    *Server
	macros *fakeMacros
}

func newTestServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	return newTestServerIn(t, t.TempDir(), cfg)
}

// newTestServerIn is newTestServer with the wiki's data in dir.
func newTestServerIn(t *testing.T, dir string, cfg Config) *testServer {
	t.Helper()
	w, err := wiki.Open(dir, wiki.Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	for _, nu := range []wiki.NewUser{{Name: "alice", DisplayName: "Alice", Admin: true}, {Name: "bob", DisplayName: "Bob"}, {Name: "carol", DisplayName: "Carol"}} {
		nu.Password = testPassword
		if _, err := w.CreateUser(nu); err != nil {
			t.Fatal(err)
		}
	}
	ts := &testServer{t: t, wiki: w, macros: &fakeMacros{}}
	cfg.Wiki = w
	if cfg.Macros == nil {
		cfg.Macros = ts.macros
	}
	if ts.srv, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return ts
}

// do sends a request as user (Basic auth; "" for none) with body
// marshalled as JSON unless it is a string.
func (ts *testServer) do(method, path, user string, body any, hdr ...string) *httptest.ResponseRecorder {
	ts.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			ts.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, r)
	if user != "" {
		req.SetBasicAuth(user, testPassword)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	return rec
}

// decode reads a JSON answer, failing the test unless it has status want.
func decode[T any](t *testing.T, rec *httptest.ResponseRecorder, want int) T {
	t.Helper()
	var v T
	if rec.Code != want {
		t.Fatalf("status %d, want %d; body %s", rec.Code, want, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON; body %s", ct, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
	return v
}

type apiErr struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// createPage creates a page through the API and returns its id.
func (ts *testServer) createPage(user, title, body, parent string) string {
	ts.t.Helper()
	rec := ts.do("POST", "/api/pages", user, map[string]string{"title": title, "body": body, "parent_id": parent})
	out := decode[map[string]string](ts.t, rec, http.StatusCreated)
	if out["id"] == "" || out["url"] != "/pages/"+out["id"] {
		ts.t.Fatalf("create page answer %v", out)
	}
	return out["id"]
}
