package hostsdk

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The browser API parts of the popup's comfort features: typing signals,
// the can-post flag, and the way back through the host's login.

func TestTypingReachesOtherStreamsWithoutAnID(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil)
	first := ws.send(t, "alice", "c1", "hello")
	stream := ws.openEvents(t, cookieUser("bob"), "after="+strconv.FormatUint(first.Seq, 10), nil)

	// The response headers reach the client before the stream has joined
	// the room's feed, and a typing signal is not stored, so a signal sent
	// in between reaches nobody. Repeat it until the stream shows it.
	events := make(chan sseEvent)
	readErr := make(chan error, 1)
	go func() {
		for {
			ev, err := stream.next()
			if err != nil {
				readErr <- err
				return
			}
			select {
			case events <- ev:
			case <-t.Context().Done():
				return
			}
			if ev.Event == "typing" || ev.Event == "message" {
				return
			}
		}
	}()
	var ev sseEvent
	for ev.Event != "typing" {
		resp, body := ws.do(t, http.MethodPost, ws.api(ws.room.ID)+"/typing", cookieUser("alice"), nil, nil)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("POST typing: %d %s", resp.StatusCode, body)
		}
		wait := time.After(500 * time.Millisecond)
	read:
		for {
			select {
			case ev = <-events:
				if ev.Event == "message" {
					t.Fatalf("a message (%s) came before the typing event", ev.Data)
				}
				if ev.Event == "typing" {
					break read
				}
			case err := <-readErr:
				t.Fatalf("event stream: %v", err)
			case <-wait:
				break read
			}
		}
	}
	if ev.ID != "" {
		t.Fatalf("typing event has id %q: it would move the browser's Last-Event-ID", ev.ID)
	}
	var ty typingJSON
	if err := json.Unmarshal([]byte(ev.Data), &ty); err != nil || ty.UserID != "alice" || ty.DisplayName != "Alice Liddell" || ty.At.IsZero() {
		t.Fatalf("typing data %s: %+v, %v", ev.Data, ty, err)
	}
	// Nothing was stored: the next message takes the next sequence.
	next := ws.send(t, "alice", "c2", "after typing")
	if next.Seq != first.Seq+1 {
		t.Fatalf("message after typing has seq %d, want %d", next.Seq, first.Seq+1)
	}
	if m := stream.nextMessage(t); m.Seq != next.Seq {
		t.Fatalf("stream delivered %d, want %d", m.Seq, next.Seq)
	}
}

func TestTypingIsRefusedWithoutPostPermissionOrTooOften(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil)
	ws.host.deny("bob", "p1", PermissionPost)
	path := ws.api(ws.room.ID) + "/typing"

	resp, body := ws.do(t, http.MethodPost, path, cookieUser("bob"), nil, nil)
	wantError(t, resp, body, http.StatusForbidden, "")
	resp, body = ws.do(t, http.MethodPost, path, nobody, nil, nil)
	wantError(t, resp, body, http.StatusUnauthorized, "unauthenticated")
	resp, body = ws.do(t, http.MethodPost, path, cookieUser("alice"), nil, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	wantError(t, resp, body, http.StatusForbidden, "cross_origin")
	resp, body = ws.do(t, http.MethodGet, path, cookieUser("alice"), nil, nil)
	wantError(t, resp, body, http.StatusMethodNotAllowed, "method_not_allowed")

	// A script that signals without pause is bounded.
	for i := 0; ; i++ {
		resp, body = ws.do(t, http.MethodPost, path, cookieUser("alice"), nil, nil)
		if resp.StatusCode == http.StatusNoContent {
			if i > 100 {
				t.Fatal("100 typing signals in a row were all accepted")
			}
			continue
		}
		wantError(t, resp, body, http.StatusTooManyRequests, "")
		if resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		break
	}
}

func TestRoomInfoAndPopupSayWhetherTheUserMayPost(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil)
	ws.host.deny("bob", "p1", PermissionPost)
	for _, tc := range []struct {
		user string
		want bool
	}{{"alice", true}, {"bob", false}} {
		resp, body := ws.do(t, http.MethodGet, ws.api(ws.room.ID), cookieUser(tc.user), nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("room info as %s: %d %s", tc.user, resp.StatusCode, body)
		}
		var info roomJSON
		if err := json.Unmarshal(body, &info); err != nil {
			t.Fatal(err)
		}
		if info.CanPost != tc.want || !strings.Contains(string(body), `"can_post":`) {
			t.Errorf("%s: can_post %v in %s, want %v", tc.user, info.CanPost, body, tc.want)
		}
		resp, body = ws.do(t, http.MethodGet, "/chat/rooms/"+url.PathEscape(ws.room.ID), cookieUser(tc.user), nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("popup as %s: %d", tc.user, resp.StatusCode)
		}
		if want := `data-can-post="` + strconv.FormatBool(tc.want) + `"`; !strings.Contains(string(body), want) {
			t.Errorf("%s: popup lacks %s", tc.user, want)
		}
		if !strings.Contains(string(body), `data-max-message="16384"`) {
			t.Errorf("%s: popup lacks the message limit", tc.user)
		}
	}
}

func TestLoggedOutPopupOffersTheHostsLogin(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil, WithLoginURL("/login?next="+LoginNext))
	room := "/chat/rooms/" + url.PathEscape(ws.room.ID)
	resp, body := ws.do(t, http.MethodGet, room+"?x=1", nobody, nil, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("popup logged out: %d", resp.StatusCode)
	}
	want := `href="/login?next=` + url.QueryEscape(room+"?x=1") + `"`
	if !strings.Contains(string(body), `id="login-link"`) || !strings.Contains(string(body), strings.ReplaceAll(want, "&", "&amp;")) {
		t.Fatalf("the 401 page has no login link %s:\n%s", want, body)
	}
	// Logged in, the popup carries the link for a session that ends.
	resp, body = ws.do(t, http.MethodGet, room, cookieUser("alice"), nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `data-login-url="/login?next=`+url.QueryEscape(room)+`"`) {
		t.Fatalf("popup: %d, no data-login-url in\n%s", resp.StatusCode, body)
	}

	// Without WithLoginURL the page explains and links nowhere.
	plain := newWebServer(t, nil)
	resp, body = plain.do(t, http.MethodGet, "/chat/rooms/"+url.PathEscape(plain.room.ID), nobody, nil, nil)
	if resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(body), "login-link") {
		t.Fatalf("without a login URL: %d\n%s", resp.StatusCode, body)
	}
}

func TestPopupHasAFavicon(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil)
	_, body := ws.do(t, http.MethodGet, "/chat/rooms/"+url.PathEscape(ws.room.ID), cookieUser("alice"), nil, nil)
	i := strings.Index(string(body), `<link rel="icon" href="`)
	if i < 0 {
		t.Fatalf("popup has no icon link:\n%s", body)
	}
	href, _, _ := strings.Cut(string(body[i+len(`<link rel="icon" href="`):]), `"`)
	href = strings.ReplaceAll(href, "&amp;", "&")
	resp, icon := ws.do(t, http.MethodGet, href, nobody, nil, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(string(icon), "<svg") {
		t.Fatalf("favicon %s: %d %q", href, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
