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

# shellcheck source=scripts/pg.sh
. scripts/pg.sh
work=$(mktemp -d /tmp/pccluster.XXXXXX)
pids=()
cleanup() {
	trap - INT TERM EXIT
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	pg_stop
	rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "cluster-demo: stopping"; exit 0' INT TERM

if [ -z "$dsn" ]; then
	pg_start "$work"
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
