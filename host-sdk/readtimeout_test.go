package hostsdk

import (
	"net/http/httptest"
	"testing"
	"time"
)

// A host may set http.Server.ReadTimeout to cut clients that send request
// bodies slowly (finding #3). Event streams must outlive it: net/http
// clears the read deadline once a request's body is consumed, and the
// wikihost example relies on that, so this test guards it.
func TestEventStreamsOutliveServerReadTimeout(t *testing.T) {
	t.Parallel()
	const readTimeout = 200 * time.Millisecond
	ws := newWebServer(t, nil, WithHeartbeat(20*time.Millisecond))
	srv := httptest.NewUnstartedServer(ws.h)
	srv.Config.ReadTimeout = readTimeout
	srv.Start()
	t.Cleanup(srv.Close)
	ws.srv = srv
	c := ws.openEvents(t, cookieUser("alice"), "", nil)
	start := time.Now()
	for time.Since(start) < 5*readTimeout {
		if _, err := c.next(); err != nil {
			t.Fatalf("stream ended after %v with a %v read timeout: %v", time.Since(start).Round(time.Millisecond), readTimeout, err)
		}
	}
}
