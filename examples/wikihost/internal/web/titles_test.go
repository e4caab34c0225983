package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	hostsdk "github.com/pagechat/pagechat/host-sdk"

	"github.com/pagechat/pagechat/examples/wikihost/internal/wiki"
)

// TestTitlesAreNotUnique covers the rest of finding #10: a title held by a
// page the user may not view used to be refused with a 409, which told
// that the page exists. Any title may now be taken, by creating a page or
// renaming one, whoever holds it already.
func TestTitlesAreNotUnique(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	secret := ts.createPage("bob", "Secret plans", "", "")
	if _, err := ts.wiki.SetPermissions("bob", secret, []string{"bob"}, nil); err != nil {
		t.Fatal(err)
	}
	ts.createPage("bob", "Open plans", "", "")
	form := func(user, path string, v url.Values) *httptest.ResponseRecorder {
		return ts.do("POST", path, user, v.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	}
	other := ts.createPage("carol", "Carol's page", "", "")

	tests := []struct {
		name string
		send func() *httptest.ResponseRecorder
		want int
	}{
		{"API: title of a page carol cannot view", func() *httptest.ResponseRecorder {
			return ts.do("POST", "/api/pages", "carol", map[string]string{"title": "Secret plans"})
		}, http.StatusCreated},
		{"API: title of a page carol can view", func() *httptest.ResponseRecorder {
			return ts.do("POST", "/api/pages", "carol", map[string]string{"title": " open   PLANS "})
		}, http.StatusCreated},
		{"form: title of a page carol cannot view", func() *httptest.ResponseRecorder {
			return form("carol", "/pages", url.Values{"title": {"secret plans"}})
		}, http.StatusSeeOther},
		{"form: rename onto a title carol cannot see", func() *httptest.ResponseRecorder {
			return form("carol", "/pages/"+other, url.Values{"title": {"SECRET plans"}, "body": {""}})
		}, http.StatusSeeOther},
		{"form: rename onto a title carol can see", func() *httptest.ResponseRecorder {
			return form("carol", "/pages/"+other, url.Values{"title": {"Open plans"}, "body": {""}})
		}, http.StatusSeeOther},
	}
	for _, tt := range tests {
		if rec := tt.send(); rec.Code != tt.want {
			t.Errorf("%s: %d, want %d: %s", tt.name, rec.Code, tt.want, rec.Body)
		}
	}
	// Search lists every page with the title that the reader may view.
	type results struct{ Results []searchResult }
	for user, want := range map[string]int{"carol": 5, "bob": 6} {
		res := decode[results](t, ts.do("GET", "/api/search?q=plans", user, nil), http.StatusOK)
		if len(res.Results) != want {
			t.Errorf("%s finds %d pages about plans, want %d: %+v", user, len(res.Results), want, res.Results)
		}
		for _, r := range res.Results {
			if user == "carol" && r.ID == secret {
				t.Errorf("carol finds bob's secret page: %+v", r)
			}
		}
	}
}

// wikiLinks returns the targets of the wiki links in a rendered page,
// with "?" for a link drawn as a missing page.
func wikiLinks(body string) map[string]string {
	out := map[string]string{}
	re := regexp.MustCompile(`<a class="wikilink( missing)?" href="([^"]*)"[^>]*>([^<]*)</a>`)
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		target := strings.TrimPrefix(m[2], "/pages/")
		if m[1] != "" {
			target = "?"
		}
		out[m[3]] = target
	}
	return out
}

