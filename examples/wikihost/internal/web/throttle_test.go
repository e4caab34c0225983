package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// Password guessing gets 429 with Retry-After, on the login form and on
// the API's Basic auth alike, and the form says when to try again.
func TestRepeatedFailedLoginsAreThrottled(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	form := func(password string) *httptest.ResponseRecorder {
		t.Helper()
		body := url.Values{"name": {"carol"}, "password": {password}}.Encode()
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		ts.srv.ServeHTTP(rec, req)
		return rec
	}
	for i := range 6 {
		if rec := form("guess"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i+1, rec.Code)
		}
	}
	rec := form(testPassword)
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("login after 6 failures: %d, want 429", rec.Code)
	}
	if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	if !strings.Contains(rec.Body.String(), "Too many failed logins") || !strings.Contains(rec.Body.String(), "Try again in") {
		t.Errorf("login form does not say why: %s", rec.Body)
	}

	// The same account through the API's Basic auth.
	req := httptest.NewRequest(http.MethodGet, "/api/search?q=x", nil)
	req.SetBasicAuth("carol", testPassword)
	api := httptest.NewRecorder()
	ts.srv.ServeHTTP(api, req)
	e := decode[apiErr](t, api, http.StatusTooManyRequests)
	if e.Code != "too_many_attempts" || api.Header().Get("Retry-After") == "" {
		t.Errorf("API: %+v, Retry-After %q", e, api.Header().Get("Retry-After"))
	}
	// Other accounts are not affected.
	if rec := ts.do(http.MethodGet, "/api/search?q=x", "bob", nil); rec.Code != http.StatusOK {
		t.Errorf("bob: %d", rec.Code)
	}
}

// One client trying a new made-up name on every request is throttled by
// its address, on the form and the API, while another address still
// logs in (finding #4).
func TestFailedLoginsAreThrottledPerClientAddress(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	basic := func(addr, name, password string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/api/search?q=x", nil)
		req.RemoteAddr = addr
		req.SetBasicAuth(name, password)
		rec := httptest.NewRecorder()
		ts.srv.ServeHTTP(rec, req)
		return rec
	}
	for i := range 21 { // wiki.DefaultClientFreeFailures + 1
		if rec := basic("192.0.2.7:1000", "nobody"+strconv.Itoa(i), "guess"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i+1, rec.Code)
		}
	}
	tests := []struct {
		name, addr string
		status     int
	}{
		{"same address, other port", "192.0.2.7:2000", http.StatusTooManyRequests},
		{"other address", "192.0.2.8:1000", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := basic(tt.addr, "bob", testPassword)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d; %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status == http.StatusTooManyRequests {
				if e := decode[apiErr](t, rec, tt.status); e.Code != "too_many_attempts" || rec.Header().Get("Retry-After") == "" {
					t.Errorf("%+v, Retry-After %q", e, rec.Header().Get("Retry-After"))
				}
			}
		})
	}
	body := url.Values{"name": {"bob"}, "password": {testPassword}}.Encode()
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
	req.RemoteAddr = "192.0.2.7:3000"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), "from your address") {
		t.Errorf("login form from the throttled address: %d %s", rec.Code, rec.Body)
	}
}
