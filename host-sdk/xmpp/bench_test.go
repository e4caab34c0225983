package xmpp_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil/xmpptest"
)

// BenchmarkBridgeFanOut measures the XMPP path end to end: a message sent
// through the plugin (as the browser API does) until every one of 10
// XMPP occupants, logged in to a real Prosody, has received it. It reports
// the p50 and p99 of the time until the last occupant has it.
func BenchmarkBridgeFanOut(b *testing.B) {
	br := startBridge(b)
	const occupants = 10
	var clients []*xmpptest.Client
	for i := range occupants {
		user := []string{"alice", "bob", "carol"}[i%3]
		c := xmpptest.Dial(b, br.srv.C2SAddr, br.srv.JID(user)+"/b"+strconv.Itoa(i), accounts[user])
		br.join(c, user, "maxstanzas='0'")
		clients = append(clients, c)
	}
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		body := fmt.Sprintf("bench %d", i)
		start := time.Now()
		if _, err := br.chat.Send(ctx, "bob", br.roomID, "bench-"+strconv.Itoa(i), body); err != nil {
			b.Fatal(err)
		}
		for _, c := range clients {
			c.Expect(wait, body, groupchatWithBody(body))
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
