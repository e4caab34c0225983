package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseFlagsDefaults(t *testing.T) {
	t.Parallel()
	c, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.URL != "http://127.0.0.1:8080" || c.User != "alice" || c.Password != "pagechat-demo" ||
		c.Rooms != 10 || c.Subs != 10 || c.Rate != 100 ||
		c.Duration != 10*time.Second || c.Settle != 5*time.Second || c.NoFail {
		t.Errorf("defaults: %+v", c)
	}
	// 10 msgs/s per room at 1.6 per sender needs 7 senders per room; each
	// of the 70 then sends every 700 ms.
	if c.SendersPerRoom != 7 || c.sendInterval() != 700*time.Millisecond {
		t.Errorf("100 msgs/s over 10 rooms: %d senders per room every %v, want 7 every 700ms", c.SendersPerRoom, c.sendInterval())
	}
	one, err := parseFlags([]string{"-senders-per-room", "1"}, io.Discard)
	if err != nil || one.SendersPerRoom != 1 || one.sendInterval() != 100*time.Millisecond {
		t.Errorf("-senders-per-room 1: %+v, %v; want 10 senders every 100ms", one, err)
	}
	if c.ackGrace() != 2500*time.Millisecond || c.IdleTimeout <= 30*time.Second {
		t.Errorf("ackGrace %v, idle timeout %v", c.ackGrace(), c.IdleTimeout)
	}
	if len(c.SubURLs) != 0 || len(c.subURLs()) != 1 || c.subURLs()[0] != c.URL {
		t.Errorf("subscribers connect to %v, want -url alone", c.subURLs())
	}
	two, err := parseFlags([]string{"-sub-url", " http://127.0.0.1:8081, http://127.0.0.1:8082 ,"}, io.Discard)
	if err != nil || len(two.SubURLs) != 2 || two.SubURLs[0] != "http://127.0.0.1:8081" || two.SubURLs[1] != "http://127.0.0.1:8082" {
		t.Errorf("-sub-url with two URLs: %q, %v", two.SubURLs, err)
	}
}

func TestParseFlagsXMPP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args               []string
		xmppSubs, sseSubs  int
		sendersPerRoom     int
		muc                string
		xmppUsers, viewers int
	}{
		{args: []string{"-rooms", "100", "-subs", "20", "-rate", "2000", "-xmpp-server", "127.0.0.1:5222", "-xmpp-share", "0.5"},
			xmppSubs: 10, sseSubs: 10, sendersPerRoom: 13, muc: "chat.localhost", xmppUsers: 250, viewers: 250},
		{args: []string{"-rooms", "2", "-subs", "3", "-xmpp-server", "127.0.0.1:5222", "-xmpp-share", "0.01"},
			xmppSubs: 1, sseSubs: 2, sendersPerRoom: 32, muc: "chat.localhost", xmppUsers: 1, viewers: 1},
		{args: []string{"-rooms", "100", "-subs", "20", "-rate", "2000", "-xmpp-server", "127.0.0.1:5222", "-prosody-muc"},
			xmppSubs: 20, sseSubs: 0, sendersPerRoom: 13, muc: "conference.localhost", xmppUsers: 500, viewers: 0},
		{args: []string{"-rooms", "5", "-subs", "4", "-rate", "50", "-xmpp-server", "127.0.0.1:5222", "-prosody-muc"},
			xmppSubs: 4, sseSubs: 0, sendersPerRoom: 4, muc: "conference.localhost", xmppUsers: 5, viewers: 0},
		{args: []string{"-rooms", "5", "-subs", "4"},
			xmppSubs: 0, sseSubs: 4, sendersPerRoom: 13, muc: "chat.localhost", xmppUsers: 0, viewers: 5},
	}
	for _, tc := range tests {
		c, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if c.xmppSubs() != tc.xmppSubs || c.sseSubs() != tc.sseSubs || c.SendersPerRoom != tc.sendersPerRoom ||
			c.XMPPMUC != tc.muc || c.xmppUsers() != tc.xmppUsers || c.viewers() != tc.viewers {
			t.Errorf("%q: xmpp %d sse %d senders %d muc %q xmpp users %d viewers %d, want %d %d %d %q %d %d", tc.args,
				c.xmppSubs(), c.sseSubs(), c.SendersPerRoom, c.XMPPMUC, c.xmppUsers(), c.viewers(),
				tc.xmppSubs, tc.sseSubs, tc.sendersPerRoom, tc.muc, tc.xmppUsers, tc.viewers)
		}
	}
}

func TestParseFlagsRejects(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-rooms", "0"},
		{"-subs", "-1"},
		{"-rooms", "1000", "-subs", "1000"},
		{"-rate", "0"},
		{"-rate", "NaN"},
		{"-duration", "0s"},
		{"-settle", "-1s"},
		{"-senders-per-room", "-1"},
		{"-msg-bytes", "-5"},
		{"-url", "ftp://example.org"},
		{"-url", "127.0.0.1:8080"},
		{"-url", "http://user:pw@127.0.0.1:8080"},
		{"-sub-url", "127.0.0.1:8081"},
		{"-sub-url", "http://127.0.0.1:8081,ftp://x"},
		{"-user", ""},
		{"-xmpp-share", "0.5"},        // no -xmpp-server
		{"-prosody-muc"},              // no -xmpp-server
		{"-xmpp-server", "127.0.0.1"}, // no port
		{"-xmpp-server", "127.0.0.1:5222", "-xmpp-share", "1.5"},
		{"-xmpp-server", "127.0.0.1:5222", "-xmpp-share", "NaN"},
		{"-xmpp-server", "127.0.0.1:5222", "-xmpp-muc", "a'b"},
		{"-bogus"},
		{"extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
	if got := realMain([]string{"-rooms", "0"}, io.Discard, io.Discard); got != exitUsage {
		t.Errorf("bad flag: exit %d, want %d", got, exitUsage)
	}
	var stderr strings.Builder
	if got := realMain([]string{"-h"}, io.Discard, &stderr); got != exitOK || !strings.Contains(stderr.String(), "-senders-per-room") {
		t.Errorf("-h: exit %d, usage %q", got, stderr.String())
	}
}

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"http://127.0.0.1:8080":   true,
		"http://localhost:8080":   true,
		"http://[::1]:8080":       true,
		"http://127.8.9.10":       true,
		"http://example.org:8080": false,
		"http://10.0.0.5:8080":    false,
		"::":                      false,
	} {
		if got := isLoopback(in); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", in, got, want)
		}
	}
}
