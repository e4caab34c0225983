package main

import (
	"errors"
	"net"
	"sync"
)

// perIPListener accepts at most max open connections from each remote IP
// address and closes any further one at once. Without it a single client
// can hold thousands of connections (finding #3), each costing a
// goroutine and buffers until its read deadline.
type perIPListener struct {
	net.Listener
	max int

	mu   sync.Mutex
	open map[string]int // open connections per remote IP
}

// limitConnsPerIP wraps ln; max < 1 returns ln unchanged.
func limitConnsPerIP(ln net.Listener, max int) net.Listener {
	if max < 1 {
		return ln
	}
	return &perIPListener{Listener: ln, max: max, open: make(map[string]int)}
}

// Accept returns the next connection whose address is under its limit.
func (l *perIPListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		l.mu.Lock()
		ok := l.open[ip] < l.max
		if ok {
			l.open[ip]++
		}
		l.mu.Unlock()
		if ok {
			return &countedConn{Conn: c, release: func() { l.release(ip) }}, nil
		}
		// Closing rather than returning an error: http.Server backs off
		// and logs on Accept errors, which a flood must not cause.
		_ = c.Close()
	}
}

func (l *perIPListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
}

// remoteIP is c's remote address without the port.
func remoteIP(c net.Conn) string {
	addr := c.RemoteAddr()
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// countedConn gives its slot back when closed, once however often Close
// is called.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its slot.
func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
