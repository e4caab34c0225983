package server

import (
	"strings"
	"testing"

	"github.com/pagechat/pagechat/plugin/internal/store"
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
		html := fileMessageHTML(&store.File{Name: "plan.pdf", URL: tt.url, Size: 2048})
		linked := strings.Contains(html, `<a class="file" href="`+tt.url+`" download>plan.pdf</a>`)
		if linked != tt.link || (!tt.link && strings.Contains(html, "<a ")) {
			t.Errorf("file URL %q: announcement %s, want linked=%v", tt.url, html, tt.link)
		}
		if !strings.Contains(html, "(2.0 KiB)") {
			t.Errorf("file URL %q: announcement %s lacks the size", tt.url, html)
		}
	}
}
