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
# With XMPP=SHARE (0 < SHARE <= 1) the script also starts its own Prosody
# (Debian's prosody package; a generated config on free loopback ports in
# the run's temp dir, never the system service), turns on the wiki's XMPP
# bridge, and loadgen makes that share of each room's subscribers XMPP
# occupants: accounts created by in-band registration, each linked to its
# wiki user through the wiki's API and the code the bridge's bot sends.
# Senders still POST through the browser API; the result reports the SSE
# and the XMPP path separately.
#
#   XMPP=0.5 bash scripts/loadtest.sh -rooms 100 -subs 20 -rate 2000 -duration 20s
#
# Prosody loads the repository's XEP-0033 multicast module
# (host-sdk/xmpp/prosody), so the bridge sends each fan-out once; with
# MULTICAST=0 it does not, and the bridge sends one stanza per occupant,
# for comparison:
#
#   XMPP=0.5 MULTICAST=0 bash scripts/loadtest.sh -rooms 100 -subs 20 -rate 1000 -duration 20s
#
# With PROSODY_MUC=1 no wiki is started: loadgen drives Prosody's own MUC
# (Component "conference.localhost" "muc") with the same shape, every
# subscriber an occupant and the senders occupants posting over XMPP, to
# compare with the bridge at the same load.
#
#   PROSODY_MUC=1 bash scripts/loadtest.sh -rooms 100 -subs 20 -rate 2000 -duration 20s
#
# In both modes the script also prints the cores each part used while the
# load ran and, with the bridge, the largest backlog on its component
# connection to Prosody (see watch_xmpp_load), to show where the limit is.
#
# Prosody is tuned for the load (see prosody_start): the epoll backend,
# Lua's generational garbage collector, Nagle off, writes straight from
# the stanza handler instead of on the next loop turn, a deep accept queue
# for the occupants' log-ins, a room cache big enough for every room,
# logging of warnings only.
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
# PG_ARGS adds settings to the private PostgreSQL server (scripts/pg.sh),
# e.g. PG_ARGS='-c shared_preload_libraries=pg_stat_statements'.
#
# Arguments go to loadgen; ROOMS SUBS RATE [DURATION] first is short for
# -rooms ROOMS -subs SUBS -rate RATE [-duration DURATION] (default 20s):
#
#   NODES=2 bash scripts/loadtest.sh 100 20 1000
#
# At the end loadgen prints the CPU time per acknowledged message of the
# wiki, the plugin and itself (from the start of the send phase to the end
# of the settle phase; "cpu" and "server_cpu_ms_per_msg" in its JSON).
# PROFILE=DIR writes CPU profiles of the wiki and the plugin, taken for
# PROFILE_SECONDS (default 10) from 3 s into the send phase, to
# DIR/wiki.pprof and DIR/plugin.pprof (go tool pprof -top DIR/plugin.pprof).
# With IDLE the profiles cover the idle window, and right after them the heap
# profiles, memory statistics and goroutine lists of both are saved too.
#
#   PROFILE=/tmp/prof bash scripts/loadtest.sh -rooms 10 -subs 10 -rate 200 -duration 20s
#
# With TRACE=1 as well, Go execution traces take the CPU profiles' place
# (DIR/wiki.trace, DIR/plugin.trace): they show where a send waits rather
# than where the cores go (go tool trace -pprof=sync DIR/plugin.trace).
#
# SERVER_BIN=DIR runs the wikihost and pagechat-plugin binaries in DIR
# instead of building them from this tree (loadgen is always built from
# it), so that two versions of the server can be measured in turns with
# the same load tool:
#
#   git worktree add /tmp/old main && (cd /tmp/old && go build -o /tmp/bin-old/ ./examples/wikihost ./plugin/cmd/pagechat-plugin)
#   SERVER_BIN=/tmp/bin-old bash scripts/loadtest.sh -rooms 10 -subs 10 -rate 200 -duration 20s
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
prosody_pid=
cleanup() {
	for pid in $wiki_pid $wiki_pid_b $prosody_pid; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	pg_stop
	[ -n "${KEEP:-}" ] && echo "loadtest: kept $work" >&2 && return 0
	rm -rf "$work"
}
trap cleanup EXIT

xmpp_share=${XMPP:-0}
prosody_muc=${PROSODY_MUC:-}
# SERVER_BIN=DIR runs prebuilt servers; BUILD_FROM=DIR builds the wiki and
# the plugin from another checkout (the code before a change, say) while
# loadgen comes from this one, so before and after are measured with the
# same tool. pagechat-seed writes the plugin's database, so it has to know
# the plugin's file layout: it comes from BUILD_FROM, or from SERVER_BIN
# when that directory has one (go build -o DIR/ ./plugin/cmd/pagechat-seed),
# and otherwise from this checkout.
if [ -n "$prosody_muc" ]; then
	: # no wiki: loadgen drives Prosody's own MUC
