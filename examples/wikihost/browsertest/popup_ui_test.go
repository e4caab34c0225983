package browsertest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/pagechat/pagechat/internal/testutil"
)

// popupSession is the set-up the popup tests share: the wiki, alice and
// bob logged in, each with the demo room's popup open. Alice opened hers
// with the Join Chat link, so the demo page is its opener; bob opened the
// link's address in a tab of its own, so his has none.
type popupSession struct {
	wh         *wikihost
	exe        string
	report     *pageReport
	alice, bob *browser
	alicePopup *tab
	bobPopup   *tab
	roomID     string
	joinURL    string
}

func startPopupSession(t *testing.T) *popupSession {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs wikihost with the plugin, and several Chromium processes")
	}
	s := &popupSession{exe: chromiumPath(t), report: &pageReport{}}
	s.wh = startWikihost(t)
	t.Cleanup(func() { s.report.check(t) })
	s.alice = newBrowser(t, s.exe, "alice", s.report)
	s.bob = newBrowser(t, s.exe, "bob", s.report)
	login(t, s.wh, s.alice.main, "alice", "Alice")
	login(t, s.wh, s.bob.main, "bob", "Bob")
	for _, tb := range []*tab{s.alice.main, s.bob.main} {
		s.roomID = openDemoPage(t, s.wh, tb)
	}
	s.alicePopup = joinByClick(t, s.alice)
	s.joinURL = eval[string](t, s.bob.main, "read the Join Chat link", `document.querySelector("a.pagechat-join-link").href`)
	s.bobPopup = s.bob.newTab(t, "bob's popup")
	s.bobPopup.do(t, "open the chat popup", chromedp.Navigate(s.joinURL))
	for _, p := range []*tab{s.alicePopup, s.bobPopup} {
		waitPopupReady(t, p)
		waitOnline(t, p, "Alice", true)
		waitOnline(t, p, "Bob", true)
	}
	return s
}

// chatAPI is the demo room's browser API path.
func (s *popupSession) chatAPI() string { return "/chat/api/rooms/" + url.PathEscape(s.roomID) }

// post sends a message as user through the API, not a popup.
func (s *popupSession) post(t *testing.T, user, text string) {
	t.Helper()
	code, out := s.wh.api(t, http.MethodPost, s.chatAPI()+"/messages", user,
		map[string]string{"text": text, "client_id": fmt.Sprintf("api-%d", time.Now().UnixNano())})
	if code != http.StatusOK {
		t.Fatalf("POST a message as %s: status %d: %s", user, code, out)
	}
}

// setPermissions sets the demo page's view and edit lists (empty: everyone).
func (s *popupSession) setPermissions(t *testing.T, view, edit []string) {
	t.Helper()
	if view == nil {
		view = []string{}
	}
	if edit == nil {
		edit = []string{}
	}
	if code, out := s.wh.api(t, http.MethodPut, "/api/pages/"+pageID(s.wh.demoPage)+"/permissions", "alice",
		map[string][]string{"view": view, "edit": edit}); code != http.StatusOK {
		t.Fatalf("PUT permissions: status %d: %s", code, out)
	}
}

// waitOnline waits until p's people list shows name online (or not).
func waitOnline(t *testing.T, p *tab, name string, online bool) {
	t.Helper()
	waitFor[bool](t, p, fmt.Sprintf("%s shown online=%v", name, online), `(name, online) => {
		for (const li of document.querySelectorAll("#participants li")) {
			if (!li.textContent.includes(name)) continue;
			return !!li.querySelector(".dot.online") === online;
		}
		return !online;
	}`, name, online)
}

// setInput puts text into p's message input as typing would, firing the
// input event the popup listens to.
func setInput(t *testing.T, p *tab, text string) {
	t.Helper()
	eval[bool](t, p, "set the input", `((text) => {
		const i = document.getElementById("input");
		i.value = text;
		i.dispatchEvent(new Event("input", {bubbles: true}));
		return true;
	})(`+jsString(text)+`)`)
}

