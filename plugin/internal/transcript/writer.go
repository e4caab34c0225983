package transcript

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pagechat/pagechat/internal/limits"

	"github.com/hashicorp/go-hclog"

	"github.com/pagechat/pagechat/plugin/internal/store"
)

const (
	// DefaultDelay is how long after a day's latest activity its page is
	// written; see limits.DefaultTranscriptDelay for why.
	DefaultDelay = limits.DefaultTranscriptDelay
	// MaxPostponeFactor caps the debounce under constant activity: a page
	// is written at most MaxPostponeFactor delays after its first
	// unwritten change, however busy the room. 5 keeps a busy room's page
	// at most about five minutes stale at the default delay while still
	// folding five delays' worth of chat into one page rewrite, so a busy
	// room costs the host one write per five minutes, not one per lull.
	MaxPostponeFactor = 5
	// MinRetryDelay and MaxRetryDelay bound the exponential backoff while
	// the host refuses writes: the first retry comes quickly (a host that
	// was restarting is usually back within a second), and doubling up to
	// five minutes keeps a host that is down for hours from being hammered
	// or flooding the log, while still catching up soon after it returns.
	MinRetryDelay = time.Second
	MaxRetryDelay = 5 * time.Minute
	// pollInterval is the longest the writer sleeps while writes are
	// pending. Due times come from the configurable clock, which need not
	// move like the timer's monotonic clock (tests jump it by days, a
	// system clock may be stepped), so waits are re-derived from it at
	// least this often.
	pollInterval = time.Second
	// readPage is how many messages one read transaction returns while a
	// day is collected, so a busy day does not hold one long read.
	readPage = 500
	// paceFactor spaces Run's writes: after a write that took d, the next
	// waits paceFactor*d. A page write is CPU work on both sides (the
	// plugin renders the whole day, the host stores and indexes it), and
	// a hundred rooms falling due together would otherwise take a core
	// for seconds, away from live chat; transcripts can wait, messages
	// cannot. 3 keeps the writer below a quarter of the time.
	paceFactor = 3
	// maxPause caps that wait, so a host that is slow to answer does not
	// leave the backlog far behind.
	maxPause = 5 * time.Second
)

// Store is the part of store.Store the writer uses: it reads days from it
// and reports outcomes to it.
type Store interface {
	// Room gives the room's name, page and written transcripts.
	Room(ctx context.Context, roomID string) (store.Room, error)
	// After reads a day's messages in pages.
	After(ctx context.Context, roomID string, afterSeq uint64, limit int) ([]store.Message, error)
	// PendingTranscripts lists the room days whose pages need a write.
	PendingTranscripts(ctx context.Context) ([]store.PendingTranscript, error)
	// TranscriptDays lists a room's days with messages, for prev/next.
	TranscriptDays(ctx context.Context, roomID string) ([]store.TranscriptDay, error)
	// TranscriptWritten records a written page and resolves its entry.
	TranscriptWritten(ctx context.Context, w store.TranscriptWrite) error
	// TranscriptFailed records a failed write and when to retry it.
	TranscriptFailed(ctx context.Context, roomID, date string, nextTry time.Time) (int, error)
}

// Any full store will do.
var _ Store = store.Store(nil)

// PageWriter writes a child page on the host (HostAPI.UpsertChildPage) and
// returns its URL. The same key must always update the same page.
type PageWriter interface {
	// UpsertChildPage creates or replaces parentID's child page key.
	UpsertChildPage(ctx context.Context, parentID, key, title, bodyHTML string) (url string, err error)
}

// Parent is a room's page as the transcript links back to it.
type Parent struct {
	Title string // shown as "Back to <Title>"
	URL   string // empty leaves the link out
}

// ParentFinder looks up a room's page (HostAPI.GetPage).
type ParentFinder interface {
	// ParentPage returns the title and URL of page pageID.
	ParentPage(ctx context.Context, pageID string) (Parent, error)
}

