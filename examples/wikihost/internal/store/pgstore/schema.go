package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// schemaLockKey is the advisory lock that serialises schema changes: two
// nodes starting at once would otherwise both try to create the tables.
// The number is arbitrary but fixed; the chat plugin uses its own.
const schemaLockKey int64 = 0x77696b6973636831 // "wikisch1"

// exclusiveLockKey is the advisory lock of Store.Exclusive.
const exclusiveLockKey int64 = 0x77696b6965786331 // "wikiexc1"

// migrations are the schema, one step per version: migrations[i] brings
// the database from version i to version i+1. Steps are only ever added;
// a released step never changes, because databases already ran it. A step
// only adds (tables, columns with defaults, indexes), so that during a
// rolling upgrade the nodes still on the previous release keep working on
// the migrated schema (docs/cluster.md, "Upgrading a cluster").
var migrations = []string{
	// 1: the first schema.
	`
CREATE TABLE wiki_users (
	id            text PRIMARY KEY,
	display_name  text NOT NULL,
	password_hash bytea NOT NULL,
	admin         boolean NOT NULL,
	created       timestamptz NOT NULL
);
CREATE TABLE wiki_sessions (
	token_hash text PRIMARY KEY,
	user_id    text NOT NULL,
	expires    timestamptz NOT NULL
);
CREATE INDEX wiki_sessions_expires ON wiki_sessions (expires);
CREATE TABLE wiki_pages (
	id          bigserial PRIMARY KEY,
	parent_id   bigint REFERENCES wiki_pages (id),
	child_key   text,
	title       text NOT NULL,
	title_key   text NOT NULL,
	format      text NOT NULL,
	author      text NOT NULL,
	created     timestamptz NOT NULL,
	updated     timestamptz NOT NULL,
	view_users  text[] NOT NULL,
	edit_users  text[] NOT NULL,
	body        text NOT NULL,
	-- The text a reader sees (package wiki's rendering of the body), set
	-- in the same statement as the body so search never lags a write.
	search_text text NOT NULL,
	search      tsvector GENERATED ALWAYS AS (
		setweight(to_tsvector('english'::regconfig, title), 'A') ||
		setweight(to_tsvector('english'::regconfig, search_text), 'B')) STORED
);
-- Titles are not unique; wiki links find the pages with a title here.
CREATE INDEX wiki_pages_title ON wiki_pages (title_key, id) WHERE child_key IS NULL;
CREATE UNIQUE INDEX wiki_pages_child_key ON wiki_pages (parent_id, child_key) WHERE child_key IS NOT NULL;
CREATE INDEX wiki_pages_parent ON wiki_pages (parent_id, id);
CREATE INDEX wiki_pages_search ON wiki_pages USING gin (search);
CREATE TABLE wiki_files (
	id           text PRIMARY KEY,
	page_id      bigint NOT NULL REFERENCES wiki_pages (id),
	user_id      text NOT NULL,
	name         text NOT NULL,
	content_type text NOT NULL,
	size         bigint NOT NULL,
	created      timestamptz NOT NULL
);
CREATE INDEX wiki_files_page ON wiki_files (page_id, created, id);
CREATE TABLE wiki_meta (
	name  text PRIMARY KEY,
	value text NOT NULL
);
`,
	// 2: the chat plugin's notifications of each user (the bell).
	`
CREATE TABLE wiki_notifications (
	id      bigserial PRIMARY KEY,
	user_id text NOT NULL,
	source  text NOT NULL,
	subject text NOT NULL,
	body    text NOT NULL,
	url     text NOT NULL,
	read    boolean NOT NULL DEFAULT false,
	created timestamptz NOT NULL
);
CREATE INDEX wiki_notifications_user ON wiki_notifications (user_id, id);
-- The plugin may deliver a notification again after a crash; one per id.
CREATE UNIQUE INDEX wiki_notifications_source ON wiki_notifications (user_id, source) WHERE source <> '';
`,
}

// SchemaVersion is the schema version this code reads and writes.
var SchemaVersion = len(migrations)

// ErrSchemaTooNew means the database was migrated by a newer wikihost: this
// one would not understand its data, so it refuses to start. Upgrade it.
var ErrSchemaTooNew = errors.New("the database schema is newer than this wikihost; upgrade wikihost on this node")

// migrate brings the schema up to SchemaVersion in one transaction under
// the advisory lock, so a node that starts while another migrates waits
// and then finds the work done.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, schemaLockKey); err != nil {
			return fmt.Errorf("take the schema lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS wiki_schema (version integer NOT NULL)`); err != nil {
			return fmt.Errorf("create the schema version table: %w", err)
		}
		var version int
		err := tx.QueryRow(ctx, `SELECT version FROM wiki_schema`).Scan(&version)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if _, err := tx.Exec(ctx, `INSERT INTO wiki_schema (version) VALUES (0)`); err != nil {
				return fmt.Errorf("record the schema version: %w", err)
			}
		case err != nil:
			return fmt.Errorf("read the schema version: %w", err)
		}
		if version > SchemaVersion {
			return fmt.Errorf("%w: the database has schema version %d, this wikihost knows versions up to %d", ErrSchemaTooNew, version, SchemaVersion)
		}
		for v := version; v < SchemaVersion; v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migrate the schema to version %d: %w", v+1, err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE wiki_schema SET version = $1`, SchemaVersion); err != nil {
			return fmt.Errorf("record the schema version: %w", err)
		}
		return nil
	})
}