func TestPopupUI(t *testing.T) {
	s := startPopupSession(t)
	wh := s.wh

	// First, while the room has no transcript yet.
	t.Run("TranscriptListUpdatesWhileOpen", func(t *testing.T) {
		if n := eval[int](t, s.bobPopup, "count transcripts", `document.querySelectorAll("#transcripts li").length`); n != 0 {
			t.Fatalf("bob's popup lists %d transcripts before the first message", n)
		}
		// The popup fetches the room info as it opens; only a fetch after
		// the transcript exists can show it. Wait until those are over.
		waitFor[bool](t, s.bobPopup, "the popup's opening room info fetches to be over", `() => {
			const api = new URL(document.body.dataset.api, location.href).href;
			const got = performance.getEntriesByType("resource").filter(e => e.name === api);
			return got.length >= 2 && performance.now() - got[got.length - 1].responseEnd > 2500;
		}`)
		s.post(t, "alice", "The first message of the day")
		waitMessage(t, s.bobPopup, "The first message of the day", "")
		waitTranscript(t, wh)
		waitFor[bool](t, s.bobPopup, "the new transcript in the open popup's list", `() =>
			document.querySelectorAll("#transcripts li a").length > 0 && document.getElementById("transcripts-empty").hidden`)
	})

	t.Run("LengthCounterAndRefusalAtComposer", func(t *testing.T) {
		limit := eval[int](t, s.bobPopup, "read the limit", `Number(document.body.dataset.maxMessage)`)
		if limit <= 0 {
			t.Fatalf("the popup has no message limit in data-max-message: %d", limit)
		}
		setInput(t, s.bobPopup, strings.Repeat("x", limit-100))
		near := eval[struct {
			Hidden bool   `json:"hidden"`
			Text   string `json:"text"`
			Send   bool   `json:"send"`
		}](t, s.bobPopup, "read the counter", `(() => {
			const c = document.getElementById("char-count");
			return {hidden: !c || c.hidden, text: c ? c.textContent : "", send: !document.getElementById("send").disabled};
		})()`)
		if near.Hidden || !strings.Contains(near.Text, "100") || !near.Send {
			t.Errorf("100 bytes below the limit: counter %+v; want it shown, saying 100 left, Send enabled", near)
		}
		setInput(t, s.bobPopup, strings.Repeat("x", limit+10))
		s.bobPopup.do(t, "press Enter on a message over the limit", chromedp.Focus(chromedp.CSS("#input")), pressEnter())
		over := eval[struct {
			Counter  string `json:"counter"`
			Send     bool   `json:"send"`
			Error    string `json:"error"`
			Visible  bool   `json:"visible"`
			Retry    bool   `json:"retry"`
			Kept     int    `json:"kept"`
			Pendings int    `json:"pendings"`
		}](t, s.bobPopup, "read the composer", `(() => {
			const e = document.getElementById("composer-error");
			const r = e ? e.getBoundingClientRect() : null;
			return {
				counter: (document.getElementById("char-count") || {}).textContent || "",
				send: !document.getElementById("send").disabled,
				error: e && !e.hidden ? e.textContent : "",
				visible: !!r && r.height > 0 && r.top >= 0 && r.bottom <= innerHeight,
				retry: !!e && Array.from(e.querySelectorAll("button")).some(b => b.textContent === "Retry"),
				kept: document.getElementById("input").value.length,
				pendings: document.querySelectorAll("#pending-list li").length,
			};
		})()`)
		if !strings.Contains(over.Counter, "Too long") || over.Send {
			t.Errorf("over the limit: counter %q, Send enabled %v; want 'Too long…' and Send disabled", over.Counter, over.Send)
		}
		if !strings.HasPrefix(over.Error, "Not sent.") || !over.Visible || over.Retry {
			t.Errorf("Enter over the limit: composer error %q (in view %v, Retry offered %v); want a visible 'Not sent.' without Retry", over.Error, over.Visible, over.Retry)
		}
		if over.Kept != limit+10 || over.Pendings != 0 {
			t.Errorf("over the limit the input keeps %d bytes and %d sends are pending; want the text kept and nothing sent", over.Kept, over.Pendings)
		}
		screenshotFor(t, s.bobPopup, "popup-too-long.png")
		setInput(t, s.bobPopup, "")
	})

	t.Run("ReadOnlyComposer", func(t *testing.T) {
		// The popup learns can_post from the room info, which it fetches
		// now and then; this checks the case in between, a send from a
		// composer that still looks open, so the fetches fail until then.
		eval[bool](t, s.bobPopup, "hold the room info fetches", `(() => {
			const api = new URL(document.body.dataset.api, location.href).href, real = window.fetch;
			window.fetch = (u, o) => new URL(String(u), location.href).href === api ? Promise.reject(new TypeError("held by the test")) : real(u, o);
			return true;
		})()`)
		s.setPermissions(t, nil, []string{"alice"})
		defer s.setPermissions(t, nil, nil)
		// A send from a composer opened before the change is refused at
		// the composer, without a Retry that could not succeed.
		waitFor[bool](t, s.bobPopup, "the plugin to refuse bob's posts", `() =>
			fetch(document.body.dataset.api + "/typing", {method: "POST"}).then(r => r.status === 403)`)
		s.bobPopup.do(t, "send while no longer allowed to post",
			chromedp.SendKeys(chromedp.CSS("#input"), "Am I still allowed to post?"), pressEnter())
		refused := waitFor[struct {
			Error   string `json:"error"`
			Retry   bool   `json:"retry"`
			Discard bool   `json:"discard"`
			Kept    bool   `json:"kept"`
		}](t, s.bobPopup, "the refusal at the composer", `() => {
			const e = document.getElementById("composer-error");
			if (!e || e.hidden) return null;
			const labels = Array.from(e.querySelectorAll("button"), b => b.textContent);
			const kept = Array.from(document.querySelectorAll("#pending-list li.failed")).some(li => li.textContent.includes("Am I still allowed"));
			return {error: e.textContent, retry: labels.includes("Retry"), discard: labels.includes("Discard"), kept};
		}`)
		if !strings.Contains(refused.Error, "permission") || refused.Retry || !refused.Discard || !refused.Kept {
			t.Errorf("refused send: %+v; want a permission error without Retry, the text kept in the list, Discard", refused)
		}
		if !regexp.MustCompile(`^Not sent\. [A-Z]`).MatchString(refused.Error) {
			t.Errorf("the error %q does not read as a sentence", refused.Error)
		}
		waitReadOnly(t, s.bobPopup)
		s.bobPopup.do(t, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#readonly-note")))
		waitReadOnly(t, s.bobPopup)
		waitFor[bool](t, s.bobPopup, "the history", `() => ["Beginning of the room", "No messages yet. Say hello!"].includes(document.getElementById("history-status").textContent)`)
		screenshotFor(t, s.bobPopup, "popup-read-only.png")
		s.setPermissions(t, nil, nil)
		s.bobPopup.do(t, "reload", chromedp.Reload())
		waitPopupReady(t, s.bobPopup)
		waitFor[bool](t, s.bobPopup, "the composer back", `() =>
			document.getElementById("readonly-note").hidden && !document.getElementById("input").hidden && !document.getElementById("input").disabled`)
		waitOnline(t, s.bobPopup, "Alice", true)
	})

	t.Run("WhitespaceOnlyDisablesSend", func(t *testing.T) {
		setInput(t, s.bobPopup, "   \n\t ")
		if eval[bool](t, s.bobPopup, "read Send", `!document.getElementById("send").disabled`) {
			t.Error("Send is enabled for whitespace-only input")
		}
		setInput(t, s.bobPopup, " hi ")
		if !eval[bool](t, s.bobPopup, "read Send", `!document.getElementById("send").disabled`) {
			t.Error("Send is disabled for input with text")
		}
		setInput(t, s.bobPopup, "")
	})

	t.Run("UploadAlignedWithSend", func(t *testing.T) {
		r := eval[[]float64](t, s.bobPopup, "measure the buttons", `(() => {
			const a = document.getElementById("attach").getBoundingClientRect();
			const b = document.getElementById("send").getBoundingClientRect();
			return [a.top, a.height, b.top, b.height];
		})()`)
		if abs(r[0]-r[2]) > 1 || abs(r[1]-r[3]) > 1 {
			t.Errorf("Upload at top %v height %v, Send at top %v height %v: not aligned", r[0], r[1], r[2], r[3])
		}
	})

	t.Run("LighterFocusRing", func(t *testing.T) {
		s.bobPopup.do(t, "tab from the input", chromedp.Focus(chromedp.CSS("#input")), chromedp.KeyEvent("\t"))
		ring := eval[struct {
			ID    string `json:"id"`
			Width string `json:"width"`
			Style string `json:"style"`
		}](t, s.bobPopup, "read the focus ring", `(() => {
			const a = document.activeElement, cs = getComputedStyle(a);
			return {id: a.id, width: cs.outlineWidth, style: cs.outlineStyle};
		})()`)
		if ring.ID != "attach" || ring.Style == "none" || ring.Width != "2px" {
			t.Errorf("after Tab from the input: focus on %q with outline %s %s; want #attach with a visible 2px ring", ring.ID, ring.Width, ring.Style)
		}
	})

	t.Run("FaviconServed", func(t *testing.T) {
		for _, p := range []*tab{s.bobPopup} {
			res := eval[struct {
				Href   string `json:"href"`
				Status int    `json:"status"`
				Type   string `json:"type"`
			}](t, p, "fetch the favicon", `(async () => {
				const l = document.querySelector('link[rel="icon"]');
				if (!l) return {href: "", status: 0, type: ""};
				const r = await fetch(l.href);
				return {href: l.href, status: r.status, type: r.headers.get("Content-Type") || ""};
			})()`)
			if res.Status != http.StatusOK || !strings.HasPrefix(res.Type, "image/") {
				t.Errorf("%s: favicon %+v; want a link rel=icon that loads as an image", p.label, res)
			}
		}
	})

	t.Run("LocaleTimes", func(t *testing.T) {
		m := waitMessage(t, s.bobPopup, "The first message of the day", "")
		want := eval[string](t, s.bobPopup, "format the time as the browser's locale does",
			`new Intl.DateTimeFormat(navigator.languages, {timeStyle: "short"}).format(new Date(`+jsString(m.DateTime)+`))`)
		if m.TimeText != want {
			t.Errorf("message time shows %q, want the locale's short time %q", m.TimeText, want)
		}
	})

	t.Run("GroupingAvatarsAndDateSeparator", func(t *testing.T) {
		s.post(t, "bob", "Bob starts")
		s.post(t, "alice", "Grouped one")
		s.post(t, "alice", "Grouped two")
		s.post(t, "bob", "Bob answers")
		waitMessage(t, s.bobPopup, "Bob answers", "")
		got := eval[[]struct {
			Author   string `json:"author"`
			Text     string `json:"text"`
			Grouped  bool   `json:"grouped"`
			Sep      string `json:"sep"`
			Avatar   string `json:"avatar"`
			Colour   string `json:"colour"`
			NameSeen bool   `json:"nameSeen"`
		}](t, s.bobPopup, "read the messages", `Array.from(document.querySelectorAll("#message-list > li.msg"), li => {
			const a = li.querySelector(".avatar"), sep = li.querySelector(".day-sep"), n = li.querySelector(".msg-author");
			const r = n.getBoundingClientRect();
			return {
				author: n.textContent,
				text: li.querySelector(".msg-body").textContent.trim(),
				grouped: li.classList.contains("grouped"),
				sep: sep ? sep.textContent : "",
				avatar: a ? a.textContent : "",
				colour: a ? getComputedStyle(a).backgroundColor : "",
				nameSeen: r.width > 2 && r.height > 2,
			};
		})`)
		byText := map[string]int{}
		for i, m := range got {
			byText[m.Text] = i
		}
		first, one, two, bob := got[0], got[byText["Grouped one"]], got[byText["Grouped two"]], got[byText["Bob answers"]]
		if first.Sep != "Today" {
			t.Errorf("the first message has date separator %q, want Today", first.Sep)
		}
		if one.Grouped || !two.Grouped || bob.Grouped {
			t.Errorf("grouped: %v %v %v; want only alice's second message grouped under her first", one.Grouped, two.Grouped, bob.Grouped)
		}
		if !one.NameSeen || two.NameSeen {
			t.Errorf("alice's name visible on her first message %v, on the grouped one %v; want shown once", one.NameSeen, two.NameSeen)
		}
		if one.Avatar != "A" || bob.Avatar != "B" || one.Colour == bob.Colour {
			t.Errorf("avatars: alice %q %s, bob %q %s; want their initials on colours of their own", one.Avatar, one.Colour, bob.Avatar, bob.Colour)
		}
		colours := map[string]string{}
		for _, m := range got {
			if c, ok := colours[m.Author]; ok && c != m.Colour {
				t.Errorf("%s's avatars have two colours: %s and %s", m.Author, c, m.Colour)
			}
			colours[m.Author] = m.Colour
		}
		if first.Sep != "" && one.Sep != "" {
			t.Errorf("a second date separator on the same day: %q", one.Sep)
		}
		// A message of bob's that starts a day: its edit and delete
		// tools sit under the separator, not on it. The separator is
		// the page's own, moved onto bob's message (whichever message
		// starts the day depends on the subtests before).
		overlap := eval[string](t, s.bobPopup, "compare the tools with the separator", `(() => {
			const li = Array.from(document.querySelectorAll("#message-list > li.msg")).find(li => li.textContent.includes("Bob answers"));
			const tools = li.querySelector(".msg-tools"), sep = document.querySelector("#message-list .day-sep");
			if (!tools || !sep) return "no tools or no separator";
			li.prepend(sep.cloneNode(true));
			const a = tools.getBoundingClientRect(), b = li.querySelector(":scope > .day-sep").getBoundingClientRect();
			const hit = a.top < b.bottom && b.top < a.bottom;
			li.querySelector(":scope > .day-sep").remove();
			return hit ? "tools " + JSON.stringify(a) + " on separator " + JSON.stringify(b) : "";
		})()`)
		if overlap != "" {
			t.Errorf("edit/delete tools overlap the date separator: %s", overlap)
		}
	})

	t.Run("NewMessagesAnnouncedPolitely", func(t *testing.T) {
		s.post(t, "alice", "Heard by a screen reader")
		s.post(t, "bob", "Not read back to its sender")
		waitMessage(t, s.bobPopup, "Not read back to its sender", "")
		got := waitFor[struct {
			Live     string   `json:"live"`
			Hidden   bool     `json:"hidden"`
			Lines    []string `json:"lines"`
			ListLive string   `json:"listLive"`
		}](t, s.bobPopup, "alice's message in the live region", `() => {
			const a = document.getElementById("announcer");
			if (!a) return {live: "", hidden: true, lines: [], listLive: ""};
			const lines = Array.from(a.children, (p) => p.textContent);
			if (!lines.some((l) => l.includes("Heard by a screen reader"))) return null;
			return {live: a.getAttribute("aria-live"), hidden: a.hidden || getComputedStyle(a).display === "none",
				lines, listLive: document.getElementById("messages").getAttribute("aria-live") || ""};
		}`)
		if got.Live != "polite" || got.Hidden {
			t.Errorf("the announcer: aria-live %q, hidden %v; want a polite live region screen readers hear", got.Live, got.Hidden)
		}
		if last := got.Lines[len(got.Lines)-1]; last != "Alice: Heard by a screen reader" {
			t.Errorf("the last announcement %q, want who wrote what", last)
		}
		for _, l := range got.Lines {
			if strings.Contains(l, "Not read back") {
				t.Errorf("bob's own message announced to him: %q", l)
			}
		}
		// The list itself stays quiet, or every message would be read twice.
		if got.ListLive != "off" {
			t.Errorf("the message list has aria-live %q; want off, the announcer speaks for it", got.ListLive)
		}
	})

	t.Run("OtherDaysAndA24HourClock", func(t *testing.T) {
		// A tab of bob's in British English whose clock runs days ahead:
		// today's messages are then yesterday's, or older, and times show
		// on a 24-hour clock.
		ua := eval[string](t, s.bobPopup, "read the user agent", `navigator.userAgent`)
		open := func(days int) *tab {
			p := s.bob.newTab(t, fmt.Sprintf("bob's popup %d days ahead", days))
			shift := fmt.Sprintf(`(() => {
				const Real = Date, off = %d * 86400000;
				class Shifted extends Real {
					constructor(...a) { if (a.length === 0) super(Real.now() + off); else super(...a); }
					static now() { return Real.now() + off; }
				}
				globalThis.Date = Shifted;
			})();`, days)
			p.do(t, "speak British English, days ahead", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				if _, err := cdp.Call(ctx, tg, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua, AcceptLanguage: "en-GB"}); err != nil {
					return err
				}
				if _, err := cdp.Call(ctx, tg, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: "en_GB"}); err != nil {
					return err
				}
				_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: shift})
				return err
			}), chromedp.Navigate(s.joinURL))
			waitPopupReady(t, p)
			waitMessage(t, p, "The first message of the day", "")
			return p
		}
		type first struct {
			Sep  string `json:"sep"`
			Time string `json:"time"`
			Want string `json:"want"`
			Seps int    `json:"seps"`
		}
		const read = `(() => {
			const li = document.querySelector("#message-list > li.msg");
			const d = new Date(Number(li.dataset.at));
			return {
				sep: (li.querySelector(".day-sep") || {}).textContent || "",
				time: li.querySelector(".msg-time").textContent,
				want: new Intl.DateTimeFormat("en-GB", {weekday: "long", month: "long", day: "numeric"}).format(d),
				seps: document.querySelectorAll("#message-list .day-sep").length,
			};
		})()`
		y := eval[first](t, open(1), "read the first message", read)
		if y.Sep != "Yesterday" || y.Seps != 1 {
			t.Errorf("a day later: the first message's separator %q (%d in all); want one, Yesterday", y.Sep, y.Seps)
		}
		if !regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`).MatchString(y.Time) {
			t.Errorf("in en-GB the message time shows %q; want the 24-hour clock (HH:MM)", y.Time)
		}
		d := eval[first](t, open(10), "read the first message", read)
		if !strings.HasPrefix(d.Sep, d.Want) {
			t.Errorf("ten days later: the first message's separator %q; want its date, %q", d.Sep, d.Want)
		}
	})

	t.Run("LongMessageShowMore", func(t *testing.T) {
		long := "A long report\n" + strings.Repeat("line of the report\n", 60) + "the end"
		s.post(t, "alice", long)
		waitMessage(t, s.bobPopup, "A long report", "")
		st := eval[struct {
			Collapsed bool    `json:"collapsed"`
			Height    float64 `json:"height"`
			Button    string  `json:"button"`
		}](t, s.bobPopup, "read the long message", `(() => {
			const li = Array.from(document.querySelectorAll("#message-list > li.msg")).find(li => li.textContent.includes("A long report"));
			const b = li.querySelector(".msg-body"), more = li.querySelector("button.show-more");
			return {collapsed: b.classList.contains("collapsed"), height: b.clientHeight, button: more ? more.textContent : ""};
		})()`)
		if !st.Collapsed || st.Height > 300 || st.Button != "Show more" {
			t.Fatalf("a 62-line message: %+v; want it collapsed with Show more", st)
		}
		s.bobPopup.do(t, "click Show more", chromedp.Click(chromedp.CSS(`#message-list li.msg:last-child button.show-more`)))
		if h := eval[float64](t, s.bobPopup, "measure", `document.querySelector("#message-list li.msg:last-child .msg-body").clientHeight`); h < 600 {
			t.Errorf("after Show more the message is %vpx high; want it whole", h)
		}
		s.bobPopup.do(t, "click Show less", chromedp.Click(chromedp.CSS(`#message-list li.msg:last-child button.show-more`)))
	})

	t.Run("KeyboardReachesEverythingWithVisibleFocus", func(t *testing.T) {
		// Every visible control, Tab after Tab, each with a focus ring;
		// then Show more works from the keyboard.
		n := eval[int](t, s.bobPopup, "mark the controls", `(() => {
			// A control taken out of the Tab order (tabindex -1) counts as
			// missed; only the file input, which Upload file… stands for, is
			// meant to be out of it.
			const all = document.querySelectorAll('a[href], button:not([disabled]), textarea:not([disabled]), input:not([disabled]):not([aria-hidden="true"]), [tabindex]:not([tabindex="-1"])');
			let n = 0;
			for (const e of all) {
				delete e.dataset.kb;
				if (e.getClientRects().length === 0 || e.closest("[hidden], [inert]")) continue;
				const r = e.getBoundingClientRect();
				if (r.width < 2 || r.height < 2) continue; // the skip link, off screen until focused, is counted when reached
				e.dataset.kb = String(n++);
			}
			document.activeElement && document.activeElement.blur();
			return n;
		})()`)
		if n < 8 {
			t.Fatalf("only %d visible controls found", n)
		}
		type focused struct {
			KB   string `json:"kb"`
			Desc string `json:"desc"`
			Ring bool   `json:"ring"`
		}
		seen := map[string]bool{}
		for i := 0; i < n+10 && len(seen) < n; i++ {
			s.bobPopup.do(t, "press Tab", chromedp.KeyEvent("\t"))
			f := eval[focused](t, s.bobPopup, "read the focus", `(() => {
				const a = document.activeElement;
				if (!a || a === document.body) return {kb: "", desc: "body", ring: true};
				const cs = getComputedStyle(a);
				const ring = (cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) >= 1) || cs.boxShadow !== "none";
				return {kb: a.dataset.kb || "", desc: a.tagName + "#" + a.id + "." + a.className + " " + (a.textContent || "").trim().slice(0, 30), ring};
			})()`)
			if !f.Ring {
				t.Errorf("Tab %d: %s has focus but no visible focus ring", i+1, f.Desc)
			}
			if f.KB != "" {
				seen[f.KB] = true
			}
		}
		t.Logf("Tab reached %d of %d visible controls", len(seen), n)
		if len(seen) < n {
			missed := eval[[]string](t, s.bobPopup, "list the controls Tab missed", `((seen) => Array.from(document.querySelectorAll("[data-kb]"))
				.filter((e) => !seen.includes(e.dataset.kb)).map((e) => e.tagName + "#" + e.id + " " + (e.textContent || "").trim().slice(0, 30)))(`+jsString(strings.Join(keys(seen), ","))+`.split(","))`)
			t.Errorf("Tab reached %d of %d visible controls; missed %q", len(seen), n, missed)
		}
		s.bobPopup.do(t, "Show more with the keyboard", chromedp.Focus(chromedp.CSS(`#message-list li.msg:last-child button.show-more`)), pressEnter())
		if h := eval[float64](t, s.bobPopup, "measure", `document.querySelector("#message-list li.msg:last-child .msg-body").clientHeight`); h < 600 {
			t.Errorf("after Enter on Show more the message is %vpx high; want it whole", h)
		}
		s.bobPopup.do(t, "Show less with the keyboard", chromedp.Focus(chromedp.CSS(`#message-list li.msg:last-child button.show-more`)), pressEnter())
		if h := eval[float64](t, s.bobPopup, "measure", `document.querySelector("#message-list li.msg:last-child .msg-body").clientHeight`); h > 300 {
			t.Errorf("after Enter on Show less the message is %vpx high; want it folded", h)
		}
	})

	t.Run("NewMessagesPillCountsAndCoversNothing", func(t *testing.T) {
		// Enough messages that the list scrolls.
		for i := range 16 {
			s.post(t, []string{"alice", "bob"}[i%2], fmt.Sprintf("Filler %d", i))
		}
		waitMessage(t, s.bobPopup, "Filler 15", "")
		if !eval[bool](t, s.bobPopup, "scroll to the top", `(() => {
			const m = document.getElementById("messages");
			m.scrollTop = 0;
			return m.scrollHeight > m.clientHeight + 200;
		})()`) {
			t.Fatal("the message list does not scroll")
		}
		s.post(t, "alice", "Pill one")
		s.post(t, "alice", "Pill two")
		waitMessage(t, s.bobPopup, "Pill two", "")
		pill := waitFor[struct {
			Text    string `json:"text"`
			Overlap bool   `json:"overlap"`
		}](t, s.bobPopup, "the pill", `() => {
			const p = document.getElementById("new-pill");
			if (p.hidden) return null;
			const a = p.getBoundingClientRect(), m = document.getElementById("messages").getBoundingClientRect();
			const overlap = a.left < m.right && a.right > m.left && a.top < m.bottom && a.bottom > m.top;
			return {text: p.textContent, overlap};
		}`)
		if !strings.Contains(pill.Text, "2 new messages") {
			t.Errorf("the pill says %q; want the count of new messages (2)", pill.Text)
		}
		if pill.Overlap {
			t.Error("the pill lies over the message list, covering text")
		}
		s.bobPopup.do(t, "click the pill", chromedp.Click(chromedp.CSS("#new-pill")))
		waitFor[bool](t, s.bobPopup, "the pill gone", `() => document.getElementById("new-pill").hidden`)
	})

	t.Run("TypingIndicator", func(t *testing.T) {
		if os.Getenv("PAGECHAT_SCREENSHOTS") != "" {
			// Something worth showing at the bottom of the docs' picture.
			s.post(t, "bob", "Shall we ship today? The notes are on [Welcome to pagechat].")
			s.post(t, "alice", "Yes, once **all** the checks pass, `go vet` *included*:")
			s.post(t, "alice", "go vet ./...\nbash scripts/test.sh\n.ci/run")
			waitMessage(t, s.bobPopup, ".ci/run", "")
			eval[bool](t, s.bobPopup, "scroll down", `(document.getElementById("new-pill").click(), true)`)
		}
		lastSeq := eval[int](t, s.bobPopup, "read the last seq", `Math.max(...Array.from(document.querySelectorAll("#message-list > li.msg"), li => Number(li.dataset.seq)))`)
		s.alicePopup.do(t, "type without sending", chromedp.SendKeys(chromedp.CSS("#input"), "I am typing something long"))
		waitFor[bool](t, s.bobPopup, "Alice is typing… in bob's popup", `() => document.getElementById("typing").textContent === "Alice is typing…"`)
		if txt := eval[string](t, s.alicePopup, "read alice's own indicator", `document.getElementById("typing").textContent`); txt != "" {
			t.Errorf("alice's popup shows %q about her own typing", txt)
		}
		sent := eval[int](t, s.alicePopup, "count typing signals", `performance.getEntriesByType("resource").filter(e => e.name.endsWith("/typing")).length`)
		if sent < 1 || sent > 2 {
			t.Errorf("typing %d characters sent %d typing signals; want 1 or 2", len("I am typing something long"), sent)
		}
		if os.Getenv("PAGECHAT_SCREENSHOTS") != "" {
			// Tall enough to show the whole conversation, date separator included.
			s.bobPopup.do(t, "make the window taller", chromedp.EmulateViewport(1100, 960))
			eval[bool](t, s.bobPopup, "scroll down", `(document.getElementById("messages").scrollTop = 1e6, true)`)
			screenshotFor(t, s.bobPopup, "popup-typing.png")
			s.bobPopup.do(t, "restore the window", chromedp.EmulateReset())
		}
		// Nothing is stored: no message, no new sequence.
		code, out := wh.api(t, http.MethodGet, s.chatAPI()+"/messages?limit=1", "bob", nil)
		if code != http.StatusOK || !strings.Contains(out, fmt.Sprintf(`"seq":%d`, lastSeq)) {
			t.Errorf("after typing, the last message is not %d any more: %s", lastSeq, out)
		}
		begin := time.Now()
		waitFor[bool](t, s.bobPopup, "the typing indicator to expire", `() => document.getElementById("typing").textContent === ""`)
		if d := time.Since(begin); d > 12*time.Second {
			t.Errorf("the typing indicator stayed %v after alice stopped", d)
		}
		setInput(t, s.alicePopup, "")
		// Typing needs post permission.
		code, _ = wh.api(t, http.MethodPost, s.chatAPI()+"/typing", "carol", nil)
		if code != http.StatusNoContent {
			t.Errorf("carol (may edit) POST typing: %d, want 204", code)
		}
	})

	t.Run("UnreadTitleAndDesktopNotification", func(t *testing.T) {
		// The page's Notification is replaced by a recorder: a headless
		// browser shows none. Permission is asked only on the click.
		eval[bool](t, s.bobPopup, "install a Notification recorder", `(() => {
			window.__notes = []; window.__asked = 0;
			class N { constructor(title, opts) { window.__notes.push({title, body: opts && opts.body}); } close() {} }
			N.permission = "default";
			N.requestPermission = () => { window.__asked++; N.permission = "granted"; return Promise.resolve("granted"); };
			window.Notification = N;
			return true;
		})()`)
		if n := eval[int](t, s.bobPopup, "count permission requests", `window.__asked`); n != 0 {
			t.Fatalf("permission asked %d times before the user turned notifications on", n)
		}
		s.bobPopup.do(t, "turn notifications on", chromedp.Click(chromedp.CSS("#notify-toggle")))
		waitFor[bool](t, s.bobPopup, "notifications on", `() => document.getElementById("notify-toggle").getAttribute("aria-pressed") === "true" && window.__asked === 1`)
		eval[bool](t, s.bobPopup, "put the popup in the background", `(() => {
			Object.defineProperty(document, "visibilityState", {get: () => "hidden", configurable: true});
			document.dispatchEvent(new Event("visibilitychange"));
			return true;
		})()`)
		s.post(t, "alice", "Background one")
		s.post(t, "alice", "Background two")
		title := waitFor[string](t, s.bobPopup, "the unread count in the title", `() => document.title.startsWith("(2) ") ? document.title : null`)
		if !strings.Contains(title, roomName) {
			t.Errorf("title %q lost the room name", title)
		}
		notes := eval[[]struct{ Title, Body string }](t, s.bobPopup, "read the notifications", `window.__notes`)
		if len(notes) != 2 || notes[0].Title != "Alice in "+roomName || notes[1].Body != "Background two" {
			t.Errorf("desktop notifications %+v; want two from Alice in %s", notes, roomName)
		}
		eval[bool](t, s.bobPopup, "bring the popup back", `(() => {
			Object.defineProperty(document, "visibilityState", {get: () => "visible", configurable: true});
			document.dispatchEvent(new Event("visibilitychange"));
			return true;
		})()`)
		waitFor[bool](t, s.bobPopup, "the title without count", `() => !document.title.startsWith("(")`)
	})

	t.Run("LinksOpenInOpenerOrNewTab", func(t *testing.T) {
		s.post(t, "bob", "Details on [Welcome to pagechat].")
		// Alice's opener moves elsewhere first, so its return is visible.
		s.alice.main.do(t, "leave the demo page", chromedp.Navigate(wh.base+"/search"))
		popupBefore := run(t, s.alicePopup, "read the location", chromedp.Location())
		m := waitMessage(t, s.alicePopup, "Details on", "a.wikilink")
		s.alicePopup.do(t, "click the wiki link", chromedp.Click(chromedp.CSS(`#message-list li.msg[data-seq="`+itoa(m.Seq)+`"] a.wikilink`)))
		wh.eventually(t, "alice's opener to show the linked page", func() bool {
			ctx, cancel := context.WithTimeout(s.alice.main.ctx, 2*time.Second)
			defer cancel()
			loc, err := chromedp.Run(ctx, chromedp.Location())
			u, perr := url.Parse(loc)
			return err == nil && perr == nil && u.Path == wh.demoPage
		})
		if loc := run(t, s.alicePopup, "read the location", chromedp.Location()); loc != popupBefore {
			t.Errorf("alice's popup moved to %s; want it to stay on the chat", loc)
		}
		known := pageTargets(t, s.bob)
		m = waitMessage(t, s.bobPopup, "Details on", "a.wikilink")
		before := run(t, s.bobPopup, "read the location", chromedp.Location())
		s.bobPopup.do(t, "click the wiki link", chromedp.Click(chromedp.CSS(`#message-list li.msg[data-seq="`+itoa(m.Seq)+`"] a.wikilink`)))
		waitNewPageTarget(t, s.bob, known, wh.demoPage)
		if loc := run(t, s.bobPopup, "read the location", chromedp.Location()); loc != before {
			t.Errorf("bob's popup moved to %s; want it to stay on the chat", loc)
		}
	})

	t.Run("AxeOnMacroPagePopupAndTranscript", func(t *testing.T) {
		src := axeScript(t)
		s.bob.main.do(t, "open the demo page", chromedp.Navigate(wh.base+wh.demoPage), chromedp.WaitVisible(chromedp.CSS("table.pagechat-room")))
		checkAxe(t, s.bob.main, src)
		checkAxe(t, s.bobPopup, src)
		s.bobPopup.do(t, "switch to the dark scheme", emulateColorScheme("dark"))
		checkAxe(t, s.bobPopup, src)
		s.bobPopup.do(t, "switch back", emulateColorScheme(""))
		transcript := waitTranscript(t, wh)
		s.bob.main.do(t, "open the transcript", chromedp.Navigate(wh.base+transcript), chromedp.WaitVisible(chromedp.CSS("article.page h1")))
		checkAxe(t, s.bob.main, src)
	})

	carol := newBrowser(t, s.exe, "carol", s.report)
	var carolPopup *tab
	t.Run("LoggedOutRoomURLOffersLoginAndReturns", func(t *testing.T) {
		carolPopup = carol.main
		resp := run(t, carolPopup, "open the room logged out", chromedp.NavigateResponse(s.joinURL))
		if resp.Status != http.StatusUnauthorized {
			t.Errorf("the room logged out: status %d, want 401", resp.Status)
		}
		carolPopup.do(t, "follow Log in", chromedp.WaitVisible(chromedp.CSS("#login-link")), chromedp.Click(chromedp.CSS("#login-link")),
			chromedp.WaitVisible(chromedp.CSS(`form.login input[name="name"]`)))
		carolPopup.do(t, "log in as carol",
			chromedp.SendKeys(chromedp.CSS(`form.login input[name="name"]`), "carol"),
			chromedp.SendKeys(chromedp.CSS(`form.login input[name="password"]`), demoPassword),
			chromedp.Click(chromedp.CSS(`form.login button[type="submit"]`)))
		if got := waitPopupReady(t, carolPopup); got != s.roomID {
			t.Fatalf("after logging in carol is in room %q, want %q", got, s.roomID)
		}
		if loc := run(t, carolPopup, "read the location", chromedp.Location()); loc != s.joinURL {
			t.Errorf("after logging in carol is at %s, want %s", loc, s.joinURL)
		}
		waitOnline(t, s.alicePopup, "Carol", true)
	})

	t.Run("PresenceUnknownWhileOffline", func(t *testing.T) {
		waitOnline(t, s.bobPopup, "Alice", true)
		s.bobPopup.do(t, "go offline", setOffline(true))
		waitFor[bool](t, s.bobPopup, "nobody shown online while offline", `() =>
			document.querySelectorAll("#participants .dot.online").length === 0 && !document.getElementById("people-status").hidden`)
		s.bobPopup.do(t, "come back online", setOffline(false))
		waitOnline(t, s.bobPopup, "Alice", true)
		waitFor[bool](t, s.bobPopup, "presence known again", `() => document.getElementById("people-status").hidden`)
	})

	t.Run("LastSeenVisible", func(t *testing.T) {
		status := eval[string](t, s.bobPopup, "read alice's status", `(() => {
			for (const li of document.querySelectorAll("#participants li")) if (li.textContent.includes("Alice")) {
				const st = li.querySelector(".person-status"), r = st.getBoundingClientRect();
				return r.height > 0 ? st.textContent : "(hidden)";
			}
			return "(missing)";
		})()`)
		if status != "online" {
			t.Errorf("alice's visible status %q, want online", status)
		}
	})

	t.Run("RevokedAccessStopsAndClears", func(t *testing.T) {
		if carolPopup == nil {
			t.Skip("carol did not get into the room")
		}
		waitMessage(t, carolPopup, "Background two", "")
		s.setPermissions(t, []string{"alice", "bob"}, nil)
		defer s.setPermissions(t, nil, nil)
		st := waitFor[struct {
			Banner      string `json:"banner"`
			Messages    int    `json:"messages"`
			People      int    `json:"people"`
			Disabled    bool   `json:"disabled"`
			Placeholder string `json:"placeholder"`
			Help        bool   `json:"help"`
		}](t, carolPopup, "carol's popup to stop", `() => {
			const b = document.getElementById("banner");
			if (b.hidden || !b.classList.contains("fatal")) return null;
			const help = document.getElementById("composer-help");
			return {
				banner: b.textContent,
				messages: document.querySelectorAll("#message-list li").length,
				people: document.querySelectorAll("#participants li").length,
				disabled: document.getElementById("input").disabled,
				placeholder: document.getElementById("input").placeholder,
				help: !help.hidden && document.getElementById("input").getAttribute("aria-describedby") !== null,
			};
		}`)
		if !strings.Contains(st.Banner, "permission") || !regexp.MustCompile(`^[A-Z]`).MatchString(st.Banner) {
			t.Errorf("carol's banner %q; want a sentence about permission", st.Banner)
		}
		if st.Messages != 0 || st.People != 0 {
			t.Errorf("carol's popup still shows %d messages and %d people after losing access", st.Messages, st.People)
		}
		if !st.Disabled || strings.Contains(st.Placeholder, "Enter sends") || st.Help {
			t.Errorf("carol's composer: disabled %v, placeholder %q, help %v; want it disabled without the Enter hint", st.Disabled, st.Placeholder, st.Help)
		}
		waitOnline(t, s.alicePopup, "Carol", false)
		waitOnline(t, s.bobPopup, "Carol", false)
		if got := eval[string](t, s.alicePopup, "read carol's status", `(() => {
			for (const li of document.querySelectorAll("#participants li")) if (li.textContent.includes("Carol")) {
				const st = li.querySelector(".person-status"), r = st.getBoundingClientRect();
				return r.height > 0 && r.width > 2 ? st.textContent : "(hidden) " + st.textContent;
			}
			return "";
		})()`); !strings.HasPrefix(got, "last seen") {
			t.Errorf("carol's status in alice's popup: %q, want last seen …, shown in the list", got)
		}
	})
}

