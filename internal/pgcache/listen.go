package pgcache

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Listener says what Listen does with its connection.
type Listener struct {
	// Config is the connection's configuration; Name, if set, becomes
	// its application_name, so admins (and tests) can tell it from a
	// pool's connections in pg_stat_activity.
	Config *pgx.ConnConfig
	Name   string
	// Channels are LISTENed to in one statement.
	Channels []string
	// Up is called once every channel is listened to, Down when the
	// connection is lost after that; Note with every notification in
	// between. All three run on Listen's goroutine.
	Up, Down func()
	Note     func(*pgconn.Notification)
	// MaxBackoff caps the wait between reconnects, which starts at
	// 100 ms and doubles.
	MaxBackoff time.Duration
}

// Listen keeps a LISTEN connection open until ctx ends, reconnecting with
// backoff.
func Listen(ctx context.Context, l Listener) {
	stmt := ""
	for _, ch := range l.Channels {
		stmt += "LISTEN " + pgx.Identifier{ch}.Sanitize() + ";"
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		cfg := l.Config.Copy()
		if l.Name != "" {
			cfg.RuntimeParams["application_name"] = l.Name
		}
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			if _, err = conn.Exec(ctx, stmt); err == nil {
				backoff = 100 * time.Millisecond
				l.Up()
				for {
					n, werr := conn.WaitForNotification(ctx)
					if werr != nil {
						break
					}
					l.Note(n)
				}
				l.Down()
			}
			closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = conn.Close(closeCtx)
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, l.MaxBackoff)
	}
}
