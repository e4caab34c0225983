package testutil

import (
	"bytes"
	"regexp"
	"sync"
)

// listeningLine is what a pagechat server logs once it serves
// (docs/architecture.md, "Example wiki": "listening on http://ADDR").
var listeningLine = regexp.MustCompile(`listening on http://(\S+)`)

// ListenWatcher collects a server's log and reports the address from its
// first "listening on http://ADDR" line, so a test can start the server
// on port 0 and find it.
type ListenWatcher struct {
	addr chan string

	mu   sync.Mutex
	buf  bytes.Buffer
	seen bool
}

// NewListenWatcher returns a watcher to use as the server's log output.
func NewListenWatcher() *ListenWatcher {
	return &ListenWatcher{addr: make(chan string, 1)}
}

// Addr delivers the address once, when the line appears.
func (l *ListenWatcher) Addr() <-chan string { return l.addr }

// Write appends p to the log and looks for the address.
func (l *ListenWatcher) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.seen {
		if m := listeningLine.FindSubmatch(l.buf.Bytes()); m != nil {
			l.seen = true
			l.addr <- string(m[1])
		}
	}
	return len(p), nil
}

// String returns the log so far.
func (l *ListenWatcher) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
