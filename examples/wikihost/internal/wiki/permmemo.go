package wiki

import (
	"sync"

	hostsdk "github.com/pagechat/pagechat/host-sdk"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
)

// The plugin asks the same permission questions again and again: every
// open event stream's viewer is re-checked each permission window, about
// ten thousand questions every two seconds on a wiki with ten thousand
// open chat windows, while users and pages rarely change. A store that is
// Versioned lets the wiki keep its answers while its version holds.

// maxPermAnswers bounds the answers kept; past it the memo starts over.
const maxPermAnswers = 1 << 17

// permQuestion is one question the plugin asks.
type permQuestion struct {
	user, page string
	perm       hostsdk.Permission
}

// permMemo keeps permission answers for one store version.
type permMemo struct {
	mu      sync.Mutex
	version uint64
	answers map[permQuestion]bool
}

// answer returns the answer to q kept for the store's current version, or
// works it out with work and keeps it. Without a Versioned store it always
// works it out.
func (m *permMemo) answer(st store.Store, q permQuestion, work func(userID, pageID string) (bool, error)) (bool, error) {
	vs, ok := st.(store.Versioned)
	if !ok {
		return work(q.user, q.page)
	}
	// Read before the work, so that a write meanwhile (which moves the
	// version after its commit) retires what the work found.
	version := vs.Version()
	m.mu.Lock()
	if m.version == version {
		if a, ok := m.answers[q]; ok {
			m.mu.Unlock()
			return a, nil
		}
	}
	m.mu.Unlock()
	a, err := work(q.user, q.page)
	if err != nil {
		return a, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if version < m.version {
		return a, nil // worked out from an older version than the memo's
	}
	if version > m.version || m.answers == nil || len(m.answers) >= maxPermAnswers {
		m.version, m.answers = version, make(map[permQuestion]bool)
	}
	m.answers[q] = a
	return a, nil
}
