package xmpp

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"time"

	"mellium.im/xmpp/jid"
)

const (
	nsAddress = "http://jabber.org/protocol/address"
	// defaultMulticastBatch is how many addresses one multicast stanza
	// carries unless Config says otherwise; it matches the default cap of
	// the Prosody module shipped in prosody/.
	defaultMulticastBatch = 1000
	// discoTimeout bounds each query of the multicast discovery.
	discoTimeout = 10 * time.Second
	// maxDiscoItems bounds how many of the server's items discovery asks
	// about when the server domain itself offers no multicast.
	maxDiscoItems = 20
)

// errNoMulticast says discovery found no service that multicasts for us.
var errNoMulticast = errors.New("no XEP-0033 multicast service offered")

// pendingReply is a stanza the component waits for, by id, and who may
// answer it: an id alone could be guessed.
type pendingReply struct {
	from []string
	ch   chan *elem
}

// serverDomain is the domain discovery starts from: Config.ServerDomain,
// or the component's domain without its first label.
func (c *Component) serverDomain() string {
	if c.cfg.ServerDomain != "" {
		return c.cfg.ServerDomain
	}
	d := c.domain.Domainpart()
	if i := strings.IndexByte(d, '.'); i >= 0 && i+1 < len(d) {
		return d[i+1:]
	}
	return d
}

// MulticastService is the XEP-0033 service the current connection sends
// fan-outs through, "" while every occupant gets its own stanza.
func (c *Component) MulticastService() string {
	if s := c.mcast.Load(); s != nil {
		return s.String()
	}
	return ""
}

// Multicasts is how many multicast stanzas the component has queued so
// far, for tests and metrics.
func (c *Component) Multicasts() int64 { return c.mcastSent.Load() }

// setupMulticast decides how this connection fans out: it finds a
// multicast service, proves that it delivers our stanzas, and switches to
// it; until then, and if anything fails, each occupant gets a copy of its
// own. It runs beside the reader, which delivers the answers.
func (c *Component) setupMulticast(ctx context.Context) {
	if c.cfg.DisableMulticast {
		c.log.Info("XMPP fan-out: one stanza per occupant (multicast disabled)")
		return
	}
	svc, err := c.findMulticast(ctx)
	if err == nil {
		err = c.probeMulticast(ctx, svc)
	}
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		c.log.Info("XMPP fan-out: one stanza per occupant", "server", c.serverDomain(), "reason", err)
		return
	}
	c.mcast.Store(&svc)
	c.log.Info("XMPP fan-out: XEP-0033 multicast", "service", svc.String())
}

// findMulticast returns Config.MulticastService, else the server domain
// if it offers multicast, else the first of its disco items that does.
func (c *Component) findMulticast(ctx context.Context) (jid.JID, error) {
	if c.cfg.MulticastService != "" {
		return jid.Parse(c.cfg.MulticastService)
	}
	server, err := jid.Parse(c.serverDomain())
	if err != nil {
		return jid.JID{}, fmt.Errorf("server domain %q: %w", c.serverDomain(), err)
	}
	ok, err := c.offersMulticast(ctx, server)
	if err != nil || ok {
		return server, err
	}
	res, err := c.request(ctx, c.iqGet(server, el(nsDiscoItem, "query")), server.String())
	if err != nil {
		return jid.JID{}, fmt.Errorf("disco#items of %s: %w", server, err)
	}
	n := 0
	for _, it := range res.child(nsDiscoItem, "query").Children {
		j, err := jid.Parse(it.attr("jid"))
		if it.Name.Local != "item" || err != nil || it.attr("node") != "" || j.Equal(c.domain) {
			continue
		}
		if n++; n > maxDiscoItems {
			break
		}
		if ok, err := c.offersMulticast(ctx, j); err == nil && ok {
			return j, nil
		}
	}
	return jid.JID{}, errNoMulticast
}

// offersMulticast asks j's disco#info for the XEP-0033 feature.
func (c *Component) offersMulticast(ctx context.Context, j jid.JID) (bool, error) {
	res, err := c.request(ctx, c.iqGet(j, el(nsDiscoInfo, "query")), j.String())
	if err != nil {
		return false, fmt.Errorf("disco#info of %s: %w", j, err)
	}
	for _, f := range res.child(nsDiscoInfo, "query").Children {
		if f.Name.Local == "feature" && f.attr("var") == nsAddress {
			return true, nil
		}
	}
	return false, nil
}

// probeMulticast multicasts a headline to the component itself. A service
// that advertises the feature may still refuse us (the server's list of
// allowed senders): only the copy coming back proves fan-outs will arrive.
func (c *Component) probeMulticast(ctx context.Context, svc jid.JID) error {
	self := c.domain.String()
	m := el("", "message", "from", self, "to", svc.String(), "type", "headline", "id", newID()).
		add(el(nsAddress, "addresses").add(el("", "address", "type", "bcc", "jid", self)))
	res, err := c.request(ctx, m, self, svc.String())
	if err != nil {
		return fmt.Errorf("probe of %s: %w", svc, err)
	}
	if res.attr("type") == "error" {
		return fmt.Errorf("%s refused to multicast for %s: %s", svc, self, errorSummary(res))
	}
	return nil
}