// Config configures a Writer.
type Config struct {
	// Store holds messages and the pending-write bookkeeping. Required.
	Store Store
	// Pages writes the pages. Required.
	Pages PageWriter
	// Parents, if set, is asked for the room's page so the transcript can
	// link back to it; a failed lookup fails the write (and is retried),
	// so a page is never left without its link. Nil leaves the link out.
	Parents ParentFinder
	// Location decides day boundaries and the times shown; nil means UTC.
	// It must be the one the store's Options.DayOf was built with.
	Location *time.Location
	// Delay is the debounce after activity; 0 means DefaultDelay.
	Delay time.Duration
	// ChatURLPrefix is where the host mounts the chat browser API; empty
	// means "/chat/".
	ChatURLPrefix string
	// Now replaces time.Now; it must be the clock the store stamps
	// messages with.
	Now func() time.Time
	// Logger receives one warning per failed write; nil discards.
	Logger hclog.Logger
}

// Writer brings transcript pages up to date. Its methods are safe for
// concurrent use.
type Writer struct {
	store   Store
	pages   PageWriter
	parents ParentFinder
	loc     *time.Location
	dayOf   func(time.Time) string
	delay   time.Duration
	prefix  string
	now     func() time.Time
	logger  hclog.Logger

	wake   chan struct{} // capacity 1: pokes coalesce
	stepMu sync.Mutex    // one write at a time, whether from Run or Flush
	// parts remembers, by page key, the URL and body of each part after
	// the first of a day too long for one page (guarded by stepMu). The
	// store records only a day's first page; the rest is needed to link
	// parts to each other and to skip rewriting parts that did not
	// change. After a restart it is empty, which costs one extra write of
	// such a day's later parts to restore their links back.
	parts map[string]writtenPart
}

// writtenPart is what the Writer last wrote under one part's key: its URL
// and a hash of its title and body (parts are up to MaxBodyBytes each, too
// big to keep).
type writtenPart struct {
	url string
	sum [sha256.Size]byte
}

// New checks cfg and returns a Writer; nothing runs until Run.
func New(cfg Config) (*Writer, error) {
	if cfg.Store == nil || cfg.Pages == nil {
		return nil, errors.New("transcript: Config.Store and Config.Pages are required")
	}
	if cfg.Delay < 0 {
		return nil, fmt.Errorf("transcript: negative delay %v", cfg.Delay)
	}
	w := &Writer{
		store:   cfg.Store,
		pages:   cfg.Pages,
		parents: cfg.Parents,
		loc:     cfg.Location,
		delay:   cfg.Delay,
		prefix:  cfg.ChatURLPrefix,
		now:     cfg.Now,
		logger:  cfg.Logger,
		wake:    make(chan struct{}, 1),
		parts:   make(map[string]writtenPart),
	}
	if w.loc == nil {
		w.loc = time.UTC
	}
	if w.delay == 0 {
		w.delay = DefaultDelay
	}
	if w.prefix == "" {
		w.prefix = limits.DefaultChatURLPrefix
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.logger == nil {
		w.logger = hclog.NewNullLogger()
	}
	w.dayOf = DayFunc(w.loc)
	return w, nil
}

// Notify tells the writer that messages were committed, so it can arm its
// timer for them. It never blocks; call it from the store's OnCommit.
func (w *Writer) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run writes pages as they fall due until ctx ends. Start it once, in a
// goroutine its owner waits for.
func (w *Writer) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	failures := 0
	for {
		began := time.Now()
		wrote, next, err := w.step(ctx)
		if ctx.Err() != nil {
			return
		}
		var (
			wait  time.Duration
			armed bool
		)
		switch {
		case err != nil:
			// The store itself failed (a failed host write is recorded
			// and is not an error here): back off in memory.
			failures++
			wait, armed = backoff(failures), true
			w.logger.Warn("transcript bookkeeping failed; retrying", "attempt", failures, "retry_in", wait.String(), "error", err)
		case wrote:
			failures = 0
			// Something was due, and more may be: look again after a
			// pause in proportion to what the write cost.
			timer.Reset(min(time.Since(began)*paceFactor, maxPause))
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			continue
		case !next.IsZero():
			failures = 0
			wait, armed = min(max(next.Sub(w.now()), 0), pollInterval), true
		default:
			failures = 0 // nothing pending: sleep until a commit wakes us
		}
		if armed {
			timer.Reset(wait)
		}
		deadline := time.Now().Add(wait)
	sleep:
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
				break sleep
			case <-w.wake:
				// A commit makes a day due one delay from now at the
				// earliest, so a timer that fires before then will
				// find it anyway; only an idle or far timer needs a
				// fresh look.
				if armed && time.Until(deadline) <= w.delay {
					continue
				}
				timer.Stop()
				break sleep
			}
		}
	}
}

