// Package xmpp makes every pagechat room a multi-user chat (XEP-0045) room
// that any XMPP client can join, next to the browser popup.
//
// A Component is a XEP-0114 external component: it connects to a standard
// XMPP server's component port (Prosody, ejabberd, …), serves one domain,
// and maps the room <roomID>@<domain> onto the plugin room roomID. It is
// host-side code and talks to the plugin only through hostsdk.Client, the
// way the browser API does: one Feed per room that has XMPP occupants,
// Send with a client id derived from the stanza's origin-id (so a resent
// stanza stores one message), RoomInfo and AuthorizeViewers for view
// permission, History for the join history and MAM, and Join/Leave so
// browser users see XMPP users in the people list and the other way round.
//
// Identity comes from the host through Users: only a JID that a user has
// linked and verified maps to them, and every stanza is judged by that
// user's page permissions. The bot (bot@<domain>) verifies links, lists a
// user's recent rooms and posts for them, and sends users their
// notifications (Component.Alert) unless they muted them; displayed chat
// markers (XEP-0333) sent to a room move the sender's read marker.
//
// Where the server offers XEP-0033 multicast to the component (the Prosody
// module in the prosody directory does), each stanza that goes alike to
// several occupants is sent once, with the occupants as bcc addresses;
// otherwise every occupant gets its own copy (multicast.go).
//
// Goroutines: Run owns the connection (a reader, a writer and a short-lived
// multicast discovery per connection, reconnecting with back-off) and one actor goroutine per room
// with occupants or pending stanzas (plus its feed reader, bounded sends
// and at most one read-marker writer), and one goroutine sending alerts. All of them end when Run's context ends, and Run waits for them.
package xmpp
