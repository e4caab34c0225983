package web

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestAPIPageRoundTrip(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	parent := ts.createPage("bob", "Parent", "= Hello =\n{chat:Room}", "")
	child := ts.createPage("carol", "Child", "text", parent)

	rec := ts.do("GET", "/api/pages/"+parent, "carol", nil)
	got := decode[apiPage](t, rec, http.StatusOK)
	if got.ID != parent || got.Title != "Parent" || got.Body != "= Hello =\n{chat:Room}" || got.ParentID != "" || got.Author != "bob" || got.Format != "wiki" {
		t.Errorf("page %+v", got)
	}
	if len(got.Children) != 1 || got.Children[0] != (apiPageLink{ID: child, Title: "Child", URL: "/pages/" + child}) {
		t.Errorf("children %+v", got.Children)
	}
	if got.View == nil || got.Edit == nil || got.Files == nil {
		t.Errorf("empty lists must be [], not null: %s", rec.Body)
	}
	if rec := ts.do("GET", "/api/pages/"+child, "bob", nil); !strings.Contains(rec.Body.String(), `"parent_id":"`+parent+`"`) {
		t.Errorf("child: %s", rec.Body)
	}
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	id := ts.createPage("bob", "Taken", "", "")
	if rec := ts.do("PUT", "/api/pages/"+id+"/permissions", "bob", map[string][]string{"view": {"bob"}}); rec.Code != http.StatusOK {
		t.Fatalf("restrict: %d %s", rec.Code, rec.Body)
	}
	readOnly := ts.createPage("bob", "Read only", "", "")
	if rec := ts.do("PUT", "/api/pages/"+readOnly+"/permissions", "bob", map[string][]string{"edit": {"bob"}}); rec.Code != http.StatusOK {
		t.Fatalf("restrict: %d %s", rec.Code, rec.Body)
	}
	big := `{"title":"Big","body":"` + strings.Repeat("x", maxJSONBytes) + `"}`
	tests := []struct {
		name, method, path, user string
		body                     any
		status                   int
		code                     string
	}{
		{"no login", "GET", "/api/pages/" + id, "", nil, 401, "unauthenticated"},
		{"bad JSON", "POST", "/api/pages", "bob", `{"title":`, 400, "bad_request"},
		{"two JSON values", "POST", "/api/pages", "bob", `{"title":"a"}{"title":"b"}`, 400, "bad_request"},
		{"empty title", "POST", "/api/pages", "bob", map[string]string{"title": " "}, 400, "bad_request"},
		{"unknown parent", "POST", "/api/pages", "bob", map[string]string{"title": "x", "parent_id": "404"}, 400, "bad_request"},
		{"body over the limit", "POST", "/api/pages", "bob", big, 413, "too_large"},
		{"page body over the limit", "POST", "/api/pages", "bob", map[string]string{"title": "Huge", "body": strings.Repeat("y", 600<<10)}, 413, "too_large"},
		{"unknown page", "GET", "/api/pages/404", "bob", nil, 404, "not_found"},
		{"no view permission", "GET", "/api/pages/" + id, "carol", nil, 404, "not_found"},
		{"child of a page one cannot view", "POST", "/api/pages", "carol", map[string]string{"title": "Sub", "parent_id": id}, 400, "bad_request"},
		{"child of a page one cannot edit", "POST", "/api/pages", "carol", map[string]string{"title": "Sub", "parent_id": readOnly}, 403, "forbidden"},
		{"unknown endpoint", "GET", "/api/nothing", "bob", nil, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := ts.do(tt.method, tt.path, tt.user, tt.body)
			e := decode[apiErr](t, rec, tt.status)
			if e.Code != tt.code || e.Error == "" {
				t.Errorf("error %+v, want code %q", e, tt.code)
			}
		})
	}

	// A wrong password is refused like no login, with a challenge.
	req := ts.do("GET", "/api/pages/"+id, "", nil, "Authorization", "Basic Ym9iOndyb25n") // bob:wrong
	if e := decode[apiErr](t, req, 401); e.Code != "unauthenticated" || req.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("wrong password: %+v, headers %v", e, req.Header())
	}
}

func TestAPIPermissions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	id := ts.createPage("bob", "Bob's page", "", "")
	put := func(user string, body any) int {
		return ts.do("PUT", "/api/pages/"+id+"/permissions", user, body).Code
	}
	if code := put("carol", map[string][]string{"view": {"carol"}}); code != http.StatusForbidden {
		t.Errorf("carol (not author, not admin): %d", code)
	}
	if code := ts.do("PUT", "/api/pages/404/permissions", "bob", map[string][]string{}).Code; code != http.StatusNotFound {
		t.Errorf("unknown page: %d", code)
	}
	if code := put("bob", map[string][]string{"view": {"zed"}}); code != http.StatusBadRequest {
		t.Errorf("unknown user: %d", code)
	}
	rec := ts.do("PUT", "/api/pages/"+id+"/permissions", "bob", map[string][]string{"view": {"bob", "alice"}, "edit": {"bob"}})
	out := decode[struct{ View, Edit []string }](t, rec, http.StatusOK)
	if !slices.Equal(out.View, []string{"alice", "bob"}) || !slices.Equal(out.Edit, []string{"bob"}) {
		t.Errorf("answer %+v", out)
	}
	if code := ts.do("GET", "/api/pages/"+id, "carol", nil).Code; code != http.StatusNotFound {
		t.Errorf("carol views a restricted page: %d", code)
	}
	page := decode[apiPage](t, ts.do("GET", "/api/pages/"+id, "alice", nil), http.StatusOK)
	if !slices.Equal(page.View, []string{"alice", "bob"}) {
		t.Errorf("stored view list %v", page.View)
	}
	// The admin opens it to everyone again: empty lists.
	if code := put("alice", map[string][]string{"view": {}, "edit": {}}); code != http.StatusOK {
		t.Errorf("admin reset: %d", code)
	}
	if code := ts.do("GET", "/api/pages/"+id, "carol", nil).Code; code != http.StatusOK {
		t.Errorf("carol after reset: %d", code)
	}
}