// Flush writes every page that is due now, then returns. The plugin calls
// it once on shutdown, with a short deadline, after Run has stopped.
func (w *Writer) Flush(ctx context.Context) error {
	for {
		wrote, _, err := w.step(ctx)
		if err != nil {
			return err
		}
		if !wrote {
			return ctx.Err()
		}
	}
}

// backoff is the wait before retry number attempt (from 1).
func backoff(attempt int) time.Duration {
	return min(MinRetryDelay<<min(max(attempt-1, 0), 20), MaxRetryDelay)
}

// dueAt is when e should be written next.
func (w *Writer) dueAt(e store.PendingTranscript) time.Time {
	var due time.Time
	switch {
	case !e.DirtySince.IsZero():
		due = e.LastActivity.Add(w.delay)
		if limit := e.DirtySince.Add(MaxPostponeFactor * w.delay); limit.Before(due) {
			due = limit
		}
		if !e.FinalizeAt.IsZero() && e.FinalizeAt.Before(due) {
			due = e.FinalizeAt
		}
	case !e.FinalizeAt.IsZero():
		due = e.FinalizeAt
	}
	if e.NextTry.After(due) {
		due = e.NextTry
	}
	return due
}

// step writes the most urgent due page, if any, and otherwise reports when
// the next one falls due (zero if none is pending). It writes one page per
// call and re-reads the pending list before the next, because every write
// can change other entries (a new page URL dirties its neighbours).
func (w *Writer) step(ctx context.Context) (wrote bool, next time.Time, err error) {
	w.stepMu.Lock()
	defer w.stepMu.Unlock()
	if err := ctx.Err(); err != nil {
		return false, time.Time{}, err
	}
	pending, err := w.store.PendingTranscripts(ctx)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("transcript: list pending writes: %w", err)
	}
	now := w.now()
	var due []store.PendingTranscript
	for _, e := range pending {
		at := w.dueAt(e)
		if !at.After(now) {
			due = append(due, e)
		} else if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	if len(due) == 0 {
		return false, next, nil
	}
	// Newest day of a room first: when a new day starts, its page is
	// written first, so the previous day's rewrite already knows the new
	// page's URL for its "next" link.
	slices.SortFunc(due, func(a, b store.PendingTranscript) int {
		return cmp.Or(cmp.Compare(a.RoomID, b.RoomID), -cmp.Compare(a.Date, b.Date))
	})
	if err := w.write(ctx, due[0], now); err != nil {
		return false, time.Time{}, err
	}
	return true, time.Time{}, nil
}

