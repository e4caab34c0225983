package hostsdk

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// A host whose own permission lookup fails leaves a healthy plugin: calls
// must fail at once with ErrHostFailed, not wait for a plugin exit that
// never comes, and the plugin must not be restarted.
func TestFailingHostIsNotMistakenForADeadPlugin(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil)
	pid := pluginPID(t, ws.client)
	ctx := testCtx(t)
	ws.host.failPermissions(errors.New("directory server unreachable"))

	// bob has not been asked about yet, so no cached answer hides the
	// failure (and failures themselves are never cached).
	calls := []struct {
		name string
		call func() error
	}{
		{"RoomInfo", func() error {
			_, err := ws.client.RoomInfo(ctx, "bob", ws.room.ID)
			return err
		}},
		{"History", func() error {
			_, err := ws.client.History(ctx, "bob", ws.room.ID, 0, 0)
			return err
		}},
		{"Send", func() error {
			_, err := ws.client.Send(ctx, "bob", ws.room.ID, "c1", "hello")
			return err
		}},
		{"Subscribe", func() error {
			sub, err := ws.client.Subscribe(ctx, "bob", ws.room.ID, 0, "")
			if err == nil {
				sub.Close()
			}
			return err
		}},
	}
	for _, c := range calls {
		err := c.call()
		if !errors.Is(err, ErrHostFailed) || errors.Is(err, ErrPluginUnavailable) {
			t.Errorf("%s with a failing host: %v, want ErrHostFailed (and not ErrPluginUnavailable)", c.name, err)
		}
	}

	// It was 2 s (the wait for a plugin exit); the bound only has to tell
	// "at once" from that, with room for a loaded machine.
	start := time.Now()
	resp, body := ws.do(t, http.MethodGet, ws.api(ws.room.ID)+"/messages", basicUser("bob"), nil, nil)
	if elapsed := time.Since(start); elapsed >= 100*time.Millisecond {
		t.Errorf("the browser waited %v for its answer; a failing host must be reported at once", elapsed)
	}
	wantError(t, resp, body, http.StatusServiceUnavailable, "host_failed")
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		t.Errorf("Retry-After %q promises a plugin restart that is not coming", ra)
	}

	if got := pluginPID(t, ws.client); got != pid {
		t.Errorf("plugin restarted (pid %d, then %d) although only the host failed", pid, got)
	}
	// Once the host answers again, so does the chat.
	ws.host.failPermissions(nil)
	if _, err := ws.client.RoomInfo(ctx, "bob", ws.room.ID); err != nil {
		t.Fatalf("RoomInfo after the host recovered: %v", err)
	}
}
