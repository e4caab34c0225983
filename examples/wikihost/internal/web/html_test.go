package web

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
	"github.com/pagechat/pagechat/macro"

	"github.com/pagechat/pagechat/examples/wikihost/internal/wiki"
)

func TestPageRendersMacrosAndEscapes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	id := ts.createPage("bob", `<script>alert("title")</script>`,
		"Intro [x|javascript:alert(1)] <script>alert(2)</script>\n\n{chat:Team Room}\n\n{chat:  }", "")
	child := ts.createPage("bob", "A child", "", id)

	rec := ts.do("GET", "/pages/"+id, "carol", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET page: %d %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`<table class="pagechat-room" data-room="` + id + `.team-room">`,
		`<a class="pagechat-join-link" href="/chat/rooms/` + id + `.team-room">`,
		`&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;`,
		`class="wiki-error"`, // the empty macro
		`<a href="/pages/` + child + `">A child</a>`,
		`/pages/` + id + `/edit`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	for _, bad := range []string{"<script>", `href="javascript:`} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains %q:\n%s", bad, body)
		}
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'unsafe-hashes' "+macro.JoinLinkScriptSource+";") {
		t.Errorf("CSP %q", csp)
	}
	// The plugin was asked with the viewer, the page and the chat prefix.
	ts.macros.mu.Lock()
	reqs := ts.macros.reqs
	ts.macros.mu.Unlock()
	if len(reqs) != 1 || reqs[0].UserID != "carol" || reqs[0].PageID != id || reqs[0].Name != "Team Room" || reqs[0].ChatPrefix != "/chat/" {
		t.Errorf("macro requests %+v", reqs)
	}
}

