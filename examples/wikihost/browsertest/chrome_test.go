package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/pagechat/pagechat/internal/testutil"
)

const (
	// waitTimeout bounds every wait for the page: generous for a loaded
	// 2-core machine, short enough that a broken page fails quickly.
	waitTimeout = 20 * time.Second
	// pollInterval is how often a condition is checked in the page. A
	// timer, not requestAnimationFrame: a tab in the background gets no
	// animation frames.
	pollInterval = 100 * time.Millisecond
	// closeTimeout bounds the graceful close of one Chromium process.
	closeTimeout = 15 * time.Second
)

// chromiumPath finds Chromium, or skips the test (fails it on CI, which
// installs Chromium).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PAGECHAT_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("$PAGECHAT_CHROMIUM: %v", err)
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "Chromium not found: install it (Debian/Ubuntu: apt-get install chromium) or set $PAGECHAT_CHROMIUM to its path"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser is one Chromium process: one user, with their own cookies.
type browser struct {
	user   string
	report *pageReport
	main   *tab // the first tab; cancelling its context closes Chromium
}

// newBrowser starts Chromium for user, with a fresh profile, and closes it
// when the test ends.
func newBrowser(t *testing.T, exe, user string, report *pageReport) *browser {
	t.Helper()
	output := &testutil.SyncBuffer{}
	// chromedp's defaults, made explicit where the test depends on them,
	// plus what keeps Chromium quiet and offline in a container: no GPU,
	// no QUIC, no component or sync traffic.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
		chromedp.CombinedOutput(output),
	)
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	label := user + "'s tab"
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(report.listener(label)))
	t.Cleanup(func() {
		// Close Chromium gracefully, then make sure the process is gone.
		cctx, ccancel := context.WithTimeout(ctx, closeTimeout)
		if err := chromedp.Cancel(cctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("closing %s's Chromium: %v", user, err)
		}
		ccancel()
		cancel()
		allocCancel()
		if t.Failed() {
			t.Logf("%s's Chromium output (without its complaints about D-Bus):\n%s", user, withoutDBus(output.String()))
		}
	})
	b := &browser{user: user, report: report, main: &tab{label: label, ctx: ctx}}
	attach(t, b.main, cancel)
	return b
}

// newTab opens a tab in b's Chromium, or attaches to the existing target
// opts name with chromedp.WithTargetID; it is closed when the test ends.
func (b *browser) newTab(t *testing.T, label string, opts ...chromedp.ContextOption) *tab {
	t.Helper()
	opts = append(opts, chromedp.WithListener(b.report.listener(label)))
	ctx, cancel := chromedp.NewContext(b.main.ctx, opts...)
	t.Cleanup(cancel)
	tb := &tab{label: label, ctx: ctx}
	attach(t, tb, cancel)
	return tb
}

// attach runs the first, empty action on a tab, which starts Chromium or
// attaches the tab. The context of that first run owns the browser and the
// tab's event loop, so it must not carry a timeout; the timer bounds it
// instead.
func attach(t *testing.T, tb *tab, cancel context.CancelFunc) {
	t.Helper()
	timer := time.AfterFunc(waitTimeout, cancel)
	err := chromedp.Do(tb.ctx)
	if !timer.Stop() {
		t.Fatalf("%s: Chromium did not start or attach within %v: %v", tb.label, waitTimeout, err)
	}
	if err != nil {
		t.Fatalf("%s: start Chromium or attach: %v", tb.label, err)
	}
}

// tab is one page target: a tab or a popup window.
type tab struct {
	label string // for messages: "alice's popup"
	ctx   context.Context
}

// do runs actions on the tab within waitTimeout, failing the test with
// what the tab shows if they do not succeed.
func (tb *tab) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %s: %v\n%s", tb.label, what, err, tb.snapshot())
	}
}

// run is do for an action with a result.
func run[T any](t *testing.T, tb *tab, what string, action chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", tb.label, what, err, tb.snapshot())
	}
	return v
}

