// Package transcript writes each chat room's daily transcript pages back
// into the host: one child page of the room's page per day with messages,
// titled "<Room Name> chat transcript YYYY-MM-DD", in the spirit of XMPP
// room logs (an ordered list of messages with linkable times, sender names
// and the rendered message), linked to the previous and next transcript
// day, to the chat room and to the page.
//
// What it owns:
//
//   - deciding when a room day's page is due: a debounce of Config.Delay
//     after the day's latest activity, capped at MaxPostponeFactor delays
//     after the first unwritten change, and one final write after the day
//     ends in the configured time zone;
//   - rendering a day's page with html/template, everything escaped except
//     the message HTML the render package produced at send time;
//   - writing it through the host (PageWriter) under a stable key, and
//     retrying with exponential backoff while the host refuses;
//   - splitting a day too long for one page into linked parts, each under
//     its own stable key, without moving a message between parts.
//
// What it does not own: which days need a write is durable state kept by
// package store, in the same transaction as the messages, so pending writes
// survive restarts and no message can slip between "stored" and "its day is
// marked". This package reads that state, writes pages, and reports each
// outcome back to the store. It never checks permissions: a transcript is a
// child of the room's page, so the host applies the page's permissions.
//
// The Writer is driven by one goroutine (Run) that its owner, the plugin
// runtime, starts after the store opens and stops before the store closes.
package transcript
