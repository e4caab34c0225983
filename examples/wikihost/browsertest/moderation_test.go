package browsertest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestModerationInTheBrowser is issue 14's scenario as two users see it:
// bob (a plain user) edits and deletes his own messages; alice (an admin,
// so a moderator) sees the changes in place, sees who deleted what, sets
// the topic, kicks bob (he rejoins) and bans him (he is told why), then
// lifts the ban. The transcript page follows the edit and the delete.
func TestModerationInTheBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs wikihost with the plugin, and two Chromium processes")
	}
	exe := chromiumPath(t)
	begin := time.Now()
	wh := startWikihost(t)
	artifacts := artifactsDir(t)
	report := &pageReport{}
	defer report.check(t)

	alice := newBrowser(t, exe, "alice", report)
	bob := newBrowser(t, exe, "bob", report)
	login(t, wh, alice.main, "alice", "Alice")
	login(t, wh, bob.main, "bob", "Bob")
	openDemoPage(t, wh, alice.main)
	openDemoPage(t, wh, bob.main)
	joinURL := eval[string](t, bob.main, "read the Join Chat link", `document.querySelector("a.pagechat-join-link").href`)
	alicePopup := alice.newTab(t, "alice's popup")
	bobPopup := bob.newTab(t, "bob's popup")
	for _, p := range []*tab{alicePopup, bobPopup} {
		p.do(t, "open the chat popup", chromedp.Navigate(joinURL))
		waitPopupReady(t, p)
		// Dialogs are the browser's; accept them as a user would.
		eval[bool](t, p, "accept confirmations", `(window.confirm = () => true, true)`)
	}
	// Bob's rights arrive with the room info; his tools show once known.
	waitFor[bool](t, alicePopup, "alice's moderation panel", `() => !!document.getElementById("moderation")`)
	if eval[bool](t, bobPopup, "look for a moderation panel", `!!document.getElementById("moderation")`) {
		t.Error("bob, who may not moderate, has the moderation panel")
	}

	t.Log("1. bob edits his typo with the keyboard; both see the new text marked edited")
	bobPopup.do(t, "send a typo", chromedp.SendKeys(chromedp.CSS("#input"), "teh release is on Friday"), pressEnter())
	typo := waitMessage(t, bobPopup, "teh release", "")
	waitMessage(t, alicePopup, "teh release", "")
	sel := `#message-list li.msg[data-seq="` + itoa(typo.Seq) + `"]`
	if n := eval[int](t, alicePopup, "count alice's tools on bob's message", `document.querySelectorAll('`+sel+` .msg-tools button').length`); n != 1 {
		t.Errorf("alice (moderator) has %d tools on bob's message, want Delete only", n)
	}
	bobPopup.do(t, "click Edit", chromedp.Click(chromedp.CSS(sel+` .msg-tools button`)))
	bobPopup.do(t, "replace the text and press Enter",
		chromedp.WaitVisible(chromedp.CSS(sel+" .msg-edit textarea")),
		chromedp.SetValue(chromedp.CSS(sel+" .msg-edit textarea"), "the release is on Friday"),
		chromedp.Focus(chromedp.CSS(sel+" .msg-edit textarea")), pressEnter())
	for _, p := range []*tab{bobPopup, alicePopup} {
		got := waitFor[string](t, p, "the edited message", `(sel) => {
			const li = document.querySelector(sel);
			const e = li && li.querySelector(".msg-edited");
			const body = li && li.querySelector(".msg-body");
			return e && !li.querySelector(".msg-edit") && body.textContent.includes("the release") ? li.textContent : null;
		}`, sel)
		if !strings.Contains(got, "the release is on Friday") || !strings.Contains(got, "(edited") {
			t.Errorf("%s shows the edited message as %q", p.label, got)
		}
	}

	t.Log("2. bob deletes a pasted secret; alice sees who deleted it, bob sees only that it was")
	bobPopup.do(t, "send a secret", chromedp.SendKeys(chromedp.CSS("#input"), "oops, password hunter2"), pressEnter())
	secret := waitMessage(t, bobPopup, "hunter2", "")
	waitMessage(t, alicePopup, "hunter2", "")
	ssel := `#message-list li.msg[data-seq="` + itoa(secret.Seq) + `"]`
	// Every reload of the room info (after messages, uploads, a transcript
	// page, coming back online) refreshes the tools; buttons still right
	// stay, so the keyboard focus on one, or a click under way, survives.
	if !eval[bool](t, bobPopup, "focus Delete, then reload the room info", `new Promise((done) => {
		const b = document.querySelector(`+jsString(ssel+` .msg-tools button[aria-label^="Delete"]`)+`);
		b.focus();
		pagechat.on('info', () => setTimeout(() => done(b.isConnected && document.activeElement === b)));
		window.dispatchEvent(new Event('online'));
	})`) {
		t.Error("reloading the room info replaced bob's Delete button and took his focus off it")
	}
	bobPopup.do(t, "click Delete", chromedp.Click(chromedp.CSS(ssel+` .msg-tools button[aria-label^="Delete"]`)))
	for _, p := range []*tab{bobPopup, alicePopup} {
		shown := waitFor[string](t, p, "the deleted message", `(sel) => {
			const li = document.querySelector(sel);
			return li && li.classList.contains("deleted") ? li.querySelector(".msg-body").textContent : null;
		}`, ssel)
		if strings.Contains(shown, "hunter2") || !strings.Contains(shown, "message deleted") {
			t.Errorf("%s shows the deleted message as %q", p.label, shown)
		}
		if by := strings.Contains(shown, "by Bob"); by != (p == alicePopup) {
			t.Errorf("%s shows %q: the deleter should show to moderators only", p.label, shown)
		}
	}

	t.Log("3. alice sets the topic in her panel; both headers show it, and the macro table")
	if eval[bool](t, alicePopup, "is the info panel folded", `getComputedStyle(document.getElementById("info-toggle")).display !== "none"`) {
		alicePopup.do(t, "open room info", chromedp.Click(chromedp.CSS("#info-toggle")))
	}
	alicePopup.do(t, "set the topic",
		chromedp.WaitVisible(chromedp.CSS("#topic-input")),
		chromedp.SendKeys(chromedp.CSS("#topic-input"), "Release planning"),
		chromedp.Click(chromedp.CSS(`#moderation form.mod-form button[type="submit"]`)))
	for _, p := range []*tab{alicePopup, bobPopup} {
		waitFor[bool](t, p, "the topic in the header", `() => {
			const tp = document.getElementById("room-topic");
			return tp && !tp.hidden && tp.textContent === "Release planning";
		}`)
	}
	alice.main.do(t, "reload the demo page", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("table.pagechat-room")))
	if got := eval[string](t, alice.main, "read the topic row", `(document.querySelector("table.pagechat-room td.pagechat-topic") || {}).textContent || ""`); got != "Release planning" {
		t.Errorf("macro table topic %q", got)
	}
	alicePopup.screenshot(t, artifacts, "moderation-alice.png")
	bobPopup.screenshot(t, artifacts, "moderation-bob.png")

	t.Log("4. alice kicks bob: his chat stops with a Rejoin button, which works")
	chooseBob := `(() => { const s = document.getElementById("mod-user"); s.value = [...s.options].find(o => o.textContent.startsWith("Bob")).value; return s.value; })()`
	if v := eval[string](t, alicePopup, "choose bob", chooseBob); v != "bob" {
		t.Fatalf("the person list chose %q", v)
	}
	alicePopup.do(t, "kick", chromedp.Click(chromedp.CSS(`#moderation button[aria-label^="Kick"]`)))
	banner := waitFor[string](t, bobPopup, "the kicked banner", `() => {
		const b = document.getElementById("banner");
		return !b.hidden && b.querySelector("button") && document.getElementById("input").disabled ? b.textContent : null;
	}`)
	if !strings.Contains(banner, "removed you") {
		t.Errorf("kicked banner %q", banner)
	}
	bobPopup.do(t, "click Rejoin", chromedp.Click(chromedp.CSS("#banner button")))
	waitPopupReady(t, bobPopup)

	t.Log("5. alice bans bob with a reason: he is told why; the ban list shows him until alice lifts it")
	eval[string](t, alicePopup, "choose bob", chooseBob)
	alicePopup.do(t, "ban with a reason",
		chromedp.SendKeys(chromedp.CSS("#mod-reason"), "spamming the room"),
		chromedp.Click(chromedp.CSS(`#moderation button[aria-label^="Ban"]`)))
	banner = waitFor[string](t, bobPopup, "the banned banner", `() => {
		const b = document.getElementById("banner");
		return !b.hidden && b.classList.contains("fatal") && b.textContent.includes("banned") ? b.textContent : null;
	}`)
	if !strings.Contains(banner, "spamming the room") || !strings.Contains(banner, "until") {
		t.Errorf("banned banner %q, want the reason and the end", banner)
	}
	code, body := wh.api(t, http.MethodGet, "/chat/api/rooms/"+eval[string](t, bobPopup, "room id", `document.body.dataset.roomId`), "bob", nil)
	if code != http.StatusForbidden || !strings.Contains(body, `"code":"banned"`) {
		t.Errorf("bob's room info while banned: %d %s", code, body)
	}
	bobPopup.screenshot(t, artifacts, "moderation-banned-bob.png")
	waitFor[bool](t, alicePopup, "bob in the ban list", `() => document.getElementById("bans").textContent.includes("spamming the room")`)
	alicePopup.do(t, "unban", chromedp.Click(chromedp.CSS(`#bans button[aria-label^="Unban"]`)))
	waitFor[bool](t, alicePopup, "an empty ban list", `() => document.getElementById("bans").children.length === 0`)
	bobPopup.do(t, "reload", chromedp.Reload())
	waitPopupReady(t, bobPopup)

	t.Log("6. the transcript shows the edit and the delete")
	transcript := waitTranscript(t, wh)
	wh.eventually(t, "the transcript with the final text and no secret", func() bool {
		_, page := wh.api(t, http.MethodGet, transcript, "alice", nil)
		return strings.Contains(page, "the release is on Friday") && strings.Contains(page, "message deleted") &&
			!strings.Contains(page, "hunter2") && !strings.Contains(page, "teh release")
	})
	t.Logf("scenario done in %v", time.Since(begin).Round(time.Millisecond))
}
