package roomlink

import (
	"errors"
	"testing"
)

func TestCheckAndExpand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		label, url string
		ok         bool
	}{
		{"Join with XMPP", "xmpp:{room}@chat.example.org?join", true},
		{"Archive", "https://example.org/rooms/{room}", true},
		{"", "xmpp:{room}@x?join", false},
		{"x", "xmpp:chat.example.org", false},
		{"x", "javascript:alert('{room}')", false},
		{"x", "data:text/html,{room}", false},
	} {
		if err := Check(tc.label, tc.url); (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("Check(%q, %q) = %v", tc.label, tc.url, err)
		}
	}
	if got := Expand("xmpp:{room}@chat.example.org?join", "1.ω-room"); got != "xmpp:1.%CF%89-room@chat.example.org?join" {
		t.Errorf("Expand: %s", got)
	}
}