// TestAPIHidesPagesOneCannotView covers finding #10 in the example wiki's
// API: every answer about a page the user may not view is byte for byte
// the answer about a page that does not exist. (Titles never conflict:
// see TestTitlesAreNotUnique.)
func TestAPIHidesPagesOneCannotView(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	secret := ts.createPage("bob", "Secret plans", "", "")
	if rec := ts.do("PUT", "/api/pages/"+secret+"/permissions", "bob", map[string][]string{"view": {"bob"}}); rec.Code != http.StatusOK {
		t.Fatalf("restrict: %d %s", rec.Code, rec.Body)
	}
	ts.createPage("bob", "Open plans", "", "")
	const unknown = "999999"

	type answer struct {
		status int
		body   string
	}
	ask := func(method, path string, body any) answer {
		rec := ts.do(method, path, "carol", body)
		return answer{rec.Code, rec.Body.String()}
	}
	pairs := []struct {
		name             string
		hidden, notThere answer
	}{
		{"GET page", ask("GET", "/api/pages/"+secret, nil), ask("GET", "/api/pages/"+unknown, nil)},
		{"PUT permissions",
			ask("PUT", "/api/pages/"+secret+"/permissions", map[string][]string{}),
			ask("PUT", "/api/pages/"+unknown+"/permissions", map[string][]string{})},
		{"POST child", // the ids differ, so compare with the id swapped
			ask("POST", "/api/pages", map[string]string{"title": "Sub", "parent_id": secret}),
			func() answer {
				a := ask("POST", "/api/pages", map[string]string{"title": "Sub", "parent_id": unknown})
				a.body = strings.ReplaceAll(a.body, unknown, secret)
				return a
			}()},
	}
	for _, p := range pairs {
		if p.hidden != p.notThere {
			t.Errorf("%s: hidden page answers %+v, unknown page %+v", p.name, p.hidden, p.notThere)
		}
		if strings.Contains(p.hidden.body, "forbidden") {
			t.Errorf("%s: answer %q mentions a permission", p.name, p.hidden.body)
		}
	}
	if got := pairs[0].hidden; got.status != http.StatusNotFound {
		t.Errorf("GET hidden page: status %d, want 404", got.status)
	}
}

func TestAPISearch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	open := ts.createPage("bob", "Open notes", "The axolotl tank needs cleaning.", "")
	secret := ts.createPage("bob", "Secret notes", "The axolotl is a surprise.", "")
	if code := ts.do("PUT", "/api/pages/"+secret+"/permissions", "bob", map[string][]string{"view": {"bob"}}).Code; code != 200 {
		t.Fatal(code)
	}
	type results struct {
		Results []searchResult `json:"results"`
	}
	res := decode[results](t, ts.do("GET", "/api/search?q=axolotl", "carol", nil), http.StatusOK)
	if len(res.Results) != 1 || res.Results[0].ID != open || res.Results[0].URL != "/pages/"+open || res.Results[0].Title != "Open notes" {
		t.Fatalf("carol's results %+v", res)
	}
	if s := res.Results[0].Snippet; !strings.Contains(s, "axolotl tank") || strings.Contains(s, "<mark>") {
		t.Errorf("snippet %q", s)
	}
	if res := decode[results](t, ts.do("GET", "/api/search?q=axolotl", "bob", nil), http.StatusOK); len(res.Results) != 2 {
		t.Errorf("bob finds %d pages, want 2", len(res.Results))
	}
	if res := decode[results](t, ts.do("GET", "/api/search?q=", "bob", nil), http.StatusOK); res.Results == nil || len(res.Results) != 0 {
		t.Errorf("empty query: %+v", res)
	}
	for _, q := range []string{"limit=0", "limit=x", "limit=1000"} {
		if code := ts.do("GET", "/api/search?q=a&"+q, "bob", nil).Code; code != http.StatusBadRequest {
			t.Errorf("%s: %d", q, code)
		}
	}
}

func TestAPIUsers(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	nu := map[string]string{"name": "dave", "password": "dave-password", "display_name": "Dave D."}
	if e := decode[apiErr](t, ts.do("POST", "/api/users", "bob", nu), http.StatusForbidden); e.Code != "forbidden" {
		t.Errorf("bob creates a user: %+v", e)
	}
	out := decode[map[string]any](t, ts.do("POST", "/api/users", "alice", nu), http.StatusCreated)
	if out["id"] != "dave" || out["display_name"] != "Dave D." || out["admin"] != false {
		t.Errorf("created %v", out)
	}
	decode[apiErr](t, ts.do("POST", "/api/users", "alice", nu), http.StatusConflict)
	decode[apiErr](t, ts.do("POST", "/api/users", "alice", map[string]string{"name": "x y", "password": "long enough"}), http.StatusBadRequest)

	// The new user can use the API at once.
	req := ts.do("GET", "/api/search?q=x", "", nil, "Authorization", "Basic ZGF2ZTpkYXZlLXBhc3N3b3Jk") // dave:dave-password
	if req.Code != http.StatusOK {
		t.Errorf("dave searches: %d %s", req.Code, req.Body)
	}
}
