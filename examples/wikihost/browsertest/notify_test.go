package browsertest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestNotificationsInTheBrowser: alice mentions bob while he is away; bob
// sees the unread counts in the macro table and the bell, follows the
// notification's link into the popup, which opens at the first unread
// message under a "New messages" line with the mentioned message
// highlighted and his mention marked as his, and moves his read marker;
// @-completion fills in a name; mark-as-read empties the bell.
func TestNotificationsInTheBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs wikihost with the plugin and Chromium")
	}
	exe := chromiumPath(t)
	wh := startWikihost(t)
	report := &pageReport{}
	defer report.check(t)
	bob := newBrowser(t, exe, "bob", report)
	login(t, wh, bob.main, "bob", "Bob")
	roomID := openDemoPage(t, wh, bob.main)
	api := "/chat/api/rooms/" + url.PathEscape(roomID)

	t.Log("1. alice posts three messages, the second mentions bob")
	for i, text := range []string{"good morning", "@bob could you look at this?", "thanks!"} {
		code, body := wh.api(t, http.MethodPost, api+"/messages", "alice", map[string]string{"text": text, "client_id": "n" + itoa(i)})
		if code != http.StatusOK {
			t.Fatalf("alice's post: %d %s", code, body)
		}
	}

	t.Log("2. the macro table shows bob's unread counts; the bell counts the mention")
	bob.main.do(t, "reload the demo page", chromedp.Navigate(wh.base+wh.demoPage), chromedp.WaitVisible(chromedp.CSS("table.pagechat-room")))
	if got := run(t, bob.main, "read the unread count", chromedp.Text(chromedp.CSS(".pagechat-unread"))); got != "3 new" {
		t.Errorf("macro table unread %q, want \"3 new\"", got)
	}
	if got := run(t, bob.main, "read the mention count", chromedp.Text(chromedp.CSS(".pagechat-mentions"))); got != "1 mention" {
		t.Errorf("macro table mentions %q, want \"1 mention\"", got)
	}
	wh.eventually(t, "bob's notification stored", func() bool {
		code, body := wh.api(t, http.MethodGet, "/api/notifications", "bob", nil)
		return code == http.StatusOK && strings.Contains(body, `"unread":1`)
	})
	bob.main.do(t, "reload", chromedp.Navigate(wh.base+wh.demoPage), chromedp.WaitVisible(chromedp.CSS("a.bell")))
	if got := run(t, bob.main, "read the bell", chromedp.Text(chromedp.CSS("a.bell .bell-count"))); got != "1" {
		t.Errorf("bell shows %q, want 1", got)
	}

	t.Log("3. the notifications page links the exact message; the popup opens there")
	bob.main.do(t, "open the notifications", chromedp.Click(chromedp.CSS("a.bell")), chromedp.WaitVisible(chromedp.CSS("a.notification-link")))
	href := run(t, bob.main, "read the link", chromedp.AttributeValue(chromedp.CSS("a.notification-link"), "href"))
	if !strings.HasSuffix(href.Value, "#m-2") {
		t.Fatalf("notification links %q, want the message #m-2", href.Value)
	}
	bob.main.do(t, "follow it", chromedp.Click(chromedp.CSS("a.notification-link")), chromedp.WaitVisible(chromedp.CSS("#input")))
	waitFor[bool](t, bob.main, "message 2 highlighted, bob's mention marked, the New messages line above message 1", `() => {
		const m2 = document.getElementById("m-2");
		const line = document.querySelector("#message-list .unread-divider");
		return !!(m2 && m2.classList.contains("msg-target") && m2.classList.contains("msg-mentions-me") &&
			m2.querySelector('.mention.you[data-user-id="bob"]') &&
			line && line.nextElementSibling && line.nextElementSibling.id === "m-1" &&
			line.textContent === "New messages");
	}`)
	wh.eventually(t, "bob's read marker moved to the last message", func() bool {
		code, body := wh.api(t, http.MethodGet, api, "bob", nil)
		var r struct {
			Unread   int    `json:"unread"`
			LastRead uint64 `json:"last_read"`
		}
		return code == http.StatusOK && json.Unmarshal([]byte(body), &r) == nil && r.Unread == 0 && r.LastRead == 3
	})

	t.Log("4. @ completes names of people who may view the page")
	bob.main.do(t, "type @ca", chromedp.SendKeys(chromedp.CSS("#input"), "hi @ca"))
	waitFor[bool](t, bob.main, "carol offered", `() => {
		const o = document.querySelector("#mention-list:not([hidden]) .mention-option");
		return !!(o && o.textContent.includes("@carol"));
	}`)
	bob.main.do(t, "choose with Enter", pressEnter())
	if v := eval[string](t, bob.main, "read the input", `document.getElementById("input").value`); v != "hi @carol " {
		t.Fatalf("input %q after completion, want \"hi @carol \"", v)
	}
	bob.main.do(t, "send", pressEnter())
	waitFor[bool](t, bob.main, "the sent mention highlighted", `() => {
		const s = document.querySelector('#m-4 .mention[data-user-id="carol"]');
		return !!(s && !s.classList.contains("you"));
	}`)

	t.Log("5. watching from the popup")
	bob.main.do(t, "click Watch", chromedp.Click(chromedp.CSS("#watch-toggle")))
	waitFor[bool](t, bob.main, "the toggle says Watching", `() => document.getElementById("watch-toggle").getAttribute("aria-pressed") === "true"`)
	if code, body := wh.api(t, http.MethodGet, api, "bob", nil); code != http.StatusOK || !strings.Contains(body, `"watching":true`) {
		t.Errorf("room after Watch: %d %s", code, body)
	}

	t.Log("6. mark all as read empties the bell")
	bob.main.do(t, "open the notifications", chromedp.Navigate(wh.base+"/notifications"), chromedp.WaitVisible(chromedp.CSS("form.notify-all button")))
	// The form posts and the wiki redirects back to the page. The old
	// page stays shown until the new one has loaded, and a navigation of
	// the test's own started before then would cut the redirect short
	// (ERR_ABORTED), so mark the old page and wait for its successor.
	eval[bool](t, bob.main, "mark the page before the post", `(window.beforeMarkAll = true)`)
	bob.main.do(t, "mark all read", chromedp.Click(chromedp.CSS("form.notify-all button")))
	wh.eventually(t, "all of bob's notifications read", func() bool {
		_, body := wh.api(t, http.MethodGet, "/api/notifications", "bob", nil)
		return strings.Contains(body, `"unread":0`)
	})
	waitLoaded(t, bob.main, "the notifications page after the post", `window.beforeMarkAll === undefined && location.pathname === "/notifications"`)
	bob.main.do(t, "reload the notifications", chromedp.Navigate(wh.base+"/notifications"), chromedp.WaitVisible(chromedp.CSS("a.bell")))
	if got := run(t, bob.main, "read the bell", chromedp.Text(chromedp.CSS("a.bell .bell-count"))); got != "" {
		t.Errorf("bell shows %q after mark all read, want nothing", got)
	}
	if n := eval[int](t, bob.main, "count unread entries", `document.querySelectorAll("li.notification.unread").length`); n != 0 {
		t.Errorf("%d notifications still shown unread", n)
	}
}
