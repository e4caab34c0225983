// Package store keeps the example wiki's data: users, login sessions,
// pages with their permission lists, and the metadata of attached files.
// Store is the interface package wiki uses; Bolt keeps it in one bbolt
// file (the single-node default) and package pgstore in PostgreSQL (a
// cluster of wiki nodes sharing one database).
//
// Bolt owns the on-disk layout and the indexes that keep lookups cheap
// (page by title, children of a page, child by key, files of a page) and
// updates them in the same transaction as the records they index, so they
// never disagree. No implementation checks permissions, hashes passwords,
// validates user input or touches attachment contents: package wiki does
// that and is their only caller.
package store
