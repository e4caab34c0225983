package wiki

import (
	"testing"

	"golang.org/x/crypto/bcrypt"
)

const testPassword = "correct horse"

// openT opens a wiki in a fresh directory with alice (admin), bob and
// carol, and closes it at the end of the test.
func openT(t *testing.T) (*Wiki, string) {
	t.Helper()
	dir := t.TempDir()
	w := reopen(t, dir)
	for _, nu := range []NewUser{{Name: "alice", Admin: true}, {Name: "bob"}, {Name: "carol"}} {
		nu.Password = testPassword
		if _, err := w.CreateUser(nu); err != nil {
			t.Fatal(err)
		}
	}
	return w, dir
}

// reopen opens the wiki in dir and closes it at the end of the test.
func reopen(t *testing.T, dir string) *Wiki {
	t.Helper()
	w, err := Open(dir, Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func mustCreate(t *testing.T, w *Wiki, user string, in PageInput) string {
	t.Helper()
	p, err := w.CreatePage(user, in)
	if err != nil {
		t.Fatalf("CreatePage(%q): %v", in.Title, err)
	}
	return p.ID
}
