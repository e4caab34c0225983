// Command loadgen is a load and correctness check for a running wikihost
// (examples/wikihost) and its chat Browser API. It opens R rooms with S
// Server-Sent Events subscribers each, sends messages at a target total rate
// for a while, waits for outstanding deliveries, and then reports whether
// every subscriber received every acknowledged message exactly once and in
// sequence order, together with the send→receive latency.
//
// Point it only at a server you run yourself, normally on loopback: it
// creates users and pages there and sends as fast as it is told to. It talks
// to no address other than -url and -sub-url.
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
