package browsertest

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// formatted is a message using every formatting construct chat users type,
// plus an image in Markdown syntax with a javascript: URL, which must show
// neither as an image nor as a link, and raw HTML, which must show as the
// text typed.
const formatted = "**Bold words** and _italic ones_, `code <b>` and [Welcome to pagechat]; see [the docs](https://example.com/docs).\n" +
	"![a cat](javascript:alert(1))\n" +
	"\n" +
	"<b>raw</b> HTML <img src=x onerror=alert(1)> stays text\n" +
	"\n" +
	"> a quoted line\n" +
	"\n" +
	"- first item\n" +
	"- second item\n" +
	"\n" +
	"```\n" +
	"fmt.Println(\"hi\")\n" +
	"```"

// formatCheck is what the page reports about a formatted message body.
type formatCheck struct {
	Strong     string   `json:"strong"`
	Em         string   `json:"em"`
	Code       string   `json:"code"`
	WikiHref   string   `json:"wikiHref"`
	DocsHref   string   `json:"docsHref"`
	DocsRel    string   `json:"docsRel"`
	Quote      string   `json:"quote"`
	Items      []string `json:"items"`
	Pre        string   `json:"pre"`
	Imgs       int      `json:"imgs"`
	Hrefs      []string `json:"hrefs"`
	CatShownAs string   `json:"catShownAs"`
	RawHTML    string   `json:"rawHTML"`
}

// readFormat is a JavaScript function of the message body element that
// returns a formatCheck.
const readFormat = `(body) => {
	const text = (sel) => { const e = body.querySelector(sel); return e ? e.textContent : ""; };
	const attr = (sel, a) => { const e = body.querySelector(sel); return e ? e.getAttribute(a) : ""; };
	const cat = Array.from(body.querySelectorAll("*")).find((e) => e.children.length === 0 && e.textContent.includes("a cat")) || body;
	return {
		strong: text("strong"), em: text("em"), code: text("p code, code:not(pre code)"),
		wikiHref: attr("a.wikilink", "href"), docsHref: attr("a.external", "href"), docsRel: attr("a.external", "rel"),
		quote: text("blockquote"), items: Array.from(body.querySelectorAll("ul > li"), (li) => li.textContent),
		pre: text("pre code"), imgs: body.querySelectorAll("img").length,
		hrefs: Array.from(body.querySelectorAll("a[href]"), (a) => a.getAttribute("href")),
		catShownAs: cat.tagName,
		rawHTML: (Array.from(body.querySelectorAll("p"), (p) => p.textContent).find((t) => t.includes("stays text")) || "") +
			(body.querySelector("b") ? " (a <b> element)" : ""),
	};
}`

// checkFormat checks what a formatted message looks like in the page.
func checkFormat(t *testing.T, where string, got formatCheck, demoPage string) {
	t.Helper()
	want := formatCheck{
		Strong: "Bold words", Em: "italic ones", Code: "code <b>", WikiHref: demoPage,
		DocsHref: "https://example.com/docs", DocsRel: "nofollow noopener",
		Quote: "a quoted line", Items: []string{"first item", "second item"}, Pre: "fmt.Println(\"hi\")\n",
	}
	if got.Strong != want.Strong || got.Em != want.Em || got.Code != want.Code || got.WikiHref != want.WikiHref ||
		got.DocsHref != want.DocsHref || got.DocsRel != want.DocsRel || got.Quote != want.Quote ||
		strings.Join(got.Items, "|") != strings.Join(want.Items, "|") || got.Pre != want.Pre {
		t.Errorf("%s: formatted message shows as %+v\nwant %+v", where, got, want)
	}
	if got.Imgs != 0 {
		t.Errorf("%s: the Markdown image shows as an <img>", where)
	}
	for _, h := range got.Hrefs {
		if strings.Contains(strings.ToLower(h), "javascript") {
			t.Errorf("%s: a link to %q", where, h)
		}
	}
	if raw := "<b>raw</b> HTML <img src=x onerror=alert(1)> stays text"; got.RawHTML != raw {
		t.Errorf("%s: raw HTML shows as %q, want the text typed, %q", where, got.RawHTML, raw)
	}
	if got.CatShownAs == "A" || got.CatShownAs == "IMG" {
		t.Errorf("%s: the javascript: image's alt text is shown as <%s>", where, got.CatShownAs)
	}
}

