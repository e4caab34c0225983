// Package macro finds pagechat's chat macros in page source and normalises
// room names.
//
// A page author writes {chat:My Room Name}, {chat:My Room Name|sound=on} or a
// bare "chat:My Room Name" line; the host finds those with Parse (or replaces
// them in one go with Expand) and asks the plugin to render each. The room a
// macro opens is "<pageID>.<slug>", where the slug is the name run through
// Slug: "My Room" and "my room!" are the same room, while a rename that
// changes the slug opens a different (empty) room.
//
// Malformed macros are reported, not dropped: Parse returns them with Err
// set so the host can show the author an inline error where the macro was.
// Everything here is a pure function with no I/O, so hosts, the plugin and
// tests can all use it freely.
package macro