elif [ -n "${SERVER_BIN:-}" ]; then
	cp "$SERVER_BIN/pagechat-plugin" "$SERVER_BIN/wikihost" "$work/"
else
	src=${BUILD_FROM:-.}
	(cd "$src" && go build -o "$work/pagechat-plugin" ./plugin/cmd/pagechat-plugin && go build -o "$work/wikihost" ./examples/wikihost)
fi
go build -o "$work/loadgen" ./examples/loadgen
if [ -n "${EXTRA_ROOMS:-}" ]; then
	if [ -n "${SERVER_BIN:-}" ] && [ -x "$SERVER_BIN/pagechat-seed" ]; then
		cp "$SERVER_BIN/pagechat-seed" "$work/"
	else
		(cd "${BUILD_FROM:-.}" && go build -o "$work/pagechat-seed" ./plugin/cmd/pagechat-seed)
	fi
	"$work/pagechat-seed" -db "$work/data/chat/pagechat.db" -rooms "$EXTRA_ROOMS" -messages "${EXTRA_MESSAGES:-20}"
fi

# Each SSE subscriber is one connection on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# free_port prints a random TCP port on loopback that nothing listens on
# (outside the kernel's range for outgoing connections).
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}

# prosody_start writes a config for a private Prosody under $work/prosody
# and starts it; it sets xmpp_c2s and xmpp_component (host:port). The
# settings that are not Prosody's defaults, and why:
#   network_backend "epoll"      the event loop for thousands of sockets
#   gc generational              Lua 5.4's generational collector: a MUC
#                                makes a short-lived copy of every stanza
#                                for every occupant; in side-by-side runs
#                                on a busy machine Prosody took about half
#                                the CPU per delivery that it took with its
#                                default (incremental, pause 105)
#   nagle = false                stanzas leave at once, not after an ACK
#   opportunistic_writes = true  a stanza is written from the handler that
#                                routes it, not on the next loop turn
#   tcp_backlog = 1024           room for a burst of occupants' log-ins
#   network_default_read_size    64 KiB per read instead of 4 KiB: Prosody
#                                reads a connection once per turn of its
#                                loop, and 4 KiB a turn held the bridge's
#                                one component connection (which carries a
#                                stanza per occupant) to a few thousand
#                                stanzas a second with Prosody mostly idle
#   min_wait = 0.00001           after a read that leaves data in its
#                                buffer, Prosody pauses the connection for
#                                a timer, and its loop sleeps at least
#                                min_wait (1 ms by default) before timers
#                                run: the bridge's connection was read once
#                                a millisecond while Prosody sat half idle;
#                                with 10 µs, at 100 × 20 × 1,000 msgs/s
#                                half on XMPP, Prosody went from 0.44 to
#                                0.73 of a core and delivered everything
#   muc_room_cache_size          every room stays live (the default is 100)
#   muc_room_locking = false     a room exists as soon as its first occupant
#                                joins (no XEP-0045 configuration step)
#   allow_registration           in-band registration, on loopback only,
#                                for loadgen's accounts; no throttle, since
#                                loopback is on Prosody's allowlist
#   log warnings only            debug logging costs more than the load
#   pagechat_multicast           the bridge's fan-outs as one stanza each
#                                (unless MULTICAST=0), allowed for the
#                                bridge's domain only
prosody_start() {
	command -v prosody >/dev/null && command -v prosodyctl >/dev/null || {
		echo "loadtest: XMPP and PROSODY_MUC need Prosody: apt-get install prosody" >&2
		exit 1
	}
	local dir=$work/prosody c2s comp
	mkdir -p "$dir/data" "$dir/certs"
	c2s=$(free_port)
	comp=$(free_port)
	xmpp_secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	printf '%s\n' "$xmpp_secret" >"$work/xmpp-secret"
	local modules='"roster", "saslauth", "disco", "ping", "posix", "register"' multicast_cfg=
	if [ "${MULTICAST:-1}" != 0 ]; then
		modules+=', "pagechat_multicast"'
		multicast_cfg="plugin_paths = { \"$PWD/host-sdk/xmpp/prosody\" }
pagechat_multicast_senders = { \"chat.localhost\" }"
	fi
	cat >"$dir/prosody.cfg.lua" <<CFG
run_as_root = true -- a throwaway config in a temp dir; nothing here is the system's
pidfile = "$dir/prosody.pid"
data_path = "$dir/data"
certificates = "$dir/certs"
log = { warn = "$dir/prosody.log" }
network_backend = "epoll"
gc = { mode = "generational" }
network_settings = { nagle = false; opportunistic_writes = true; tcp_backlog = 1024; min_wait = 0.00001 }
network_default_read_size = 65536
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { $c2s }
component_ports = { $comp }
component_interface = "127.0.0.1"
s2s_ports = { }
c2s_direct_tls_ports = { }
s2s_direct_tls_ports = { }
legacy_ssl_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
allow_registration = true
modules_enabled = { $modules }
$multicast_cfg
VirtualHost "localhost"
Component "chat.localhost"
  component_secret = "$xmpp_secret"
Component "conference.localhost" "muc"
  muc_room_locking = false
  muc_room_cache_size = 100000
  muc_tombstones = false
CFG
	prosody --config "$dir/prosody.cfg.lua" -F >>"$dir/prosody.out" 2>&1 &
	prosody_pid=$!
	for _ in $(seq 1 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$c2s") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$comp") 2>/dev/null; then
			xmpp_c2s=127.0.0.1:$c2s
			xmpp_component=127.0.0.1:$comp
			echo "loadtest: Prosody on c2s $xmpp_c2s, components $xmpp_component (config $dir/prosody.cfg.lua)" >&2
			return 0
		fi
		kill -0 "$prosody_pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$dir/prosody.out" "$dir/prosody.log" >&2 2>/dev/null || true
	echo "loadtest: Prosody did not start" >&2
	exit 1
}

# watch_xmpp_load runs beside loadgen (pid $1) in the XMPP modes. From the
# start of the send phase until loadgen ends it samples, once a second,
# the bytes the wiki has written to Prosody's component port that Prosody
# has not read yet, and at the end prints the CPU each part used over that
# time: where the limit is. A backlog that grows on the component
# connection while Prosody's CPU is near a full core means Prosody (one
# Lua thread) is the limit, not the bridge.
watch_xmpp_load() {
	local lg=$1 comp_port=${xmpp_component##*:} pids=() names=() t0=() p n i q maxq=0 start end
	until grep -q 'sending .* msgs/s\|not joined after' "$work/loadgen.log" 2>/dev/null; do
		kill -0 "$lg" 2>/dev/null || return 0
		sleep 0.1
	done
	pids=("$prosody_pid") names=(prosody)
	if [ -n "$wiki_pid" ]; then
		pids+=("$wiki_pid") names+=(wikihost)
		p=$(pgrep -P "$wiki_pid" | head -1 || true)
		[ -n "$p" ] && pids+=("$p") names+=(plugin)
	fi
	pids+=("$lg") names+=(loadgen)
	cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
	for i in "${!pids[@]}"; do t0[i]=$(cpu_ticks "${pids[i]}"); done
	start=$(date +%s%N)
	local t1=()
	while kill -0 "$lg" 2>/dev/null; do
		for i in "${!pids[@]}"; do t1[i]=$(cpu_ticks "${pids[i]}"); done
		end=$(date +%s%N)
		if [ -n "$wiki_pid" ]; then
			q=$(ss -tnH state established "( dport = :$comp_port )" 2>/dev/null | awk '{s += $2} END {print s + 0}')
			[ "$q" -gt "$maxq" ] && maxq=$q
		fi
		sleep 1
	done
	local hz secs line=""
	hz=$(getconf CLK_TCK)
	secs=$(( (end - start) / 1000000 ))
	[ "$secs" -gt 0 ] || return 0
	for i in "${!pids[@]}"; do
		line+="$(awk -v t=$(( t1[i] - t0[i] )) -v hz="$hz" -v ms="$secs" -v n="${names[i]}" 'BEGIN {printf "%s %.2f, ", n, t / hz / (ms / 1000)}')"
	done
	echo "loadtest: cores used from the start of sending to the end: ${line%, }" >&2
	[ -n "$wiki_pid" ] && echo "loadtest: largest backlog on the bridge's component connection (written by the wiki, not yet read by Prosody): $maxq bytes" >&2
	return 0
}

xmpp_wiki_args=()
xmpp_lg_args=()
if [ -n "$prosody_muc" ]; then
	prosody_start
	xmpp_lg_args=(-prosody-muc -xmpp-server "$xmpp_c2s" -xmpp-muc conference.localhost -xmpp-register)
	status=0
	"$work/loadgen" "${xmpp_lg_args[@]}" "$@" >"$work/result.json" 2>"$work/loadgen.log" &
	lg_pid=$!
	watch_xmpp_load "$lg_pid" &
	watch_pid=$!
	wait "$lg_pid" || status=$?
	wait "$watch_pid" || true
	tail -3 "$work/loadgen.log" >&2
	cat "$work/result.json"
	exit "$status"
elif [ "$xmpp_share" != 0 ]; then
	if [ "${NODES:-1}" != 1 ]; then
		echo "loadtest: XMPP with NODES=2 is not supported (one bridge component per domain)" >&2
		exit 2
	fi
	prosody_start
	xmpp_wiki_args=(-xmpp-server "$xmpp_component" -xmpp-domain chat.localhost -xmpp-secret-file "$work/xmpp-secret")
	xmpp_lg_args=(-xmpp-server "$xmpp_c2s" -xmpp-muc chat.localhost -xmpp-share "$xmpp_share" -xmpp-register)
fi

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
	"$work/wikihost" -addr "$1" -data "$work/data" -plugin "$work/pagechat-plugin" "${db_args[@]}" "${xmpp_wiki_args[@]}" "${debug_args[@]}" \
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
# mem PID prints a process's resident memory in KiB, and how much of it is
# the process's own (anonymous) and how much mapped files (the plugin's
# database, which the kernel can take back).
mem() {
	awk '/^VmRSS:/ {r=$2} /^RssAnon:/ {a=$2} /^RssFile:/ {f=$2} END {printf "%d KiB (anon %d, file %d)", r, a, f}' "/proc/$1/status" 2>/dev/null || echo "?"
}
# take_profiles takes the CPU profiles (with TRACE, the execution traces)
# of the wiki and the plugin, both over the same PROFILE_SECONDS.
take_profiles() {
	if [ -n "${TRACE:-}" ]; then
		curl -fsS -o "$PROFILE/wiki.trace" "${wiki_debug}trace?seconds=${PROFILE_SECONDS:-10}" &
		curl -fsS -o "$PROFILE/plugin.trace" "${plugin_debug}trace?seconds=${PROFILE_SECONDS:-10}" &
		wait
		echo "loadtest: execution traces in $PROFILE/wiki.trace and $PROFILE/plugin.trace" >&2
		return
	fi
	curl -fsS -o "$PROFILE/wiki.pprof" "${wiki_debug}profile?seconds=${PROFILE_SECONDS:-10}" &
	curl -fsS -o "$PROFILE/plugin.pprof" "${plugin_debug}profile?seconds=${PROFILE_SECONDS:-10}" &
	wait
	echo "loadtest: profiles in $PROFILE/wiki.pprof and $PROFILE/plugin.pprof" >&2
}
# take_heaps saves both processes' heap profiles and memory statistics
# (the runtime's MemStats, at the end of the debug=1 text): for idle runs,
# where the question is what each open stream holds.
take_heaps() {
	curl -fsS -o "$PROFILE/wiki.heap" "${wiki_debug}heap" &
	curl -fsS -o "$PROFILE/plugin.heap" "${plugin_debug}heap" &
	curl -fsS -o "$PROFILE/wiki.memstats" "${wiki_debug}heap?debug=1" &
	curl -fsS -o "$PROFILE/plugin.memstats" "${plugin_debug}heap?debug=1" &
	curl -fsS -o "$PROFILE/wiki.goroutines" "${wiki_debug}goroutine?debug=1" &
	curl -fsS -o "$PROFILE/plugin.goroutines" "${plugin_debug}goroutine?debug=1" &
	wait
	echo "loadtest: heap profiles, memory statistics and goroutines in $PROFILE/{wiki,plugin}.{heap,memstats,goroutines}" >&2
}
plugin_pid=$(pgrep -P "$wiki_pid" -f pagechat-plugin | head -1 || true)
echo "loadtest: wiki listening after ${startup_ms} ms with ${EXTRA_ROOMS:-0} extra rooms; RSS wiki $(mem "$wiki_pid"), plugin $(mem "${plugin_pid:-0}")" >&2
if [ -n "${IDLE:-}" ]; then
	status=0
	if [ -n "${PROFILE:-}" ]; then
		# The profiles cover the measured window: they start once
		# every stream is open and has settled.
		(
			until grep -q 'settling for' "$work/loadgen.log" 2>/dev/null; do sleep 0.2; done
			settle=$(sed -n 's/.*settling for \([0-9.]*\)s.*/\1/p' "$work/loadgen.log" | head -1)
			sleep "${settle:-0}"
			take_profiles
			take_heaps
		) &
		prof_pid=$!
	fi
	"$work/loadgen" -url "$url" -idle "$IDLE" -watch-pid "$wiki_pid" "$@" >"$work/result.json" 2>"$work/loadgen.log" || status=$?
	[ -n "${prof_pid:-}" ] && wait "$prof_pid"
	tail -4 "$work/loadgen.log" >&2
	cat "$work/result.json"
	exit "$status"
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

"$work/loadgen" -url "$url" "${lg_args[@]}" "${xmpp_lg_args[@]}" "$@" >"$work/result.json" 2>"$work/loadgen.log" &
lg_pid=$!
watch_pid=
if [ "$xmpp_share" != 0 ]; then
	watch_xmpp_load "$lg_pid" &
	watch_pid=$!
fi

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
		take_profiles
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
[ -n "$watch_pid" ] && { wait "$watch_pid" || true; }
[ -n "${profile_pid:-}" ] && wait "$profile_pid"
tail -4 "$work/loadgen.log" >&2
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
