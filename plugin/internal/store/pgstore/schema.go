package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pagechat/pagechat/plugin/internal/store"
)

// CurrentSchema is the schema version this store writes. Each migration
// below takes the database from the version before it to its own; a
// database at a higher version was written by a newer pagechat and is
// refused (store.ErrNewerSchema).
const CurrentSchema = 2

// schemaName is the PostgreSQL schema that holds every table, so the chat
// can share a database with its host (the wiki's own tables) without name
// clashes.
const schemaName = "pagechat"

// migrationLock is the advisory lock key (an arbitrary constant: "pgchat"
// in ASCII) that serialises schema changes when several nodes start at
// once. It is a transaction lock, so a node that dies mid-migration
// releases it with its rolled-back transaction.
const migrationLock = 0x706763686174

// migrations[i] takes the schema from version i to i+1.
var migrations = []string{
	`
CREATE TABLE pagechat.rooms (
	id            text PRIMARY KEY,
	page_id       text NOT NULL,
	name          text NOT NULL,
	slug          text NOT NULL,
	epoch         text NOT NULL,
	created_at    timestamptz NOT NULL,
	last_seq      bigint NOT NULL DEFAULT 0,
	last_activity timestamptz
);
CREATE INDEX rooms_page ON pagechat.rooms (page_id);

-- One row per message and edit or delete event. Erasing a text is an
-- UPDATE that empties it: there is no history table, and no trigger keeps
-- old versions.
CREATE TABLE pagechat.messages (
	room_id   text NOT NULL,
	seq       bigint NOT NULL,
	client_id text NOT NULL,
	user_id   text NOT NULL,
	user_name text NOT NULL,
	text      text NOT NULL,
	html      text NOT NULL,
	file      jsonb,
	sent_at   timestamptz NOT NULL,
	kind      smallint NOT NULL,
	target    bigint NOT NULL,
	edit_seq  bigint NOT NULL,
	edited_at timestamptz,
	erased    boolean NOT NULL,
	PRIMARY KEY (room_id, seq)
);
-- Client ids are unique per sender in a room; an empty one opts out.
CREATE UNIQUE INDEX messages_client_id ON pagechat.messages (room_id, user_id, client_id) WHERE client_id <> '';

CREATE TABLE pagechat.participants (
	room_id      text NOT NULL,
	user_id      text NOT NULL,
	display_name text NOT NULL,
	last_seen    timestamptz NOT NULL,
	rank         bigserial,
	PRIMARY KEY (room_id, user_id)
);

CREATE TABLE pagechat.files (
	room_id      text NOT NULL,
	seq          bigint NOT NULL,
	id           text NOT NULL,
	name         text NOT NULL,
	url          text NOT NULL,
	content_type text NOT NULL,
	size         bigint NOT NULL,
	user_id      text NOT NULL,
	uploaded_at  timestamptz NOT NULL,
	PRIMARY KEY (room_id, seq)
);

CREATE TABLE pagechat.read_markers (
	room_id text NOT NULL,
	user_id text NOT NULL,
	seq     bigint NOT NULL,
	PRIMARY KEY (room_id, user_id)
);

CREATE TABLE pagechat.bans (
	room_id    text NOT NULL,
	user_id    text NOT NULL,
	reason     text NOT NULL,
	banned_by  text NOT NULL,
	banned_at  timestamptz NOT NULL,
	expires_at timestamptz,
	PRIMARY KEY (room_id, user_id)
);

CREATE TABLE pagechat.transcript_days (
	room_id   text NOT NULL,
	day       text NOT NULL,
	first_seq bigint NOT NULL,
	last_seq  bigint NOT NULL,
	PRIMARY KEY (room_id, day)
);

CREATE SEQUENCE pagechat.transcript_version;
CREATE TABLE pagechat.transcript_pending (
	room_id       text NOT NULL,
	day           text NOT NULL,
	dirty_since   timestamptz,
	last_activity timestamptz,
	first_seq     bigint NOT NULL,
	last_seq      bigint NOT NULL,
	version       bigint NOT NULL,
	attempts      integer NOT NULL DEFAULT 0,
	next_try      timestamptz,
	finalize_at   timestamptz,
	PRIMARY KEY (room_id, day)
);

CREATE TABLE pagechat.transcripts (
	room_id text NOT NULL,
	date    text NOT NULL,
	title   text NOT NULL,
	url     text NOT NULL,
	PRIMARY KEY (room_id, date)
);

-- Which node writes a room's transcript pages, until when.
CREATE TABLE pagechat.transcript_leases (
	room_id    text PRIMARY KEY,
	holder     text NOT NULL,
	expires_at timestamptz NOT NULL
);

-- Who is online where: one row per node, user and room, kept alive by the
-- node's heartbeat; a row past expires_at is a node that died.
CREATE TABLE pagechat.presence (
	room_id      text NOT NULL,
	user_id      text NOT NULL,
	node         text NOT NULL,
	display_name text NOT NULL,
	streams      integer NOT NULL,
	since        timestamptz NOT NULL,
	expires_at   timestamptz NOT NULL,
	PRIMARY KEY (room_id, user_id, node)
);

-- Shared token buckets: the message rate and upload quota across nodes.
CREATE TABLE pagechat.buckets (
	key     text PRIMARY KEY,
	level   double precision NOT NULL,
	updated timestamptz NOT NULL
);
`,
	// 1 -> 2: moderation (room topics; reasons, subjects, ban ends and who
	// deleted what on messages) and notifications (mentions, watches,
	// judged sequences, digests, the alert outbox). Existing rooms count as
	// judged up to their last message, so an upgrade does not turn a room's
	// history into alerts (the bbolt store's baselineNotify).
	`
ALTER TABLE pagechat.rooms
	ADD COLUMN topic    text NOT NULL DEFAULT '',
	ADD COLUMN topic_by text NOT NULL DEFAULT '',
	ADD COLUMN topic_at timestamptz;

ALTER TABLE pagechat.messages
	ADD COLUMN reason        text NOT NULL DEFAULT '',
	ADD COLUMN subject       text NOT NULL DEFAULT '',
	ADD COLUMN until         timestamptz,
	ADD COLUMN delete_seq    bigint NOT NULL DEFAULT 0,
	ADD COLUMN deleted_by    text NOT NULL DEFAULT '',
	ADD COLUMN mentions      text[] NOT NULL DEFAULT '{}',
	ADD COLUMN mentions_room boolean NOT NULL DEFAULT false;

CREATE TABLE pagechat.watches (
	room_id text NOT NULL,
	user_id text NOT NULL,
	state   smallint NOT NULL,
	PRIMARY KEY (room_id, user_id)
);

-- How far each room's messages have been judged for alerts; a room
-- without a row has judged nothing yet.
CREATE TABLE pagechat.judged (
	room_id text PRIMARY KEY,
	seq     bigint NOT NULL
);

CREATE TABLE pagechat.digests (
	room_id    text NOT NULL,
	user_id    text NOT NULL,
	first_seq  bigint NOT NULL,
	last_seq   bigint NOT NULL,
	count      integer NOT NULL,
	senders    text[] NOT NULL,
	last_alert timestamptz,
	PRIMARY KEY (room_id, user_id)
);

CREATE TABLE pagechat.outbox (
	id       text PRIMARY KEY,
	room_id  text NOT NULL,
	user_id  text NOT NULL,
	kind     text NOT NULL,
	seq      bigint NOT NULL,
	subject  text NOT NULL,
	body     text NOT NULL,
	url      text NOT NULL,
	created  timestamptz NOT NULL,
	tries    integer NOT NULL DEFAULT 0,
	next_try timestamptz
);
CREATE INDEX outbox_order ON pagechat.outbox (created, id);

INSERT INTO pagechat.judged (room_id, seq) SELECT id, last_seq FROM pagechat.rooms WHERE last_seq > 0;
`,
}