// TestWikiLinksResolvePerReader: with titles not unique, a wiki link in a
// page shows each reader the page with that title they may view, chosen
// by the documented order (a child of the linking page, then a sibling,
// then the oldest), and a title only held by pages the reader may not
// view is drawn exactly as one no page has.
func TestWikiLinksResolvePerReader(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	restrict := func(id string) {
		t.Helper()
		if _, err := ts.wiki.SetPermissions("bob", id, []string{"bob"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	const links = "[Meeting notes] [Hidden agenda] [Nobody wrote this]"
	bobsNotes := ts.createPage("bob", "Meeting notes", "", "") // the oldest: top-level, bob's only
	restrict(bobsNotes)
	hidden := ts.createPage("bob", "Hidden agenda", "", "")
	restrict(hidden)
	teamA := ts.createPage("bob", "Team A", links, "")
	notesA := ts.createPage("bob", "meeting  NOTES", "", teamA)
	agendaA := ts.createPage("bob", "Agenda A", links, teamA)
	teamB := ts.createPage("carol", "Team B", "", "")
	notesB := ts.createPage("carol", "Meeting notes", "", teamB)
	agendaB := ts.createPage("carol", "Agenda B", links, teamB)
	index := ts.createPage("carol", "Index", links, "")

	tests := []struct {
		reader, page string
		notes        string // the page [Meeting notes] leads to
		agenda       string // the page [Hidden agenda] leads to, "?" for missing
	}{
		{"carol", teamA, notesA, "?"},   // its own child
		{"carol", agendaA, notesA, "?"}, // its sibling
		{"carol", agendaB, notesB, "?"}, // its sibling, not the older one under A
		{"carol", index, notesA, "?"},   // no top-level one she may view: the oldest she may
		{"bob", index, bobsNotes, hidden},
		{"bob", agendaB, notesB, hidden},
		{"bob", teamA, notesA, hidden},
	}
	for _, tt := range tests {
		rec := ts.do("GET", "/pages/"+tt.page, tt.reader, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s opens page %s: %d", tt.reader, tt.page, rec.Code)
		}
		got := wikiLinks(rec.Body.String())
		want := map[string]string{"Meeting notes": tt.notes, "Hidden agenda": tt.agenda, "Nobody wrote this": "?"}
		for label, target := range want {
			if got[label] != target {
				t.Errorf("%s on page %s: [%s] leads to %q, want %q", tt.reader, tt.page, label, got[label], target)
			}
		}
		body := rec.Body.String()
		if tt.reader == "carol" && (strings.Contains(body, "/pages/"+hidden+`"`) || strings.Contains(body, "/pages/"+bobsNotes+`"`)) {
			t.Errorf("carol's view of page %s names a page she may not view:\n%s", tt.page, body)
		}
	}
	// The hidden title is drawn byte for byte as a missing one.
	rec := ts.do("GET", "/pages/"+index, "carol", nil)
	hiddenLink := `<a class="wikilink missing" href="` + wiki.NewPageURL("Hidden agenda") + `" title="Create page Hidden agenda">Hidden agenda</a>`
	if !strings.Contains(rec.Body.String(), hiddenLink) {
		t.Errorf("carol's [Hidden agenda] is not drawn as a missing page:\n%s", rec.Body)
	}
}

// TestHTMLHidesPagesOneCannotView: every HTML route that takes a page (or
// file) id answers a page the user may not view exactly as an unknown id:
// the same status and the same body. Anonymous visitors are sent to log in
// for every id alike, so their answer tells nothing either.
func TestHTMLHidesPagesOneCannotView(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	secret := ts.createPage("bob", "Secret plans", "", "")
	f, err := ts.wiki.Host().AttachFile(t.Context(), hostsdk.FileInfo{PageID: secret, UserID: "bob", Name: "plan.png", ContentType: "image/png", Size: 1}, strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.wiki.SetPermissions("bob", secret, []string{"bob"}, nil); err != nil {
		t.Fatal(err)
	}
	const unknown = "999999"
	unknownFile := strings.Repeat("0", len(strings.TrimPrefix(f.URL, "/files/")))
	formHdr := []string{"Content-Type", "application/x-www-form-urlencoded"}

	tests := []struct {
		name             string
		method, path     string
		unknownPath      string
		body             string
		hdr              []string
		wantCarol, wantA int // logged in as carol; anonymous
	}{
		{"page", "GET", "/pages/" + secret, "/pages/" + unknown, "", nil, http.StatusNotFound, http.StatusSeeOther},
		{"edit form", "GET", "/pages/" + secret + "/edit", "/pages/" + unknown + "/edit", "", nil, http.StatusNotFound, http.StatusSeeOther},
		{"update", "POST", "/pages/" + secret, "/pages/" + unknown, "title=x&body=y", formHdr, http.StatusNotFound, http.StatusSeeOther},
		{"new child form", "GET", "/pages/new?parent=" + secret, "/pages/new?parent=" + unknown, "", nil, http.StatusNotFound, http.StatusSeeOther},
		{"attachment", "GET", f.URL, "/files/" + unknownFile, "", nil, http.StatusNotFound, http.StatusSeeOther},
	}
	type answer struct {
		status        int
		location, ctp string
		body          string
	}
	ask := func(user, method, path, body string, hdr []string) answer {
		rec := ts.do(method, path, user, body, hdr...)
		// Compare answers about different ids with the path swapped out
		// (anonymous visitors are sent to log in with it as "next").
		next := url.QueryEscape(path)
		a := answer{rec.Code, rec.Header().Get("Location"), rec.Header().Get("Content-Type"), rec.Body.String()}
		a.location = strings.ReplaceAll(a.location, next, "PATH")
		a.body = strings.ReplaceAll(a.body, next, "PATH")
		return a
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, user := range []string{"carol", ""} {
				hidden := ask(user, tt.method, tt.path, tt.body, tt.hdr)
				missing := ask(user, tt.method, tt.unknownPath, tt.body, tt.hdr)
				want := tt.wantCarol
				if user == "" {
					want = tt.wantA
				}
				if hidden.status != want {
					t.Errorf("user %q: status %d, want %d: %s", user, hidden.status, want, hidden.body)
				}
				if hidden != missing {
					t.Errorf("user %q: hidden page answers\n%+v\nunknown id answers\n%+v", user, hidden, missing)
				}
				if strings.Contains(strings.ToLower(hidden.body), "permission") || strings.Contains(hidden.body, "Secret") {
					t.Errorf("user %q: answer mentions a permission or the page:\n%s", user, hidden.body)
				}
				if user == "" && !strings.HasPrefix(hidden.location, "/login?next=") {
					t.Errorf("anonymous: sent to %q, want the login form", hidden.location)
				}
			}
			// The page's viewer still gets it.
			if code := ts.do(tt.method, tt.path, "bob", tt.body, tt.hdr...).Code; code == http.StatusNotFound || code == http.StatusForbidden {
				t.Errorf("bob, who may view the page: %d", code)
			}
		})
	}
	// The 404 page offers a way on: for anonymous Basic-auth failures the
	// layout's login link, for logged-in users the start page.
	rec := ts.do("GET", "/pages/"+secret, "carol", nil)
	if !strings.Contains(rec.Body.String(), `href="/"`) {
		t.Errorf("404 page has no way back:\n%s", rec.Body)
	}
}
