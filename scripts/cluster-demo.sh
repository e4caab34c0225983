#!/usr/bin/env bash
# Runs the example wiki as a cluster of two nodes on one PostgreSQL
# database, so you can post on one node and watch the message arrive on the
# other: http://127.0.0.1:8081 and http://127.0.0.1:8082 by default, users
# alice, bob and carol with the password pagechat-demo.
#
#   bash scripts/cluster-demo.sh                      # a private PostgreSQL
#   bash scripts/cluster-demo.sh -db postgres://user:pw@host:5432/db
#   PAGECHAT_POSTGRES_DSN=postgres://… bash scripts/cluster-demo.sh
#
# Without -db or PAGECHAT_POSTGRES_DSN it starts a private PostgreSQL from
# Debian's packages in a temporary directory (unix socket only; installed
# with apt-get first when missing and run as root), and deletes it on exit.
# With a database given, attachments are kept in ./cluster-demo-data (the
# directory both nodes share) and the database keeps everything else.
# ADDR_A and ADDR_B change the addresses; further arguments go to both
# wikis, e.g. -transcript-delay 5s. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

dsn=${PAGECHAT_POSTGRES_DSN:-}
if [ "${1:-}" = "-db" ]; then
	[ $# -ge 2 ] || { echo "cluster-demo: -db needs a DSN" >&2; exit 2; }
	dsn=$2
	shift 2
fi
addr_a=${ADDR_A:-127.0.0.1:8081}
addr_b=${ADDR_B:-127.0.0.1:8082}

work=$(mktemp -d /tmp/pccluster.XXXXXX)
pids=()
pg_pid=
cleanup() {
	trap - INT TERM EXIT
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "$pg_pid" ]; then
		# Signal the postmaster itself: runuser, its parent as root,
		# does not pass SIGINT (fast shutdown) on.
		kill -INT "$(head -1 "$work/pg/data/postmaster.pid" 2>/dev/null || echo "$pg_pid")" 2>/dev/null || true
		wait "$pg_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "cluster-demo: stopping"; exit 0' INT TERM

# start_private_postgres starts PostgreSQL in $work/pg and sets dsn.
start_private_postgres() {
	local bin
	bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
	if [ -z "$bin" ]; then
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -z "${PAGECHAT_NO_INSTALL:-}" ]; then
			echo "cluster-demo: installing Debian's postgresql with apt-get..."
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >"$work/apt.log" 2>&1 ||
				{ apt-get update -q >>"$work/apt.log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >>"$work/apt.log" 2>&1; } ||
				{ tail -20 "$work/apt.log" >&2; echo "cluster-demo: apt-get install postgresql failed" >&2; exit 1; }
			bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
		else
			echo "cluster-demo: no PostgreSQL: give -db postgres://… or PAGECHAT_POSTGRES_DSN, or install Debian's postgresql package" >&2
			exit 1
		fi
	fi
	local pgdir=$work/pg
	mkdir -p "$pgdir/sock"
	# initdb and postgres refuse to run as root: use the postgres user
	# the Debian package creates.
	local as=()
	if [ "$(id -u)" = 0 ]; then
		chmod 755 "$work"
		chown -R postgres "$pgdir"
		as=(runuser -u postgres --)
	fi
	"${as[@]}" "$bin/initdb" -D "$pgdir/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$work/initdb.log" 2>&1 ||
		{ cat "$work/initdb.log" >&2; echo "cluster-demo: initdb failed" >&2; exit 1; }
	"${as[@]}" "$bin/postgres" -D "$pgdir/data" -k "$pgdir/sock" -p 5432 -c listen_addresses= \
		-c max_connections=200 -c fsync=off >"$work/postgres.log" 2>&1 &
	pg_pid=$!
	for _ in $(seq 1 100); do
		if "$bin/pg_isready" -q -h "$pgdir/sock" -p 5432; then
			"${as[@]}" "$bin/createdb" -h "$pgdir/sock" -p 5432 -U postgres pagechat
			dsn="postgres://postgres@localhost/pagechat?host=$pgdir/sock&port=5432"
			echo "cluster-demo: private PostgreSQL $(basename "$(dirname "$bin")") in $pgdir (deleted on exit)"
			return 0
		fi
		kill -0 "$pg_pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$work/postgres.log" >&2
	echo "cluster-demo: PostgreSQL did not start" >&2
	exit 1
}

if [ -z "$dsn" ]; then
	start_private_postgres
	data=$work/data
else
	data=./cluster-demo-data
fi

mkdir -p .bin
echo "cluster-demo: building the plugin and the example wiki..."
go build -o .bin/pagechat-plugin ./plugin/cmd/pagechat-plugin
go build -o .bin/wikihost ./examples/wikihost

# Both nodes start at once, as a cluster does; they share the database and
# the data directory (attachments).
for node in a b; do
	addr=$addr_a
	[ "$node" = b ] && addr=$addr_b
	.bin/wikihost -addr "$addr" -data "$data" -db "$dsn" -plugin .bin/pagechat-plugin "$@" >"$work/node-$node.log" 2>&1 &
	pids+=($!)
done

urls=()
for node in a b; do
	url=
	for _ in $(seq 1 600); do
		url=$(sed -n 's/.*listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$work/node-$node.log" | tail -1)
		[ -n "$url" ] && break
		if ! kill -0 "${pids[0]}" 2>/dev/null || ! kill -0 "${pids[1]}" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	if [ -z "$url" ]; then
		tail -20 "$work/node-$node.log" >&2
		echo "cluster-demo: node $node did not start" >&2
		exit 1
	fi
	urls+=("$url")
done

password=$(sed -n 's/.*demo users: .*password=\([^ ]*\).*/\1/p' "$work/node-a.log" "$work/node-b.log" | head -1)
cat <<EOF

  pagechat cluster: two wiki nodes, one PostgreSQL database

    node A: ${urls[0]}
    node B: ${urls[1]}

  Log in as alice (admin), bob or carol, password ${password:-pagechat-demo}.
  Open "Welcome to pagechat" on node A in one browser and on node B in
  another (or a private window), click Join Chat on both, and post: each
  message appears on the other node at once.

  Logs: $work/node-a.log, $work/node-b.log. Ctrl-C stops everything.

EOF

# Runs until Ctrl-C, or until a node stops by itself.
set +e
wait -n "${pids[@]}"
status=$?
set -e
echo "cluster-demo: a node stopped (status $status); see its log:" >&2
for node in a b; do
	echo "--- node $node" >&2
	tail -5 "$work/node-$node.log" >&2
done
exit 1
