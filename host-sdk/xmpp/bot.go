package xmpp

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"mellium.im/xmpp/jid"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
)

const (
	// botWorkers bounds the bot's concurrent commands; past it the bot
	// answers that it is busy.
	botWorkers = 8
	// recentPerUser bounds the rooms the bot remembers per user.
	recentPerUser = 10
	// recentUsers bounds the users it remembers rooms for.
	recentUsers = 10000
)

const botHelp = `Commands:
help — this text
rooms — your recently active chat rooms, with their join links
post <room> <text> — post text to a room (its id or its address)
mute — stop my alerts (mentions, watched rooms); unmute — send them again
Sending the code the wiki showed you verifies your XMPP address.`

// handleBot answers 1:1 messages and discovery sent to the bot.
func (c *Component) handleBot(e *elem, from jid.JID) {
	switch e.Name.Local {
	case "iq":
		typ := e.attr("type")
		switch {
		case typ == "get" && e.child(nsDiscoInfo, "query") != nil:
			c.reply(iqResult(e).add(el(nsDiscoInfo, "query").add(
				el("", "identity", "category", "client", "type", "bot", "name", "Chat bot"),
				el("", "feature", "var", nsDiscoInfo),
				el("", "feature", "var", nsPing),
			)))
		case typ == "get" && e.child(nsPing, "ping") != nil:
			c.reply(iqResult(e))
		case typ == "get" || typ == "set":
			c.reply(stanzaError(e, "cancel", "service-unavailable", ""))
		}
	case "message":
		typ := e.attr("type")
		if typ != "chat" && typ != "normal" && typ != "" {
			return
		}
		body, ok := childTextOK(e, "", "body")
		if !ok || strings.TrimSpace(body) == "" {
			return
		}
		select {
		case c.botSlots <- struct{}{}:
		default:
			c.reply(c.botMessage(from, "I am busy; try again in a moment."))
			return
		}
		c.roomWG.Add(1)
		go func() {
			defer c.roomWG.Done()
			defer func() { <-c.botSlots }()
			ctx, cancel := context.WithTimeout(c.ctx, rpcTimeout)
			defer cancel()
			answer := c.botCommand(ctx, from, strings.TrimSpace(body))
			_ = c.enqueue(c.ctx, c.botMessage(from, answer))
		}()
	}
}

func (c *Component) botMessage(to jid.JID, text string) *elem {
	return el("", "message", "from", c.bot.String(), "to", to.String(), "type", "chat", "id", newID()).
		add(el("", "body").text(text))
}

// botCommand runs one command and returns the answer.
func (c *Component) botCommand(ctx context.Context, from jid.JID, body string) string {
	word, rest, _ := strings.Cut(body, " ")
	switch strings.ToLower(word) {
	case "help", "?":
		return botHelp
	case "rooms":
		userID, msg := c.botUser(ctx, from)
		if userID == "" {
			return msg
		}
		rooms := c.recent.list(userID)
		if len(rooms) == 0 {
			return "No recent rooms yet. Open a chat room on the wiki and use its XMPP link, or join " + c.RoomJID("<room id>") + "."
		}
		var b strings.Builder
		b.WriteString("Your recent rooms:")
		for _, r := range rooms {
			fmt.Fprintf(&b, "\n%s — %s", r.name, c.JoinURI(r.id))
		}
		return b.String()
	case "post":
		userID, msg := c.botUser(ctx, from)
		if userID == "" {
			return msg
		}
		room, text, _ := strings.Cut(strings.TrimSpace(rest), " ")
		room = strings.TrimPrefix(strings.TrimSuffix(strings.TrimPrefix(room, "xmpp:"), "?join"), "")
		if at := strings.IndexByte(room, '@'); at >= 0 {
			room = room[:at]
		}
		text = strings.TrimSpace(text)
		if room == "" || text == "" {
			return "Usage: post <room> <text>"
		}
		res, err := c.cfg.Chat.Send(ctx, userID, room, clientIDPrefix+"bot-"+newID(), text)
		if err != nil {
			var pe *hostsdk.Error
			switch {
			case errors.Is(err, hostsdk.ErrBanned) && errors.As(err, &pe):
				return "Not posted: " + pe.Message + "."
			case errors.Is(err, hostsdk.ErrPermissionDenied):
				return "You may not post in " + room + "."
			case errors.Is(err, hostsdk.ErrRoomNotFound), errors.Is(err, hostsdk.ErrInvalidArgument):
				return "There is no room " + room + "."
			}
			return "Could not post: " + err.Error()
		}
		info, err := c.cfg.Chat.RoomInfo(ctx, userID, room)
		name := room
		if err == nil {
			name = info.Name
		}
		c.recent.touch(userID, room, name)
		return fmt.Sprintf("Posted to %s as message %d.", name, res.Message.Seq)
	case "mute", "unmute":
		return c.setAlerts(ctx, from, strings.EqualFold(word, "unmute"))
	}
	ok, err := c.cfg.Users.ConfirmLink(ctx, from.Bare().String(), body)
	if err != nil {
		return "Could not check that code right now; try again."
	}
	if ok {
		return "Your XMPP address " + from.Bare().String() + " is now linked to your wiki account."
	}
	return "I did not understand that. " + botHelp
}

// botUser maps the sender to a user, or returns why not.
func (c *Component) botUser(ctx context.Context, from jid.JID) (string, string) {
	userID, ok, err := c.cfg.Users.LinkedUser(ctx, from.Bare().String())
	if err != nil {
		return "", "Could not look up your account right now; try again."
	}
	if !ok {
		return "", c.cfg.LinkHelp
	}
	return userID, ""
}

// recentRooms remembers, per user, the rooms they recently joined or
// posted to through the bridge, for the bot's "rooms" command. It is
// bounded and lost on restart.
type recentRooms struct {
	mu    sync.Mutex
	users map[string][]recentRoom
}

type recentRoom struct {
	id, name string
	at       time.Time
}

func (rr *recentRooms) touch(userID, roomID, name string) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if rr.users == nil {
		rr.users = make(map[string][]recentRoom)
	}
	if _, ok := rr.users[userID]; !ok && len(rr.users) >= recentUsers {
		for u := range rr.users { // forget an arbitrary user
			delete(rr.users, u)
			break
		}
	}
	list := rr.users[userID]
	out := []recentRoom{{id: roomID, name: name, at: time.Now()}}
	for _, r := range list {
		if r.id != roomID && len(out) < recentPerUser {
			out = append(out, r)
		}
	}
	rr.users[userID] = out
}

func (rr *recentRooms) list(userID string) []recentRoom {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	out := append([]recentRoom(nil), rr.users[userID]...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.After(out[j].at) })
	return out
}
