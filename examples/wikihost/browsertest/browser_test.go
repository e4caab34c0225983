package browsertest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

const (
	roomName = "Team Room"
	// codeword is in the first message: search finds the transcript by
	// it, for those who may see it.
	codeword = "kumquat"
)

// TestChatInTheBrowser is issue 4's acceptance scenario: two users chat
// through the real popup in real browsers, against the real wiki and the
// real plugin, and a third user without view permission sees nothing of
// the room.
func TestChatInTheBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs wikihost with the plugin, and three Chromium processes")
	}
	exe := chromiumPath(t)
	begin := time.Now()
	wh := startWikihost(t)
	artifacts := artifactsDir(t)
	report := &pageReport{}
	defer report.check(t)
	t.Logf("wikihost at %s, demo page %s (%v)", wh.base, wh.demoPage, time.Since(begin).Round(time.Millisecond))

	alice := newBrowser(t, exe, "alice", report)
	bob := newBrowser(t, exe, "bob", report)

	t.Log("1. alice and bob log in through the login form")
	login(t, wh, alice.main, "alice", "Alice")
	login(t, wh, bob.main, "bob", "Bob")

	t.Log("2. both open the demo page and see its room")
	var roomID string
	for _, tb := range []*tab{alice.main, bob.main} {
		roomID = openDemoPage(t, wh, tb)
	}

	t.Log("3. alice joins with the Join Chat link, bob opens the link's address")
	alicePopup := joinByClick(t, alice)
	joinURL := eval[string](t, bob.main, "read the Join Chat link", `document.querySelector("a.pagechat-join-link").href`)
	bobPopup := bob.newTab(t, "bob's popup")
	bobPopup.do(t, "open the chat popup", chromedp.Navigate(joinURL))
	for _, p := range []*tab{alicePopup, bobPopup} {
		if got := waitPopupReady(t, p); got != roomID {
			t.Fatalf("%s shows room %q, want %q (the macro table's)", p.label, got, roomID)
		}
		if title := run(t, p, "read the room title", chromedp.Text(chromedp.CSS("#room-title"))); title != roomName {
			t.Errorf("%s: room title %q, want %q", p.label, title, roomName)
		}
		waitFor[bool](t, p, "alice and bob among the participants", `() => {
			const t = document.getElementById("participants").textContent;
			return t.includes("Alice") && t.includes("Bob");
		}`)
	}

	t.Log("4. messages both ways")
	const hello = "Hello Bob, this is Alice in a real browser (codeword: " + codeword + ")"
	alicePopup.do(t, "type a message and press Enter",
		chromedp.SendKeys(chromedp.CSS("#input"), hello), pressEnter())
	checkDelivered(t, hello, "Alice", alicePopup, bobPopup)
	if v := eval[string](t, alicePopup, "read the input", `document.getElementById("input").value`); v != "" {
		t.Errorf("alice's input still holds %q after sending", v)
	}
	const reply = "Hi Alice! Bob here, over the live stream."
	bobPopup.do(t, "type a message and click Send",
		chromedp.SendKeys(chromedp.CSS("#input"), reply), chromedp.Click(chromedp.CSS("#send")))
	checkDelivered(t, reply, "Bob", bobPopup, alicePopup)

	t.Log("5. a pasted block shows whole, as pre.paste")
	paste := strings.Join([]string{
		"func greet(names []string) {",
		"    for _, n := range names {",
		`        fmt.Println("hello", n)`,
		"    }",
		"}",
	}, "\n")
	alicePopup.do(t, "paste a block and click Send",
		chromedp.SetValue(chromedp.CSS("#input"), paste), chromedp.Click(chromedp.CSS("#send")))
	for _, p := range []*tab{alicePopup, bobPopup} {
		checkPaste(t, p, paste)
	}

	t.Log("6. a wiki link in a message")
	const linkMsg = "The plan is on [Welcome to pagechat], have a look."
	alicePopup.do(t, "send a wiki link", chromedp.SendKeys(chromedp.CSS("#input"), linkMsg), pressEnter())
	var linkSeq int
	for _, p := range []*tab{alicePopup, bobPopup} {
		m := waitMessage(t, p, "The plan is on", "a.wikilink")
		link := eval[struct {
			Href    string `json:"href"`
			Text    string `json:"text"`
			Missing bool   `json:"missing"`
		}](t, p, "read the wiki link", `(() => {
			const a = document.querySelector('#message-list li.msg[data-seq="`+itoa(m.Seq)+`"] .msg-body a.wikilink');
			return {href: a.getAttribute("href"), text: a.textContent, missing: a.classList.contains("missing")};
		})()`)
		if link.Href != wh.demoPage || link.Text != "Welcome to pagechat" || link.Missing {
			t.Errorf("%s: wiki link %+v, want href %q, text %q, not missing", p.label, link, wh.demoPage, "Welcome to pagechat")
		}
		linkSeq = m.Seq
	}

	t.Log("7. alice uploads a file")
	const fileName = "release-notes.txt"
	const fileContent = "pagechat browser test upload\nsecond line\n"
	file := filepath.Join(t.TempDir(), fileName)
	if err := os.WriteFile(file, []byte(fileContent), 0o600); err != nil {
		t.Fatal(err)
	}
	alicePopup.do(t, "choose a file to upload", chromedp.SetUploadFiles(chromedp.CSS("#file-input"), []string{file}))
	var fileURL string
	for _, p := range []*tab{alicePopup, bobPopup} {
		m := waitMessage(t, p, "uploaded "+fileName, ".file-upload a.file")
		if m.Author != "Alice" {
			t.Errorf("%s: the upload message is from %q, want Alice", p.label, m.Author)
		}
		fileURL = waitFor[string](t, p, fileName+" in the files list", `(name) => {
			for (const a of document.querySelectorAll("#files li a")) {
				if (a.textContent === name) return document.getElementById("files-empty").hidden ? a.href : null;
			}
			return null;
		}`, fileName)
	}
	body := eval[string](t, alicePopup, "download the file", `fetch(`+jsString(fileURL)+`).then(r => r.ok ? r.text() : "status " + r.status)`)
	if body != fileContent {
		t.Errorf("the uploaded file downloads as %q, want %q", body, fileContent)
	}

	t.Log("screenshots of both popups and of the wiki page after the exchange")
	alicePopup.screenshot(t, artifacts, "popup-alice.png")
	bobPopup.screenshot(t, artifacts, "popup-bob.png")
	alice.main.do(t, "reload the demo page", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("table.pagechat-room")))
	table := eval[struct {
		Participants string `json:"participants"`
		Files        string `json:"files"`
		Last         string `json:"last"`
	}](t, alice.main, "read the macro table", `(() => {
		const td = (c) => document.querySelector("table.pagechat-room td." + c).textContent;
		return {participants: td("pagechat-participants"), files: td("pagechat-files"), last: td("pagechat-last")};
	})()`)
	if !strings.Contains(table.Participants, "Alice") || !strings.Contains(table.Participants, "Bob") ||
		!strings.Contains(table.Files, fileName) || strings.Contains(table.Last, "No messages") {
		t.Errorf("the macro table after the chat: %+v; want Alice and Bob, %s and a last activity", table, fileName)
	}
	alice.main.screenshot(t, artifacts, "wiki-page.png")

	t.Log("6. (cont.) bob follows the wiki link in his popup")
	bobPopup.do(t, "click the wiki link",
		chromedp.Click(chromedp.CSS(`#message-list li.msg[data-seq="`+itoa(linkSeq)+`"] .msg-body a.wikilink`)),
		chromedp.WaitVisible(chromedp.CSS("article.page h1")))
	loc := run(t, bobPopup, "read the location", chromedp.Location())
	if u, err := url.Parse(loc); err != nil || u.Path != wh.demoPage {
		t.Errorf("after following the wiki link bob's popup is at %q, want path %q", loc, wh.demoPage)
	}

	t.Log("8. alice reloads her popup: the history comes back in order")
	before := messageSeqs(t, alicePopup)
	if want := []int{1, 2, 3, 4, 5}; !slices.Equal(before, want) {
		t.Errorf("alice's popup shows seqs %v before the reload, want %v", before, want)
	}
	alicePopup.do(t, "reload", chromedp.Reload())
	waitPopupReady(t, alicePopup)
	waitFor[bool](t, alicePopup, "the history after the reload", `(n) => document.querySelectorAll("#message-list > li.msg").length >= n`, len(before))
	after := messageSeqs(t, alicePopup)
	if !slices.Equal(after, before) {
		t.Errorf("after the reload alice's popup shows seqs %v, want %v", after, before)
	}
	for i := 1; i < len(after); i++ {
		if after[i] <= after[i-1] {
			t.Errorf("seqs after the reload not strictly increasing: %v", after)
			break
		}
	}
	for _, text := range []string{hello, reply, "func greet", "The plan is on", "uploaded " + fileName} {
		if m := waitMessage(t, alicePopup, text, ""); m.Author == "" || m.DateTime == "" {
			t.Errorf("after the reload, message %q lacks its author or time: %+v", text, m)
		}
	}

	t.Log("9. carol, who may not view the page, sees nothing of the room")
	transcript := waitTranscript(t, wh)
	wh.eventually(t, "alice's search for "+codeword+" finds the transcript "+transcript, func() bool {
		code, body := wh.api(t, http.MethodGet, "/api/search?q="+codeword, "alice", nil)
		return code == http.StatusOK && strings.Contains(body, `"url":"`+transcript+`"`)
	})
	if code, out := wh.api(t, http.MethodPut, "/api/pages/"+pageID(wh.demoPage)+"/permissions", "alice",
		map[string][]string{"view": {"alice", "bob"}, "edit": {}}); code != http.StatusOK {
		t.Fatalf("PUT permissions as alice: status %d: %s", code, out)
	}
	carol := newBrowser(t, exe, "carol", report)
	login(t, wh, carol.main, "carol", "Carol")
	chatAPI := "/chat/api/rooms/" + roomID
	// The wiki's page answers as for an unknown id (404); the popup is
	// host-sdk's, which refuses a room on any page she may not view,
	// existing or not, with 403.
	for i, open := range []struct {
		path   string
		status int
	}{{wh.demoPage, http.StatusNotFound}, {strings.TrimPrefix(joinURL, wh.base), http.StatusForbidden}} {
		path := open.path
		resp := run(t, carol.main, "open "+path, chromedp.NavigateResponse(wh.base+path))
		if int(resp.Status) != open.status {
			t.Errorf("carol opens %s: status %d, want %d", path, resp.Status, open.status)
		}
		shown := eval[string](t, carol.main, "read the page", `document.body.innerText`)
		if !strings.Contains(shown, strconv.Itoa(open.status)) {
			t.Errorf("carol's page for %s does not say %d:\n%s", path, open.status, shown)
		}
		checkNothingLeaks(t, "carol's page for "+path, eval[string](t, carol.main, "read the HTML", `document.documentElement.outerHTML`))
		carol.main.screenshot(t, artifacts, []string{"forbidden-page-carol.png", "forbidden-popup-carol.png"}[i])
	}
	// The room's API answers carol with 403, and the page and the
	// transcript the plugin wrote as its child (as private as its parent)
	// with the 404 of an unknown page; search finds nothing of the room
	// for her.
	for _, f := range []struct {
		path   string
		status int
	}{
		{wh.demoPage, http.StatusNotFound},
		{"/pages/999999", http.StatusNotFound},
		{strings.TrimPrefix(joinURL, wh.base), http.StatusForbidden},
		{chatAPI, http.StatusForbidden},
		{chatAPI + "/messages", http.StatusForbidden},
		{transcript, http.StatusNotFound},
		{"/api/search?q=" + codeword, http.StatusOK},
		{"/api/search?q=" + url.QueryEscape(roomName), http.StatusOK},
	} {
		path, status := f.path, f.status
		res := eval[struct {
			Status int    `json:"status"`
			Body   string `json:"body"`
		}](t, carol.main, "fetch "+path, `fetch(`+jsString(path)+`).then(async r => ({status: r.status, body: await r.text()}))`)
		if res.Status != status {
			t.Errorf("carol fetches %s: status %d, want %d", path, res.Status, status)
		}
		checkNothingLeaks(t, "the answer to carol's fetch of "+path, res.Body)
	}

	t.Logf("scenario done in %v", time.Since(begin).Round(time.Millisecond))
}

