// Package store keeps the example wiki's data in one bbolt file: users,
// login sessions, pages with their permission lists, and the metadata of
// attached files.
//
// It owns the on-disk layout and the indexes that keep lookups cheap (page
// by title, children of a page, child by key, files of a page) and updates
// them in the same transaction as the records they index, so they never
// disagree. It does not check permissions, hash passwords, validate user
// input or touch attachment contents: package wiki does that and is its only
// caller.
package store