// noHorizontalScroll is a JavaScript function that reports the widths of
// the document and of the given scrollable elements whose content is wider
// than their box.
const noHorizontalScroll = `(sels) => {
	const wide = [];
	const d = document.documentElement;
	if (d.scrollWidth > d.clientWidth) wide.push("document " + d.scrollWidth + " > " + d.clientWidth);
	for (const sel of sels) {
		for (const e of document.querySelectorAll(sel)) {
			if (e.scrollWidth > e.clientWidth + 1) wide.push(sel + " " + e.scrollWidth + " > " + e.clientWidth);
		}
	}
	return wide;
}`

// TestFormattingInTheBrowser is issue 11's server-side half as people see
// it: formatted messages, long URLs that wrap, image thumbnails, and the
// same in the transcript page; one table per room however often a page's
// macros name it; a favicon.
func TestFormattingInTheBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs wikihost with the plugin, and Chromium")
	}
	exe := chromiumPath(t)
	wh := startWikihost(t)
	artifacts := artifactsDir(t)
	report := &pageReport{}
	defer report.check(t)

	alice := newBrowser(t, exe, "alice", report)
	login(t, wh, alice.main, "alice", "Alice")

	t.Log("1. a page naming one room three times shows its table once, with notes")
	code, out := wh.api(t, http.MethodPost, "/api/pages", "alice", map[string]string{
		"title": "Two macros", "body": "{chat:My Room}\n\nAgain: {chat:my-room}\n\nchat:My Room\n\n{chat:Other room}",
	})
	if code != http.StatusCreated {
		t.Fatalf("create page: %d %s", code, out)
	}
	var created struct{ URL string }
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	alice.main.do(t, "open the page with repeated macros", chromedp.Navigate(wh.base+created.URL),
		chromedp.WaitVisible(chromedp.CSS("table.pagechat-room")))
	macros := eval[struct {
		Tables []string `json:"tables"`
		Notes  []string `json:"notes"`
		Rows   []string `json:"rows"`
	}](t, alice.main, "read the tables and notes", `({
		tables: Array.from(document.querySelectorAll("table.pagechat-room .pagechat-name"), (e) => e.textContent),
		notes: Array.from(document.querySelectorAll(".pagechat-repeat"), (e) => e.textContent),
		rows: Array.from(document.querySelector("table.pagechat-room").querySelectorAll("th"), (e) => e.textContent),
	})`)
	if strings.Join(macros.Tables, "|") != "My Room|Other room" {
		t.Errorf("room tables %q, want My Room and Other room once each", macros.Tables)
	}
	wantNotes := []string{
		"“my-room” is the same chat room as “My Room”, shown above on this page.",
		"The chat room “My Room” is shown above on this page.",
	}
	if strings.Join(macros.Notes, "|") != strings.Join(wantNotes, "|") {
		t.Errorf("repeat notes %q, want %q", macros.Notes, wantNotes)
	}
	if strings.Join(macros.Rows, "|") != "Last activity|Participants|Files|Transcripts" {
		t.Errorf("macro table rows %q: want no Room row, sentence case", macros.Rows)
	}
	alice.main.screenshot(t, artifacts, "macro-repeat.png")

	t.Log("2. the wiki has an icon; no page asks for a missing one")
	icon := eval[struct {
		Href   string `json:"href"`
		Status []int  `json:"status"`
	}](t, alice.main, "fetch the icons", `(async () => {
		const href = document.querySelector('link[rel="icon"]').getAttribute("href");
		const status = [];
		for (const u of [href, "/favicon.ico"]) status.push((await fetch(u)).status);
		return {href, status};
	})()`)
	if icon.Href != "/static/favicon.svg" || len(icon.Status) != 2 || icon.Status[0] != 200 || icon.Status[1] != 200 {
		t.Errorf("icon %+v, want /static/favicon.svg and /favicon.ico both 200", icon)
	}

	t.Log("3. the demo room's popup: formatting, a 2,000-character URL and a long word, an image")
	openDemoPage(t, wh, alice.main)
	joinURL := eval[string](t, alice.main, "read the join link", `document.querySelector("a.pagechat-join-link").href`)
	popup := alice.newTab(t, "alice's popup")
	popup.do(t, "open the popup", chromedp.Navigate(joinURL))
	waitPopupReady(t, popup)

	popup.do(t, "send a formatted message",
		chromedp.SetValue(chromedp.CSS("#input"), formatted), chromedp.Click(chromedp.CSS("#send")))
	m := waitMessage(t, popup, "Bold words", "blockquote")
	checkFormat(t, "popup", eval[formatCheck](t, popup, "read the formatted message",
		`(`+readFormat+`)(document.querySelector('#message-list li.msg[data-seq="`+itoa(m.Seq)+`"] .msg-body'))`), wh.demoPage)

	longURL := "https://example.com/" + strings.Repeat("abcdefghij", 198) // 2,000 characters
	longWord := strings.Repeat("Donaudampfschifffahrtsgesellschaft", 20)
	for _, text := range []string{"see " + longURL + " for details", longWord} {
		popup.do(t, "send a long line", chromedp.SetValue(chromedp.CSS("#input"), text), chromedp.Click(chromedp.CSS("#send")))
	}
	waitMessage(t, popup, "for details", "a.external")
	waitMessage(t, popup, longWord[:40], "")
	if wide := eval[[]string](t, popup, "measure the popup", `(`+noHorizontalScroll+`)([".messages", ".msg-body"])`); len(wide) > 0 {
		t.Errorf("the popup scrolls sideways with a long URL or word: %q", wide)
	}

	img := filepath.Join(t.TempDir(), "sunset.png")
	writePNG(t, img, 800, 600)
	popup.do(t, "upload an image", chromedp.SetUploadFiles(chromedp.CSS("#file-input"), []string{img}))
	waitMessage(t, popup, "uploaded sunset.png", "a.file-thumb img")
	thumb := waitFor[thumbCheck](t, popup, "the thumbnail to load", `() => {
		const img = document.querySelector("#message-list .msg-body a.file-thumb img");
		if (!img || !img.complete || img.naturalWidth === 0) return null;
		const r = img.getBoundingClientRect();
		return {alt: img.alt, loading: img.getAttribute("loading"), width: r.width, height: r.height,
			naturalWidth: img.naturalWidth, href: img.closest("a").getAttribute("href"), src: img.getAttribute("src"),
			target: img.closest("a").getAttribute("target")};
	}`)
	checkThumb(t, "popup", thumb)
	full := eval[string](t, popup, "fetch the full image", `fetch(`+jsString(thumb.Href)+`).then((r) => r.status + " " + r.headers.get("content-type"))`)
	if full != "200 image/png" {
		t.Errorf("the thumbnail's link gives %q, want the full PNG", full)
	}
	popup.screenshot(t, artifacts, "popup-formatting.png")

	t.Log("3b. a file with a 200-character name: the macro table wraps it")
	longName := strings.Repeat("quarterly-report-", 12) + "final.txt"
	longFile := filepath.Join(t.TempDir(), longName)
	if err := os.WriteFile(longFile, []byte("numbers\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	popup.do(t, "upload a file with a long name", chromedp.SetUploadFiles(chromedp.CSS("#file-input"), []string{longFile}))
	waitMessage(t, popup, "final.txt", "a.file")
	alice.main.do(t, "reload the demo page", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("table.pagechat-room td.pagechat-files li")))
	if wide := eval[[]string](t, alice.main, "measure the demo page", `(`+noHorizontalScroll+`)(["main", "table.pagechat-room td"])`); len(wide) > 0 {
		t.Errorf("the demo page scrolls sideways with a long file name: %q", wide)
	}
	cells := eval[[]float64](t, alice.main, "measure the table's cells", `(() => {
		const td = document.querySelector("table.pagechat-room td.pagechat-files");
		const last = document.querySelector("table.pagechat-room td.pagechat-last");
		const left = (e) => e.getBoundingClientRect().left + parseFloat(getComputedStyle(e).paddingLeft);
		return [left(last), td.querySelector("li").getBoundingClientRect().left];
	})()`)
	if len(cells) != 2 || math.Abs(cells[0]-cells[1]) > 0.5 {
		t.Errorf("the files list starts at %v px, the other cells' text at %v px: want them aligned", cells[1:], cells[:1])
	}
	alice.main.screenshot(t, artifacts, "macro-table-long-name.png")

	t.Log("4. the transcript page shows the same, wraps, and says things once")
	transcript := waitTranscript(t, wh)
	wh.eventually(t, "the transcript to hold the image upload", func() bool {
		code, body := wh.api(t, http.MethodGet, "/api/pages/"+pageID(transcript), "alice", nil)
		return code == http.StatusOK && strings.Contains(body, "file-thumb")
	})
	alice.main.do(t, "open the transcript", chromedp.Navigate(wh.base+transcript),
		chromedp.WaitVisible(chromedp.CSS("ol.pagechat-transcript")))
	tm := eval[int](t, alice.main, "find the formatted message",
		`Array.from(document.querySelectorAll("ol.pagechat-transcript > li")).findIndex((li) => li.textContent.includes("Bold words"))`)
	if tm < 0 {
		t.Fatal("the transcript lacks the formatted message")
	}
	checkFormat(t, "transcript", eval[formatCheck](t, alice.main, "read the formatted message in the transcript",
		`(`+readFormat+`)(document.querySelectorAll("ol.pagechat-transcript > li")[`+itoa(tm)+`].querySelector(".message"))`), wh.demoPage)
	tthumb := waitFor[thumbCheck](t, alice.main, "the transcript's thumbnail to load", `() => {
		const img = document.querySelector("ol.pagechat-transcript a.file-thumb img");
		if (!img) return null;
		img.scrollIntoView();
		if (!img.complete || img.naturalWidth === 0) return null;
		const r = img.getBoundingClientRect();
		return {alt: img.alt, loading: img.getAttribute("loading"), width: r.width, height: r.height,
			naturalWidth: img.naturalWidth, href: img.closest("a").getAttribute("href"), src: img.getAttribute("src"),
			target: img.closest("a").getAttribute("target")};
	}`)
	checkThumb(t, "transcript", tthumb)
	if wide := eval[[]string](t, alice.main, "measure the transcript", `(`+noHorizontalScroll+`)(["main", ".message"])`); len(wide) > 0 {
		t.Errorf("the transcript page scrolls sideways with a long URL or word: %q", wide)
	}
	page := eval[struct {
		Headings  []string `json:"headings"`
		Title     string   `json:"title"`
		FileLinks int      `json:"fileLinks"`
		Footer    string   `json:"footer"`
	}](t, alice.main, "read the transcript page", `({
		headings: Array.from(document.querySelectorAll("article.page h1, article.page h2, article.page h3"), (h) => h.textContent),
		title: document.querySelector("article.page h1").textContent,
		fileLinks: document.querySelectorAll('article.page a[href="`+thumb.Href+`"]').length,
		footer: document.querySelector("footer.permissions").textContent,
	})`)
	if len(page.Headings) != 1 || !strings.HasPrefix(page.Title, roomName+" chat transcript ") {
		t.Errorf("transcript headings %q: want the page title once", page.Headings)
	}
	// The file name link and the thumbnail's link, nothing more.
	if page.FileLinks != 2 {
		t.Errorf("the transcript links the image %d times, want twice (its name and its thumbnail)", page.FileLinks)
	}
	if strings.Contains(page.Footer, "editable by") || !strings.Contains(page.Footer, "nobody can edit it") {
		t.Errorf("transcript footer %q: it may not be edited", strings.Join(strings.Fields(page.Footer), " "))
	}
	alice.main.screenshot(t, artifacts, "transcript-formatting.png")
}

// thumbCheck is what the page reports about a thumbnail.
type thumbCheck struct {
	Alt          string  `json:"alt"`
	Loading      string  `json:"loading"`
	Width        float64 `json:"width"`
	Height       float64 `json:"height"`
	NaturalWidth int     `json:"naturalWidth"`
	Href         string  `json:"href"`
	Src          string  `json:"src"`
	Target       string  `json:"target"`
}

func checkThumb(t *testing.T, where string, got thumbCheck) {
	t.Helper()
	if got.Alt != "sunset.png" || got.Loading != "lazy" || got.NaturalWidth != 800 || got.Href == "" || got.Href != got.Src || got.Target != "_blank" {
		t.Errorf("%s: thumbnail %+v, want alt sunset.png, lazy, the 800 px image, linked to itself in a new tab", where, got)
	}
	if got.Width > 321 || got.Height > 241 || got.Width < 100 {
		t.Errorf("%s: thumbnail shown at %v×%v, want within 320×240", where, got.Width, got.Height)
	}
}

// writePNG writes a w×h PNG with a gradient to path.
func writePNG(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 160, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}
