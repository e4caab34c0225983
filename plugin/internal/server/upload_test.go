package server

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pagechat/pagechat/plugin/internal/store"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

func TestSanitizeFileName(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{"../../etc/passwd", "passwd"},
		{`C:\Users\me\notes.txt`, "notes.txt"},
		{".htaccess", "htaccess"},
		{"...", "file"},
		{".  .", "file"},
		{". .profile", "profile"},
		{"", "file"},
		{"<script>alert(1)</script>.html", "script_.html"},
		{"<img onerror=x>.png", "_img onerror_x_.png"},
		{"a\x00b\nc.txt", "a_b_c.txt"},
		{"Grüße 2026.txt", "Grüße 2026.txt"},
		{"bad\xffutf8.txt", "badutf8.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := SanitizeFileName(tt.in); got != tt.want {
				t.Errorf("SanitizeFileName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzSanitizeFileName(f *testing.F) {
	for _, s := range []string{"a.txt", "../x", "<svg onload=x>", "\x00", strings.Repeat("é", 300), ".  ."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := SanitizeFileName(in)
		if got == "" || len(got) > maxFileNameBytes {
			t.Fatalf("SanitizeFileName(%q) = %q: empty or too long", in, got)
		}
		if strings.ContainsAny(got, "/\\<>\"'&\x00\n\r") || strings.HasPrefix(got, ".") {
			t.Fatalf("SanitizeFileName(%q) = %q: unsafe character or leading dot", in, got)
		}
		if SanitizeFileName(got) != got {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, got, SanitizeFileName(got))
		}
	})
}

// TestFileMessageLink checks which host URLs the upload announcement links:
// the file's name is a download link only when its URL is safe, and stays
// plain text otherwise.
func TestFileMessageLink(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		link bool
	}{
		{"/files/plan.pdf", true},
		{"https://files.example/plan.pdf", true},
		{"HTTPS://files.example/plan.pdf", true},
		{"http://", false},
		{"//evil.example/plan.pdf", false},
		{"javascript:alert(1)", false},
		{"/files/plan.pdf\x00", false},
		{"", false},
	}
	for _, tt := range tests {
		html := fileMessageHTML(&store.File{Name: "plan.pdf", URL: tt.url, Size: 2048}, nil)
		linked := strings.Contains(html, `<a class="file" href="`+tt.url+`" download>plan.pdf</a>`)
		if linked != tt.link || (!tt.link && strings.Contains(html, "<a ")) {
			t.Errorf("file URL %q: announcement %s, want linked=%v", tt.url, html, tt.link)
		}
		if !strings.Contains(html, "(2.0 KiB)") {
			t.Errorf("file URL %q: announcement %s lacks the size", tt.url, html)
		}
	}
}

