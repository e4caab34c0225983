package hostsdk

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
)

// closeWatcher notices browsers leaving taken-over event streams, all of
// them from one goroutine waiting in epoll_wait, where a stream would
// otherwise keep a goroutine (and its stack) parked in a one-byte read
// for as long as it is open. A browser that leaves closes its
// connection, which makes the socket readable (end of file) and raises
// EPOLLRDHUP; a stream's browser never sends anything, so any readiness
// means the stream is over.
//
// The sockets stay in Go's own poller as well; a second epoll set only
// watches them. Registrations are keyed by a token that is never reused,
// so an event that arrives for a connection already unwatched (and whose
// descriptor number a new connection may have taken) is ignored.
type closeWatcher struct {
	epfd int
	// wakeR and wakeW are a pipe whose read end is in the set, so that
	// stop can interrupt epoll_wait.
	wakeR, wakeW int
	done         chan struct{} // closed when run returns

	mu      sync.Mutex
	stopped bool
	next    uint64
	gone    map[uint64]func()
}

// wakeToken is the pipe's registration; connection tokens start above it.
const wakeToken = 0

// closeWatchSupported says whether this platform has a closeWatcher; where
// it has not, each stream watches its connection from a goroutine.
const closeWatchSupported = true

// newCloseWatcher creates the epoll set and starts its goroutine, which
// stop ends.
func newCloseWatcher() (*closeWatcher, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	p := make([]int, 2)
	if err := syscall.Pipe2(p, syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		_ = syscall.Close(epfd)
		return nil, fmt.Errorf("pipe2: %w", err)
	}
	w := &closeWatcher{epfd: epfd, wakeR: p[0], wakeW: p[1], done: make(chan struct{}), next: wakeToken, gone: make(map[uint64]func())}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	setToken(&ev, wakeToken)
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, w.wakeR, &ev); err != nil {
		w.closeFDs()
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	go w.run()
	return w, nil
}

// setToken and token keep a registration's token in the event's 8 bytes
// of user data, which the syscall package splits in two.
func setToken(ev *syscall.EpollEvent, t uint64) {
	ev.Fd = int32(uint32(t))
	ev.Pad = int32(uint32(t >> 32))
}

func token(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// errNotWatchable says a connection has no descriptor to watch (a test's
// pipe, a wrapped TLS connection); its stream watches it from a goroutine.
var errNotWatchable = errors.New("connection has no socket descriptor to watch")

// watch calls gone, from the watcher's goroutine, once conn's browser has
// closed it. The returned function unwatches conn; call it before closing
// conn, after which gone is not called.
func (w *closeWatcher) watch(conn net.Conn, gone func()) (unwatch func(), err error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, errNotWatchable
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNotWatchable, err)
	}
	// Under mu, so that stop cannot close the set in between.
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return nil, errWatcherStopped
	}
	w.next++
	t := w.next
	// One-shot: the first sign of the browser leaving is enough, and the
	// socket stays readable after it.
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT}
	setToken(&ev, t)
	var ctlErr error
	// Control keeps the descriptor open while it runs, so the number
	// names this connection's socket.
	err = raw.Control(func(fd uintptr) {
		ctlErr = syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err == nil {
		err = ctlErr
	}
	if err != nil {
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	w.gone[t] = gone
	return func() {
		// Under mu, so that stop cannot close the set (whose number
		// might then name another descriptor) in between.
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.gone, t)
		if w.stopped {
			return // the set is closed, and the socket left it with it
		}
		_ = raw.Control(func(fd uintptr) {
			_ = syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
		})
	}, nil
}

var errWatcherStopped = errors.New("close watcher stopped")

func (w *closeWatcher) run() {
	defer close(w.done)
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(w.epfd, events, -1)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			// Not expected with a valid set; the streams still end
			// on their next failed write.
			return
		}
		for i := range n {
			t := token(&events[i])
			if t == wakeToken {
				return
			}
			w.mu.Lock()
			gone := w.gone[t]
			delete(w.gone, t)
			w.mu.Unlock()
			if gone != nil {
				gone()
			}
		}
	}
}

// stop ends the watcher's goroutine and releases the set. Connections
// still watched are not reported after it.
func (w *closeWatcher) stop() {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	w.stopped = true
	clear(w.gone)
	_, _ = syscall.Write(w.wakeW, []byte{0})
	w.mu.Unlock()
	<-w.done
	w.closeFDs()
}

func (w *closeWatcher) closeFDs() {
	_ = syscall.Close(w.epfd)
	_ = syscall.Close(w.wakeR)
	_ = syscall.Close(w.wakeW)
}