// login logs user in through the wiki's login form.
func login(t *testing.T, wh *wikihost, tb *tab, user, displayName string) {
	t.Helper()
	tb.do(t, "open the login form", chromedp.Navigate(wh.base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`form.login input[name="name"]`)))
	tb.do(t, "log in as "+user,
		chromedp.SendKeys(chromedp.CSS(`form.login input[name="name"]`), user),
		chromedp.SendKeys(chromedp.CSS(`form.login input[name="password"]`), demoPassword),
		chromedp.Click(chromedp.CSS(`form.login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`nav.account .user`)))
	if got := run(t, tb, "read who is logged in", chromedp.Text(chromedp.CSS(`nav.account .user`))); !strings.HasPrefix(got, displayName) {
		t.Fatalf("%s: logged in as %q, want %s", tb.label, got, displayName)
	}
}

// openDemoPage opens the demo page, checks its macro table shows the room
// and returns the room id.
func openDemoPage(t *testing.T, wh *wikihost, tb *tab) string {
	t.Helper()
	tb.do(t, "open the demo page", chromedp.Navigate(wh.base+wh.demoPage),
		chromedp.WaitVisible(chromedp.CSS("table.pagechat-room")),
		chromedp.WaitVisible(chromedp.CSS("a.pagechat-join-link")))
	if name := run(t, tb, "read the room name", chromedp.Text(chromedp.CSS("table.pagechat-room .pagechat-name"))); name != roomName {
		t.Errorf("%s: the macro table names the room %q, want %q", tb.label, name, roomName)
	}
	id := run(t, tb, "read the room id", chromedp.AttributeValue(chromedp.CSS("table.pagechat-room"), "data-room"))
	if !id.Exists || id.Value == "" {
		t.Fatalf("%s: the macro table has no data-room", tb.label)
	}
	return id.Value
}

// joinByClick clicks the demo page's Join Chat link in b's tab and attaches
// to the window it opens.
func joinByClick(t *testing.T, b *browser) *tab {
	t.Helper()
	opened := chromedp.WaitNewTarget(b.main.ctx, func(info *target.Info) bool {
		return info.Type == "page" && strings.Contains(info.URL, "/chat/rooms/")
	})
	b.main.do(t, "click Join Chat", chromedp.Click(chromedp.CSS("a.pagechat-join-link")))
	var id target.ID
	select {
	case id = <-opened:
	case <-time.After(waitTimeout):
	}
	if id == "" {
		t.Fatalf("%s: clicking Join Chat opened no window on /chat/rooms/ within %v\n%s", b.main.label, waitTimeout, b.main.snapshot())
	}
	return b.newTab(t, b.user+"'s popup", chromedp.WithTargetID(id))
}

// waitPopupReady waits until the popup has loaded its history, and returns
// its room id.
func waitPopupReady(t *testing.T, p *tab) string {
	t.Helper()
	p.do(t, "wait for the message input", chromedp.WaitVisible(chromedp.CSS("#input")))
	return waitFor[string](t, p, "the history to load", `() => {
		const s = document.getElementById("history-status").textContent;
		const banner = document.getElementById("banner");
		if (!banner.hidden && banner.textContent) return null;
		return s === "No messages yet. Say hello!" || s === "Beginning of the room" ? document.body.dataset.roomId : null;
	}`)
}

// shownMessage is one li.msg of the popup's message list.
type shownMessage struct {
	Seq      int    `json:"seq"`
	Author   string `json:"author"`
	DateTime string `json:"datetime"`
	TimeText string `json:"timeText"`
	Text     string `json:"text"`
}

// waitMessage waits until p's message list shows a stored message whose
// body contains needle (and, if selector is set, an element it matches).
func waitMessage(t *testing.T, p *tab, needle, selector string) shownMessage {
	t.Helper()
	return waitFor[shownMessage](t, p, "the message "+jsString(needle), `(needle, selector) => {
		for (const li of document.querySelectorAll("#message-list > li.msg")) {
			const body = li.querySelector(".msg-body");
			if (!body || !body.textContent.includes(needle)) continue;
			if (selector && !body.querySelector(selector)) continue;
			const author = li.querySelector(".msg-head .msg-author");
			const time = li.querySelector(".msg-head time");
			return {
				seq: Number(li.dataset.seq),
				author: author ? author.textContent : "",
				datetime: time ? (time.getAttribute("datetime") || "") : "",
				timeText: time ? time.textContent : "",
				text: body.textContent,
			};
		}
		return null;
	}`, needle, selector)
}

// checkDelivered checks that text, sent from the popup from, is stored and
// shown in every popup with the sender's name and a time, under one seq.
func checkDelivered(t *testing.T, text, author string, from *tab, to ...*tab) {
	t.Helper()
	mine := waitMessage(t, from, text, "")
	for _, p := range to {
		m := waitMessage(t, p, text, "")
		if m.Seq != mine.Seq {
			t.Errorf("%s shows %q as seq %d, the sender's popup as seq %d", p.label, text, m.Seq, mine.Seq)
		}
		checkHead(t, p, m, author)
	}
	checkHead(t, from, mine, author)
}

// checkHead checks a message's author and time element.
func checkHead(t *testing.T, p *tab, m shownMessage, author string) {
	t.Helper()
	if m.Author != author {
		t.Errorf("%s: message %d is from %q, want %q", p.label, m.Seq, m.Author, author)
	}
	sent, err := time.Parse(time.RFC3339, m.DateTime)
	if err != nil {
		t.Errorf("%s: message %d: time datetime=%q: %v", p.label, m.Seq, m.DateTime, err)
	} else if d := time.Since(sent); d < -time.Minute || d > 5*time.Minute {
		t.Errorf("%s: message %d sent at %v, %v from now", p.label, m.Seq, sent, d)
	}
	if strings.TrimSpace(m.TimeText) == "" {
		t.Errorf("%s: message %d: the time element shows no text", p.label, m.Seq)
	}
}

// checkPaste checks that the paste shows verbatim in a pre.paste that is
// not clipped.
func checkPaste(t *testing.T, p *tab, paste string) {
	t.Helper()
	first, _, _ := strings.Cut(paste, "\n")
	got := waitFor[struct {
		Author       string  `json:"author"`
		Text         string  `json:"text"`
		ScrollHeight float64 `json:"scrollHeight"`
		ClientHeight float64 `json:"clientHeight"`
		LineHeight   float64 `json:"lineHeight"`
	}](t, p, "the paste", `(needle) => {
		for (const li of document.querySelectorAll("#message-list > li.msg")) {
			const pre = li.querySelector(".msg-body pre.paste");
			if (!pre || !pre.textContent.includes(needle)) continue;
			return {
				author: li.querySelector(".msg-author").textContent,
				text: pre.textContent,
				scrollHeight: pre.scrollHeight,
				clientHeight: pre.clientHeight,
				lineHeight: parseFloat(getComputedStyle(pre).lineHeight),
			};
		}
		return null;
	}`, first)
	if got.Author != "Alice" {
		t.Errorf("%s: the paste is from %q, want Alice", p.label, got.Author)
	}
	if got.Text != paste {
		t.Errorf("%s: the paste shows as\n%s\nwant\n%s", p.label, got.Text, paste)
	}
	if got.ScrollHeight > got.ClientHeight+1 {
		t.Errorf("%s: the paste is clipped: scrollHeight %v > clientHeight %v", p.label, got.ScrollHeight, got.ClientHeight)
	}
	if lines := strings.Count(paste, "\n") + 1; got.ClientHeight < float64(lines)*got.LineHeight {
		t.Errorf("%s: the paste is %vpx high, less than its %d lines of %vpx", p.label, got.ClientHeight, lines, got.LineHeight)
	}
}

// messageSeqs returns the data-seq values of p's message list, in order.
func messageSeqs(t *testing.T, p *tab) []int {
	t.Helper()
	return eval[[]int](t, p, "read the message seqs",
		`Array.from(document.querySelectorAll("#message-list > li.msg"), li => Number(li.dataset.seq))`)
}

// checkNothingLeaks fails the test if what carol was shown holds any of
// the room's data.
func checkNothingLeaks(t *testing.T, what, shown string) {
	t.Helper()
	for _, secret := range []string{roomName, "pagechat-room", "Alice", "Bob", "Hello Bob", codeword, "func greet", "release-notes"} {
		if i := strings.Index(shown, secret); i >= 0 {
			from, to := max(0, i-80), min(len(shown), i+len(secret)+80)
			t.Errorf("%s contains %q: …%s…", what, secret, shown[from:to])
		}
	}
}

// artifactsDir is where screenshots go: $PAGECHAT_TEST_ARTIFACTS or a
// temporary directory.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PAGECHAT_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // a string always marshals
	}
	return string(b)
}

func itoa(n int) string { return strconv.Itoa(n) }

// pageID is the id in a page path such as /pages/1.
func pageID(path string) string { return path[strings.LastIndex(path, "/")+1:] }
