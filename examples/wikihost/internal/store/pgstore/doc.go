// Package pgstore keeps the example wiki's store.Store in PostgreSQL, so
// that several wiki nodes behind a load balancer share one set of users,
// sessions, pages, permissions and file metadata, and its search uses
// PostgreSQL's full-text search over the same rows.
//
// The schema is versioned and created or migrated by Open under an
// advisory lock, so nodes that start at once do not race; a database whose
// schema is newer than this code refuses to open. Tables are prefixed
// "wiki_" because the chat plugin keeps its own tables in the same
// database. Like store.Bolt it checks no permissions and validates no
// input: package wiki does that.
package pgstore