// write brings one room day's page up to date. A failure the host or the
// day's data causes is recorded for a retry with backoff and is not
// returned; only store failures and ctx's end are.
func (w *Writer) write(ctx context.Context, e store.PendingTranscript, now time.Time) error {
	err := w.writePage(ctx, e, now)
	if err == nil || ctx.Err() != nil {
		return err
	}
	var se storeError
	if errors.As(err, &se) {
		return se.err
	}
	attempt := e.Attempts + 1
	wait := backoff(attempt)
	if _, ferr := w.store.TranscriptFailed(ctx, e.RoomID, e.Date, w.now().Add(wait)); ferr != nil {
		return fmt.Errorf("transcript: record failed write: %w", ferr)
	}
	// One line per attempt (not per message): the pending entry folds
	// all of the day's activity into this one write.
	w.logger.Warn("transcript page write failed; will retry", "room", e.RoomID, "date", e.Date,
		"attempt", attempt, "retry_in", wait.String(), "error", err)
	return nil
}

// storeError marks a failure of the local store, which retrying the host
// write would not fix.
type storeError struct{ err error }

func (e storeError) Error() string { return e.err.Error() }

func (w *Writer) writePage(ctx context.Context, e store.PendingTranscript, now time.Time) error {
	room, err := w.store.Room(ctx, e.RoomID)
	if err != nil {
		if errors.Is(err, store.ErrRoomNotFound) {
			return fmt.Errorf("room %q: %w", e.RoomID, err) // retried: should never happen
		}
		return storeError{fmt.Errorf("transcript: load room %q: %w", e.RoomID, err)}
	}
	days, err := w.store.TranscriptDays(ctx, e.RoomID)
	if err != nil {
		return storeError{fmt.Errorf("transcript: days of room %q: %w", e.RoomID, err)}
	}
	first, last := e.FirstSeq, e.LastSeq
	var prevDay, nextDay string
	for i, d := range days {
		if d.Date != e.Date {
			continue
		}
		first, last = d.FirstSeq, d.LastSeq
		if i > 0 {
			prevDay = days[i-1].Date
		}
		if i+1 < len(days) {
			nextDay = days[i+1].Date
		}
	}
	msgs, err := w.readDay(ctx, e.RoomID, e.Date, first, last)
	if err != nil {
		return storeError{err}
	}
	msgs = shown(msgs)

	end, ok := dayEnd(e.Date, w.loc)
	final := !ok || !now.Before(end)
	var finalizeAt time.Time
	if !final {
		finalizeAt = end
	}
	if len(msgs) == 0 {
		// Only if the clock ran backwards across days; nothing to show,
		// so no page (no page for days without messages).
		// Likewise for a day whose only entries are edits or deletes of
		// earlier days' messages, or moderation events.
		if err := w.store.TranscriptWritten(ctx, store.TranscriptWrite{RoomID: e.RoomID, Date: e.Date, Version: e.Version}); err != nil {
			return storeError{err}
		}
		return nil
	}

	d := pageData{
		RoomID:   room.ID,
		RoomName: room.Name,
		RoomURL:  roomURL(w.prefix, room.ID),
		Date:     e.Date,
		Zone:     w.loc.String(),
		Final:    final,
		Lines:    make([]line, len(msgs)),
	}
	for i, m := range msgs {
		d.Lines[i] = newLine(m, w.loc)
	}
	var firstURL string // the day's page as last recorded, if any
	for _, t := range room.Transcripts {
		if t.Date == e.Date {
			firstURL = t.URL
		}
		switch {
		case t.Date == prevDay && prevDay != "" && t.URL != "":
			d.Prev = &dayLink{Date: t.Date, URL: t.URL}
		case t.Date == nextDay && nextDay != "" && t.URL != "":
			d.Next = &dayLink{Date: t.Date, URL: t.URL}
		}
	}
	if w.parents != nil {
		p, err := w.parents.ParentPage(ctx, room.PageID)
		if err != nil {
			return fmt.Errorf("look up page %q: %w", room.PageID, err)
		}
		d.PageTitle, d.PageURL = p.Title, p.URL
	}
	title, url, nparts, err := w.writeParts(ctx, room, d, firstURL)
	if err != nil {
		return err
	}
	err = w.store.TranscriptWritten(ctx, store.TranscriptWrite{
		RoomID:     e.RoomID,
		Date:       e.Date,
		Version:    e.Version,
		Page:       &store.Transcript{Date: e.Date, Title: title, URL: url},
		FinalizeAt: finalizeAt,
	})
	if err != nil {
		// The page is written; the entry stays pending and the same key
		// makes the retry update the same page.
		return storeError{err}
	}
	w.logger.Debug("transcript page written", "room", e.RoomID, "date", e.Date, "messages", len(msgs), "parts", nparts, "final", final, "url", url)
	return nil
}

