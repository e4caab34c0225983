// Package markup renders the example wiki's page markup to HTML.
//
// The markup is small on purpose: paragraphs separated by blank lines,
// "= Heading =" (up to three levels), "* " bullet lists, wiki links
// "[Page Title]" and "[label|Page Title]" (or "[label|https://…]"), bare
// http(s) URLs, and pagechat's chat macros "{chat:Room Name}".
//
// Safety comes from construction, not from cleaning: every character of the
// source reaches the output through html/template's escaper, and the only
// tags in the output are the few this package writes itself, with href
// values it builds (a page URL from the Link callback or a checked http(s)
// URL). The one exception is the chat macro, whose HTML comes from the
// Macro callback and is inserted as is: it is the pagechat plugin's own
// rendering, which escapes what it shows.
//
// The package does no I/O: resolving titles and rendering macros is the
// caller's, through Options.
package markup
