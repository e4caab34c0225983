#!/usr/bin/env bash
# Black-box check of a running wikihost with nothing but curl, the way an
# admin or a script would use it: create a page with a chat room, post a
# message through the Browser API with Basic auth, read it back from the SSE
# stream, and find the transcript page through search.
#
#   bash scripts/smoke.sh              # builds and starts its own wikihost
#   WIKI=http://127.0.0.1:8080 bash scripts/smoke.sh   # uses a running one
#                                      # (started with -transcript-delay 1s)
set -euo pipefail
cd "$(dirname "$0")/.."

AUTH=${AUTH:-alice:pagechat-demo}
work=$(mktemp -d /tmp/pcsmoke.XXXXXX)
wiki_pid=
cleanup() {
	if [ -n "$wiki_pid" ]; then
		kill -TERM "$wiki_pid" 2>/dev/null || true
		wait "$wiki_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "smoke: FAIL: $*" >&2
	[ -f "$work/wiki.log" ] && tail -20 "$work/wiki.log" >&2
	exit 1
}

if [ -z "${WIKI:-}" ]; then
	go build -o "$work/pagechat-plugin" ./plugin/cmd/pagechat-plugin
	go build -o "$work/wikihost" ./examples/wikihost
	"$work/wikihost" -addr 127.0.0.1:0 -data "$work/data" -plugin "$work/pagechat-plugin" \
		-transcript-delay 1s >"$work/wiki.log" 2>&1 &
	wiki_pid=$!
	for _ in $(seq 1 200); do
		WIKI=$(sed -n 's/.*listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$work/wiki.log" | head -1)
		[ -n "$WIKI" ] && break
		kill -0 "$wiki_pid" 2>/dev/null || fail "wikihost exited during start-up"
		sleep 0.1
	done
	[ -n "$WIKI" ] || fail "wikihost did not report its address"
fi
echo "smoke: wiki at $WIKI"

# A word that exists nowhere else, to find the transcript by.
word="smoke$(date +%s%N | tail -c 9)"

page=$(curl -sf -u "$AUTH" -H 'Content-Type: application/json' \
	-d '{"title":"Smoke test '"$word"'","body":"Chat below.\n\n{chat:Some Room}"}' \
	"$WIKI/api/pages") || fail "POST /api/pages"
page_id=$(printf '%s' "$page" | sed -n 's/.*"id":"\{0,1\}\([^",}]*\)"\{0,1\}.*/\1/p')
[ -n "$page_id" ] || fail "no page id in $page"
echo "smoke: created page $page_id"

# Rendering the page creates its room; the table must be on it.
curl -sf -u "$AUTH" "$WIKI/pages/$page_id" >"$work/page.html" || fail "GET /pages/$page_id"
grep -q 'pagechat-room' "$work/page.html" || fail "the page shows no chat room table"
room="$page_id.some-room"

# Follow the room's stream in the background while posting.
curl -sN -u "$AUTH" --max-time 20 "$WIKI/chat/api/rooms/$room/events" >"$work/events.txt" 2>/dev/null &
sse_pid=$!
sleep 1
reply=$(curl -sf -u "$AUTH" -H 'Content-Type: application/json' \
	-d '{"text":"hello from curl '"$word"'","client_id":"smoke-'"$word"'"}' \
	"$WIKI/chat/api/rooms/$room/messages") || fail "POST message"
printf '%s' "$reply" | grep -q '"seq":1' || fail "unexpected send reply: $reply"
echo "smoke: posted message seq 1"

for _ in $(seq 1 100); do
	grep -q "$word" "$work/events.txt" && break
	sleep 0.1
done
kill "$sse_pid" 2>/dev/null || true
wait "$sse_pid" 2>/dev/null || true
grep -q '^id: 1' "$work/events.txt" || fail "SSE stream has no 'id: 1' event: $(head -c 500 "$work/events.txt")"
grep -q "$word" "$work/events.txt" || fail "SSE stream lacks the message"
echo "smoke: read the message back from the SSE stream"

# The transcript child page is written about a second after the activity
# and indexed by the wiki's search.
for _ in $(seq 1 150); do
	if curl -sf -u "$AUTH" "$WIKI/api/search?q=$word" | grep -q 'chat transcript'; then
		echo "smoke: search finds the transcript page"
		echo "smoke: PASS"
		exit 0
	fi
	sleep 0.2
done
fail "search for $word never found a transcript page: $(curl -s -u "$AUTH" "$WIKI/api/search?q=$word")"
