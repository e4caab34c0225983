# shellcheck shell=bash
# Sourced by scripts that need a PostgreSQL server (cluster-demo.sh,
# loadtest.sh). pg_start DIR sets dsn: PAGECHAT_POSTGRES_DSN if set, else a
# private server started from Debian's packages in DIR/pg (unix socket
# only; Debian's postgresql is installed with apt-get first when missing
# and the script runs as root, unless PAGECHAT_NO_INSTALL is set).
# pg_stop stops the private server, if one was started; pg_restart stops
# and starts it again (loadtest.sh PG_RESTART). PG_ARGS adds server
# settings to the private server, e.g. PG_ARGS='-c
# shared_preload_libraries=pg_stat_statements' to count the statements a
# load run makes.

pg_pid=
pg_dir=
pg_bin=
pg_log=
pg_as=()

pg_start() {
	local work=$1 bin
	if [ -n "${PAGECHAT_POSTGRES_DSN:-}" ]; then
		dsn=$PAGECHAT_POSTGRES_DSN
		return 0
	fi
	bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
	if [ -z "$bin" ]; then
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -z "${PAGECHAT_NO_INSTALL:-}" ]; then
			echo "installing Debian's postgresql with apt-get..." >&2
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >"$work/apt.log" 2>&1 ||
				{ apt-get update -q >>"$work/apt.log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >>"$work/apt.log" 2>&1; } ||
				{ tail -20 "$work/apt.log" >&2; echo "apt-get install postgresql failed" >&2; return 1; }
			bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
		else
			echo "no PostgreSQL: set PAGECHAT_POSTGRES_DSN (or -db) to a running server, or install Debian's postgresql package" >&2
			return 1
		fi
	fi
	pg_dir=$work/pg
	mkdir -p "$pg_dir/sock"
	# initdb and postgres refuse to run as root: use the postgres user
	# the Debian package creates.
	local as=()
	if [ "$(id -u)" = 0 ]; then
		chmod 755 "$work"
		chown -R postgres "$pg_dir"
		as=(runuser -u postgres --)
	fi
	"${as[@]}" "$bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$work/initdb.log" 2>&1 ||
		{ cat "$work/initdb.log" >&2; echo "initdb failed" >&2; return 1; }
	pg_bin=$bin pg_log=$work/postgres.log pg_as=("${as[@]}")
	pg_launch || return 1
	"${as[@]}" "$bin/createdb" -h "$pg_dir/sock" -p 5432 -U postgres pagechat
	dsn="postgres://postgres@localhost/pagechat?host=$pg_dir/sock&port=5432"
	echo "private PostgreSQL $(basename "$(dirname "$bin")") in $pg_dir (deleted on exit)" >&2
}

# pg_launch starts the private server on its data directory and waits
# until it accepts connections.
pg_launch() {
	# Durable commits, as in production: fsync stays on.
	"${pg_as[@]}" "$pg_bin/postgres" -D "$pg_dir/data" -k "$pg_dir/sock" -p 5432 -c listen_addresses= \
		-c max_connections=200 ${PG_ARGS:-} >>"$pg_log" 2>&1 &
	pg_pid=$!
	for _ in $(seq 1 300); do
		"$pg_bin/pg_isready" -q -h "$pg_dir/sock" -p 5432 && return 0
		kill -0 "$pg_pid" 2>/dev/null || break
		sleep 0.1
	done
	tail -20 "$pg_log" >&2
	echo "PostgreSQL did not start" >&2
	return 1
}

# pg_restart SECONDS stops the private server (fast shutdown: open
# connections are cut, as in a crash of the clients' view), leaves it down
# for SECONDS and starts it again on the same data. It refuses to touch a
# server it did not start.
pg_restart() {
	if [ -z "$pg_pid" ]; then
		echo "pg_restart: no private PostgreSQL to restart (unset PAGECHAT_POSTGRES_DSN: a shared server is never restarted)" >&2
		return 1
	fi
	pg_stop
	sleep "$1"
	pg_launch
}

pg_stop() {
	[ -n "$pg_pid" ] || return 0
	# Signal the postmaster itself: runuser, its parent when run as root,
	# does not pass SIGINT (fast shutdown) on.
	kill -INT "$(head -1 "$pg_dir/data/postmaster.pid" 2>/dev/null || echo "$pg_pid")" 2>/dev/null || true
	wait "$pg_pid" 2>/dev/null || true
	pg_pid=
}
