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
# With IDLE=D no message is sent: loadgen opens -rooms × -subs event
# streams, lets them settle for -settle, then measures the wiki's and the
# plugin's resident memory (before the streams opened and after) and CPU
# time over a window of D, and prints per-stream memory and CPU in per
# cent of one core (the wiki's password checks at set-up take a while):
#
#   IDLE=30s bash scripts/loadtest.sh -rooms 1000 -subs 10 -settle 10s
#
# With EXTRA_ROOMS=N the plugin's database is first filled with N more
# rooms of EXTRA_MESSAGES (default 20) messages each (plugin/cmd/
# pagechat-seed), so the run meets a site with that many rooms; the
# start-up line (time until the wiki listens, its and the plugin's memory)
# is printed either way:
#
#   EXTRA_ROOMS=9000 bash scripts/loadtest.sh -rooms 1000 -subs 5 -rate 1000 -duration 20s
#
# BUILD_FROM=DIR takes the wiki and the plugin from another checkout, e.g.
# BUILD_FROM=../main for the figures before a change.
#
# WIKI_ARGS adds flags to the wiki, e.g. WIKI_ARGS='-debug-addr 127.0.0.1:6060'
# to profile it during a run.
#
# With PG_RESTART=N the PostgreSQL server is stopped (fast shutdown) N
# times under load, PG_RESTART_EVERY (5) seconds apart, left down for
# PG_DOWN (3) seconds and started again. That needs the private server
# this script starts, never a shared one, so PAGECHAT_POSTGRES_DSN must be
# unset; with NODES=1 the one node then runs on PostgreSQL too. Sends are
# answered 503 "unavailable" during each outage and retried by loadgen
# with the same client id (its result counts them in unavailable, and
# unavailable_max_ms says how fast they failed); streams carry on after,
# and lost, duplicated and out_of_order must stay 0.
#
#   PG_RESTART=1 NODES=2 bash scripts/loadtest.sh -rooms 20 -subs 10 -rate 200 -duration 20s
#
# Arguments go to loadgen; ROOMS SUBS RATE [DURATION] first is short for
# -rooms ROOMS -subs SUBS -rate RATE [-duration DURATION] (default 20s):
#
#   NODES=2 bash scripts/loadtest.sh 100 20 1000
#
# Everything runs on loopback and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ${1:-} =~ ^[0-9]+$ ]]; then
	if [ $# -lt 3 ]; then
		echo "loadtest: ROOMS SUBS RATE [DURATION] [loadgen flags]" >&2
		exit 2
	fi
	short=(-rooms "$1" -subs "$2" -rate "$3")
	shift 3
	if [ $# -gt 0 ] && [[ $1 != -* ]]; then
		short+=(-duration "$1")
		shift
	else
		short+=(-duration 20s)
	fi
	set -- "${short[@]}" "$@"
fi

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

# BUILD_FROM=DIR builds the wiki and the plugin from another checkout (the
# code before a change, say) while loadgen and pagechat-seed come from this
# one, so before and after are measured with the same tools.
src=${BUILD_FROM:-.}
(cd "$src" && go build -o "$work/pagechat-plugin" ./plugin/cmd/pagechat-plugin && go build -o "$work/wikihost" ./examples/wikihost)
go build -o "$work/loadgen" ./examples/loadgen
if [ -n "${EXTRA_ROOMS:-}" ]; then
	go build -o "$work/pagechat-seed" ./plugin/cmd/pagechat-seed
	"$work/pagechat-seed" -db "$work/data/chat/pagechat.db" -rooms "$EXTRA_ROOMS" -messages "${EXTRA_MESSAGES:-20}"
fi

# Each SSE subscriber is one connection on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

nodes=${NODES:-1}
pg_restarts=${PG_RESTART:-0}
if [ "$pg_restarts" -gt 0 ] && [ -n "${PAGECHAT_POSTGRES_DSN:-}" ]; then
	echo "loadtest: PG_RESTART restarts the PostgreSQL server: it needs the private one this script starts; unset PAGECHAT_POSTGRES_DSN (a shared server is never restarted)" >&2
	exit 2
fi
db_args=()
if [ "$nodes" = 2 ] || [ "$pg_restarts" -gt 0 ]; then
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
	# The load tool is one client address that opens thousands of streams,
	# creates every room's page as one user and logs all its users in at
	# once: the wiki's per-address connection cap and page rate limit are
	# for real clients, so they are off here, and its password checks
	# queue for the cores instead of being refused after 2 s.
	# In a cluster the nodes share -data (attachments) and the database.
	"$work/wikihost" -addr "$1" -data "$work/data" -plugin "$work/pagechat-plugin" "${db_args[@]}" \
		-max-conns-per-ip -1 -pages-per-minute -1 -password-checks 64 ${WIKI_ARGS:-} >>"$log" 2>&1 &
	wiki_pid=$!
	local began
	began=$(date +%s%N)
	url=
	for _ in $(seq 1 6000); do
		url=$(sed -n 's/.*listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$log" | tail -1)
		if [ -n "$url" ]; then
			startup_ms=$((($(date +%s%N) - began) / 1000000))
			return 0
		fi
		sleep 0.01
	done
	tail -20 "$log" >&2
	echo "loadtest: wikihost did not start" >&2
	exit 1
}
lg_args=()
if [ "$nodes" = 2 ]; then
	start_wiki 127.0.0.1:0 wiki-b.log
	url_b=$url wiki_pid_b=$wiki_pid
	sub_url=$url_b
	if [ -n "${KILL_NODE:-}" ]; then
		sub_url=$url_b,
	fi
fi
start_wiki 127.0.0.1:0
# mem PID prints a process's resident memory in KiB, and how much of it is
# the process's own (anonymous) and how much mapped files (the plugin's
# database, which the kernel can take back).
mem() {
	awk '/^VmRSS:/ {r=$2} /^RssAnon:/ {a=$2} /^RssFile:/ {f=$2} END {printf "%d KiB (anon %d, file %d)", r, a, f}' "/proc/$1/status" 2>/dev/null || echo "?"
}
plugin_pid=$(pgrep -P "$wiki_pid" -f pagechat-plugin | head -1 || true)
echo "loadtest: wiki listening after ${startup_ms} ms with ${EXTRA_ROOMS:-0} extra rooms; RSS wiki $(mem "$wiki_pid"), plugin $(mem "${plugin_pid:-0}")" >&2
if [ -n "${IDLE:-}" ]; then
	status=0
	"$work/loadgen" -url "$url" -idle "$IDLE" -watch-pid "$wiki_pid" "$@" >"$work/result.json" 2>"$work/loadgen.log" || status=$?
	tail -4 "$work/loadgen.log" >&2
	cat "$work/result.json"
	exit "$status"
fi
if [ "$nodes" = 2 ]; then
	[ -n "${KILL_NODE:-}" ] && sub_url=$sub_url$url
	lg_args=(-sub-url "$sub_url")
	echo "loadtest: node A $url (senders), node B $url_b; subscribers on $sub_url" >&2
fi

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
if [ "$pg_restarts" -gt 0 ]; then
	wait_for_load
	for k in $(seq 1 "$pg_restarts"); do
		sleep "${PG_RESTART_EVERY:-5}"
		echo "loadtest: stopping PostgreSQL for ${PG_DOWN:-3} s ($k of $pg_restarts)" >&2
		pg_restart "${PG_DOWN:-3}"
		echo "loadtest: PostgreSQL is back" >&2
	done
fi
status=0
wait "$lg_pid" || status=$?
tail -3 "$work/loadgen.log" >&2
cat "$work/result.json"
if [ "$pg_restarts" -gt 0 ]; then
	unavailable=$(sed -n 's/.*"unavailable":\([0-9]*\).*/\1/p' "$work/result.json")
	if [ "${unavailable:-0}" = 0 ]; then
		echo "loadtest: no send was answered 503 unavailable: no outage fell in the send phase (raise -duration or -rate)" >&2
		[ "$status" = 0 ] && status=1
	else
		echo "loadtest: $unavailable send attempts answered 503 unavailable during the outages, slowest $(sed -n 's/.*"unavailable_max_ms":\([0-9.]*\).*/\1/p' "$work/result.json") ms" >&2
	fi
fi
exit "$status"
