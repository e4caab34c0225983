// Package roomlink checks and expands the extra room links a host offers
// beside Join Chat (an xmpp: URI for its XMPP bridge, say). host-sdk checks
// them when the host sets the option, and the plugin again when it renders
// them, with the same rules.
package roomlink

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Placeholder is where the room id goes in a link template.
const Placeholder = "{room}"

// Limits on the links.
const (
	MaxLinks      = 4
	MaxLabelRunes = 100
	MaxURLBytes   = 1000
)

// schemes are the link schemes allowed: the web and XMPP, nothing that
// runs code.
var schemes = map[string]bool{"http": true, "https": true, "xmpp": true}

// ErrInvalid marks a link that breaks the rules.
var ErrInvalid = errors.New("invalid room link")

// Check validates one link template.
func Check(label, tmpl string) error {
	if label == "" || utf8.RuneCountInString(label) > MaxLabelRunes || !utf8.ValidString(label) {
		return fmt.Errorf("%w: label must be 1 to %d characters", ErrInvalid, MaxLabelRunes)
	}
	if len(tmpl) > MaxURLBytes || !strings.Contains(tmpl, Placeholder) {
		return fmt.Errorf("%w: url %q must contain %s and be at most %d bytes", ErrInvalid, tmpl, Placeholder, MaxURLBytes)
	}
	u, err := url.Parse(strings.ReplaceAll(tmpl, Placeholder, "x"))
	if err != nil {
		return fmt.Errorf("%w: url %q: %v", ErrInvalid, tmpl, err)
	}
	if !schemes[strings.ToLower(u.Scheme)] {
		return fmt.Errorf("%w: url %q: scheme must be http, https or xmpp", ErrInvalid, tmpl)
	}
	return nil
}

// Expand puts the percent-encoded room id into a checked template.
func Expand(tmpl, roomID string) string {
	return strings.ReplaceAll(tmpl, Placeholder, url.PathEscape(roomID))
}
