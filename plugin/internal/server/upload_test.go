package server

import (
	"strings"
	"testing"
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
