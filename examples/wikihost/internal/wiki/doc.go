// Package wiki is the example wiki's application layer: accounts and login
// sessions, pages with permission lists, attached files, search, and the
// hostsdk.Host that the pagechat plugin calls back into.
//
// It validates input, enforces permissions and keeps the search index in
// step with the database; package store holds the data and package search
// the index. It knows nothing about HTTP (package web) and renders no
// markup (package markup).
//
// The permission model is small: a page's view list and edit list name the
// users allowed to view and edit it, an empty list meaning every user. To
// view a page one must also be allowed to view its parent, and so on up, so
// that the transcripts the chat plugin writes under a restricted page are
// restricted too. Editing needs view permission and a place on the page's
// own edit list. Admins may change any page's lists and moderate chat, but
// are not exempt from view lists.
//
// Nothing answers a page a user may not view differently from a page that
// does not exist: such a page is ErrNoSuchPage wherever an id names it,
// and titles are not unique, so a title is never refused and a wiki link
// resolves to a page with that title the reader may view (PageByTitle) or
// to nothing, as for a title no page has.
package wiki