// writeParts writes d, a whole day, as one page or, when its messages do
// not fit in one, as several parts linked to each other. It returns the
// title and URL of the first part and how many parts there are. firstURL
// is the first part's URL from an earlier write, if known.
//
// Parts are written last first, so each learns its successor's URL before
// it is written; a part written before its predecessor's URL was known
// (the first time, or after a restart) is written once more at the end to
// add its link back. Later parts whose body did not change since this
// Writer last wrote them are not written again, so a long day costs one
// write of its last part per update, not one per part.
func (w *Writer) writeParts(ctx context.Context, room store.Room, d pageData, firstURL string) (title, url string, nparts int, err error) {
	rows, err := renderRows(d.Lines)
	if err != nil {
		return "", "", 0, err
	}
	parts := splitParts(rows, MaxBodyBytes-chromeReserve)
	urls := make([]string, len(parts)+1) // by part number; urls[0] unused
	urls[1] = firstURL
	for n := 2; n <= len(parts); n++ {
		urls[n] = w.parts[PartKey(room.ID, d.Date, n)].url
	}
	page := func(n int) pageData {
		p := d
		p.Lines, p.Rows, p.Part = nil, parts[n-1], n
		if n > 1 && urls[n-1] != "" {
			p.PrevPart = &partLink{Part: n - 1, URL: urls[n-1]}
		}
		if n < len(parts) && urls[n+1] != "" {
			p.NextPart = &partLink{Part: n + 1, URL: urls[n+1]}
		}
		return p
	}
	write := func(n int) error {
		p := page(n)
		body, err := renderPage(p)
		if err != nil {
			return err
		}
		key, title := PartKey(room.ID, d.Date, n), PartTitle(room.Name, d.Date, n)
		sum := sha256.Sum256([]byte(title + "\x00" + body))
		if prev, ok := w.parts[key]; n > 1 && ok && prev.sum == sum {
			return nil
		}
		u, err := w.pages.UpsertChildPage(ctx, room.PageID, key, title, body)
		if err != nil {
			return fmt.Errorf("upsert child page %q: %w", key, err)
		}
		urls[n] = u
		if n > 1 {
			w.parts[key] = writtenPart{url: u, sum: sum}
		}
		return nil
	}
	var stale []int // parts written without their link back
	for n := len(parts); n >= 1; n-- {
		if n > 1 && urls[n-1] == "" {
			stale = append(stale, n)
		}
		if err := write(n); err != nil {
			return "", "", 0, err
		}
	}
	for _, n := range stale {
		if err := write(n); err != nil {
			return "", "", 0, err
		}
	}
	return PartTitle(room.Name, d.Date, 1), urls[1], len(parts), nil
}

// readDay returns roomID's messages of date between first and last seq.
// It checks each message's day rather than trusting the range alone,
// because a clock stepped backwards can interleave days in the log.
func (w *Writer) readDay(ctx context.Context, roomID, date string, first, last uint64) ([]store.Message, error) {
	var out []store.Message
	after := max(first, 1) - 1
	for after < last {
		page, err := w.store.After(ctx, roomID, after, readPage)
		if err != nil {
			return nil, fmt.Errorf("transcript: read room %q after %d: %w", roomID, after, err)
		}
		for _, m := range page {
			if m.Seq > last {
				return out, nil
			}
			if w.dayOf(m.SentAt) == date {
				out = append(out, m)
			}
			after = m.Seq
		}
		if len(page) < readPage {
			break
		}
	}
	return out, nil
}
