package macro

import (
	"errors"
	"strings"
	"testing"
)

func TestSlug(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"My Room Name", "my-room-name"},
		{"  --Hello__World--  ", "hello-world"},
		{"ABC123", "abc123"},
		{"日本", ""},
		{"", ""},
		{"---", ""},
		{"Café Ünïcode", "caf-n-code"},
		{"a  \t b", "a-b"},
		{"a.b", "a-b"},
		{"already-a-slug", "already-a-slug"},
		{"\xffx\xfe", "x"},
		{"\u212a", "k"}, // Kelvin sign lower-cases to ASCII k
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
		for _, name := range []string{"My Room Name", "Café Ünïcode", "x"} {
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
