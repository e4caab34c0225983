package store_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pagechat/pagechat/plugin/internal/store"
	"github.com/pagechat/pagechat/plugin/internal/store/storetest"
)

func TestBoltConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "chat.db")
		return storetest.Opener{
			Open: func(cfg storetest.Config) (store.Store, error) {
				return store.Open(path, store.Options{
					// A store the suite forgot to close fails the
					// next open quickly instead of after the default.
					LockTimeout:     time.Second,
					OnCommit:        cfg.OnCommit,
					Now:             cfg.Now,
					DayOf:           cfg.DayOf,
					MaxRoomsPerPage: cfg.MaxRoomsPerPage,
				})
			},
			MarkNewerSchema: func() error {
				return store.SetLayoutForTest(path, store.CurrentLayout+1)
			},
			// The journal beside the file is storage too: a batch
			// waits there until its checkpoint.
			RawContains: func(needle []byte) (bool, error) {
				for _, p := range []string{path, path + "-journal"} {
					data, err := os.ReadFile(p)
					if err != nil || bytes.Contains(data, needle) {
						return err == nil, err
					}
				}
				return false, nil
			},
		}
	})
}
