package store_test

import (
	"path/filepath"
	"testing"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
	"github.com/pagechat/pagechat/examples/wikihost/internal/store/storetest"
)

func TestBoltConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.Open(filepath.Join(t.TempDir(), "wiki.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
