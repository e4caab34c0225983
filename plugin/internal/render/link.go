package render

import "context"

// Link is what a LinkResolver knows about one wiki page title.
//
// Exists distinguishes links to real pages from "red links" so readers can
// see at a glance that a page has not been written yet. URL may be set for a
// missing page too (for example the page-creation URL); it is then rendered
// as a link styled as missing. A URL that safeurl.Href refuses (anything
// but a site path "/..." or an absolute http/https URL) is discarded and
// the link renders as missing.
type Link struct {
	URL    string
	Exists bool
}

// LinkResolver maps a wiki page title, as written in a message on page
// fromPageID, to a Link.
//
// fromPageID is passed because titles may resolve relative to the page the
// chat lives on (same space, sub-pages). Implementations should honour ctx;
// an error other than a context error makes the link render as missing
// rather than failing the whole message, because one broken lookup should
// not hide a message.
//
// A resolver answers for one reader: it must report a page that reader may
// not view as missing. The rendered HTML is shown to everyone who can read
// the message, so the chat service binds the resolver to the sender.
type LinkResolver interface {
	ResolveLink(ctx context.Context, fromPageID, title string) (Link, error)
}

// BatchLinkResolver is a LinkResolver that can also answer all of a
// message's titles at once. Render uses it when the resolver has it, so a
// message with many links costs one round trip to the host, not one per
// link. The answers come in the order of titles.
type BatchLinkResolver interface {
	LinkResolver
	ResolveLinks(ctx context.Context, fromPageID string, titles []string) ([]Link, error)
}

// LinkResolverFunc adapts an ordinary function to LinkResolver, so callers
// (and tests) need not declare a type for a one-off resolver.
type LinkResolverFunc func(ctx context.Context, fromPageID, title string) (Link, error)

// ResolveLink calls f(ctx, fromPageID, title).
func (f LinkResolverFunc) ResolveLink(ctx context.Context, fromPageID, title string) (Link, error) {
	return f(ctx, fromPageID, title)
}