// migrate brings the schema to CurrentSchema in one transaction under the
// migration lock, so that nodes starting together neither race on CREATE
// nor see a half-made schema. A newer version is refused and left alone.
func migrate(ctx context.Context, conn *pgx.Conn) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+schemaName+`;
		CREATE TABLE IF NOT EXISTS `+schemaName+`.schema_version (version integer NOT NULL)`); err != nil {
		return fmt.Errorf("create the schema: %w", err)
	}
	var version int
	err = tx.QueryRow(ctx, `SELECT version FROM `+schemaName+`.schema_version`).Scan(&version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := tx.Exec(ctx, `INSERT INTO `+schemaName+`.schema_version VALUES (0)`); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("read the schema version: %w", err)
	}
	if version > CurrentSchema {
		return fmt.Errorf("schema version %d, this plugin knows up to %d; upgrade the plugin on this node (the database is left as it is): %w",
			version, CurrentSchema, store.ErrNewerSchema)
	}
	for v := version; v < CurrentSchema; v++ {
		if _, err := tx.Exec(ctx, migrations[v]); err != nil {
			return fmt.Errorf("migrate the schema from version %d to %d: %w", v, v+1, err)
		}
	}
	if version < CurrentSchema {
		if _, err := tx.Exec(ctx, `UPDATE `+schemaName+`.schema_version SET version = $1`, CurrentSchema); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}