// eval evaluates a JavaScript expression in the tab.
func eval[T any](t *testing.T, tb *tab, what, expr string) T {
	t.Helper()
	return run(t, tb, what, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// waitFor calls the JavaScript function fn with args in the tab until it
// returns a truthy value, and returns that value; it fails the test after
// waitTimeout. It does not survive a navigation: wait for the new page
// with WaitVisible first.
func waitFor[T any](t *testing.T, tb *tab, what, fn string, args ...any) T {
	t.Helper()
	return run(t, tb, "wait for "+what, chromedp.PollFunction[T](fn,
		chromedp.WithPollingInterval(pollInterval),
		chromedp.WithPollingTimeout(waitTimeout),
		chromedp.WithPollingArgs(args...)))
}

// waitLoaded waits until cond (a JavaScript expression) holds in a page
// that has finished loading. Unlike waitFor it carries on through the
// errors of a page being replaced (its context destroyed mid-evaluation).
func waitLoaded(t *testing.T, tb *tab, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, pollInterval*10)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && (`+cond+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: wait for %s: not after %v (last error: %v)\n%s", tb.label, what, waitTimeout, err, tb.snapshot())
		}
		time.Sleep(pollInterval)
	}
}

// pressEnter presses Enter the way a keyboard does: one keyDown that carries
// the text "\r", then keyUp. chromedp.KeyEvent("\r") sends a separate char
// event after the keyDown, which Chromium turns into a newline even when
// the page cancelled the keydown, as the popup does when Enter sends; a
// real keyboard's Enter does not (see chromedp's docs/API.md, "Send a new
// line to an editor").
func pressEnter() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		key := input.DispatchKeyEventParams{Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13}
		down, up := key, key
		down.Type, down.Text, down.UnmodifiedText = input.DispatchKeyEventTypeKeyDown, "\r", "\r"
		up.Type = input.DispatchKeyEventTypeKeyUp
		for _, ev := range []input.DispatchKeyEventParams{down, up} {
			if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// snapshot describes what the tab shows, for failure messages.
func (tb *tab) snapshot() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`location.href + "\n" + (document.body ? document.body.innerText : "(no body)").slice(0, 3000)`))
	if err != nil {
		return fmt.Sprintf("(the tab's content could not be read: %v)", err)
	}
	return "the tab shows " + s
}

// screenshot saves a PNG of the whole page into dir.
func (tb *tab) screenshot(t *testing.T, dir, name string) string {
	t.Helper()
	png := run(t, tb, "take a screenshot", chromedp.FullScreenshot(100))
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("%s: the screenshot is not a PNG (%d bytes)", tb.label, len(png))
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of %s: %s", tb.label, path)
	return path
}

// pageReport collects, from every tab, the JavaScript exceptions (a test
// failure) and the console and browser log errors (logged, for
// diagnosis: a missing favicon is one too).
type pageReport struct {
	mu         sync.Mutex
	exceptions []string
	logErrors  []string
}

// listener returns the chromedp listener for the tab called label. It runs
// in the tab's event loop, so it only records.
func (r *pageReport) listener(label string) func(ev any) {
	return func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			text := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				text += " " + d.Exception.Description
			}
			r.add(&r.exceptions, fmt.Sprintf("%s: %s (%s:%d:%d)", label, text, d.URL, d.LineNumber+1, d.ColumnNumber+1))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var args []string
				for _, a := range ev.Args {
					args = append(args, strings.Trim(string(a.Value), `"`)+a.Description)
				}
				r.add(&r.logErrors, fmt.Sprintf("%s: console.error: %s", label, strings.Join(args, " ")))
			}
		case *log.EventEntryAdded:
			e := ev.Entry
			switch {
			case e.Source == log.EntrySourceSecurity || strings.Contains(e.Text, "Content Security Policy"):
				// A blocked script is a feature that silently does not
				// work (the Join Chat popup did, once): a failure.
				r.add(&r.exceptions, fmt.Sprintf("%s: security: %s (%s)", label, e.Text, e.URL))
			case e.Level == log.EntryLevelError:
				r.add(&r.logErrors, fmt.Sprintf("%s: %s: %s (%s)", label, e.Source, e.Text, e.URL))
			}
		}
	}
}

func (r *pageReport) add(list *[]string, s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*list = append(*list, s)
}

// check fails the test for any exception or security violation, and logs
// the other log errors.
func (r *pageReport) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.logErrors {
		t.Logf("browser log error: %s", e)
	}
	for _, e := range r.exceptions {
		t.Errorf("JavaScript exception: %s", e)
	}
}

// withoutDBus drops the lines of Chromium's output about the missing
// D-Bus, which a container has none of.
func withoutDBus(s string) string {
	var keep []string
	for line := range strings.Lines(s) {
		if !strings.Contains(line, "dbus") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "")
}