func (c *Component) iqGet(to jid.JID, q *elem) *elem {
	return el("", "iq", "from", c.domain.String(), "to", to.String(), "type", "get", "id", newID()).add(q)
}

// request sends e and waits for the stanza with its id from one of from.
func (c *Component) request(ctx context.Context, e *elem, from ...string) (*elem, error) {
	id := e.attr("id")
	p := &pendingReply{from: from, ch: make(chan *elem, 1)}
	c.mu.Lock()
	if c.pending == nil {
		c.pending = make(map[string]*pendingReply)
	}
	c.pending[id] = p
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, discoTimeout)
	defer cancel()
	if err := c.enqueue(ctx, e); err != nil {
		return nil, err
	}
	select {
	case res := <-p.ch:
		if e.Name.Local == "iq" && res.attr("type") == "error" {
			return nil, fmt.Errorf("error reply: %s", errorSummary(res))
		}
		return res, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("no answer: %w", ctx.Err())
	}
}

// answered hands e to a request waiting for it; it reports whether one
// was.
func (c *Component) answered(e *elem) bool {
	id := e.attr("id")
	if id == "" {
		return false
	}
	c.mu.Lock()
	p := c.pending[id]
	c.mu.Unlock()
	if p == nil {
		return false
	}
	from := e.attr("from")
	for _, f := range p.from {
		if f == from {
			select {
			case p.ch <- e:
			default:
			}
			return true
		}
	}
	return false
}

// multicastError handles an error the multicast service sent back: it
// refused a fan-out (its allowed senders changed, or it is gone), so the
// connection stops using it and fan-outs go per occupant again.
func (c *Component) multicastError(e *elem) bool {
	svc := c.mcast.Load()
	if svc == nil || e.attr("type") != "error" || e.attr("from") != svc.String() {
		return false
	}
	if c.mcast.CompareAndSwap(svc, nil) {
		c.log.Warn("XMPP multicast service refused a fan-out; back to one stanza per occupant", "service", svc.String(), "error", errorSummary(e))
	}
	return true
}

// errorSummary is an error stanza's condition and text, for logs.
func errorSummary(e *elem) string {
	er := e.child("", "error")
	if er == nil {
		return "no error element"
	}
	cond, text := "", ""
	for _, x := range er.Children {
		if x.Name.Space != nsStanzas {
			continue
		}
		if x.Name.Local == "text" {
			text = x.Text
		} else {
			cond = x.Name.Local
		}
	}
	if text != "" {
		return cond + ": " + text
	}
	return cond
}

// broadcast sends st, built without a to, to every recipient: through the
// connection's multicast service when it has one, with the recipients as
// bcc addresses in batches, else as one copy per recipient. Both keep the
// queue's order, which is the order the server routes in.
func (r *room) broadcast(st *elem, to []jid.JID) {
	if len(to) == 0 {
		return
	}
	svc := r.c.mcast.Load()
	if svc == nil || len(to) == 1 {
		for _, j := range to {
			r.send(st.withTo(j.String()))
		}
		return
	}
	batch := r.c.cfg.MulticastBatch
	for len(to) > 0 {
		n := min(batch, len(to))
		addrs := el(nsAddress, "addresses")
		addrs.Children = make([]*elem, 0, n)
		for _, j := range to[:n] {
			addrs.Children = append(addrs.Children, el("", "address", "type", "bcc", "jid", j.String()))
		}
		m := st.withTo(svc.String())
		m.Children = append(append(make([]*elem, 0, len(st.Children)+1), st.Children...), addrs)
		r.c.mcastSent.Add(1)
		r.send(m)
		to = to[n:]
	}
}

// everyone is the full JIDs of the room's occupants, the recipients of a
// broadcast.
func (r *room) everyone() []jid.JID {
	to := make([]jid.JID, 0, len(r.occupants))
	for _, o := range r.occupants {
		to = append(to, o.full)
	}
	return to
}

// withTo is a copy of e's top element addressed to to, placed after
// from; the children are shared, as nothing changes a stanza once it is
// built.
func (e *elem) withTo(to string) *elem {
	c := *e
	c.Attrs = make([]xml.Attr, 0, len(e.Attrs)+1)
	placed := false
	for _, a := range e.Attrs {
		if a.Name.Space == "" && a.Name.Local == "to" {
			continue
		}
		c.Attrs = append(c.Attrs, a)
		if !placed && a.Name.Space == "" && a.Name.Local == "from" {
			c.Attrs = append(c.Attrs, xml.Attr{Name: xml.Name{Local: "to"}, Value: to})
			placed = true
		}
	}
	if !placed {
		c.Attrs = append(c.Attrs, xml.Attr{Name: xml.Name{Local: "to"}, Value: to})
	}
	return &c
}
