//go:build !linux

package hostsdk

import (
	"errors"
	"net"
)

// closeWatchSupported says whether this platform has a closeWatcher; where
// it has not, each stream watches its connection from a goroutine.
const closeWatchSupported = false

// closeWatcher is Linux's single watcher of stream connections; elsewhere
// it cannot be created.
type closeWatcher struct{}

var errNoCloseWatcher = errors.New("no shared close watcher on this platform")

func newCloseWatcher() (*closeWatcher, error) { return nil, errNoCloseWatcher }

func (*closeWatcher) watch(net.Conn, func()) (func(), error) { return nil, errNoCloseWatcher }

func (*closeWatcher) stop() {}
