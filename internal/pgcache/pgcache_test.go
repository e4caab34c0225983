package pgcache

import (
	"errors"
	"testing"
	"time"
)

func TestReadServesOnlyWhatItMay(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := New[string]()
	c.now = func() time.Time { return now }
	db := "v1"
	reads := 0
	read := func() (string, error) { reads++; return db, nil }
	same := func(s string) string { return s }
	get := func() string {
		t.Helper()
		v, err := Read(c, "k", same, read)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	steps := []struct {
		name      string
		do        func()
		want      string
		wantReads int
	}{
		{"not live: every call reads", func() {}, "v1", 1},
		{"still not live", func() {}, "v1", 2},
		{"live: the first read fills", func() { c.SetLive(true) }, "v1", 3},
		{"served from memory", func() { db = "v2" }, "v1", 3},
		{"a change heard is forgotten", func() { c.Forget("k") }, "v2", 4},
		{"expired after MaxAge", func() { db = "v3"; now = now.Add(MaxAge + time.Second) }, "v3", 5},
		{"ForgetAll", func() { db = "v4"; c.ForgetAll() }, "v4", 6},
		{"losing the connection empties it", func() { db = "v5"; c.SetLive(false) }, "v5", 7},
	}
	for _, st := range steps {
		st.do()
		if got := get(); got != st.want || reads != st.wantReads {
			t.Fatalf("%s: got %q after %d reads, want %q after %d", st.name, got, reads, st.want, st.wantReads)
		}
	}
}

// TestReadDuringAChangeIsNotKept: a read that began before a change was
// heard may have seen the old row, so it is returned but not kept.
func TestReadDuringAChangeIsNotKept(t *testing.T) {
	t.Parallel()
	c := New[string]()
	c.SetLive(true)
	same := func(s string) string { return s }
	if _, err := Read(c, "k", same, func() (string, error) {
		c.Forget("k") // heard while the read was on its way
		return "old", nil
	}); err != nil {
		t.Fatal(err)
	}
	if v, ok := c.Get("k"); ok {
		t.Errorf("a read overtaken by a change was kept: %q", v)
	}
	if _, err := Read(c, "k", same, func() (string, error) { return "", errors.New("down") }); err == nil {
		t.Error("a failed read reported no error")
	}
	if _, ok := c.Get("k"); ok {
		t.Error("a failed read was kept")
	}
}
