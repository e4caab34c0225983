package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/pagechat/pagechat/macro"
)

// setupParallel bounds concurrent setup requests: enough to create many
// rooms quickly, few enough not to look like the load being measured.
const setupParallel = 8

// plan is what setup created: the rooms, and who sends and who listens.
type plan struct {
	parentID string
	rooms    []*room
	senders  []creds // sender k of every room sends as senders[k]
	viewers  []creds // stream i (over all rooms) is opened by viewers[i / StreamsPerUser]
	// xmppUsers are the wiki users whose linked XMPP accounts are the
	// occupants: occupant i (over all rooms) is a resource of
	// xmppUsers[i / StreamsPerUser]. In Prosody MUC mode they exist
	// only on the XMPP server and hold no session.
	xmppUsers []creds
}

// roomName is the chat macro's room name on the page of room i (from 0).
func roomName(i int) string { return fmt.Sprintf("Load Room %d", i+1) }

// setup creates the users and one page per room under a parent page for
// the run, opens the pages to everyone and renders each once, which is
// what creates its room.
func setup(ctx context.Context, api *apiClient, cfg Config, runID string, log io.Writer) (plan, error) {
	admin := creds{user: cfg.User, password: cfg.Password}
	parent, err := api.createPage(ctx, admin, "Loadgen run "+runID,
		"Pages and chat rooms created by examples/loadgen, run "+runID+".", "")
	if err != nil {
		return plan{}, fmt.Errorf("creating the run's parent page: %w", err)
	}
	// Empty lists mean everyone: whatever the wiki's defaults, every
	// sender may post and every viewer may read.
	if err := api.setPermissions(ctx, admin, parent.ID, nil, nil); err != nil {
		return plan{}, fmt.Errorf("opening page %s to everyone: %w", parent.ID, err)
	}
	p := plan{parentID: parent.ID, rooms: make([]*room, cfg.Rooms)}

	if p.senders, p.viewers, p.xmppUsers, err = setupUsers(ctx, api, cfg, parent.ID, log); err != nil {
		return plan{}, err
	}

	err = forEach(ctx, cfg.Rooms, setupParallel, func(ctx context.Context, i int) error {
		name := roomName(i)
		page, err := api.createPage(ctx, admin, fmt.Sprintf("Loadgen %s room %d", runID, i+1), "{chat:"+name+"}", parent.ID)
		if err != nil {
			return fmt.Errorf("creating the page of room %d: %w", i+1, err)
		}
		if err := api.setPermissions(ctx, admin, page.ID, nil, nil); err != nil {
			return fmt.Errorf("opening page %s to everyone: %w", page.ID, err)
		}
		if err := api.renderPage(ctx, admin, page.ID); err != nil {
			return fmt.Errorf("rendering page %s to create its room: %w", page.ID, err)
		}
		id, err := macro.RoomID(page.ID, name)
		if err != nil {
			return fmt.Errorf("room id on page %s: %w", page.ID, err)
		}
		p.rooms[i] = newRoom(i, page.ID, id)
		return nil
	})
	if err != nil {
		return plan{}, err
	}
	return p, nil
}

// setupUsers creates the senders loadgen-1 … loadgen-K (K senders per room,
// shared by all rooms) and the viewers
// loadgen-view-1 … loadgen-view-M. Spreading the load over users keeps
// it inside per-user limits meant for people: messages per user and room
// per minute, and event streams per user (-streams-per-user each). A user
// that already exists is reused once its password is checked. If -user
// may not create users, everyone is -user, and those limits may refuse
// part of the load.
func setupUsers(ctx context.Context, api *apiClient, cfg Config, probePageID string, log io.Writer) (senders, viewers, xmppUsers []creds, err error) {
	admin := creds{user: cfg.User, password: cfg.Password}
	nSend, nView, nXMPP := cfg.senderUsers(), cfg.viewers(), cfg.xmppUsers()
	user := func(i int) (name, display string) {
		switch {
		case i < nSend:
			return fmt.Sprintf("loadgen-%d", i+1), fmt.Sprintf("Load Sender %d", i+1)
		case i < nSend+nView:
			return fmt.Sprintf("loadgen-view-%d", i-nSend+1), fmt.Sprintf("Load Viewer %d", i-nSend+1)
		}
		return xmppUserName(i - nSend - nView), fmt.Sprintf("Load XMPP %d", i-nSend-nView+1)
	}

	// The first user decides whether users can be created at all.
	name, display := user(0)
	_, err = api.createUser(ctx, admin, name, cfg.Password, display)
	if he, ok := errors.AsType[*httpError](err); ok &&
		(he.Status == http.StatusForbidden || he.Status == http.StatusNotFound || he.Status == http.StatusMethodNotAllowed) {
		if nXMPP > 0 {
			return nil, nil, nil, fmt.Errorf("XMPP occupants need their own wiki users, and %s cannot create users: %w", cfg.User, err)
		}
		fmt.Fprintf(log, "loadgen: cannot create users (%v); all senders send as %s and all %d streams are %s's, so per-user limits may refuse some\n",
			err, cfg.User, cfg.Rooms*cfg.Subs, cfg.User)
		return repeat(admin, nSend), repeat(admin, nView), nil, nil
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("creating user %s: %w", name, err)
	}

	all := make([]creds, nSend+nView+nXMPP)
	var noSession atomic.Int64
	var firstLoginErr atomic.Pointer[error]
	err = forEach(ctx, len(all), setupParallel, func(ctx context.Context, i int) error {
		name, display := user(i)
		cr := creds{user: name, password: cfg.Password}
		if i > 0 {
			if _, err := api.createUser(ctx, admin, name, cr.password, display); err != nil {
				return fmt.Errorf("creating user %s: %w", name, err)
			}
		}
		// Log in as a browser does. A session proves the password; only
		// without one is it checked apart (each check is a bcrypt hash
		// on the server, the bulk of set-up), which turns "user exists
		// with another password" into one clear message instead of a
		// run full of refused requests. A server without the wiki's
		// login form gets Basic auth on every request instead.
		if s, err := api.login(ctx, cr); err == nil {
			cr.session = s
		} else {
			if err := api.renderPage(ctx, cr, probePageID); err != nil {
				return fmt.Errorf("user %s cannot log in with -password (does it exist with another password?): %w", name, err)
			}
			noSession.Add(1)
			firstLoginErr.CompareAndSwap(nil, &err)
		}
		all[i] = cr
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	if n := noSession.Load(); n > 0 {
		fmt.Fprintf(log, "loadgen: %d of %d users got no session (%v); they send HTTP Basic auth with every request\n", n, len(all), *firstLoginErr.Load())
	}
	return all[:nSend], all[nSend : nSend+nView], all[nSend+nView:], nil
}

func repeat(cr creds, n int) []creds {
	out := make([]creds, n)
	for i := range out {
		out[i] = cr
	}
	return out
}

// forEach calls fn(ctx, i) for i in [0, n), at most parallel at a time,
// and returns the first error; after an error it starts no new calls and
// cancels the context of those running.
func forEach(ctx context.Context, n, parallel int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, parallel)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				once.Do(func() {
					first = err
					cancel(err)
				})
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
