package server

import (
	"context"
	"strings"
	"testing"

	"github.com/pagechat/pagechat/internal/limits"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

func TestConfigureRefusesBadTranscriptSettings(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		req  *chatv1.ConfigureRequest
		want string
	}{
		"unknown zone":   {&chatv1.ConfigureRequest{TimeZone: "Mars/Olympus_Mons"}, `"Mars/Olympus_Mons"`},
		"negative delay": {&chatv1.ConfigureRequest{TranscriptDelayMs: -1}, "transcript_delay_ms -1"},
		"huge delay":     {&chatv1.ConfigureRequest{TranscriptDelayMs: limits.MaxTranscriptDelay.Milliseconds() + 1}, "transcript_delay_ms"},
	} {
		tc.req.DataDir = t.TempDir()
		_, err := New(nil, nil, testVersion).Configure(context.Background(), tc.req)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Configure = %v; want InvalidArgument naming %s", name, err, tc.want)
		}
	}
}

func TestTranscriptSettingsDefaults(t *testing.T) {
	t.Parallel()
	got, err := transcriptSettingsFrom(&chatv1.ConfigureRequest{})
	if err != nil || got.delay != limits.DefaultTranscriptDelay || got.chatPrefix != limits.DefaultChatURLPrefix {
		t.Errorf("defaults = %+v, %v", got, err)
	}
	got, err = transcriptSettingsFrom(&chatv1.ConfigureRequest{ChatUrlPrefix: "/wiki/chat", TranscriptDelayMs: 250})
	if err != nil || got.chatPrefix != "/wiki/chat/" || got.delay.Milliseconds() != 250 {
		t.Errorf("settings = %+v, %v; want the prefix to end in /", got, err)
	}
}
