package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strings"
	"time"
)

// Config is everything a run needs. main fills it from flags; tests fill it
// directly so they can shorten the timeouts that flags do not expose.
type Config struct {
	URL            string        // wikihost base URL: setup and senders
	SubURLs        []string      // where subscribers connect, spread over and failing over between them; empty: URL
	User           string        // admin user: creates pages and users, subscribes
	Password       string        // password of User, and of the sender users created
	Rooms          int           // rooms, one page each
	Subs           int           // SSE subscribers per room
	SendersPerRoom int           // sending users per room
	CPUProfile     string        // file for a CPU profile of the tool, or empty
	CPUPIDs        []cpuTarget   // server processes whose CPU time per message is reported
	StreamsPerUser int           // event streams per subscribing user
	Rate           float64       // target messages per second over all senders
	Duration       time.Duration // length of the send phase
	Settle         time.Duration // wait for outstanding deliveries after sending stops
	MsgBytes       int           // minimum message text length in bytes
	NoFail         bool          // exit 0 even when the delivery check fails
	Idle           time.Duration // if set: send nothing, measure the watched processes over this window (idle.go)
	WatchPID       int           // the wiki's process id, for -idle: it and its children (the plugin) are measured

	// XMPP occupants (docs in doc.go, "XMPP").
	XMPPServer   string  // client-to-server address host:port of the XMPP server; empty: no XMPP
	XMPPShare    float64 // share of each room's subscribers that are XMPP occupants (0..1)
	XMPPDomain   string  // the users' domain on the XMPP server
	XMPPMUC      string  // rooms are <room>@XMPPMUC: the bridge's domain, or Prosody's MUC component
	XMPPPassword string  // password of the XMPP accounts; empty: Password
	XMPPRegister bool    // create the XMPP accounts by in-band registration
	ProsodyMUC   bool    // drive the XMPP server's own MUC instead of the wiki

	// The rest have defaults (see withDefaults) and no flags: they bound
	// the run rather than shape the load.
	SetupTimeout   time.Duration // creating users and pages, rendering them
	ReadyTimeout   time.Duration // all subscribers connected before sending starts
	AttemptTimeout time.Duration // one POST attempt
	IdleTimeout    time.Duration // a stream with no bytes (not even a heartbeat) for this long is reconnected
	Progress       time.Duration // interval of progress lines
}

// Limits on flag values. They keep a typo from opening a million streams
// or allocating a huge message; raise them here if a real run needs more.
const (
	maxRooms    = 10_000
	maxSubs     = 10_000
	maxStreams  = 50_000
	maxMsgBytes = 1 << 20
)

// withDefaults fills the unexported-by-flag fields. The idle timeout sits
// above the contract's 15–30 s heartbeat so a healthy idle stream is never
// cut.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	// Setup creates hundreds of users, each a bcrypt hash on the server:
	// minutes on a small machine, and not part of what is measured.
	def(&c.SetupTimeout, 5*time.Minute)
	if c.XMPPServer != "" && (c.XMPPShare > 0 || c.ProsodyMUC) {
		// Thousands of MUC joins, each a presence to every occupant
		// already there: set-up, not what is measured.
		def(&c.ReadyTimeout, time.Minute)
	}
	def(&c.ReadyTimeout, 10*time.Second)
	def(&c.AttemptTimeout, 10*time.Second)
	def(&c.IdleTimeout, 45*time.Second)
	def(&c.Progress, time.Second)
	// With -senders-per-room 0, use enough senders per room that none
	// exceeds senderRate.
	if c.SendersPerRoom == 0 && c.Rooms > 0 && c.Rate > 0 && c.Rate <= 1e7 {
		perRoom := c.Rate / float64(c.Rooms)
		c.SendersPerRoom = max(1, min(maxSubs, int(math.Ceil(perRoom/senderRate))))
	}
	if c.ProsodyMUC {
		// The senders are occupants of the room (see occupant), so a
		// room has at most as many as it has occupants.
		c.XMPPShare = 1
		c.SendersPerRoom = min(c.SendersPerRoom, max(c.Subs, 1))
	}
	if c.XMPPDomain == "" {
		c.XMPPDomain = "localhost"
	}
	if c.XMPPMUC == "" {
		c.XMPPMUC = "chat.localhost"
		if c.ProsodyMUC {
			c.XMPPMUC = "conference.localhost"
		}
	}
	if c.XMPPPassword == "" {
		c.XMPPPassword = c.Password
	}
	return c
}

// xmppSubs is how many of each room's subscribers are XMPP occupants:
// -xmpp-share of them, rounded, and at least one when the share is not 0.
func (c Config) xmppSubs() int {
	if c.XMPPServer == "" || !(c.XMPPShare > 0) {
		return 0
	}
	return min(c.Subs, max(1, int(math.Round(float64(c.Subs)*c.XMPPShare))))
}

// sseSubs is how many of each room's subscribers are SSE streams.
func (c Config) sseSubs() int { return c.Subs - c.xmppSubs() }

