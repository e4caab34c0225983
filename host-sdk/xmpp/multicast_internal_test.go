package xmpp

import (
	"context"
	"fmt"
	"testing"

	"github.com/hashicorp/go-hclog"
	"mellium.im/xmpp/jid"
)

// TestBroadcastBatches checks what one fan-out puts on the queue: a copy
// per recipient without a service or for one recipient, else multicast
// stanzas to the service in batches, each the template plus the bcc list.
func TestBroadcastBatches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		service    string
		batch      int
		recipients int
		want       []int // addresses per queued stanza; 0 for a plain copy
	}{
		{"no service", "", 2, 3, []int{0, 0, 0}},
		{"one recipient", "example.org", 2, 1, []int{0}},
		{"one batch", "example.org", 10, 3, []int{3}},
		{"exact batches", "example.org", 2, 4, []int{2, 2}},
		{"a short last batch", "example.org", 2, 5, []int{2, 2, 1}},
		{"nobody", "example.org", 2, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := &Component{cfg: Config{MulticastBatch: tc.batch}, domain: jid.MustParse("chat.example.org"),
				log: hclog.NewNullLogger(), out: make(chan *elem, 16), ctx: ctx, cancel: cancel}
			if tc.service != "" {
				svc := jid.MustParse(tc.service)
				c.mcast.Store(&svc)
			}
			r := newRoom(c, "room")
			var to []jid.JID
			for i := range tc.recipients {
				to = append(to, jid.MustParse(fmt.Sprintf("u%d@example.org/r", i)))
			}
			tmpl := el("", "message", "from", "room@chat.example.org/Nick", "type", "groupchat", "id", "m1").
				add(el("", "body").text("hello"))
			r.broadcast(tmpl, to)
			if len(c.out) != len(tc.want) {
				t.Fatalf("queued %d stanzas, want %d", len(c.out), len(tc.want))
			}
			next := 0
			for i, n := range tc.want {
				st := <-c.out
				if st.attr("from") != "room@chat.example.org/Nick" || st.attr("id") != "m1" || st.childText("", "body") != "hello" {
					t.Errorf("stanza %d lost the template: %s", i, st)
				}
				addrs := st.child(nsAddress, "addresses")
				if n == 0 {
					if addrs != nil || st.attr("to") != to[next].String() {
						t.Errorf("stanza %d is not a plain copy for %s: %s", i, to[next], st)
					}
					next++
					continue
				}
				if st.attr("to") != tc.service || addrs == nil || len(addrs.Children) != n {
					t.Fatalf("stanza %d: want %d addresses to %s: %s", i, n, tc.service, st)
				}
				for _, a := range addrs.Children {
					if a.attr("type") != "bcc" || a.attr("jid") != to[next].String() {
						t.Errorf("stanza %d address %s, want bcc %s", i, a, to[next])
					}
					next++
				}
			}
			if next != len(to) {
				t.Errorf("%d of %d recipients addressed", next, len(to))
			}
			if tmpl.attr("to") != "" || len(tmpl.Children) != 1 {
				t.Errorf("the template changed: %s", tmpl)
			}
		})
	}
}

func TestServerDomain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ domain, server, want string }{
		{"chat.localhost", "", "localhost"},
		{"chat.example.org", "", "example.org"},
		{"chat.example.org", "xmpp.example.net", "xmpp.example.net"},
		{"localhost", "", "localhost"},
	} {
		c := &Component{cfg: Config{ServerDomain: tc.server}, domain: jid.MustParse(tc.domain)}
		if got := c.serverDomain(); got != tc.want {
			t.Errorf("serverDomain(%q, %q) = %q, want %q", tc.domain, tc.server, got, tc.want)
		}
	}
}