// pageTargets returns the ids of b's page targets (tabs and windows).
func pageTargets(t *testing.T, b *browser) map[target.ID]bool {
	t.Helper()
	infos, err := chromedp.Targets(b.main.ctx)
	if err != nil {
		t.Fatalf("%s: list targets: %v", b.user, err)
	}
	ids := make(map[target.ID]bool)
	for _, in := range infos {
		if in.Type == "page" {
			ids[in.TargetID] = true
		}
	}
	return ids
}

// waitNewPageTarget waits until b has a page target, not among known,
// showing path. A tab opened with noopener has no opener id, so
// chromedp.WaitNewTarget would not see it.
func waitNewPageTarget(t *testing.T, b *browser, known map[target.ID]bool, path string) {
	t.Helper()
	testutil.Eventually(t, waitTimeout, func() bool {
		infos, err := chromedp.Targets(b.main.ctx)
		if err != nil {
			return false
		}
		for _, in := range infos {
			u, err := url.Parse(in.URL)
			if in.Type == "page" && !known[in.TargetID] && err == nil && u.Path == path {
				return true
			}
		}
		return false
	}, "%s: a new tab on %s", b.user, path)
}

// waitReadOnly waits until p shows the read-only note in place of the
// composer.
func waitReadOnly(t *testing.T, p *tab) {
	t.Helper()
	note := waitFor[string](t, p, "the read-only composer", `() => {
		const n = document.getElementById("readonly-note"), i = document.getElementById("input");
		return n && !n.hidden && (i.hidden || i.disabled) && document.getElementById("send").hidden ? n.textContent : null;
	}`)
	if note != "You can read this room; posting needs edit permission on the page." {
		t.Errorf("%s: read-only note %q", p.label, note)
	}
}

// screenshotFor saves a screenshot of the visible part of p into
// $PAGECHAT_SCREENSHOTS, the pictures the docs use; without it, nothing.
func screenshotFor(t *testing.T, p *tab, name string) {
	t.Helper()
	dir := os.Getenv("PAGECHAT_SCREENSHOTS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png := run(t, p, "take a screenshot", chromedp.CaptureScreenshot())
	if err := os.WriteFile(dir+"/"+name, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot for the docs: %s/%s", dir, name)
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// emulateColorScheme makes the page see prefers-color-scheme as scheme
// ("" for the browser's own).
func emulateColorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		var features []*emulation.MediaFeature
		if scheme != "" {
			features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
		}
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: features})
		return err
	})
}

// setOffline tells the page the network is gone (or back): navigator.onLine
// and the offline and online events, as when a laptop leaves the Wi-Fi.
func setOffline(offline bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.OverrideNetworkState, network.OverrideNetworkStateParams{
			Offline: offline, DownloadThroughput: -1, UploadThroughput: -1,
		})
		return err
	})
}

// keys returns m's keys.
func keys(m map[string]bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
