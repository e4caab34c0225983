package macro

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// MaxNameBytes bounds a room name. Room ids embed the slug, and ids travel
// in URLs and bbolt keys, so an unbounded name would let one macro bloat
// every key and link of its room.
const MaxNameBytes = 200

// ErrEmptySlug is returned for a room name with no letters or digits in any
// script (such as "!!!" or "—"), which would give every such room the same
// empty id.
var ErrEmptySlug = errors.New("room name must contain at least one letter or digit")

// ErrNameTooLong is returned for a room name longer than MaxNameBytes. Parse
// wraps it with the name's actual length so the author knows how much to cut.
var ErrNameTooLong = fmt.Errorf("room name is longer than %d bytes", MaxNameBytes)

// Slug normalises a room name as the room id contract fixes it
// (docs/architecture.md, "Rooms, ids and slugs"): the name is put in Unicode
// NFKC form and lower-cased, every run of characters that are not letters or
// digits (in any script) is folded to one "-", and no "-" is left at either
// end. "My Room Name" becomes "my-room-name", "Ω Room" "ω-room" and "日本語"
// stays "日本語".
//
// NFKC first, so that spellings a reader cannot tell apart are one room:
// "é" written as e + U+0301 and as U+00E9, fullwidth "ＡＢ" and "AB", the
// Kelvin sign and "K". Lower-casing is strings.ToLower (Unicode's simple,
// locale-free mapping) rather than full case folding: it is what the old
// rule used, so ASCII names keep their ids, and it needs no tables beyond
// the standard library. Its consequences are deliberate and documented:
// "İ" (U+0130) becomes "i" and dotless "ı" stays "ı", whatever the page's
// language; final "ς" and "σ" stay distinct, as do "ß" and "ss". A second
// NFKC pass after lower-casing keeps the result in normal form, which is
// what makes Slug idempotent.
//
// Combining marks (Unicode category M) are kept when they follow a kept
// letter, digit or mark: in scripts such as Devanagari or Thai, vowel signs
// are marks NFKC cannot fold into the letter, and dropping them would merge
// distinct names (the very collapse the old ASCII rule caused). A mark with
// nothing to attach to counts as a separator.
//
// The result is idempotent: Slug(Slug(s)) == Slug(s). It never contains a
// dot, so SplitRoomID can find the page id. NFKC can expand a rune to at most
// 18 and lower-casing at most triples a rune's bytes, so a slug of a name
// within MaxNameBytes stays a few KiB at worst, far below bbolt's 32 KiB key
// limit.
func Slug(name string) string {
	// Bytes that are not UTF-8 become U+FFFD (a separator) first: NFKC
	// leaves the runes right after such a byte unnormalized, and the
	// second pass could then turn one of them upper case (ϒ to Υ).
	valid := strings.ToValidUTF8(name, "\uFFFD")
	folded := norm.NFKC.String(strings.ToLower(norm.NFKC.String(valid)))
	var b strings.Builder
	b.Grow(len(folded))
	pendingDash := false
	attached := false // the last rune written was a letter, digit or mark
	for _, r := range folded {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
		case unicode.Is(unicode.M, r) && attached && !pendingDash:
		default:
			pendingDash = true
			attached = false
			continue
		}
		if pendingDash && b.Len() > 0 {
			b.WriteByte('-')
		}
		pendingDash = false
		attached = true
		b.WriteRune(r)
	}
	return b.String()
}

// LegacySlug is the slug rule before Unicode letters were kept: lower case,
// every run of characters outside ASCII [a-z0-9] folded to one "-". Rooms
// created under it keep their ids; the plugin uses LegacySlug only to find
// such a room again (see LegacyRoomID). New rooms never get a legacy id.
func LegacySlug(name string) string {
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

// LegacyRoomID returns the id the room called name on page pageID had under
// the old ASCII-only slug rule, and whether that id differs from RoomID's.
// It reports false when the ids agree (all-ASCII names, for instance) or
// when the old rule gave an empty slug, which the old code refused, so no
// room can exist under it. The old rule merged names: "Δ Room" and "Ω Room"
// both had "room". A caller must therefore only reuse a legacy room whose
// stored name equals name exactly.
func LegacyRoomID(pageID, name string) (string, bool) {
	legacy := LegacySlug(name)
	if pageID == "" || legacy == "" || legacy == Slug(name) {
		return "", false
	}
	return pageID + "." + legacy, true
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
