package server

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	bolt "go.etcd.io/bbolt"

	"github.com/pagechat/pagechat/internal/testutil"
	"github.com/pagechat/pagechat/plugin/internal/store"
)

// An admin reads in the log when the plugin brought the storage file up
// from an older layout, since older plugins cannot open it afterwards; an
// ordinary start says nothing of it.
func TestStorageUpgradeIsLogged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, dbFileName)
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("layout"), []byte("4")) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	open := func() string {
		t.Helper()
		var logs testutil.SyncBuffer
		s := New(hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info}), nil, testVersion)
		st, _, err := s.openStore(settings{dataDir: dir}, func([]store.Message) {}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		return logs.String()
	}
	logged := open()
	for _, want := range []string{"storage file upgraded", "cannot open it any more", "from_layout=4", path} {
		if !strings.Contains(logged, want) {
			t.Errorf("log of the upgrading start lacks %q:\n%s", want, logged)
		}
	}
	if logged := open(); strings.Contains(logged, "upgraded") {
		t.Errorf("a start on a current file logged an upgrade:\n%s", logged)
	}
}
