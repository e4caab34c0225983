package wiki

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/crypto/bcrypt"

	"github.com/pagechat/pagechat/examples/wikihost/internal/search"
	hostsdk "github.com/pagechat/pagechat/host-sdk"
	"github.com/pagechat/pagechat/internal/testutil"
)

// indexed reports whether the search index itself (not Wiki.Search, which
// first indexes what is waiting) finds word.
func indexed(t *testing.T, w *Wiki, word string) bool {
	t.Helper()
	var hits []search.Hit
	err := w.search.use("test", func(ix pageIndex) error {
		var err error
		hits, err = ix.Search(context.Background(), word, 10, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return len(hits) > 0
}

// The chat's pages reach the search index by themselves, a few seconds
// after they are written, and none is lost when the wiki closes before
// that.
func TestChatPagesAreIndexedInTheBackground(t *testing.T) {
	t.Parallel()
	w, dir := openT(t)
	h := w.Host()
	ctx := context.Background()
	parent := mustCreate(t, w, "bob", PageInput{Title: "Burrow"})
	write := func(key, word string) {
		t.Helper()
		_, err := h.UpsertChildPage(ctx, hostsdk.ChildPage{ParentID: parent, Key: key, Title: "Burrow chat transcript " + key, BodyHTML: "<p>" + word + "</p>"})
		if err != nil {
			t.Fatal(err)
		}
	}

	write("2026-01-01", "wombat")
	testutil.Eventually(t, bgBatchDelay+15*time.Second, func() bool { return indexed(t, w, "wombat") }, "the transcript page to reach the search index")

	write("2026-01-02", "numbat")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	logs := &testutil.SyncBuffer{}
	w2, err := Open(dir, Options{PasswordCost: bcrypt.MinCost, Logger: hclog.New(&hclog.LoggerOptions{Output: logs})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w2.Close() })
	if !indexed(t, w2, "numbat") {
		t.Error("a page written just before Close is missing from the index")
	}
	if strings.Contains(logs.String(), "rebuilt") {
		t.Errorf("the index was rebuilt, so Close left it incomplete or unclean: %s", logs.String())
	}
}
