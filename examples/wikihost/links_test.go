package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestChatLinksResolveForTheSender runs the real plugin and wiki: a wiki
// link in a chat message is resolved through HostAPI ResolveLinks as the
// sender, among the pages with that title the sender may view (titles are
// not unique), preferring a child of the room's page, then a sibling, then
// the oldest; a title only held by pages the sender may not view is
// stored exactly as one no page has (finding #10).
func TestChatLinksResolveForTheSender(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the plugin binary")
	}
	t.Parallel()
	plugin := buildPlugin(t)
	wh := start(t, []string{"-addr", "127.0.0.1:0", "-data", t.TempDir(), "-plugin", plugin, "-log-level", "debug"})

	create := func(user, title, body, parent string) string {
		t.Helper()
		var p struct{ ID string }
		wh.decode(wh.do("POST", "/api/pages", user, map[string]string{"title": title, "body": body, "parent_id": parent}, http.StatusCreated), &p)
		return p.ID
	}
	restrict := func(id string) {
		t.Helper()
		wh.do("PUT", "/api/pages/"+id+"/permissions", "bob", map[string][]string{"view": {"bob"}}, http.StatusOK)
	}
	bobsNotes := create("bob", "Meeting notes", "", "") // the oldest, top-level, bob's only
	restrict(bobsNotes)
	hidden := create("bob", "Hidden agenda", "", "")
	restrict(hidden)
	teamB := create("carol", "Team B", "{chat:Team}", "")
	notesB := create("carol", "meeting NOTES", "", teamB)
	lobby := create("bob", "Lobby", "{chat:Lobby}", "")
	for _, id := range []string{teamB, lobby} { // drawing the macro opens the room
		wh.do("GET", "/pages/"+id, "bob", nil, http.StatusOK)
	}

	linkRE := regexp.MustCompile(`<(?:a href="([^"]*)"|span) class="wikilink( missing)?"[^>]*>([^<]*)</`)
	send := func(user, room, clientID string) map[string]string {
		t.Helper()
		msgs := "/chat/api/rooms/" + room + "/messages"
		text := "see [Meeting notes], [Hidden agenda] and [Nobody wrote this]"
		wh.do("POST", msgs, user, map[string]string{"text": text, "client_id": clientID}, http.StatusOK)
		var h struct {
			Messages []struct{ HTML string }
		}
		wh.decode(wh.do("GET", msgs, user, nil, http.StatusOK), &h)
		if len(h.Messages) == 0 {
			t.Fatalf("%s's message is not in the history of %s", user, room)
		}
		out := map[string]string{}
		last := h.Messages[len(h.Messages)-1].HTML
		for _, m := range linkRE.FindAllStringSubmatch(last, -1) {
			target := strings.TrimPrefix(m[1], "/pages/")
			if m[2] != "" {
				target = "?" + m[1]
			}
			out[m[3]] = target
		}
		return out
	}
	missing := func(title string) string { return "?/pages/new?title=" + strings.ReplaceAll(title, " ", "+") }
	tests := []struct {
		sender, room string
		want         map[string]string
	}{
		{"carol", teamB + ".team", map[string]string{ // a child of the room's page
			"Meeting notes": notesB, "Hidden agenda": missing("Hidden agenda"), "Nobody wrote this": missing("Nobody wrote this")}},
		{"carol", lobby + ".lobby", map[string]string{ // no top-level one she may view: the oldest she may
			"Meeting notes": notesB, "Hidden agenda": missing("Hidden agenda"), "Nobody wrote this": missing("Nobody wrote this")}},
		{"bob", lobby + ".lobby", map[string]string{ // his own, a sibling of the room's page
			"Meeting notes": bobsNotes, "Hidden agenda": hidden, "Nobody wrote this": missing("Nobody wrote this")}},
		{"bob", teamB + ".team", map[string]string{ // the room page's child wins over his own
			"Meeting notes": notesB, "Hidden agenda": hidden, "Nobody wrote this": missing("Nobody wrote this")}},
	}
	// The chat's routes take a room id, which holds a page id: a room on a
	// page carol may not view answers her as a room on no page at all.
	secretRoom := create("bob", "Secret room page", "{chat:Secret}", "")
	restrict(secretRoom)
	wh.do("GET", "/pages/"+secretRoom, "bob", nil, http.StatusOK)
	for _, suffix := range []string{"", "/messages"} {
		for _, user := range []string{"carol", ""} {
			hiddenCode, hiddenBody := wh.request("GET", "/chat/api/rooms/"+secretRoom+".secret"+suffix, user, nil)
			noneCode, noneBody := wh.request("GET", "/chat/api/rooms/999999.secret"+suffix, user, nil)
			if hiddenCode != noneCode || hiddenBody != noneBody {
				t.Errorf("user %q, room API%s: hidden room answers %d %s, a room on no page %d %s", user, suffix, hiddenCode, hiddenBody, noneCode, noneBody)
			}
		}
	}
	for i, tt := range tests {
		got := send(tt.sender, tt.room, "links-"+tt.sender+"-"+string(rune('a'+i)))
		for label, want := range tt.want {
			if got[label] != want {
				t.Errorf("%s in %s: [%s] stored as %q, want %q (all: %v)", tt.sender, tt.room, label, got[label], want, got)
			}
		}
	}
}
