// Package render turns the raw text of one chat message into safe HTML.
//
// Messages are stored as the text the user typed, together with the HTML
// this package made of it when it was sent. The live chat view and the
// daily transcript pages written back into the wiki both show that HTML,
// so rendering must be deterministic: the same text and the same
// link-resolver answers always give byte-identical output, and a
// transcript never disagrees with what people saw in chat.
//
// What it owns:
//
//   - formatting: the Markdown chat users type (emphasis, strikethrough,
//     code spans and blocks, quotes, lists, links, reference links,
//     autolinks; images become links), parsed by goldmark with a chosen
//     set of parsers and written by this package's own HTML writer, and a
//     newline is a line break (docs/formatting.md lists the syntax);
//   - escaping: every character of the message is HTML-escaped; the only
//     markup in the output is a small allow-list of elements and
//     attributes this package writes itself. No user-supplied markup ever
//     passes through: goldmark's HTML parsers are not even installed;
//   - wiki links, [Page Title] and [label|Page Title], resolved through a
//     LinkResolver supplied by the caller, and bare http(s):// and www.
//     URLs, linked with rel="nofollow noopener";
//   - the choice between formatted messages and pastes (the whole message
//     in <pre class="paste">, no formatting, no links), and the bounds
//     that keep rendering linear and its output small.
//
// What it must not do: it does not store, fetch or cache anything, check
// permissions, or know how wiki URLs are built. Every URL it writes, typed
// or returned by the resolver, is checked with safeurl.Href (a site path
// "/..." or an absolute http/https URL), so neither a message nor a buggy
// or compromised resolver can inject javascript: links. It supports no
// HTML, headings or images beyond the rules above: every extra construct is
// more attack surface, and transcripts must stay stable across versions.
package render