// xmppUsers is the number of XMPP users; each has -streams-per-user
// occupants (resources), as each viewer has that many streams.
func (c Config) xmppUsers() int {
	return (c.Rooms*c.xmppSubs() + c.StreamsPerUser - 1) / c.StreamsPerUser
}

// checkURL reports whether raw is a base URL the tool can use.
func checkURL(flag, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q: want http://host:port or https://host:port", flag, raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s %q: give credentials with -user/-password, and no query or fragment", flag, raw)
	}
	return nil
}

// subURLs is where subscribers connect.
func (c Config) subURLs() []string {
	if len(c.SubURLs) == 0 {
		return []string{c.URL}
	}
	return c.SubURLs
}

// validate reports the first unusable setting.
func (c Config) validate() error {
	if err := checkURL("-url", c.URL); err != nil {
		return err
	}
	for _, u := range c.SubURLs {
		if err := checkURL("-sub-url", u); err != nil {
			return err
		}
	}
	switch {
	case c.User == "":
		return errors.New("-user must not be empty")
	case c.Rooms < 1 || c.Rooms > maxRooms:
		return fmt.Errorf("-rooms %d: want 1..%d", c.Rooms, maxRooms)
	case c.Subs < 1 || c.Subs > maxSubs:
		return fmt.Errorf("-subs %d: want 1..%d", c.Subs, maxSubs)
	case c.Rooms*c.Subs > maxStreams:
		return fmt.Errorf("-rooms × -subs = %d streams: at most %d", c.Rooms*c.Subs, maxStreams)
	case c.SendersPerRoom < 0 || c.SendersPerRoom > maxSubs:
		return fmt.Errorf("-senders-per-room %d: want 1..%d, or 0 to fit the per-user rate limit", c.SendersPerRoom, maxSubs)
	case c.StreamsPerUser < 1 || c.StreamsPerUser > 1000:
		return fmt.Errorf("-streams-per-user %d: want 1..1000", c.StreamsPerUser)
	case !(c.Rate > 0) || c.Rate > 1e7:
		return fmt.Errorf("-rate %g: want a number above 0 (messages per second)", c.Rate)
	case c.Duration <= 0:
		return fmt.Errorf("-duration %v: must be positive", c.Duration)
	case c.Settle < 0:
		return fmt.Errorf("-settle %v: must not be negative", c.Settle)
	case c.Idle < 0:
		return fmt.Errorf("-idle %v: must not be negative", c.Idle)
	case c.MsgBytes < 0 || c.MsgBytes > maxMsgBytes:
		return fmt.Errorf("-msg-bytes %d: want 0..%d", c.MsgBytes, maxMsgBytes)
	case !(c.XMPPShare >= 0 && c.XMPPShare <= 1):
		return fmt.Errorf("-xmpp-share %g: want 0..1", c.XMPPShare)
	case (c.XMPPShare > 0 || c.ProsodyMUC) && c.XMPPServer == "":
		return errors.New("-xmpp-share and -prosody-muc need -xmpp-server (the XMPP server's client port)")
	}
	if c.XMPPServer != "" {
		if _, _, err := net.SplitHostPort(c.XMPPServer); err != nil {
			return fmt.Errorf("-xmpp-server %q: want host:port: %w", c.XMPPServer, err)
		}
		for flag, v := range map[string]string{"-xmpp-domain": c.XMPPDomain, "-xmpp-muc": c.XMPPMUC} {
			if v == "" || strings.ContainsAny(v, "@/'\"<>& ") {
				return fmt.Errorf("%s %q: want a domain name", flag, v)
			}
		}
	}
	return nil
}

// senderRate is the rate one sender keeps to when -senders-per-room is 0.
// The plugin allows 120 messages per user and room per minute by default
// (2/s); staying a fifth below leaves room for retries and jitter.
const senderRate = 1.6

// senders is the number of sending goroutines.
func (c Config) senders() int { return c.Rooms * c.SendersPerRoom }

// senderUsers is the number of sending users. The message limit is per
// user and room, so sender k of every room can be the same user: users
// scale with the senders of one room, not with the rooms.
func (c Config) senderUsers() int { return c.SendersPerRoom }

// viewers is the number of subscribing users.
func (c Config) viewers() int { return (c.Rooms*c.sseSubs() + c.StreamsPerUser - 1) / c.StreamsPerUser }

// sendInterval spreads Rate evenly over the senders.
func (c Config) sendInterval() time.Duration {
	iv := time.Duration(float64(c.senders()) / c.Rate * float64(time.Second))
	return max(iv, time.Microsecond)
}

// ackGrace is how long after sending stops a send may still be retried.
// It is half the settle time so that a message acknowledged at the last
// moment still has the other half to reach its subscribers, instead of
// being reported lost because the run ended under it.
func (c Config) ackGrace() time.Duration { return c.Settle / 2 }

// hardCap bounds the whole run whatever the server does.
func (c Config) hardCap() time.Duration {
	return c.SetupTimeout + c.ReadyTimeout + c.Duration + c.Settle + 10*time.Second
}
