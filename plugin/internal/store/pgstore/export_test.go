package pgstore

// Migrations lets tests build a database at an older schema version.
var Migrations = migrations

// The batch's lookups, whose plans a test checks.
const (
	ClientLookupSQL = clientLookupSQL
	TargetLookupSQL = targetLookupSQL
)
