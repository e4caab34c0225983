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
# With NODES=2 the wiki runs as a two-node cluster on one PostgreSQL
# database (PAGECHAT_POSTGRES_DSN, else a private server from Debian's
# packages): senders post to node A, subscribers stream from node B, and
# loadgen reports cross-node latency. KILL_NODE=1 then spreads the
# subscribers over B and A and kills node B (the wiki, and so its plugin)
# with SIGKILL after KILL_EVERY seconds of load: its subscribers fail over
# to node A and resume by sequence, with nothing lost or repeated.
#
#   NODES=2 bash scripts/loadtest.sh -rooms 100 -subs 20 -rate 1000 -duration 20s
#   NODES=2 KILL_NODE=1 bash scripts/loadtest.sh -rooms 20 -subs 10 -rate 200 -duration 20s
#
# Arguments go to loadgen. Everything runs on loopback and stops by itself.
#
# At the end loadgen prints the CPU time per acknowledged message of the
# wiki, the plugin and itself (from the start of the send phase to the end
# of the settle phase; "cpu" and "server_cpu_ms_per_msg" in its JSON).
# PROFILE=DIR writes CPU profiles of the wiki and the plugin, taken for
# PROFILE_SECONDS (default 10) from 3 s into the send phase, to
# DIR/wiki.pprof and DIR/plugin.pprof (go tool pprof -top DIR/plugin.pprof).
#
#   PROFILE=/tmp/prof bash scripts/loadtest.sh -rooms 10 -subs 10 -rate 200 -duration 20s
#
# SERVER_BIN=DIR runs the wikihost and pagechat-plugin binaries in DIR
# instead of building them from this tree (loadgen is always built from
# it), so that two versions of the server can be measured in turns with
# the same load tool:
#
#   git worktree add /tmp/old main && (cd /tmp/old && go build -o /tmp/bin-old/ ./examples/wikihost ./plugin/cmd/pagechat-plugin)
#   SERVER_BIN=/tmp/bin-old bash scripts/loadtest.sh -rooms 10 -subs 10 -rate 200 -duration 20s
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/pg.sh
. scripts/pg.sh
work=$(mktemp -d /tmp/pcload.XXXXXX)
wiki_pid=
wiki_pid_b=
cleanup() {
	for pid in $wiki_pid $wiki_pid_b; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	pg_stop
	[ -n "${KEEP:-}" ] && echo "loadtest: kept $work" >&2 && return 0
	rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${SERVER_BIN:-}" ]; then
	cp "$SERVER_BIN/pagechat-plugin" "$SERVER_BIN/wikihost" "$work/"
else
	go build -o "$work/pagechat-plugin" ./plugin/cmd/pagechat-plugin
	go build -o "$work/wikihost" ./examples/wikihost
fi
go build -o "$work/loadgen" ./examples/loadgen

# Each SSE subscriber is one connection on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

nodes=${NODES:-1}
db_args=()
if [ "$nodes" = 2 ]; then
	pg_start "$work"
	db_args=(-db "$dsn")
elif [ "$nodes" != 1 ]; then
	echo "loadtest: NODES=$nodes: want 1 or 2" >&2
	exit 2
fi

# start_wiki ADDR [LOG] starts the wiki (logging to $work/LOG, default
# wiki.log) and sets url and wiki_pid once it listens.
start_wiki() {
	local log=$work/${2:-wiki.log}
	# Created here, not by the background job's redirection, which may
	# run after the first look at the log below (set -e would then end
	# the script on sed's "can't read").
	: >>"$log"
	# The load tool is one client address that opens thousands of streams,
	# creates every room's page as one user and logs all its users in at
	# once: the wiki's per-address connection cap and page rate limit are
	# for real clients, so they are off here, and its password checks
	# queue for the cores instead of being refused after 2 s.
	# In a cluster the nodes share -data (attachments) and the database.
	"$work/wikihost" -addr "$1" -data "$work/data" -plugin "$work/pagechat-plugin" "${db_args[@]}" "${debug_args[@]}" \
		-max-conns-per-ip -1 -pages-per-minute -1 -password-checks 64 >>"$log" 2>&1 &
	wiki_pid=$!
	url=
	for _ in $(seq 1 600); do
		url=$(sed -n 's/.*listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$log" | tail -1)
		[ -n "$url" ] && return 0
		sleep 0.1
	done
	tail -20 "$log" >&2
	echo "loadtest: wikihost did not start" >&2
	exit 1
}
debug_args=()
lg_args=()
if [ "$nodes" = 2 ]; then
	start_wiki 127.0.0.1:0 wiki-b.log
	url_b=$url wiki_pid_b=$wiki_pid
	sub_url=$url_b
	if [ -n "${KILL_NODE:-}" ]; then
		sub_url=$url_b,
	fi
fi
# Profiles are of the node the senders post to.
if [ -n "${PROFILE:-}" ]; then
	mkdir -p "$PROFILE"
	debug_args=(-debug-addr 127.0.0.1:0 -plugin-debug-addr 127.0.0.1:0)
fi
start_wiki 127.0.0.1:0
if [ -n "${PROFILE:-}" ]; then
	# Both profilers log where they listen.
	wiki_debug= plugin_debug=
	for _ in $(seq 1 100); do
		wiki_debug=$(grep -v 'plugin profiler' "$work/wiki.log" | sed -n 's/.* profiler listening:.* url=\(http:[^ ]*\/debug\/pprof\/\).*/\1/p' | head -1)
		plugin_debug=$(sed -n 's/.*plugin profiler listening:.* url=\(http:[^ ]*\/debug\/pprof\/\).*/\1/p' "$work/wiki.log" | head -1)
		[ -n "$wiki_debug" ] && [ -n "$plugin_debug" ] && break
		sleep 0.1
	done
	if [ -z "$wiki_debug" ] || [ -z "$plugin_debug" ]; then
		echo "loadtest: PROFILE: the profilers did not start (does this wikihost have -plugin-debug-addr?)" >&2
		exit 1
	fi
fi
if [ "$nodes" = 2 ]; then
	[ -n "${KILL_NODE:-}" ] && sub_url=$sub_url$url
	lg_args=(-sub-url "$sub_url")
	echo "loadtest: node A $url (senders), node B $url_b; subscribers on $sub_url" >&2
fi
# The CPU figures: the senders' node and its plugin (in a cluster, node B
# and its plugin as well).
cpu_pids=wiki=$wiki_pid
plugin_pid=$(pgrep -P "$wiki_pid" -f pagechat-plugin | head -1 || true)
[ -n "$plugin_pid" ] && cpu_pids=$cpu_pids,plugin=$plugin_pid
if [ -n "$wiki_pid_b" ]; then
	cpu_pids=$cpu_pids,wiki-b=$wiki_pid_b
	plugin_pid_b=$(pgrep -P "$wiki_pid_b" -f pagechat-plugin | head -1 || true)
	[ -n "$plugin_pid_b" ] && cpu_pids=$cpu_pids,plugin-b=$plugin_pid_b
fi
lg_args+=(-cpu-pid "$cpu_pids")

"$work/loadgen" -url "$url" "${lg_args[@]}" "$@" >"$work/result.json" 2>"$work/loadgen.log" &
lg_pid=$!

# wait_for_load returns once loadgen has had a message acknowledged (or
# has exited), so that kills and restarts land in the send phase.
wait_for_load() {
	until grep -q 'acked=[1-9]' "$work/loadgen.log" 2>/dev/null; do
		kill -0 "$lg_pid" 2>/dev/null || break
		sleep 0.2
	done
}

if [ -n "${PROFILE:-}" ]; then
	(
		wait_for_load
		sleep 3
		curl -fsS -o "$PROFILE/wiki.pprof" "${wiki_debug}profile?seconds=${PROFILE_SECONDS:-10}" &
		curl -fsS -o "$PROFILE/plugin.pprof" "${plugin_debug}profile?seconds=${PROFILE_SECONDS:-10}" &
		wait
		echo "loadtest: profiles in $PROFILE/wiki.pprof and $PROFILE/plugin.pprof" >&2
	) &
	profile_pid=$!
fi

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
if [ "$nodes" = 2 ] && [ -n "${KILL_NODE:-}" ]; then
	wait_for_load
	sleep "${KILL_EVERY:-5}"
	echo "loadtest: kill -9 node B (wiki pid $wiki_pid_b)" >&2
	kill -9 "$wiki_pid_b"
	wait "$wiki_pid_b" 2>/dev/null || true
	wiki_pid_b=
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
[ -n "${profile_pid:-}" ] && wait "$profile_pid"
tail -4 "$work/loadgen.log" >&2
cat "$work/result.json"
exit "$status"