// Two macros for one room, by the same name or names with the same slug,
// show the room's table once and a note where the room repeats.
func TestPageShowsEachRoomOnce(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	id := ts.createPage("bob", "Rooms", "{chat:My Room}\n\n{chat:my-room}\n\nchat:My Room\n\n{chat:Other}", "")
	body := ts.do("GET", "/pages/"+id, "carol", nil).Body.String()
	if n := strings.Count(body, `data-room="`+id+`.my-room"`); n != 1 {
		t.Errorf("the room's table is shown %d times, want once:\n%s", n, body)
	}
	if n := strings.Count(body, `data-room="`+id+`.other"`); n != 1 {
		t.Errorf("the other room's table is shown %d times, want once", n)
	}
	for _, want := range []string{
		`<p class="pagechat-repeat">“my-room” is the same chat room as “My Room”, shown above on this page.</p>`,
		`<p class="pagechat-repeat">The chat room “My Room” is shown above on this page.</p>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s:\n%s", want, body)
		}
	}
	ts.macros.mu.Lock()
	defer ts.macros.mu.Unlock()
	if len(ts.macros.reqs) != 2 {
		t.Errorf("the plugin was asked for %d tables, want 2: %+v", len(ts.macros.reqs), ts.macros.reqs)
	}
}

func TestPageRendersWhenChatIsDown(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{Macros: &fakeMacros{err: errors.New("plugin unavailable")}})
	id := ts.createPage("bob", "Chat page", "{chat:Room}", "")
	rec := ts.do("GET", "/pages/"+id, "bob", nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "unavailable right now") {
		t.Errorf("page while the plugin is down: %d\n%s", rec.Code, rec.Body)
	}
}

func TestTranscriptPagesShowPluginHTML(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	parent := ts.createPage("bob", "Chat page", "{chat:Room}", "")
	c, err := ts.wiki.Host().UpsertChildPage(context.Background(), hostsdk.ChildPage{
		ParentID: parent, Key: "room/2026-01-01", Title: "Room chat transcript 2026-01-01",
		BodyHTML: `<ol class="log"><li id="t1"><b>Bob</b>: hi</li></ol>`,
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := ts.do("GET", c.URL, "carol", nil)
	if !strings.Contains(rec.Body.String(), `<ol class="log"><li id="t1"><b>Bob</b>: hi</li></ol>`) {
		t.Errorf("transcript not shown as is:\n%s", rec.Body)
	}
	if strings.Contains(rec.Body.String(), c.URL+"/edit") {
		t.Error("a transcript offers an edit link")
	}
	// The footer must not promise an edit the wiki refuses.
	if body := rec.Body.String(); strings.Contains(body, "editable by") || !strings.Contains(body, "nobody can edit it") {
		t.Errorf("transcript footer misstates who may edit it:\n%s", body)
	}
	if code := ts.do("GET", c.URL+"/edit", "bob", nil).Code; code != http.StatusConflict {
		t.Errorf("edit form of a transcript: %d", code)
	}

	// A person's page with the same title is accepted, and search marks
	// only the real transcript as the chat's.
	fake := ts.createPage("carol", "Room chat transcript 2026-01-01", "Bob: hi", "")
	html := ts.do("GET", "/search?q=transcript", "carol", nil).Body.String()
	badge := `</a> <span class="badge">chat transcript, written by pagechat</span>`
	if !strings.Contains(html, c.URL+`">Room chat transcript 2026-01-01`+badge) ||
		strings.Contains(html, "/pages/"+fake+`">Room chat transcript 2026-01-01`+badge) {
		t.Errorf("search page does not tell the transcript from the copy:\n%s", html)
	}
	type result struct {
		ID   string `json:"id"`
		Chat bool   `json:"chat"`
	}
	res := decode[struct{ Results []result }](t, ts.do("GET", "/api/search?q=transcript", "carol", nil), http.StatusOK)
	if len(res.Results) != 2 {
		t.Fatalf("api search: %+v, want the transcript and the copy", res)
	}
	for _, r := range res.Results {
		if r.Chat != (r.ID == c.ID) {
			t.Errorf("api search result %+v: chat = %v", r, r.Chat)
		}
	}
}

func TestEditForms(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	form := func(user, path string, v url.Values) *httptest.ResponseRecorder {
		return ts.do("POST", path, user, v.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	}
	rec := form("bob", "/pages", url.Values{"title": {"Form page"}, "body": {"first"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	loc := rec.Header().Get("Location")
	id := strings.TrimPrefix(loc, "/pages/")

	if rec := ts.do("GET", "/pages/new?title=Fresh&parent="+id, "bob", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), `value="Fresh"`) {
		t.Errorf("new page form: %d\n%s", rec.Code, rec.Body)
	}
	if rec := ts.do("GET", loc+"/edit", "bob", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "first</textarea>") || !strings.Contains(rec.Body.String(), `name="view"`) {
		t.Errorf("edit form: %d\n%s", rec.Code, rec.Body)
	}
	// Carol may edit but not manage: no permission fields, and any she
	// sends are ignored.
	if rec := ts.do("GET", loc+"/edit", "carol", nil); strings.Contains(rec.Body.String(), `name="view"`) {
		t.Error("carol is offered the permission fields")
	}
	if rec := form("carol", loc, url.Values{"title": {"Form page"}, "body": {"second"}, "view": {"carol"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("carol updates: %d %s", rec.Code, rec.Body)
	}
	if p, _ := ts.wiki.Page("bob", id); p.Body != "second" || len(p.View) != 0 {
		t.Errorf("after carol's edit: %+v", p)
	}
	// Bob restricts editing to himself through the form.
	if rec := form("bob", loc, url.Values{"title": {"Form page"}, "body": {"third"}, "view": {""}, "edit": {"bob"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("bob updates: %d %s", rec.Code, rec.Body)
	}
	if code := ts.do("GET", loc+"/edit", "carol", nil).Code; code != http.StatusForbidden {
		t.Errorf("carol's edit form after the restriction: %d", code)
	}
	if code := form("carol", loc, url.Values{"title": {"x"}, "body": {"y"}}).Code; code != http.StatusForbidden {
		t.Errorf("carol posts after the restriction: %d", code)
	}
	// Mistakes come back as the form with the message.
	rec = form("bob", loc, url.Values{"title": {"Bad [title]"}, "body": {"kept text"}})
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "kept text") || !strings.Contains(rec.Body.String(), `class="error"`) {
		t.Errorf("invalid title: %d\n%s", rec.Code, rec.Body)
	}
}

func TestLoginLogout(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	id := ts.createPage("bob", "Home", "hello", "")
	hs := httptest.NewServer(ts.srv)
	defer hs.Close()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := client.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	login := func(v url.Values) *http.Response {
		t.Helper()
		resp, err := client.PostForm(hs.URL+"/login", v)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	resp := get("/pages/" + id)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fpages%2F"+id {
		t.Fatalf("anonymous page view: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := login(url.Values{"name": {"carol"}, "password": {"nope"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", resp.StatusCode)
	}
	// An open redirect is refused.
	if resp := login(url.Values{"name": {"carol"}, "password": {testPassword}, "next": {"//evil.example/x"}}); resp.Header.Get("Location") != "/" {
		t.Errorf("next=//evil.example: redirected to %q", resp.Header.Get("Location"))
	}
	resp = login(url.Values{"name": {"Carol"}, "password": {testPassword}, "next": {"/pages/" + id}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/pages/"+id {
		t.Fatalf("login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || len(cookie.Value) < 40 {
		t.Fatalf("session cookie %+v", cookie)
	}
	if resp := get("/pages/" + id); resp.StatusCode != http.StatusOK {
		t.Errorf("page with session: %d", resp.StatusCode)
	}
	// The API accepts the session cookie too.
	if resp := get("/api/pages/" + id); resp.StatusCode != http.StatusOK {
		t.Errorf("API with session: %d", resp.StatusCode)
	}

	resp, err := client.PostForm(hs.URL+"/logout", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %d", resp.StatusCode)
	}
	if resp := get("/pages/" + id); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("page after logout: %d", resp.StatusCode)
	}
	// The old token is dead on the server, not only gone from the jar.
	if _, err := ts.wiki.SessionUser(cookie.Value); !errors.Is(err, wiki.ErrBadCredentials) {
		t.Errorf("session after logout: %v", err)
	}
}

func TestCrossOriginPostsAreRefused(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	cross := []string{"Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example", "Content-Type", "application/x-www-form-urlencoded"}
	for _, path := range []string{"/login", "/logout", "/pages", "/api/pages", "/chat/api/rooms/1.x/messages"} {
		if code := ts.do("POST", path, "bob", `title=x`, cross...).Code; code != http.StatusForbidden {
			t.Errorf("cross-site POST %s: %d, want 403", path, code)
		}
	}
	// The APIs promise JSON errors, whichever layer refuses (finding #13).
	for _, path := range []string{"/api/pages", "/api/users", "/chat/api/rooms/1.x/messages", "/chat/api/rooms/1.x/files"} {
		t.Run(path, func(t *testing.T) {
			e := decode[apiErr](t, ts.do("POST", path, "bob", `{}`, cross...), http.StatusForbidden)
			if e.Code != "cross_origin" || e.Error == "" {
				t.Errorf("error %+v, want code cross_origin", e)
			}
		})
	}
	same := []string{"Sec-Fetch-Site", "same-origin", "Content-Type", "application/x-www-form-urlencoded"}
	if code := ts.do("POST", "/pages", "bob", `title=Same+origin`, same...).Code; code != http.StatusSeeOther {
		t.Errorf("same-origin POST: %d", code)
	}
}

func TestFilesAreServedSafely(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	page := ts.createPage("bob", "Files", "", "")
	attach := func(name, typ, content string) string {
		a, err := ts.wiki.Host().AttachFile(context.Background(), hostsdk.FileInfo{
			PageID: page, UserID: "bob", Name: name, ContentType: typ, Size: int64(len(content)),
		}, strings.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		return a.URL
	}
	tests := []struct {
		name, typ, wantType, wantDisposition string
	}{
		{"photo.png", "image/png", "image/png", `inline; filename=photo.png`},
		{"photo.jpg", "image/jpeg; charset=binary", "image/jpeg", `inline; filename=photo.jpg`},
		{"logo.svg", "image/svg+xml", "application/octet-stream", `attachment; filename=logo.svg`},
		{"page.html", "text/html; charset=utf-8", "application/octet-stream", `attachment; filename=page.html`},
		{`we"ird name.txt`, "text/plain", "application/octet-stream", `attachment; filename="we\"ird name.txt"`},
		{"naïve.txt", "text/plain", "application/octet-stream", `attachment; filename*=utf-8''na%C3%AFve.txt`},
	}
	for _, tt := range tests {
		u := attach(tt.name, tt.typ, "<script>alert(1)</script>")
		rec := ts.do("GET", u, "carol", nil)
		h := rec.Header()
		if rec.Code != http.StatusOK || rec.Body.String() != "<script>alert(1)</script>" {
			t.Errorf("%s: %d %q", tt.name, rec.Code, rec.Body)
		}
		if h.Get("Content-Type") != tt.wantType || h.Get("Content-Disposition") != tt.wantDisposition || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: type %q disposition %q nosniff %q", tt.name, h.Get("Content-Type"), h.Get("Content-Disposition"), h.Get("X-Content-Type-Options"))
		}
	}
	u := attach("secret.png", "image/png", "x")
	if _, err := ts.wiki.SetPermissions("bob", page, []string{"bob"}, nil); err != nil {
		t.Fatal(err)
	}
	if code := ts.do("GET", u, "carol", nil).Code; code != http.StatusNotFound {
		t.Errorf("file of a page carol cannot view: %d, want 404 as for an unknown file", code)
	}
	if code := ts.do("GET", "/files/..%2Fwiki.db", "bob", nil).Code; code != http.StatusNotFound {
		t.Errorf("path in file id: %d", code)
	}
	// The page lists its files.
	if rec := ts.do("GET", "/pages/"+page, "bob", nil); !strings.Contains(rec.Body.String(), `href="`+u+`">secret.png</a>`) {
		t.Errorf("files not listed:\n%s", rec.Body)
	}
}

func TestSearchPage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	id := ts.createPage("bob", "Marsupials", "The <b>quokka</b> smiles.", "")
	rec := ts.do("GET", "/search?q=quokka", "carol", nil)
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `<a href="/pages/`+id+`">Marsupials</a>`) || !strings.Contains(body, "<mark>quokka</mark>") {
		t.Errorf("search page: %d\n%s", rec.Code, body)
	}
	if strings.Contains(body, "<b>quokka") {
		t.Error("snippet markup not escaped")
	}
}

func TestRootAndChatMount(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	if rec := ts.do("GET", "/", "", nil); rec.Code != http.StatusFound || rec.Header().Get("Location") != "/search" {
		t.Errorf("root before the demo page: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	id, err := ts.wiki.SeedDemo("demo-password")
	if err != nil {
		t.Fatal(err)
	}
	if rec := ts.do("GET", "/", "", nil); rec.Code != http.StatusFound || rec.Header().Get("Location") != "/pages/"+id {
		t.Errorf("root: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	decode[apiErr](t, ts.do("GET", "/chat/rooms/1.team-room", "bob", nil), http.StatusServiceUnavailable)
	if rec := ts.do("GET", "/static/style.css", "", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "pagechat-join-link") {
		t.Errorf("stylesheet: %d", rec.Code)
	}

	mounted := newTestServer(t, Config{Chat: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("chat " + r.URL.Path))
	})})
	if rec := mounted.do("GET", "/chat/rooms/1.x", "", nil); rec.Body.String() != "chat /chat/rooms/1.x" {
		t.Errorf("chat handler got %q", rec.Body)
	}
}

func TestChatIdentity(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	token, _, err := ts.wiki.NewSession("carol")
	if err != nil {
		t.Fatal(err)
	}
	basic := func(r *http.Request) { r.SetBasicAuth("bob", testPassword) }
	cookie := func(r *http.Request) { r.AddCookie(&http.Cookie{Name: sessionCookie, Value: token}) }
	browser := func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-origin") }
	tests := []struct {
		name   string
		setup  []func(*http.Request)
		want   hostsdk.Identity
		unauth bool
	}{
		{"basic", []func(*http.Request){basic}, hostsdk.Identity{UserID: "bob"}, false},
		{"cookie", []func(*http.Request){cookie}, hostsdk.Identity{UserID: "carol", CookieSession: true}, false},
		{"basic wins over cookie", []func(*http.Request){basic, cookie}, hostsdk.Identity{UserID: "bob"}, false},
		{"basic from a browser", []func(*http.Request){basic, browser}, hostsdk.Identity{UserID: "bob", CookieSession: true}, false},
		{"nobody", nil, hostsdk.Identity{}, true},
		{"wrong password", []func(*http.Request){func(r *http.Request) { r.SetBasicAuth("bob", "x") }}, hostsdk.Identity{}, true},
		{"stale cookie", []func(*http.Request){func(r *http.Request) { r.AddCookie(&http.Cookie{Name: sessionCookie, Value: "stale"}) }}, hostsdk.Identity{}, true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/chat/rooms/x", nil)
		for _, f := range tt.setup {
			f(r)
		}
		id, err := ts.srv.auth.chatIdentity(r)
		if tt.unauth {
			if !errors.Is(err, hostsdk.ErrUnauthenticated) {
				t.Errorf("%s: %v, want ErrUnauthenticated", tt.name, err)
			}
			continue
		}
		if err != nil || id.UserID != tt.want.UserID || id.CookieSession != tt.want.CookieSession {
			t.Errorf("%s: %+v, %v; want %+v", tt.name, id, err, tt.want)
			continue
		}
		if id.Recheck == nil {
			t.Errorf("%s: no Recheck", tt.name)
		} else if err := id.Recheck(); err != nil {
			t.Errorf("%s: Recheck right after identifying: %v", tt.name, err)
		}
	}
}

// An event stream's login re-check ends with the session it came with:
// after a logout it says unauthenticated, and another session of the
// same browser does not revive it.
func TestChatRecheckEndsWithTheSession(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	token, _, err := ts.wiki.NewSession("carol")
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/chat/rooms/x", nil)
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: token})
	id, err := ts.srv.auth.chatIdentity(r)
	if err != nil || id.Recheck == nil {
		t.Fatalf("chatIdentity = %+v, %v", id, err)
	}
	if _, _, err := ts.wiki.NewSession("carol"); err != nil {
		t.Fatal(err)
	}
	if err := ts.wiki.EndSession(token); err != nil {
		t.Fatal(err)
	}
	if err := id.Recheck(); !errors.Is(err, hostsdk.ErrUnauthenticated) {
		t.Errorf("Recheck after logout = %v, want ErrUnauthenticated", err)
	}
}

// The chat's streams of one login share a re-check: requests with the
// same session, or with the same user's same password, name the same
// RecheckKey; another session, or another user, names another.
func TestChatRecheckKeys(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	key := func(cookie string, basicUser string) string {
		t.Helper()
		r := httptest.NewRequest("GET", "/chat/rooms/x", nil)
		if cookie != "" {
			r.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
		} else {
			r.SetBasicAuth(basicUser, testPassword)
		}
		id, err := ts.srv.auth.chatIdentity(r)
		if err != nil || id.Recheck == nil || id.RecheckKey == "" {
			t.Fatalf("chatIdentity = %+v, %v; want a Recheck with a key", id, err)
		}
		return id.RecheckKey
	}
	first, _, err := ts.wiki.NewSession("carol")
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := ts.wiki.NewSession("carol")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := key(first, ""), key(first, ""); a != b {
		t.Errorf("one session, two keys: %q and %q", a, b)
	}
	if a, b := key(first, ""), key(second, ""); a == b {
		t.Errorf("two sessions of carol share the key %q", a)
	}
	if a, b := key("", "bob"), key("", "bob"); a != b {
		t.Errorf("bob's password, two keys: %q and %q", a, b)
	}
	if a, b := key("", "bob"), key(first, ""); a == b {
		t.Errorf("a password and a session share the key %q", a)
	}
}

func TestLocalPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/pages/1?x=y":         "/pages/1?x=y",
		"":                     "/",
		"//evil.example":       "/",
		"/\\evil.example":      "/",
		"https://evil.example": "/",
		"javascript:alert(1)":  "/",
		"pages/1":              "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIndexListsViewableTopLevelPages(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	a := ts.createPage("bob", "Zebra", "", "")
	b := ts.createPage("bob", "aardvark", "", "")
	ts.createPage("bob", "Child page", "", a)
	hidden := ts.createPage("bob", "Hidden", "", "")
	if _, err := ts.wiki.SetPermissions("bob", hidden, []string{"bob"}, nil); err != nil {
		t.Fatal(err)
	}
	body := ts.do("GET", "/pages", "carol", nil).Body.String()
	ia, ib := strings.Index(body, `href="/pages/`+a+`"`), strings.Index(body, `href="/pages/`+b+`"`)
	if ia < 0 || ib < 0 || ib > ia {
		t.Errorf("index should list aardvark before Zebra:\n%s", body)
	}
	if strings.Contains(body, ">Child page<") || strings.Contains(body, ">Hidden<") {
		t.Errorf("index lists a child or a hidden page:\n%s", body)
	}
}

// Every page names the wiki's icon, and /favicon.ico answers for pages
// that name none, so no page load ends in a 404 for it.
func TestFavicon(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	for _, path := range []string{"/favicon.ico", "/static/favicon.svg"} {
		rec := ts.do("GET", path, "", nil)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/svg+xml" || !strings.Contains(rec.Body.String(), "<svg") {
			t.Errorf("GET %s: %d %q %.60q", path, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
	if body := ts.do("GET", "/login", "", nil).Body.String(); !strings.Contains(body, `<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">`) {
		t.Errorf("the login page names no icon:\n%s", body)
	}
}
