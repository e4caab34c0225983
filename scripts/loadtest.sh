#!/usr/bin/env bash
# Runs examples/loadgen against a fresh example wiki on this machine and
# prints loadgen's JSON line. With KILLS=N the plugin process is killed
# with SIGKILL N times during the run, evenly spread, to show that
# host-sdk restarts it and nothing acknowledged is lost or repeated.
#
#   bash scripts/loadtest.sh -rooms 100 -subs 20 -rate 2000 -duration 20s
#   KILLS=2 bash scripts/loadtest.sh -rooms 100 -subs 20 -rate 2000 -duration 20s
#
# With RESTARTS=N the wiki itself is stopped (SIGTERM) and started again on
# the same address N times; browsers and loadgen reconnect by themselves.
#
# Arguments go to loadgen. Everything runs on loopback and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d /tmp/pcload.XXXXXX)
wiki_pid=
cleanup() {
	if [ -n "$wiki_pid" ]; then
		kill -TERM "$wiki_pid" 2>/dev/null || true
		wait "$wiki_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/pagechat-plugin" ./plugin/cmd/pagechat-plugin
go build -o "$work/wikihost" ./examples/wikihost
go build -o "$work/loadgen" ./examples/loadgen

# Each SSE subscriber is one connection on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# start_wiki ADDR starts the wiki and sets url once it listens.
start_wiki() {
	# The load tool is one client address that opens thousands of streams,
	# creates every room's page as one user and logs all its users in at
	# once: the wiki's per-address connection cap and page rate limit are
	# for real clients, so they are off here.
	"$work/wikihost" -addr "$1" -data "$work/data" -plugin "$work/pagechat-plugin" \
		-max-conns-per-ip -1 -pages-per-minute -1 >>"$work/wiki.log" 2>&1 &
	wiki_pid=$!
	url=
	for _ in $(seq 1 300); do
		url=$(sed -n 's/.*listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$work/wiki.log" | tail -1)
		[ -n "$url" ] && return 0
		sleep 0.1
	done
	tail -20 "$work/wiki.log" >&2
	echo "loadtest: wikihost did not start" >&2
	exit 1
}
start_wiki 127.0.0.1:0

"$work/loadgen" -url "$url" "$@" >"$work/result.json" 2>"$work/loadgen.log" &
lg_pid=$!

# wait_for_load returns once loadgen has had a message acknowledged (or
# has exited), so that kills and restarts land in the send phase.
wait_for_load() {
	until grep -q 'acked=[1-9]' "$work/loadgen.log" 2>/dev/null; do
		kill -0 "$lg_pid" 2>/dev/null || break
		sleep 0.2
	done
}

kills=${KILLS:-0}
if [ "$kills" -gt 0 ]; then
	# Kill only once the load is flowing, then spread the kills over the
	# send phase.
	wait_for_load
	for k in $(seq 1 "$kills"); do
		sleep "${KILL_EVERY:-5}"
		plugin_pid=$(pgrep -P "$wiki_pid" -f pagechat-plugin | head -1 || true)
		if [ -n "$plugin_pid" ]; then
			echo "loadtest: kill -9 plugin pid $plugin_pid ($k of $kills)" >&2
			kill -9 "$plugin_pid"
		fi
	done
fi
restarts=${RESTARTS:-0}
if [ "$restarts" -gt 0 ]; then
	addr=${url#http://}
	wait_for_load
	for k in $(seq 1 "$restarts"); do
		sleep "${RESTART_EVERY:-5}"
		echo "loadtest: restarting the wiki ($k of $restarts)" >&2
		kill -TERM "$wiki_pid"
		wait "$wiki_pid" 2>/dev/null || true
		mv "$work/wiki.log" "$work/wiki.log.$k"
		start_wiki "$addr"
	done
fi
status=0
wait "$lg_pid" || status=$?
tail -3 "$work/loadgen.log" >&2
cat "$work/result.json"
exit "$status"
