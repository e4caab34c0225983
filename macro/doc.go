// Package macro finds pagechat's chat macros in page source and normalises
// room names: everything a host needs to hand a macro to the plugin.
//
// A page author writes {chat:My Room Name}, {chat:My Room Name|sound=on} or a
// bare "chat:My Room Name" line; the host finds those with Parse (or replaces
// them in one go with Expand) and asks the plugin to render each. The room a
// macro opens is "<pageID>.<slug>", where the slug is the name run through
// Slug: "My Room" and "my room!" are the same room, while a rename that
// changes the slug opens a different (empty) room. CheckParams and
// SoundParam read a macro's parameters the same way on both sides.
//
// The HTML a macro becomes is the plugin's business, not the host's: the
// plugin renders it and the host inserts it as it is. The one thing a host
// needs to know about that HTML is JoinLinkScriptSource, for pages that
// carry a Content-Security-Policy.
//
// A page shows each room once. Parse marks a macro that opens a room an
// earlier macro on the page already opens (the same name, or a name with
// the same slug) with Macro.RepeatOf, and hosts draw RepeatNote there
// instead of asking the plugin for a second, identical table.
//
// Malformed macros are reported, not dropped: Parse returns them with Err
// set so the host can show the author an inline error where the macro was,
// in its own markup. Everything here is a pure function with no I/O, so
// hosts, the plugin and tests can all use it freely.
package macro
