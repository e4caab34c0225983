package plugin

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	// Time zone data compiled in, so time_zone works on hosts without a
	// system zoneinfo database (minimal containers): the plugin must not
	// depend on files outside its data dir for something as basic as
	// which day a message belongs to.
	_ "time/tzdata"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pagechat/pagechat/plugin/internal/store"
	"github.com/pagechat/pagechat/plugin/internal/transcript"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

// Transcript settings (ConfigureRequest.transcript_delay_ms).
const (
	// DefaultTranscriptDelay is how long after a room's latest activity
	// its transcript page for the day is brought up to date.
	DefaultTranscriptDelay = transcript.DefaultDelay
	// MaxTranscriptDelay caps what an admin may configure: DESIGN.md
	// promises transcripts shortly after activity, and beyond an hour a
	// page would lag the chat by most of a working session.
	MaxTranscriptDelay = time.Hour
	// transcriptFlushTimeout bounds the final flush on Shutdown. host-sdk
	// waits 5 s for Shutdown before killing the process, and closing bbolt
	// still has to fit after the flush; anything not flushed stays pending
	// in bbolt and is written after the next start.
	transcriptFlushTimeout = 2 * time.Second
)

// transcriptSettings is the validated transcript part of a ConfigureRequest.
type transcriptSettings struct {
	delay      time.Duration
	chatPrefix string
}

func transcriptSettingsFrom(req *chatv1.ConfigureRequest) (transcriptSettings, error) {
	// Range-check before converting, so a huge value cannot overflow
	// time.Duration into an accepted one.
	ms := req.GetTranscriptDelayMs()
	if ms < 0 || ms > MaxTranscriptDelay.Milliseconds() {
		return transcriptSettings{}, status.Errorf(codes.InvalidArgument, "transcript_delay_ms %d out of range 1..%d",
			ms, MaxTranscriptDelay.Milliseconds())
	}
	delay := time.Duration(ms) * time.Millisecond
	if delay == 0 {
		delay = DefaultTranscriptDelay
	}
	prefix := req.GetChatUrlPrefix()
	if prefix == "" {
		prefix = defaultChatPrefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/" // links append "rooms/<id>"
	}
	return transcriptSettings{delay: delay, chatPrefix: prefix}, nil
}

// transcripts owns the transcript writer's goroutine for one runtime: it
// is created before the store opens (the store's OnCommit pokes it), runs
// once the store and the host connection exist, and stops before the store
// closes.
type transcripts struct {
	logger hclog.Logger
	writer atomic.Pointer[transcript.Writer] // nil until start
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
}

func newTranscripts(logger hclog.Logger) *transcripts {
	return &transcripts{logger: logger}
}

// onCommit wraps the hub's fan-out so that every commit also wakes the
// transcript writer. The poke never blocks, so senders do not wait for it.
func (t *transcripts) onCommit(publish store.CommitFunc) store.CommitFunc {
	return func(added []store.Message) {
		publish(added)
		if w := t.writer.Load(); w != nil {
			w.Notify()
		}
	}
}

// start builds the writer and runs it until stop.
func (t *transcripts) start(st store.Store, host hostv1.HostAPIClient, loc *time.Location, set transcriptSettings, now func() time.Time) error {
	th := transcriptHost{host: host}
	w, err := transcript.New(transcript.Config{
		Store:         st,
		Pages:         th,
		Parents:       th,
		Location:      loc,
		Delay:         set.delay,
		ChatURLPrefix: set.chatPrefix,
		Now:           now,
		Logger:        t.logger.Named("transcript"),
	})
	if err != nil {
		return fmt.Errorf("transcripts: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel, t.done = cancel, make(chan struct{})
	t.writer.Store(w)
	go func() {
		defer close(t.done)
		w.Run(ctx)
	}()
	// Pending writes from before a restart are due already; look now
	// rather than at the first commit.
	w.Notify()
	t.logger.Info("transcripts enabled", "time_zone", loc.String(), "delay", set.delay.String(), "chat_url_prefix", set.chatPrefix)
	return nil
}

// stop ends the writer's goroutine and then writes what is due, within
// transcriptFlushTimeout. It must run before the store and the host
// connection close. It is safe on a transcripts that never started.
func (t *transcripts) stop() {
	w := t.writer.Load()
	if w == nil {
		return
	}
	t.cancel()
	<-t.done
	ctx, cancel := context.WithTimeout(context.Background(), transcriptFlushTimeout)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.logger.Warn("transcripts not flushed on shutdown; they stay pending and are written after the next start", "error", err)
	}
}

// transcriptHost gives the transcript writer the two host calls it needs.
type transcriptHost struct {
	host hostv1.HostAPIClient
}

var (
	_ transcript.PageWriter   = transcriptHost{}
	_ transcript.ParentFinder = transcriptHost{}
)

func (h transcriptHost) UpsertChildPage(ctx context.Context, parentID, key, title, bodyHTML string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, hostCallTimeout)
	defer cancel()
	resp, err := h.host.UpsertChildPage(ctx, &hostv1.UpsertChildPageRequest{ParentPageId: parentID, Key: key, Title: title, BodyHtml: bodyHTML})
	if err != nil {
		return "", err
	}
	return resp.GetPage().GetUrl(), nil
}

func (h transcriptHost) ParentPage(ctx context.Context, pageID string) (transcript.Parent, error) {
	ctx, cancel := context.WithTimeout(ctx, hostCallTimeout)
	defer cancel()
	resp, err := h.host.GetPage(ctx, &hostv1.GetPageRequest{PageId: pageID})
	if err != nil {
		return transcript.Parent{}, err
	}
	return transcript.Parent{Title: resp.GetPage().GetTitle(), URL: resp.GetPage().GetUrl()}, nil
}

func transcriptsToProto(ts []store.Transcript) []*chatv1.Transcript {
	out := make([]*chatv1.Transcript, len(ts))
	for i, t := range ts {
		out[i] = &chatv1.Transcript{Date: t.Date, Title: t.Title, Url: t.URL}
	}
	return out
}
