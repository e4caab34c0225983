package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"3", 3 * time.Second},
		{"-4", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tc := range tests {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("connection refused"), true},
		{fmt.Errorf("wrapped: %w", &httpError{Status: 503}), true},
		{&httpError{Status: 500}, true},
		{&httpError{Status: 429}, true},
		{&httpError{Status: 408}, true},
		{&httpError{Status: 400}, false},
		{&httpError{Status: 403}, false},
		{&httpError{Status: 404}, false},
		{&httpError{Status: 413}, false},
	}
	for _, tc := range tests {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestHTTPErrorReadsContractBody(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Retry-After", "2")
			writeError(w, http.StatusTooManyRequests, "rate_limited", "too many messages")
		default:
			http.Error(w, "plain failure", http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	c := newAPIClient(srv.URL+"/", srv.Client())
	ctx := context.Background()

	err := c.do(ctx, creds{user: "u", password: "p"}, http.MethodGet, "/json", nil, nil)
	he, ok := errors.AsType[*httpError](err)
	if !ok || he.Status != 429 || he.Code != "rate_limited" || he.Message != "too many messages" || he.RetryAfter != 2*time.Second {
		t.Errorf("JSON error: %#v", err)
	}
	if !strings.Contains(err.Error(), "HTTP 429") || !strings.Contains(err.Error(), "GET /json") {
		t.Errorf("message %q should name the request and status", err)
	}

	err = c.do(ctx, creds{user: "u", password: "p"}, http.MethodGet, "/plain", nil, nil)
	if he, ok := errors.AsType[*httpError](err); !ok || he.Status != 502 || he.Message != "plain failure" {
		t.Errorf("plain error: %#v", err)
	}
}

func TestOpenEventsRefusesNonStream(t *testing.T) {
	t.Parallel()
	// A wiki that answers a missing route with an HTML page must not be
	// read as an empty event stream.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html>login</html>")
	}))
	defer srv.Close()
	c := newAPIClient(srv.URL, srv.Client())
	if _, err := c.openEvents(context.Background(), creds{user: "u", password: "p"}, "p.r", 0); err == nil || !strings.Contains(err.Error(), "text/event-stream") {
		t.Errorf("openEvents on an HTML page: %v", err)
	}
}

func TestSendBodyIsTheJSONTheServerReads(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ clientID, text string }{
		{"lg-abc-r1-s2-7", "lg|lg-abc-r1-s2-7|1700000000123456789|....."},
		{"id", `quote " and \ backslash`},
		{"id", "line\nbreak\ttab"},
		{"id", "Grüße, 世界"},
		{"", ""},
	} {
		var got struct {
			Text     string `json:"text"`
			ClientID string `json:"client_id"`
		}
		body := sendBody(tc.clientID, tc.text)
		if err := json.Unmarshal(body, &got); err != nil || got.Text != tc.text || got.ClientID != tc.clientID {
			t.Errorf("sendBody(%q, %q) = %s, reads back as %+v, %v", tc.clientID, tc.text, body, got, err)
		}
	}
}

func TestLeadingSeq(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		reply string
		seq   int64
		ok    bool
	}{
		{`{"seq":42,"message":{"seq":42}}`, 42, true},
		{`{"seq":7}`, 7, true},
		{`{"message":{"seq":42},"seq":42}`, 0, false}, // not first: the caller decodes in full
		{`{"seq":"x"}`, 0, false},
		{`{"seq":}`, 0, false},
		{``, 0, false},
	} {
		seq, ok := leadingSeq([]byte(tc.reply))
		if seq != tc.seq || ok != tc.ok {
			t.Errorf("leadingSeq(%s) = %d, %v; want %d, %v", tc.reply, seq, ok, tc.seq, tc.ok)
		}
	}
}