// TestUploadSizeMessages checks that a refused size tells the user what
// they did, not what the protocol expected.
func TestUploadSizeMessages(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Files").GetId()
	tests := []struct {
		name string
		size int64
		want string
	}{
		{"empty", 0, "the file is empty; there is nothing to upload"},
		{"negative", -1, "cannot be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.upload("alice", room, "up-"+tt.name, "a.txt", tt.size)
			wantCode(t, err, codes.InvalidArgument)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
	if n := h.host.attachedFiles(); n != 0 {
		t.Errorf("host stored %d files for refused uploads", n)
	}
}

// TestUploadStored checks the ordinary path: one upload, one file on the
// host, one message announcing it.
func TestUploadStored(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Files").GetId()
	resp, err := h.upload("alice", room, "up-1", "notes.txt", 1000)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	if resp.GetFile().GetSize() != 1000 || h.host.attachedFiles() != 1 {
		t.Errorf("file %+v, host stored %d files; want 1000 bytes, 1 file", resp.GetFile(), h.host.attachedFiles())
	}
}

// TestClientIDPerSender checks that a client id deduplicates only its own
// sender's retries, for sends and uploads alike, and that a retried upload
// reaches the host once.
func TestClientIDPerSender(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	h.host.allow("carol", "p1", view, post)
	room := h.openRoom("alice", "p1", "Team").GetId()

	a := h.send("alice", room, "same", "from alice")
	c := h.send("carol", room, "same", "from carol")
	if c.GetDuplicate() || c.GetMessage().GetUserId() != "carol" || c.GetMessage().GetSeq() == a.GetMessage().GetSeq() {
		t.Fatalf("carol's send with alice's client id = %+v; want a new message of her own", c)
	}
	if again := h.send("carol", room, "same", "carol retries"); !again.GetDuplicate() || again.GetMessage().GetSeq() != c.GetMessage().GetSeq() {
		t.Errorf("carol's retry = %+v; want the duplicate of seq %d", again, c.GetMessage().GetSeq())
	}

	uploads := []struct {
		user, clientID string
		wantDup        bool
		wantAttached   int
	}{
		{"alice", "file-1", false, 1},
		{"alice", "file-1", true, 1},  // a retry: answered from storage, not stored again
		{"carol", "file-1", false, 2}, // another sender's id: her own file
		{"carol", "same", true, 2},    // her earlier text message; no file stored
	}
	seqs := map[string]uint64{}
	for _, u := range uploads {
		resp, err := h.upload(u.user, room, u.clientID, "notes.txt", 100_000)
		if err != nil {
			t.Fatalf("%s uploads with client id %q: %v", u.user, u.clientID, err)
		}
		key := u.user + "/" + u.clientID
		if u.wantDup && u.clientID == "same" {
			seqs[key] = c.GetMessage().GetSeq()
		}
		if got := resp.GetMessage().GetSeq(); resp.GetDuplicate() != u.wantDup || resp.GetMessage().GetUserId() != u.user ||
			(u.wantDup && got != seqs[key]) {
			t.Errorf("%s uploads with client id %q = seq %d by %q, duplicate %v; want duplicate %v of seq %d",
				u.user, u.clientID, got, resp.GetMessage().GetUserId(), resp.GetDuplicate(), u.wantDup, seqs[key])
		}
		seqs[key] = resp.GetMessage().GetSeq()
		if n := h.host.attachedFiles(); n != u.wantAttached {
			t.Errorf("after %s's upload with client id %q the host stored %d files, want %d", u.user, u.clientID, n, u.wantAttached)
		}
	}
}

// TestUploadLimits checks that uploads count against the user's message
// rate and a byte quota per user and room, and that a refused upload never
// reaches the host.
func TestUploadLimits(t *testing.T) {
	t.Parallel()
	t.Run("message rate", func(t *testing.T) {
		t.Parallel()
		h := newConfigured(t, func(r *chatv1.ConfigureRequest) { r.MaxMessagesPerMinute = 3 })
		room := h.openRoom("alice", "p1", "Files").GetId()
		for i := range 2 {
			h.send("alice", room, fmt.Sprintf("m%d", i), "hi")
		}
		if _, err := h.upload("alice", room, "u1", "a.txt", 10); err != nil {
			t.Fatalf("upload within the rate: %v", err)
		}
		_, err := h.upload("alice", room, "u2", "a.txt", 10)
		wantCode(t, err, codes.ResourceExhausted)
		if !hasDetail[*errdetails.RetryInfo](err) {
			t.Errorf("rate-limited upload %v carries no RetryInfo", err)
		}
		// The retry of a stored upload is still answered.
		if resp, err := h.upload("alice", room, "u1", "a.txt", 10); err != nil || !resp.GetDuplicate() {
			t.Errorf("retry of a stored upload once rate limited = %v, %v; want the duplicate", resp, err)
		}
		if n := h.host.attachedFiles(); n != 1 {
			t.Errorf("host stored %d files, want 1", n)
		}
	})
	t.Run("byte quota", func(t *testing.T) {
		t.Parallel()
		h := newConfigured(t, func(r *chatv1.ConfigureRequest) { r.MaxUploadBytesPerHour = 250_000 })
		h.host.allow("ghost", "p1", view, post)
		room := h.openRoom("alice", "p1", "Files").GetId()
		other := h.openRoom("alice", "p1", "Other").GetId()
		steps := []struct {
			user, room, clientID string
			size                 int64
			want                 codes.Code
			says                 string
		}{
			{"alice", room, "a", 100_000, codes.OK, ""},
			{"alice", room, "b", 100_000, codes.OK, ""},
			{"alice", room, "c", 100_000, codes.ResourceExhausted, "per room per hour"},
			{"alice", room, "d", 50_000, codes.OK, ""},
			{"alice", room, "e", 300_000, codes.ResourceExhausted, "more than"},
			{"alice", other, "a", 100_000, codes.OK, ""},
			{"ghost", room, "a", 100_000, codes.OK, ""},
		}
		for _, st := range steps {
			_, err := h.upload(st.user, st.room, st.clientID, "a.bin", st.size)
			wantCode(t, err, st.want)
			if st.want == codes.OK {
				continue
			}
			if !hasDetail[*errdetails.QuotaFailure](err) || !strings.Contains(err.Error(), st.says) {
				t.Errorf("%s's upload %q = %v; want a QuotaFailure saying %q", st.user, st.clientID, err, st.says)
			}
		}
		if n := h.host.attachedFiles(); n != 5 {
			t.Errorf("host stored %d files, want 5", n)
		}
	})
}

// hasDetail reports whether err's status carries a detail of type D.
func hasDetail[D any](err error) bool {
	for _, d := range status.Convert(err).Details() {
		if _, ok := d.(D); ok {
			return true
		}
	}
	return false
}

// Two uploads with the same client id that both pass the duplicate check
// before either is stored (a retry racing the original) store one
// message, and the second copy of the file is taken off the page again
// instead of staying there with no message (finding #6).
func TestConcurrentRetriedUploadLeavesNoOrphan(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	arrived, hold := make(chan struct{}), make(chan struct{})
	h.host.mu.Lock()
	h.host.removesFiles = true
	h.host.attachArrived, h.host.attachHold = arrived, hold
	h.host.mu.Unlock()
	room := h.openRoom("alice", "p1", "Files").GetId()

	type result struct {
		resp *chatv1.UploadResponse
		err  error
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			resp, err := h.upload("alice", room, "up-1", "notes.txt", 1000)
			results <- result{resp, err}
		}()
	}
	<-arrived
	<-arrived // both have attached their copy before either is stored
	close(hold)
	var dups int
	var kept string
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Fatalf("upload: %v", r.err)
		}
		if r.resp.GetDuplicate() {
			dups++
		} else {
			kept = r.resp.GetFile().GetId()
		}
	}
	if dups != 1 || kept == "" {
		t.Fatalf("%d duplicates, kept file %q; want one stored upload and one duplicate", dups, kept)
	}
	removed := h.host.removedFiles()
	if len(removed) != 1 || strings.HasPrefix(removed[0], "p1/"+kept+" ") {
		t.Errorf("files removed: %q; want the one copy that is not %s", removed, kept)
	}
}
