package hostsdk

import (
	"fmt"
	"strings"
)

// WithPluginEnv adds environment variables, each "KEY=VALUE", to the
// plugin process. The plugin inherits nothing else from the host's
// environment (so it never sees the host's secrets); use this for what it
// really needs, such as a proxy setting or a test hook. It may be given
// more than once; later values of a key win.
func WithPluginEnv(kv ...string) Option {
	return optionFunc(func(c *config) error {
		for _, e := range kv {
			key, _, ok := strings.Cut(e, "=")
			if !ok || key == "" || strings.ContainsRune(e, 0) {
				return fmt.Errorf("WithPluginEnv: %q is not KEY=VALUE", e)
			}
		}
		c.pluginEnv = append(c.pluginEnv, kv...)
		return nil
	})
}
