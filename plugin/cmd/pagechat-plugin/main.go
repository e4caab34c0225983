// Command pagechat-plugin is the pagechat chat plugin. A pagechat host (a
// wiki or CMS embedding host-sdk) starts it with go-plugin; run by hand it
// only explains that and exits with status 2.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/pagechat/pagechat/plugin"
)

func main() {
	if err := plugin.Serve(); err != nil {
		fmt.Fprintf(os.Stderr, "pagechat-plugin: %v\n", err)
		if errors.Is(err, plugin.ErrNotStartedByHost) {
			fmt.Fprintln(os.Stderr, "Point your host at this file instead, e.g.: wikihost -plugin", os.Args[0])
			os.Exit(2)
		}
		os.Exit(1)
	}
}
