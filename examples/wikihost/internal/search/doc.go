// Package search is the example wiki's full-text index: page titles and
// body text in a bleve index on disk.
//
// The index is derived data. bbolt (package store) holds the truth, and the
// index is rebuilt from it whenever it is missing, unreadable, or was not
// closed cleanly (a crash may have lost index updates that the database
// kept). Package search knows nothing about users: the caller passes a
// filter that drops the pages the searcher may not view.
package search
