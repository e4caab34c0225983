package wiki

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
)

// DemoPageTitle is the title of the page SeedDemo creates.
const DemoPageTitle = "Welcome to pagechat"

// metaDemoPage is the setting that remembers the demo page's id.
const metaDemoPage = "demo_page"

// DemoUsers are the accounts SeedDemo creates; alice is the admin.
var DemoUsers = []NewUser{
	{Name: "alice", DisplayName: "Alice", Admin: true},
	{Name: "bob", DisplayName: "Bob"},
	{Name: "carol", DisplayName: "Carol"},
}

const demoBody = `This is a small wiki with pagechat built in. The room below belongs to this page: everyone who may view the page can read along, and everyone who may edit it can write.

{chat:Team Room}

= How it works =
* Write \{chat:Room Name} on any page to put a room there. It follows the page's permissions.
* Each day with messages gets a transcript, written by the chat plugin as a child page of this one and found by search.
* A page title in square brackets links to that page, like [the sandbox|Sandbox]; a missing page is shown as such, and the link creates it.

= Try it =
* Log in as alice, bob or carol in two browsers and chat.
* Search for a word you wrote in the chat once its transcript is written.
`

// SeedDemo creates the demo users with password and the demo page, unless
// they exist, and returns the demo page's id. It changes nothing that
// exists: a demo user whose password differs from password (it was set on
// an earlier start) is reported in the log and left alone.
func (w *Wiki) SeedDemo(password string) (string, error) {
	for _, nu := range DemoUsers {
		u, err := w.store.User(nu.Name)
		if errors.Is(err, store.ErrNotFound) {
			nu.Password = password
			if _, err := w.CreateUser(nu); err != nil {
				return "", fmt.Errorf("demo user %s: %w", nu.Name, err)
			}
			continue
		}
		if err != nil {
			return "", err
		}
		if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(password)) != nil {
			w.log.Warn("demo user exists with another password, set on an earlier start; -demo-password applies to new users only", "user", u.ID)
		}
	}
	return w.seedDemoPage()
}

func (w *Wiki) seedDemoPage() (string, error) {
	id, err := w.store.Meta(metaDemoPage)
	if err != nil {
		return "", err
	}
	if id != "" {
		if _, err := w.store.PageMeta(id); err == nil {
			return id, nil
		}
	}
	// A data directory from before the demo page's id was kept: adopt the
	// oldest page with its title that the demo's first user wrote. Titles
	// are not unique, so a page someone else gave that title is not it.
	p, err := w.oldDemoPage()
	if errors.Is(err, store.ErrNotFound) {
		p, err = w.CreatePage(DemoUsers[0].Name, PageInput{Title: DemoPageTitle, Body: demoBody})
	}
	if err != nil {
		return "", fmt.Errorf("demo page: %w", err)
	}
	if err := w.store.SetMeta(metaDemoPage, p.ID); err != nil {
		return "", err
	}
	return p.ID, nil
}

// oldDemoPage finds the demo page an earlier version seeded, or returns
// ErrNotFound.
func (w *Wiki) oldDemoPage() (store.Page, error) {
	pages, err := w.store.PagesByTitle(DemoPageTitle)
	if err != nil {
		return store.Page{}, err
	}
	for _, p := range pages {
		if p.Author == DemoUsers[0].Name {
			return p, nil
		}
	}
	return store.Page{}, fmt.Errorf("demo page: %w", store.ErrNotFound)
}

// DemoPageID returns the id of the demo page, or "" before SeedDemo.
func (w *Wiki) DemoPageID() (string, error) {
	return w.store.Meta(metaDemoPage)
}
