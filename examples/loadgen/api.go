package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxErrorBody bounds how much of an error or JSON reply is read.
const maxErrorBody = 1 << 20

// creds is one user's HTTP Basic credentials.
type creds struct {
	user, password string
	// session is the user's session cookie once logged in. Requests then
	// carry it, as a browser's do; without one they use HTTP Basic auth.
	// Sessions also survive a wiki restart, where verifying thousands of
	// Basic passwords again at once would stall the wiki for a minute.
	session string
}

// sessionCookie is the example wiki's session cookie.
const sessionCookie = "pagechat_session"

// apiClient talks to one wikihost: its JSON API and the chat Browser API
// under /chat/. Every URL it builds starts with base, so the tool never
// reaches another host.
type apiClient struct {
	base string // without a trailing "/"
	hc   *http.Client
}

// newHTTPClient returns a client whose transport can hold every stream
// and every sender's connection at once: Go's default of two idle
// connections per host would make senders redial for each message and
// skew the numbers. There is no client timeout because event streams are
// meant to stay open; requests carry their own deadlines.
func newHTTPClient(conns int) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil, // a load test against a local server must not go through a proxy
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		MaxConnsPerHost:       conns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 0, // a stream's headers may wait for its first event; the idle watchdog bounds it
		DisableCompression:    true,
	}
	return &http.Client{Transport: tr}
}

func newAPIClient(base string, hc *http.Client) *apiClient {
	return &apiClient{base: strings.TrimRight(base, "/"), hc: hc}
}

// httpError is a non-2xx reply.
type httpError struct {
	Op         string // what was being done, e.g. "POST /api/pages"
	Status     int
	Code       string // the "code" of a JSON error body, if any
	Message    string // its "error", or the start of a non-JSON body
	RetryAfter time.Duration
}

func (e *httpError) Error() string {
	msg := e.Message
	if e.Code != "" {
		msg = e.Code + ": " + msg
	}
	return fmt.Sprintf("%s: HTTP %d: %s", e.Op, e.Status, msg)
}

// retryable reports whether a failed request may succeed when repeated as
// is: network errors, 5xx (503 is the plugin restarting), 429 and 408.
// Other 4xx answers (bad input, no permission, unknown room) will not
// change.
func retryable(err error) bool {
	if he, ok := errors.AsType[*httpError](err); ok {
		return he.Status >= 500 || he.Status == http.StatusTooManyRequests || he.Status == http.StatusRequestTimeout
	}
	return err != nil
}

// retryAfter returns the server's requested delay, if it gave one.
func retryAfter(err error) time.Duration {
	if he, ok := errors.AsType[*httpError](err); ok {
		return he.RetryAfter
	}
	return 0
}

// newRequest builds an authenticated request for path under base.
func (c *apiClient) newRequest(ctx context.Context, cr creds, method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte: // already JSON
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encoding request: %w", method, path, err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cr.session != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cr.session})
	} else {
		req.SetBasicAuth(cr.user, cr.password)
	}
	return req, nil
}

// do sends a JSON request and decodes a 2xx JSON reply into out (unless
// out is nil). A non-2xx reply becomes an *httpError.
func (c *apiClient) do(ctx context.Context, cr creds, method, path string, in, out any) error {
	req, err := c.newRequest(ctx, cr, method, path, in)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer closeBody(resp)
	if resp.StatusCode/100 != 2 {
		return readHTTPError(method+" "+path, resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxErrorBody)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decoding reply: %w", method, path, err)
	}
	return nil
}

