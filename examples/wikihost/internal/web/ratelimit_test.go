package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// Page creation is limited per user, on the API and the form together
// (finding #15b).
func TestPageCreationIsRateLimited(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		perMinute int
		allowed   int // creations before the first 429; -1 = never refused
	}{
		{"default", 0, DefaultPagesPerMinute},
		{"admin's limit", 3, 3},
		{"off", -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, Config{PagesPerMinute: tt.perMinute})
			if ts.srv.newPages != nil {
				// Stop the clock: on a loaded machine (-race) creating
				// the pages takes seconds, which refill the bucket.
				frozen := time.Now()
				ts.srv.newPages.now = func() time.Time { return frozen }
			}
			n := tt.allowed
			if n < 0 {
				n = 2 * DefaultPagesPerMinute
			}
			for i := range n {
				ts.createPage("bob", fmt.Sprintf("Page %d", i), "", "")
			}
			if tt.allowed < 0 {
				return
			}
			rec := ts.do("POST", "/api/pages", "bob", map[string]string{"title": "One too many"})
			if e := decode[apiErr](t, rec, http.StatusTooManyRequests); e.Code != "rate_limited" || e.Error == "" {
				t.Errorf("error %+v, want code rate_limited", e)
			}
			if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s < 1 || s > 60 {
				t.Errorf("Retry-After %q", rec.Header().Get("Retry-After"))
			}
			form := []string{"Sec-Fetch-Site", "same-origin", "Content-Type", "application/x-www-form-urlencoded"}
			if rec := ts.do("POST", "/pages", "bob", `title=By+form`, form...); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
				t.Errorf("form: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
			}
			// Another user has a bucket of their own.
			ts.createPage("carol", "Carol's page", "", "")
		})
	}
}

func TestUserLimiterRefills(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	l := newUserLimiter(60, func() time.Time { return now })
	for range 60 {
		if err := l.allow("bob"); err != nil {
			t.Fatal(err)
		}
	}
	err := l.allow("bob")
	var limited *rateLimitedError
	if !errors.As(err, &limited) || limited.retryAfterSeconds() != 1 {
		t.Fatalf("61st: %v", err)
	}
	now = now.Add(time.Second)
	if err := l.allow("bob"); err != nil {
		t.Errorf("after a second: %v", err)
	}
}
