package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// xmppUserName is the name of XMPP user i (from 0), the same on the wiki
// and on the XMPP server.
func xmppUserName(i int) string { return fmt.Sprintf("loadgen-xmpp-%d", i+1) }

// xmppConnectParallel bounds concurrent XMPP log-ins: enough to bring up
// 2,000 occupants in seconds, few enough not to swamp the server's
// accept queue.
const xmppConnectParallel = 32

// linkTimeout bounds waiting for the bot's code.
const linkTimeout = 30 * time.Second

// xmppLink is the reply of the wiki's /api/me/xmpp.
type xmppLink struct {
	JID      string `json:"jid"`
	Verified bool   `json:"verified"`
}

// prepareXMPP makes every XMPP user ready to join: with -xmpp-register it
// creates the account on the XMPP server, and against the bridge it links
// the account to its wiki user the way a person does, on one short
// connection per user: the user asks the wiki to link the address
// (PUT /api/me/xmpp), the bridge's bot sends a code to it, and the user
// enters the code in the wiki (POST /api/me/xmpp/verify).
func prepareXMPP(ctx context.Context, api *apiClient, cfg Config, users []creds, log io.Writer) error {
	if !cfg.XMPPRegister && cfg.ProsodyMUC {
		return nil // nothing to do before the occupants log in
	}
	start := time.Now()
	var linked atomic.Int64
	err := forEach(ctx, len(users), setupParallel, func(ctx context.Context, i int) error {
		acct := xmppAccount{user: xmppUserName(i), domain: cfg.XMPPDomain, password: cfg.XMPPPassword}
		conn, err := dialXMPP(ctx, cfg.XMPPServer, acct, "setup", cfg.XMPPRegister)
		if err != nil {
			return err
		}
		defer conn.close()
		if cfg.ProsodyMUC {
			return nil
		}
		if err := awaitComponent(ctx, conn, cfg.XMPPMUC); err != nil {
			return err
		}
		done, err := linkXMPP(ctx, api, conn, users[i], acct, "bot@"+cfg.XMPPMUC)
		if err != nil {
			return fmt.Errorf("linking %s to wiki user %s: %w", acct.bare(), users[i].user, err)
		}
		if done {
			linked.Add(1)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if cfg.ProsodyMUC {
		fmt.Fprintf(log, "loadgen: %d XMPP accounts registered in %v\n", len(users), time.Since(start).Round(time.Millisecond))
	} else {
		fmt.Fprintf(log, "loadgen: %d XMPP accounts ready, %d of them newly linked to their wiki users, in %v\n",
			len(users), linked.Load(), time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// linkXMPP links acct's address to the wiki user cr through the wiki's
// API and the code the bot sends to conn. It reports whether it linked
// (false: the address was linked already).
func linkXMPP(ctx context.Context, api *apiClient, conn *xmppConn, cr creds, acct xmppAccount, bot string) (bool, error) {
	// Available, so the server routes the bot's message to this resource.
	if err := conn.writeString("<presence/>"); err != nil {
		return false, err
	}
	var link xmppLink
	if err := api.do(ctx, cr, http.MethodPut, "/api/me/xmpp", map[string]string{"jid": acct.bare()}, &link); err != nil {
		return false, err
	}
	if link.Verified {
		return false, nil
	}
	code, err := awaitCode(ctx, conn, bot)
	if err != nil {
		return false, err
	}
	if err := api.do(ctx, cr, http.MethodPost, "/api/me/xmpp/verify", map[string]string{"code": code}, &link); err != nil {
		return false, err
	}
	if !link.Verified {
		return false, errors.New("the wiki took the code but did not verify the link")
	}
	return true, nil
}

// componentWait bounds waiting for the bridge to connect to the XMPP
// server: the wiki starts it after it listens.
const componentWait = 30 * time.Second

// awaitComponent asks the bridge's domain for disco#info until it answers,
// so that no link is asked for before the bot can send its code (the wiki
// would then make the user wait 30 s before asking again).
func awaitComponent(ctx context.Context, conn *xmppConn, domain string) error {
	deadline := time.Now().Add(componentWait)
	_ = conn.conn.SetReadDeadline(deadline)
	defer func() { _ = conn.conn.SetReadDeadline(time.Time{}) }()
	stop := context.AfterFunc(ctx, func() { _ = conn.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for try := 1; ; try++ {
		id := "disco" + strconv.Itoa(try)
		if err := conn.writeString("<iq type='get' id='" + id + "' to='" + domain + "'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"); err != nil {
			return err
		}
		for {
			el, err := conn.r.next()
			if err != nil {
				return fmt.Errorf("waiting for the XMPP bridge on %s: %w", domain, err)
			}
			if string(elemName(el)) != "iq" || string(attr(el, "id")) != id {
				continue
			}
			if string(attr(el, "type")) == "result" {
				return nil
			}
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the XMPP bridge on %s did not answer within %v (is the wiki running with -xmpp-server?)", domain, componentWait)
		}
		if !sleepCtx(ctx, 200*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// awaitCode reads conn until the bot's chat message with the code.
func awaitCode(ctx context.Context, conn *xmppConn, bot string) (string, error) {
	deadline := time.Now().Add(linkTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.conn.SetReadDeadline(deadline)
	defer func() { _ = conn.conn.SetReadDeadline(time.Time{}) }()
	stop := context.AfterFunc(ctx, func() { _ = conn.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		el, err := conn.r.next()
		if err != nil {
			return "", fmt.Errorf("waiting for the code from %s: %w", bot, err)
		}
		if string(elemName(el)) != "message" || !isFrom(attr(el, "from"), bot) {
			continue
		}
		body, ok := childText(el, "body")
		if !ok {
			continue
		}
		return linkCode(body)
	}
}

// newOccupants makes the XMPP occupants of every room, not yet connected:
// the last xmppSubs subscribers of each room. Occupant i (over all rooms)
// is resource "o<i>" of XMPP user i / StreamsPerUser.
func newOccupants(p plan, cfg Config, runID string, clk clock, c *counters, errs *errorLog) []*occupant {
	n := cfg.xmppSubs()
	out := make([]*occupant, 0, cfg.Rooms*n)
	for _, r := range p.rooms {
		for j := range n {
			i := len(out)
			u := i / cfg.StreamsPerUser
			o := &occupant{
				room:     r,
				roomJID:  r.id + "@" + cfg.XMPPMUC,
				acct:     xmppAccount{user: xmppUserName(u), domain: cfg.XMPPDomain, password: cfg.XMPPPassword},
				resource: "o" + strconv.Itoa(i+1),
				bridge:   !cfg.ProsodyMUC,
				clock:    clk,
				c:        c,
				errs:     errs,
				ready:    make(chan struct{}),
				lane:     -1,
				lanes:    max(cfg.SendersPerRoom, 1),
				timeout:  cfg.AttemptTimeout,
				idPrefix: fmt.Sprintf("lg-%s-r%d", runID, r.index+1),
			}
			if cfg.ProsodyMUC {
				// A nick per occupant: they are separate people here.
				o.nick = o.resource
				if j < cfg.SendersPerRoom {
					o.lane = j
					o.reflected = make(chan int64, 16)
				}
			} else {
				// The bridge's nick is the user's: a user's resources
				// in one room share it, as the bridge wants.
				o.nick = o.acct.user
			}
			if cfg.ProsodyMUC && o.lanes > 1 {
				o.ledger.laneLast = make([]int64, o.lanes)
			}
			out = append(out, o)
		}
	}
	return out
}

// connectOccupants logs every occupant in.
func connectOccupants(ctx context.Context, cfg Config, occs []*occupant, log io.Writer) error {
	start := time.Now()
	err := forEach(ctx, len(occs), xmppConnectParallel, func(ctx context.Context, i int) error {
		conn, err := dialXMPP(ctx, cfg.XMPPServer, occs[i].acct, occs[i].resource, false)
		if err != nil {
			return err
		}
		occs[i].conn = conn
		return nil
	})
	if err != nil {
		for _, o := range occs {
			if o.conn != nil {
				o.conn.close()
			}
		}
		return err
	}
	fmt.Fprintf(log, "loadgen: %d XMPP occupants logged in to %s in %v\n", len(occs), cfg.XMPPServer, time.Since(start).Round(time.Millisecond))
	return nil
}
