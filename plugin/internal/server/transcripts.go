package server

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

	"github.com/pagechat/pagechat/internal/limits"
	"github.com/pagechat/pagechat/plugin/internal/store"
	"github.com/pagechat/pagechat/plugin/internal/transcript"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// Transcript settings (ConfigureRequest.transcript_delay_ms).
const (
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
	if ms < 0 || ms > limits.MaxTranscriptDelay.Milliseconds() {
		return transcriptSettings{}, failf(errInvalid, "transcript_delay_ms %d out of range 1..%d",
			ms, limits.MaxTranscriptDelay.Milliseconds())
	}
	delay := time.Duration(ms) * time.Millisecond
	if delay == 0 {
		delay = limits.DefaultTranscriptDelay
	}
	prefix := req.GetChatUrlPrefix()
	if prefix == "" {
		prefix = limits.DefaultChatURLPrefix
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
func (t *transcripts) start(st store.Store, host *hostClient, loc *time.Location, set transcriptSettings, now func() time.Time) error {
	w, err := transcript.New(transcript.Config{
		Store:         st,
		Pages:         host,
		Parents:       host,
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

func transcriptsToProto(ts []store.Transcript) []*chatv1.Transcript {
	out := make([]*chatv1.Transcript, len(ts))
	for i, t := range ts {
		out[i] = &chatv1.Transcript{Date: t.Date, Title: t.Title, Url: t.URL}
	}
	return out
}
