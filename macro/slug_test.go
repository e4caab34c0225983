package macro

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestSlug(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"My Room Name", "my-room-name"},
		{"  --Hello__World--  ", "hello-world"},
		{"ABC123", "abc123"},
		{"日本", "日本"},
		{"日本語", "日本語"},
		{"Привет", "привет"},
		{"Ω Room", "ω-room"},
		{"Δ Room", "δ-room"},
		{"", ""},
		{"---", ""},
		{"!!! — ???", ""},
		{"Café Ünïcode", "café-ünïcode"},
		{"Café", "café"},      // combining acute equals precomposed é
		{"ＡＢＣ１２３", "abc123"},   // fullwidth letters and digits (NFKC)
		{"Ｍｙ　Ｒｏｏｍ", "my-room"}, // fullwidth space is a separator
		{"東京 Tokyo Москва", "東京-tokyo-москва"}, // mixed scripts
		{"İstanbul", "istanbul"},               // dotted capital I: plain i, not Turkish
		{"ıstanbul", "ıstanbul"},               // dotless i stays itself
		{"हिन्दी", "हिन्दी"},                   // vowel signs are marks; they stay
		{"́a", "a"},     // a mark with nothing before it is dropped
		{"a ́b", "a-b"}, // and so is one after a separator
		{"x²", "x2"},    // NFKC superscript
		{"a  \t b", "a-b"},
		{"a.b", "a-b"},
		{"a/b?c#d%e", "a-b-c-d-e"},
		{"already-a-slug", "already-a-slug"},
		{"\xffx\xfe", "x"},
		{"00000000\xf6\u03d2", "00000000-υ"}, // ϒ after a bad byte is folded as anywhere else
		{"\u03d2", "υ"},                      // ϒ: NFKC gives Υ, lower-cased
		{"\u212a", "k"},                      // Kelvin sign is K under NFKC
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			if got := Slug(tc.in); got != tc.want {
				t.Errorf("Slug(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestRoomID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pageID, name, want string
		err                error // sentinel, if the failure has one
		fails              bool
	}{
		{pageID: "p", name: "My Room Name", want: "p.my-room-name"},
		{pageID: "a.b", name: "Lobby", want: "a.b.lobby"},
		{pageID: "", name: "Lobby", fails: true},
		{pageID: "p", name: "Ω Room", want: "p.ω-room"},
		{pageID: "p", name: "日本語", want: "p.日本語"},
		{pageID: "p", name: "!!!", err: ErrEmptySlug, fails: true},
		{pageID: "p", name: strings.Repeat("x", MaxNameBytes+1), err: ErrNameTooLong, fails: true},
	}
	for _, tc := range tests {
		t.Run(tc.pageID+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := RoomID(tc.pageID, tc.name)
			if got != tc.want || (err != nil) != tc.fails || (tc.err != nil && !errors.Is(err, tc.err)) {
				t.Errorf("RoomID(%q, %q) = %q, %v; want %q, fails=%v (%v)", tc.pageID, tc.name, got, err, tc.want, tc.fails, tc.err)
			}
		})
	}
}

func TestSplitRoomID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, page, slug string
		fails          bool
	}{
		{id: "p.my-room", page: "p", slug: "my-room"},
		{id: "a.b.lobby", page: "a.b", slug: "lobby"},
		{id: "a..lobby", page: "a.", slug: "lobby"},
		{id: "", fails: true},
		{id: "noslug", fails: true},
		{id: ".lobby", fails: true},
		{id: "p.", fails: true},
		{id: "p.My-Room", fails: true},
		{id: "p.-room", fails: true},
		{id: "p.room-", fails: true},
		{id: "p.a--b", fails: true},
		{id: "p.a_b", fails: true},
		{id: "p.ω-room", page: "p", slug: "ω-room"},
		{id: "p.Ω-room", fails: true},
		{id: "p.cafe\u0301", fails: true}, // not NFKC
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			t.Parallel()
			page, slug, err := SplitRoomID(tc.id)
			if (err != nil) != tc.fails || page != tc.page || slug != tc.slug {
				t.Errorf("SplitRoomID(%q) = %q, %q, %v; want %q, %q, fails=%v", tc.id, page, slug, err, tc.page, tc.slug, tc.fails)
			}
		})
	}
}

func TestRoomIDRoundTrip(t *testing.T) {
	t.Parallel()
	for _, page := range []string{"p", "a.b", "a.b.c", "wiki/Some Page", "日本"} {
		for _, name := range []string{"My Room Name", "Café Ünïcode", "x", "Ω Room", "日本語"} {
			id, err := RoomID(page, name)
			if err != nil {
				t.Fatalf("RoomID(%q, %q): %v", page, name, err)
			}
			gotPage, gotSlug, err := SplitRoomID(id)
			if err != nil || gotPage != page || gotSlug != Slug(name) {
				t.Errorf("SplitRoomID(%q) = %q, %q, %v; want %q, %q", id, gotPage, gotSlug, err, page, Slug(name))
			}
		}
	}
}

func TestLegacyRoomID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pageID, name, want string
		ok                 bool
	}{
		{pageID: "p", name: "My Room Name"}, // same id under both rules
		{pageID: "p", name: "日本語"},          // old rule refused it: no legacy room
		{pageID: "p", name: "Δ Room", want: "p.room", ok: true},
		{pageID: "p", name: "Ω Room", want: "p.room", ok: true},
		{pageID: "p", name: "Café Ünïcode", want: "p.caf-n-code", ok: true},
		{pageID: "", name: "Δ Room"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := LegacyRoomID(tc.pageID, tc.name)
			if got != tc.want || ok != tc.ok {
				t.Errorf("LegacyRoomID(%q, %q) = %q, %v; want %q, %v", tc.pageID, tc.name, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestSlugURLRoundTrip checks that a room id survives the trip through a
// join or transcript link: they escape it with url.PathEscape and host-sdk
// reads it back as one path segment.
func TestSlugURLRoundTrip(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"Ω Room", "日本語", "Привет", "हिन्दी", "My Room"} {
		id, err := RoomID("wiki/Page 1", name)
		if err != nil {
			t.Fatalf("RoomID(%q): %v", name, err)
		}
		esc := url.PathEscape(id)
		if strings.ContainsAny(esc, "/?# ") {
			t.Errorf("PathEscape(%q) = %q is not one clean path segment", id, esc)
		}
		u, err := url.Parse("http://h/chat/rooms/" + esc)
		if err != nil {
			t.Fatalf("parse %q: %v", esc, err)
		}
		if got := strings.TrimPrefix(u.Path, "/chat/rooms/"); got != id {
			t.Errorf("room id %q came back as %q", id, got)
		}
	}
}

// TestSlugSizeBound checks the worst NFKC expansion of a name within
// MaxNameBytes still gives an id far below bbolt's 32 KiB key limit.
func TestSlugSizeBound(t *testing.T) {
	t.Parallel()
	name := strings.Repeat("\ufdfa", MaxNameBytes/len("\ufdfa")) // expands to 18 runes each
	id, err := RoomID("p", name)
	if err != nil {
		t.Fatalf("RoomID: %v", err)
	}
	if len(id) > 8<<10 {
		t.Errorf("room id of a %d-byte name is %d bytes", len(name), len(id))
	}
}
