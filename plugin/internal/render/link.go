package render

import (
	"context"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Link is what a LinkResolver knows about one wiki page title.
//
// Exists distinguishes links to real pages from "red links" so readers can
// see at a glance that a page has not been written yet. URL may be set for a
// missing page too (for example the page-creation URL); it is then rendered
// as a link styled as missing. URLs that are not relative ("/...") or
// absolute http/https URLs are discarded and the link renders as missing.
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
type LinkResolver interface {
	ResolveLink(ctx context.Context, fromPageID, title string) (Link, error)
}

// LinkResolverFunc adapts an ordinary function to LinkResolver, so callers
// (and tests) need not declare a type for a one-off resolver.
type LinkResolverFunc func(ctx context.Context, fromPageID, title string) (Link, error)

// ResolveLink calls f(ctx, fromPageID, title).
func (f LinkResolverFunc) ResolveLink(ctx context.Context, fromPageID, title string) (Link, error) {
	return f(ctx, fromPageID, title)
}

// forbiddenURLRunes are characters that never occur in a well-formed URL and
// that either break out of an attribute ('"', '<', '>') or are treated as a
// slash by browsers ('\\', which turns "/\evil.example" into a
// protocol-relative URL).
const forbiddenURLRunes = "\"<>\\`"

// hasUnsafeURLRune reports whether s contains invalid UTF-8, control
// characters, whitespace or forbiddenURLRunes. Browsers strip or ignore some
// of these when parsing href (so "java\tscript:" runs as javascript:), which
// makes prefix checks unreliable unless they are rejected outright.
func hasUnsafeURLRune(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || strings.ContainsRune(forbiddenURLRunes, r) {
			return true
		}
	}
	return false
}

// safeLinkURL reports whether a resolver-supplied URL may be used as href:
// a site-relative path ("/wiki/x", but not "//host" or "/\host", which
// browsers treat as protocol-relative) or an absolute http/https URL.
// Everything else (javascript:, data:, vbscript:, page-relative paths, ...)
// is refused: the resolver is trusted for lookups, not for markup.
func safeLinkURL(s string) bool {
	if s == "" || hasUnsafeURLRune(s) {
		return false
	}
	if s[0] == '/' {
		if len(s) > 1 && s[1] == '/' {
			return false
		}
		u, err := url.Parse(s)
		return err == nil && u.Scheme == "" && u.Host == ""
	}
	return safeHTTPURL(s)
}

// safeHTTPURL reports whether s is an absolute http or https URL with a
// host. The scheme comparison is case-insensitive, as in browsers.
func safeHTTPURL(s string) bool {
	if s == "" || hasUnsafeURLRune(s) {
		return false
	}
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	return (scheme == "http" || scheme == "https") && u.Hostname() != ""
}