// readHTTPError turns a non-2xx reply into an *httpError, reading the
// contract's {"error","code"} body when there is one.
func readHTTPError(op string, resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	he := &httpError{Op: op, Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	var e struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if json.Unmarshal(body, &e) == nil && (e.Error != "" || e.Code != "") {
		he.Message, he.Code = e.Error, e.Code
	} else {
		he.Message = strings.TrimSpace(string(body[:min(len(body), 200)]))
	}
	return he
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date. It returns 0 when there is none or it is unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(s, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// closeBody drains a little of the body before closing it so the
// connection can be reused, without reading an endless stream.
func closeBody(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// pageRef is the reply to POST /api/pages.
type pageRef struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

// createPage creates a page and returns its id.
func (c *apiClient) createPage(ctx context.Context, cr creds, title, body, parentID string) (pageRef, error) {
	var ref pageRef
	in := map[string]string{"title": title, "body": body, "parent_id": parentID}
	if err := c.do(ctx, cr, http.MethodPost, "/api/pages", in, &ref); err != nil {
		return pageRef{}, err
	}
	if ref.ID == "" {
		return pageRef{}, fmt.Errorf("POST /api/pages: reply has no page id")
	}
	return ref, nil
}

// setPermissions sets a page's view and edit lists (empty = everyone).
func (c *apiClient) setPermissions(ctx context.Context, cr creds, pageID string, view, edit []string) error {
	in := map[string][]string{"view": nonNil(view), "edit": nonNil(edit)}
	return c.do(ctx, cr, http.MethodPut, "/api/pages/"+url.PathEscape(pageID)+"/permissions", in, nil)
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// createUser creates a user; created is false when it already existed.
func (c *apiClient) createUser(ctx context.Context, cr creds, name, password, display string) (created bool, err error) {
	in := map[string]string{"name": name, "password": password, "display_name": display}
	err = c.do(ctx, cr, http.MethodPost, "/api/users", in, nil)
	if he, ok := errors.AsType[*httpError](err); ok && he.Status == http.StatusConflict {
		return false, nil
	}
	return err == nil, err
}

// renderPage fetches the rendered page, which is what creates its rooms.
func (c *apiClient) renderPage(ctx context.Context, cr creds, pageID string) error {
	path := "/pages/" + url.PathEscape(pageID)
	req, err := c.newRequest(ctx, cr, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer closeBody(resp)
	if resp.StatusCode != http.StatusOK {
		return readHTTPError("GET "+path, resp)
	}
	return nil
}

// roomPath is the Browser API path of a room's resource.
func roomPath(roomID, resource string) string {
	return "/chat/api/rooms/" + url.PathEscape(roomID) + "/" + resource
}

// send posts one message; it returns the sequence number the server gave
// it. Repeating it with the same clientID is safe: the server stores the
// message once and answers with the same seq.
//
// It is the tool's hottest request, thousands a second on the cores of
// the server it measures, so it skips reflection where it can: the body
// is written directly and the seq read from the front of the reply.
func (c *apiClient) send(ctx context.Context, cr creds, roomID, clientID, text string) (int64, error) {
	path := roomPath(roomID, "messages")
	req, err := c.newRequest(ctx, cr, http.MethodPost, path, sendBody(clientID, text))
	if err != nil {
		return 0, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("POST %s: %w", path, err)
	}
	defer closeBody(resp)
	if resp.StatusCode/100 != 2 {
		return 0, readHTTPError("POST "+path, resp)
	}
	reply, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return 0, fmt.Errorf("POST %s: reading reply: %w", path, err)
	}
	seq, ok := leadingSeq(reply)
	if !ok {
		var r struct {
			Seq int64 `json:"seq"`
		}
		if err := json.Unmarshal(reply, &r); err != nil {
			return 0, fmt.Errorf("POST %s: decoding reply: %w", path, err)
		}
		seq = r.Seq
	}
	if seq <= 0 {
		return 0, fmt.Errorf("POST %s: reply has no seq", path)
	}
	return seq, nil
}

// sendBody is the JSON of a send request.
func sendBody(clientID, text string) []byte {
	if !plainJSON(clientID) || !plainJSON(text) {
		b, _ := json.Marshal(map[string]string{"text": text, "client_id": clientID}) // strings always encode
		return b
	}
	b := make([]byte, 0, len(text)+len(clientID)+32)
	b = append(b, `{"text":"`...)
	b = append(b, text...)
	b = append(b, `","client_id":"`...)
	b = append(b, clientID...)
	return append(b, `"}`...)
}

// plainJSON reports whether s can stand in a JSON string as it is.
func plainJSON(s string) bool {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// leadingSeq reads the seq of a send reply that starts with it, as the
// Browser API's do: {"seq":N,...}.
func leadingSeq(reply []byte) (int64, bool) {
	rest, ok := bytes.CutPrefix(reply, []byte(`{"seq":`))
	if !ok {
		return 0, false
	}
	end := bytes.IndexAny(rest, ",}")
	if end <= 0 {
		return 0, false
	}
	seq, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return seq, err == nil
}

// login logs cr in through the wiki's login form, as a person does, and
// returns the session cookie's value.
func (c *apiClient) login(ctx context.Context, cr creds) (string, error) {
	form := url.Values{"name": {cr.user}, "password": {cr.password}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("POST /login: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// The session cookie comes with the redirect; following it would
	// lose it.
	noRedirect := &http.Client{Transport: c.hc.Transport, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := noRedirect.Do(req)
	if err != nil {
		return "", fmt.Errorf("POST /login: %w", err)
	}
	defer closeBody(resp)
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie && ck.Value != "" {
			return ck.Value, nil
		}
	}
	return "", fmt.Errorf("POST /login: HTTP %d without a session cookie", resp.StatusCode)
}

// loadHistory reads a room's latest message, as the popup does when it
// opens, and discards it.
func (c *apiClient) loadHistory(ctx context.Context, cr creds, roomID string) error {
	return c.do(ctx, cr, http.MethodGet, roomPath(roomID, "messages")+"?limit=1", nil, nil)
}

// openEvents opens a room's event stream. after == 0 asks for everything
// with ?after=0, so messages sent before the stream was up are replayed
// rather than missed; after > 0 resumes the way a browser does, with
// Last-Event-ID. The caller closes the body.
func (c *apiClient) openEvents(ctx context.Context, cr creds, roomID string, after int64) (*http.Response, error) {
	path := roomPath(roomID, "events")
	if after == 0 {
		path += "?after=0"
	}
	req, err := c.newRequest(ctx, cr, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if after > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(after, 10))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer closeBody(resp)
		return nil, readHTTPError("GET "+path, resp)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		closeBody(resp)
		return nil, fmt.Errorf("GET %s: Content-Type %q, want text/event-stream", path, ct)
	}
	return resp, nil
}
