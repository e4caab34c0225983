package hostsdk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// gatedBody is an upload body the test controls: it yields head, then
// blocks until the gate opens, so the server's answer can only arrive
// before the client has finished writing if the server answered without
// waiting for the rest.
type gatedBody struct {
	head *bytes.Reader
	gate <-chan struct{}
	ctx  context.Context
}

var errBodyAbandoned = errors.New("the test stopped writing the body")

func (b *gatedBody) Read(p []byte) (int, error) {
	if b.head.Len() > 0 {
		return b.head.Read(p)
	}
	select {
	case <-b.gate:
	case <-b.ctx.Done():
	}
	return 0, errBodyAbandoned
}

// countingBody counts what the handler reads of a request body.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// stalledUpload posts an upload to url as user that writes prefix bytes
// of its file and then stalls until the test ends, declaring
// contentLength (0: chunked). It returns the answer and its body, failing
// the test when no answer comes while the client is still writing.
func stalledUpload(t *testing.T, client *http.Client, url, user string, prefix int, contentLength int64, read *atomic.Int64) (*http.Response, []byte) {
	t.Helper()
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	if _, err := mw.CreateFormFile("file", "big.bin"); err != nil {
		t.Fatal(err)
	}
	head.Write(make([]byte, prefix))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	gate := make(chan struct{})
	t.Cleanup(func() { close(gate) })
	body := &gatedBody{head: bytes.NewReader(head.Bytes()), gate: gate, ctx: ctx}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = contentLength
	req.Header.Set("Content-Type", mw.FormDataContentType())
	basicUser(user)(req)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("no answer while the client was still writing its body: %v (the handler read %d bytes)", err, read.Load())
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestForbiddenUploadIsRefusedBeforeItsBodyIsRead checks security finding
// #12: a user without post permission gets 403 without the server reading
// the upload, whether or not the body declares its length.
func TestForbiddenUploadIsRefusedBeforeItsBodyIsRead(t *testing.T) {
	t.Parallel()
	const (
		declared = 10 << 20 // the upload's claimed size, within the limit
		prefix   = 1 << 20  // what the client writes before it stalls
		maxRead  = 64 << 10 // what the handler may read before refusing
	)
	ws := newWebServer(t, nil, WithUploadLimit(declared+1))
	ws.host.deny("mallory", ws.room.PageID, PermissionPost)
	var read atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = countingBody{ReadCloser: r.Body, n: &read}
		ws.h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		name          string
		contentLength int64 // 0: chunked, length unknown
	}{
		{"declared length", declared + 4096},
		{"chunked", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read.Store(0)
			resp, b := stalledUpload(t, srv.Client(), srv.URL+ws.api(ws.room.ID)+"/files", "mallory", prefix, tc.contentLength, &read)
			wantError(t, resp, b, http.StatusForbidden, "forbidden")
			if n := read.Load(); n > maxRead {
				t.Fatalf("the handler read %d bytes of a forbidden upload, want at most %d", n, maxRead)
			}
		})
	}
}

// An upload whose declared length is over the limit is refused with 413
// before its body is read, even from a user who may post (finding #12:
// "check permission and declared size before reading the body").
func TestOversizedUploadIsRefusedBeforeItsBodyIsRead(t *testing.T) {
	t.Parallel()
	const (
		limit   = 2 << 20
		prefix  = 1 << 20  // what the client writes before it stalls
		maxRead = 64 << 10 // what the handler may read before refusing
	)
	ws := newWebServer(t, nil, WithUploadLimit(limit))
	var read atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = countingBody{ReadCloser: r.Body, n: &read}
		ws.h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	resp, b := stalledUpload(t, srv.Client(), srv.URL+ws.api(ws.room.ID)+"/files", "alice", prefix, 2*limit, &read)
	wantError(t, resp, b, http.StatusRequestEntityTooLarge, "too_large")
	if n := read.Load(); n > maxRead {
		t.Fatalf("the handler read %d bytes of an upload declared too large, want at most %d", n, maxRead)
	}
}
