package mention

import (
	"html"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

var people = []User{{ID: "bob", DisplayName: "Bob Smith"}, {ID: "carol", DisplayName: "Carol"}, {ID: "bo", DisplayName: ""}}

func TestFind(t *testing.T) {
	t.Parallel()
	dir := map[string]User{"dave": {ID: "dave", DisplayName: "Dave"}}
	lookup := func(tok string) (User, bool) {
		u, ok := dir[strings.ToLower(tok)]
		return u, ok
	}
	tests := []struct {
		text string
		ids  []string
		room bool
	}{
		{"hi @bob", []string{"bob"}, false},
		{"@Bob Smith, look", []string{"bob"}, false},
		{"@carol and @bob and @carol again", []string{"carol", "bob"}, false},
		{"mail ann@bob.org", nil, false},
		{"@bobby is nobody", nil, false},
		{"@bo.", []string{"bo"}, false},
		{"@bob.smith is not bob", nil, false},
		{"(@carol)", []string{"carol"}, false},
		{"@dave from the directory", []string{"dave"}, false},
		{"@room please", nil, true},
		{"@ROOM", nil, true},
		{"@@bob", nil, false},
		{"no mention @", nil, false},
		{"x/@bob", nil, false},
	}
	for _, tc := range tests {
		res := Find(tc.text, people, lookup)
		if !slices.Equal(res.UserIDs, tc.ids) || res.Room != tc.room {
			t.Errorf("Find(%q) = %q room=%v; want %q room=%v", tc.text, res.UserIDs, res.Room, tc.ids, tc.room)
		}
	}
}

func TestFindLimit(t *testing.T) {
	t.Parallel()
	var known []User
	var text strings.Builder
	for i := range 3 * MaxPerMessage {
		id := "u" + strings.Repeat("x", i)
		known = append(known, User{ID: id})
		text.WriteString("@" + id + " ")
	}
	if got := len(Find(text.String(), known, nil).UserIDs); got != MaxPerMessage {
		t.Errorf("mentions = %d, want the cap %d", got, MaxPerMessage)
	}
}

func TestLookupOncePerToken(t *testing.T) {
	t.Parallel()
	calls := 0
	Find("@zed @zed @Zed", nil, func(string) (User, bool) { calls++; return User{}, false })
	if calls != 1 {
		t.Errorf("lookup called %d times, want 1", calls)
	}
}

func TestHighlight(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text, html, want string
	}{
		{"hi @bob", "hi @bob", `hi <span class="mention" data-user-id="bob">@bob</span>`},
		{"@Bob Smith!", "<p>@Bob Smith!</p>", `<p><span class="mention" data-user-id="bob">@Bob Smith</span>!</p>`},
		{"@room", "@room", `<span class="mention mention-room" data-room="1">@room</span>`},
		{"see <a> @bob", `<a href="/x?@bob">@bob</a> @bob`, `<a href="/x?@bob">@bob</a> <span class="mention" data-user-id="bob">@bob</span>`},
		{"`@bob`", `<code>@bob</code>`, `<code>@bob</code>`},
		{"@bobby", "@bobby", "@bobby"},
	}
	for _, tc := range tests {
		got := Highlight(tc.html, Find(tc.text, people, nil))
		if got != tc.want {
			t.Errorf("Highlight(%q) = %q, want %q", tc.html, got, tc.want)
		}
	}
}

// FuzzMention checks that finding never panics, keeps its limits, and that
// highlighting escaped text only adds whole spans: removing them gives the
// input back.
func FuzzMention(f *testing.F) {
	for _, s := range []string{"@bob", "@Bob Smith.", "a@b @room", "@@", "@\xff", "<a>@bob</a>", "@carol&amp;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		res := Find(text, people, func(tok string) (User, bool) {
			if !utf8.ValidString(tok) && utf8.ValidString(text) {
				t.Errorf("token %q not valid UTF-8", tok)
			}
			return User{ID: "id-" + tok}, len(tok) > 3
		})
		if len(res.UserIDs) > MaxPerMessage {
			t.Fatalf("%d mentions", len(res.UserIDs))
		}
		for _, m := range res.Matches {
			if !strings.HasPrefix(m.Text, "@") || !strings.Contains(text, m.Text) {
				t.Fatalf("match %q not in text", m.Text)
			}
		}
		escaped := html.EscapeString(text)
		out := Highlight(escaped, res)
		plain := out
		for _, id := range append(res.UserIDs, "") {
			open := `<span class="mention" data-user-id="` + html.EscapeString(id) + `">`
			if id == "" {
				open = `<span class="mention mention-room" data-room="1">`
			}
			plain = strings.ReplaceAll(plain, open, "")
		}
		plain = strings.ReplaceAll(plain, "</span>", "")
		if plain != escaped {
			t.Fatalf("Highlight changed the text:\n in  %q\n out %q", escaped, out)
		}
	})
}
