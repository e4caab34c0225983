// Command loadgen is a load and correctness check for a running wikihost
// (examples/wikihost) and its chat Browser API. It opens R rooms with S
// Server-Sent Events subscribers each, sends messages at a target total rate
// for a while, waits for outstanding deliveries, and then reports whether
// every subscriber received every acknowledged message exactly once and in
// sequence order, together with the send→receive latency.
//
// Point it only at a server you run yourself, normally on loopback: it
// creates users and pages there and sends as fast as it is told to. It talks
// to no address other than -url, -sub-url and -xmpp-server.
//
// # Usage
//
//	go build -o /tmp/pagechat-plugin ./plugin/cmd/pagechat-plugin
//	go run ./examples/wikihost -plugin /tmp/pagechat-plugin &   # listening on http://127.0.0.1:8080
//	go run ./examples/loadgen -rooms 10 -subs 10 -rate 100 -duration 10s
//
// prints progress on stderr and, on stdout, one line such as
//
//	{"sent":1001,"acked":1001,"delivered":10010,"expected":10010,"lost":0,"duplicated":0,
//	 "out_of_order":0,"msgs_per_s":100.08,"p50_ms":3.67,"p99_ms":58.29,"max_ms":144.43,...}
//
// (wrapped here). In a script: go run ./examples/loadgen ... > result.json || echo "delivery check failed"
//
// Flags:
//
//	-url URL               wikihost base URL (default http://127.0.0.1:8080): setup and senders
//	-sub-url URL[,URL…]    where subscribers connect (default -url); with several,
//	                       subscribers are spread over them round robin and move
//	                       to the next when theirs fails (cluster mode)
//	-user, -password       an admin account (default alice / pagechat-demo)
//	-rooms R               rooms, one fresh page each (default 10)
//	-subs S                SSE subscribers per room (default 10)
//	-senders-per-room N    sending users per room (default 0: enough that each
//	                       sends at most 1.6 messages/s, under the plugin's
//	                       default limit of 120 per user and room per minute)
//	-streams-per-user N    event streams per subscribing user (default 4)
//	-rate M                target total messages per second (default 100)
//	-duration D            how long to send (default 10s)
//	-settle D              how long to wait for deliveries afterwards (default 5s)
//	-msg-bytes N           pad each message text to at least N bytes (default 0)
//	-no-fail               exit 0 even when messages were lost, repeated or reordered
//	-xmpp-server HOST:PORT the XMPP server's client port (a test server that allows
//	                       PLAIN without TLS); needed by the next two
//	-xmpp-share F          share (0..1) of each room's subscribers that are XMPP
//	                       occupants of the bridge's rooms instead of SSE streams
//	-prosody-muc           measure the XMPP server's own MUC instead (no wiki)
//	-xmpp-domain D         the XMPP users' domain (default localhost)
//	-xmpp-muc D            the room JIDs' domain (default chat.localhost, the
//	                       bridge's; with -prosody-muc conference.localhost)
//	-xmpp-password P       the XMPP accounts' password (default -password)
//	-xmpp-register         create the XMPP accounts by in-band registration
//	-cpu-pid NAME=PID,…    report the CPU time per message of these server
//	                       processes (Linux), e.g. wiki=1234,plugin=1240
//	-idle D -watch-pid PID idle mode: open the streams, send nothing, and print the
//	                       resident memory per stream and the CPU over a window of D
//	                       of process PID (the wiki) and its children (the plugin),
//	                       as one JSON line (see idle.go)
//
// # What it does
//
// Setup, through the wikihost JSON API: it creates one user per sender of
// a room (loadgen-1, loadgen-2, …; sender k of every room is loadgen-k,
// since the rate limit is per user and room) and one per -streams-per-user
// streams
// (loadgen-view-1, …), all with -password (an existing user is reused, so
// it must still have that password); one page per room under a parent page
// for the run, each page carrying {chat:Load Room N}; opens every page to
// everyone; and renders each page once so the room exists. Every user then
// logs in through the wiki's login form and uses its session cookie from
// then on, as a browser does (without that form it uses HTTP Basic auth on
// every request, and says so). Spreading the
// load over users keeps it inside per-user limits meant for people
// (host-sdk allows 8 streams per user; the plugin 120 messages per user and
// room per minute by default). When -user may not create users, everything
// runs as -user and those limits may refuse part of the load.
//
// Then every subscriber opens GET /chat/api/rooms/{room}/events?after=0,
// every sender reads its room's latest message (as the popup does when it
// opens, which also opens the sender's connection), and the senders
// start, each on its own ticker at rate/(rooms×senders)
// messages per second with at most one send in flight, so a slow server
// lowers the achieved rate rather than piling up requests. A message's text
// is "lg|<client id>|<send time in ns>" (padded to -msg-bytes), so a
// receiver computes the latency on the same clock. Sends that fail with a
// network error, 5xx or 429 are retried with the same client id (honouring
// Retry-After) until acknowledged or until half the settle time has passed
// after sending stopped; subscribers whose stream drops reconnect with
// Last-Event-ID set to the last sequence they saw, backing off from 50 ms to
// 2 s.
//
// While it runs it prints one progress line per second to stderr, with the
// p50, p99 and largest delivery latency of that second, so a steady p99
// (queueing) can be told from one bad second (a stall). At the end it
// prints one JSON object on stdout:
//
//	sent, acked          messages attempted; messages whose POST returned a seq
//	expected             acked × subs: every subscriber should see every acked message
//	delivered            (subscriber, acked message) pairs that arrived
//	lost                 expected − delivered
//	duplicated           a subscriber got the same seq, or the same client id, again
//	out_of_order         a subscriber got a seq not above the previous one
//	msgs_per_s           acked / length of the send phase (the achieved rate)
//	p50_ms p99_ms max_ms send→receive latency over all deliveries
//	ack_p50_ms ack_p99_ms  first POST attempt → acknowledgement
//	errors, reconnects, failovers, …  see the Result type
//	cpu                  CPU seconds, ms per acked message and cores used by
//	                     the tool and each -cpu-pid process, from the start of
//	                     the send phase to the end of the settle phase
//	server_cpu_ms_per_msg  the -cpu-pid processes' ms per acked message together
//
// # XMPP
//
// With -xmpp-share F, round(F × S) of each room's S subscribers (at least
// one) are XMPP occupants of the room's JID <room id>@<-xmpp-muc> on the
// wiki's XMPP bridge (docs/xmpp.md), the rest SSE streams. Occupant i
// (over all rooms) is the resource o<i> of the XMPP user
// loadgen-xmpp-<i/streams-per-user + 1>@<-xmpp-domain>, one client-to-server
// connection each, and each XMPP user is also a wiki user of the same
// name. Before the run every XMPP user, on one short connection of its
// own, creates its account (-xmpp-register: in-band registration, XEP-0077;
// an existing account is used as it is), waits until the bridge answers
// disco#info, and links the address to its wiki user as a person does:
// PUT /api/me/xmpp, then the code the bridge's bot sends to the address
// goes to POST /api/me/xmpp/verify (an address already linked is left as it
// is). Then every occupant logs in and joins with its user's name as nick,
// asking for up to 500 messages of history. Senders still post through the
// browser API. An occupant counts each groupchat message of the tool by
// its stanza-id (the room's sequence), in the same ledger as an SSE stream,
// with the latency from the start of the POST.
//
// With -prosody-muc the wiki is not used at all: every subscriber is an
// occupant of a room lg-<run>-<N>@<-xmpp-muc> of the XMPP server's own MUC
// (in Prosody, Component "conference.localhost" "muc"), each with a nick of
// its own, and the first -senders-per-room occupants of each room (at most
// all of them) also send, at the same total rate, since only occupants may
// post. A MUC gives messages no sequence the tool can check, so sender k of
// K numbers its n-th message (n−1)·K + k + 1 and puts that in the message
// (in the client id of the body); receivers count by it in the same ledger,
// and check the order within each sender's messages only. A message counts
// as acknowledged once written (there is no other answer), so every message
// written is expected at every occupant, its sender included; the time
// until the room reflects it to its sender is its ack latency, and a
// sender sends its next message only after that (at most 10 s), as a POST
// sender waits for its answer.
//
// The result then adds "mode" ("bridge" or "prosody-muc") and, per path,
// "sse" and "xmpp" objects with subs (per room), delivered, expected, lost,
// duplicated, out_of_order and p50_ms, p99_ms, max_ms; the top-level
// figures cover both. Progress lines add the XMPP occupants' own p50, p99
// and max.
//
// The XMPP client is this package's own, not an XML library: it finds
// each stanza's end and reads the few values it needs from the bytes, so a
// delivery costs the tool no allocation. It speaks only what a local test server
// needs (plain TCP, SASL PLAIN), and an occupant whose connection breaks
// does not reconnect: it is counted in stream_errors and what it misses
// as lost.
//
// # Cluster mode
//
// With -sub-url naming other nodes of a cluster (wikihost -db on one
// PostgreSQL database), senders post to -url and subscribers stream from
// the -sub-url nodes, so every delivery crosses nodes; the result then
// also holds cross_node (deliveries through a node other than -url's) and
// cross_p50_ms, cross_p99_ms, cross_max_ms, their latency. A subscriber
// whose node stops accepting streams (it died, or answers 5xx) moves to
// the next -sub-url and resumes with Last-Event-ID from the last seq it
// saw, counted in failovers; lost, duplicated and out_of_order still say
// whether that lost, repeated or reordered anything. Sessions must be
// valid on every node, as they are when the nodes share the database.
//
// While the cluster's database is down, sends are answered 503 with code
// "unavailable"; each sender retries with the same client id, as a
// browser does, until it is acknowledged. unavailable counts those
// answers and unavailable_max_ms is the slowest of them (a send must fail
// fast, not hang until the database is back).
//
// The exit status is 0 when lost, duplicated and out_of_order are all zero,
// 1 when any is not (or the run failed; -no-fail turns the former off), 2 for
// bad flags and 130 when interrupted.
//
// Each subscriber is one HTTP/1.1 connection, so R×S streams need that many
// file descriptors on both ends (Go raises its own soft limit to the hard
// one; check `ulimit -n` for the server). The per-user message limit
// applies to each sender: a sender sending faster than it for longer than
// its burst gets 429s, which are retried, counted in rate_limited and
// lower msgs_per_s; the default -senders-per-room 0 avoids that.
package main
