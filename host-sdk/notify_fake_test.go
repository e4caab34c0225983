package hostsdk

import (
	"context"
	"errors"
)

// The fake upstream of feed_test.go keeps no read state: handler tests
// that need it use the real plugin (notify_e2e_test.go).

func (p *fakePlugin) MarkRead(context.Context, string, string, uint64) (ReadState, error) {
	return ReadState{}, errors.New("fakePlugin keeps no read markers")
}

func (p *fakePlugin) SetWatch(context.Context, string, string, bool) (bool, error) {
	return false, errors.New("fakePlugin keeps no watches")
}
