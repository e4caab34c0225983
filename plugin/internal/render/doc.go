// Package render turns the raw text of one chat message into safe HTML.
//
// Messages are stored as the text the user typed; rendering happens on the
// way out. The live chat view and the daily transcript pages written back
// into the wiki both call this package, so it must be deterministic: the
// same text and the same link-resolver answers always give byte-identical
// output, and a transcript never disagrees with what people saw in chat.
//
// What it owns:
//
//   - escaping: every character of the message is HTML-escaped; the only
//     markup in the output is a small allow-list of elements and attributes
//     that this package writes itself (a, span, br, pre with href, class,
//     rel, target, title). No user-supplied markup ever passes through.
//   - wiki links, [Page Title] and [label|Page Title], resolved through a
//     LinkResolver supplied by the caller;
//   - bare http(s):// and www. URLs, linked with rel="nofollow noopener";
//   - the choice between short messages (newlines become <br>) and pastes
//     (the whole message in <pre class="paste">, no link processing).
//
// What it must not do: it does not store, fetch or cache anything, check
// permissions, or know how wiki URLs are built — the resolver owns page
// lookup and URL construction, and this package only validates the URLs it
// gets back (relative "/..." or absolute http/https) so that a buggy or
// compromised resolver cannot inject javascript: links. It does not
// implement Markdown or any other formatting beyond the rules above: every
// extra construct is more attack surface, and transcripts must stay stable
// across versions.
package render
