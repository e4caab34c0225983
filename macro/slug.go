package macro

import (
	"errors"
	"fmt"
	"strings"
)

// MaxNameBytes bounds a room name. Room ids embed the slug, and ids travel
// in URLs and bbolt keys, so an unbounded name would let one macro bloat
// every key and link of its room.
const MaxNameBytes = 200

// ErrEmptySlug is returned for a room name with no ASCII letters or digits
// (including names written wholly in other scripts, such as "日本"), which
// would give every such room the same empty id.
var ErrEmptySlug = errors.New("room name must contain at least one letter or digit (a-z, 0-9)")

// ErrNameTooLong is returned for a room name longer than MaxNameBytes. Parse
// wraps it with the name's actual length so the author knows how much to cut.
var ErrNameTooLong = fmt.Errorf("room name is longer than %d bytes", MaxNameBytes)

// Slug normalises a room name as the room id contract fixes it
// (docs/architecture.md, "Rooms, ids and slugs"): lower case, every run of
// characters outside [a-z0-9] folded to one "-", and no "-" at either end.
// "My Room Name" becomes "my-room-name". Non-ASCII letters count as
// separators so that slugs stay plain ASCII in URLs and keys; the
// lower-casing is Unicode's, though, so the few non-ASCII capitals whose
// lower case is ASCII (U+0130 "İ", U+212A Kelvin sign) become "i" and "k".
// The result is idempotent: Slug(Slug(s)) == Slug(s).
func Slug(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	pendingDash := false
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if pendingDash && b.Len() > 0 {
				b.WriteByte('-')
			}
			pendingDash = false
			b.WriteRune(r)
			continue
		}
		pendingDash = true
	}
	return b.String()
}

// RoomID returns the id of the room called name on page pageID:
// "<pageID>.<slug>". It fails for an empty page id, a name longer than
// MaxNameBytes, or a name whose slug is empty.
func RoomID(pageID, name string) (string, error) {
	if pageID == "" {
		return "", errors.New("page id must not be empty")
	}
	if len(name) > MaxNameBytes {
		return "", ErrNameTooLong
	}
	slug := Slug(name)
	if slug == "" {
		return "", ErrEmptySlug
	}
	return pageID + "." + slug, nil
}

// SplitRoomID splits a room id into its page id and slug. The slug never
// contains a dot, so the last dot separates them even when the page id has
// dots of its own.
func SplitRoomID(roomID string) (pageID, slug string, err error) {
	i := strings.LastIndexByte(roomID, '.')
	if i <= 0 || i == len(roomID)-1 {
		return "", "", fmt.Errorf("malformed room id %q: want <page id>.<slug>", roomID)
	}
	pageID, slug = roomID[:i], roomID[i+1:]
	if Slug(slug) != slug {
		return "", "", fmt.Errorf("malformed room id %q: slug %q is not normalised", roomID, slug)
	}
	return pageID, slug, nil
}
